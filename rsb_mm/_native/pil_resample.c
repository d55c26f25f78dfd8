/*
 * Pillow's 8-bit convolution resampling (bilinear, bicubic) on interleaved uint8 images,
 * with the same output bytes, written so that the compiler vectorises it.
 *
 * What must match Pillow (src/libImaging/Resample.c), and does:
 *   - the per-axis filter weights: the same double-precision expressions in the same order
 *     (support widened by the scale when shrinking, window bounds rounded by truncation,
 *     weights normalised to sum 1), then fixed point with 22 fractional bits, rounded half
 *     away from zero;
 *   - the sums: int32, starting at half of one unit, shifted right by 22 and clamped to
 *     0..255 after each pass; integer sums do not depend on the order of their terms;
 *   - the two passes and their order: horizontal then vertical, or (Pillow 13,
 *     python-pillow/Pillow#9549) vertical then horizontal; the caller says which, and a
 *     pass whose size does not change is skipped as Pillow skips it.
 * What differs is the memory order: each pass runs as whole-row multiply-adds over
 * contiguous bytes (the horizontal pass on a transposed copy), which the compiler turns into
 * SIMD code, where Pillow loops over output pixels one at a time (and over 4 bytes per RGB
 * pixel). Build with floating-point contraction off, so that the weights round as Pillow's.
 *
 * Built by setup.py as the extension module rsb_mm._native._pil_resample when the package is
 * installed; the module itself is empty, and pil_resample.py calls rsb_pil_resample_u8 in its
 * shared library through ctypes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_BILINEAR 2 /* PIL.Image.Resampling.BILINEAR */
#define FILTER_BICUBIC 3  /* PIL.Image.Resampling.BICUBIC */
#define FIXED_BITS 22     /* 32 bits - 8 for the pixel - 2 for negative lobes and overflow */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

static double filter_weight(int filter, double x) {
    if (x < 0.0) {
        x = -x;
    }
    if (filter == FILTER_BILINEAR) {
        return x < 1.0 ? 1.0 - x : 0.0;
    }
    /* Keys' cubic with a = -0.5: (a + 2) = 1.5, (a + 3) = 2.5 */
    if (x < 1.0) {
        return (1.5 * x - 2.5) * x * x + 1;
    }
    if (x < 2.0) {
        return (((x - 5) * x + 8) * x - 4) * -0.5;
    }
    return 0.0;
}

/* One axis: for each output index, the first input index, the number of inputs and
   `taps` fixed-point weights (zeros past the number of inputs). */
typedef struct {
    int taps;
    int *first;
    int *count;
    int32_t *weights;
} Axis;

static void axis_free(Axis *axis) {
    free(axis->first);
    free(axis->weights);
    axis->first = axis->count = NULL;
    axis->weights = NULL;
}

static int axis_init(Axis *axis, int in_size, int out_size, int filter) {
    /* Pillow takes the box edges as floats: (double)(float)in_size is in_size for any size
       an image can have */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = (filter == FILTER_BILINEAR ? 1.0 : 2.0) * filterscale;
    double inverse = 1.0 / filterscale;
    double *w;
    int i, k;

    axis->taps = (int)ceil(support) * 2 + 1;
    axis->first = malloc(sizeof(int) * 2 * (size_t)out_size);
    axis->weights = malloc(sizeof(int32_t) * (size_t)out_size * axis->taps);
    w = malloc(sizeof(double) * axis->taps);
    if (!axis->first || !axis->weights || !w) {
        free(w);
        axis_free(axis);
        return -1;
    }
    axis->count = axis->first + out_size;
    for (i = 0; i < out_size; i++) {
        double center = 0.0 + (i + 0.5) * scale, total = 0.0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) {
            lo = 0;
        }
        if (hi > in_size) {
            hi = in_size;
        }
        hi -= lo;
        for (k = 0; k < hi; k++) {
            w[k] = filter_weight(filter, (k + lo - center + 0.5) * inverse);
            total += w[k];
        }
        for (k = 0; k < hi; k++) {
            if (total != 0.0) {
                w[k] /= total;
            }
        }
        for (k = 0; k < axis->taps; k++) {
            double v = k < hi ? w[k] : 0.0;
            axis->weights[(size_t)i * axis->taps + k] =
                v < 0 ? (int)(-0.5 + v * (1 << FIXED_BITS)) : (int)(0.5 + v * (1 << FIXED_BITS));
        }
        axis->first[i] = lo;
        axis->count[i] = hi;
    }
    free(w);
    return 0;
}

/* out row o = clamp(sum_k in row (first[o] + k) * weight[o][k]), rows of `len` bytes */
VECTOR_CLONES
static void filter_rows(const uint8_t *src, int64_t src_stride, int len, uint8_t *dst,
                        int64_t dst_stride, int out_rows, const Axis *axis, int row_offset,
                        int32_t *acc) {
    int o, k, i;
    for (o = 0; o < out_rows; o++) {
        const int32_t *w = axis->weights + (size_t)o * axis->taps;
        uint8_t *out = dst + (int64_t)o * dst_stride;
        for (i = 0; i < len; i++) {
            acc[i] = 1 << (FIXED_BITS - 1);
        }
        for (k = 0; k < axis->count[o]; k++) {
            const uint8_t *row = src + (int64_t)(axis->first[o] - row_offset + k) * src_stride;
            int32_t c = w[k];
            for (i = 0; i < len; i++) {
                acc[i] += row[i] * c;
            }
        }
        for (i = 0; i < len; i++) {
            int32_t v = acc[i] >> FIXED_BITS;
            out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* (rows x cols x CH), rows `stride` bytes apart -> contiguous (cols x rows x CH), in tiles
   that stay in L1; CH is a constant in each instance, so the byte moves unroll */
#define TILE 32
#define DEFINE_TRANSPOSE(CH)                                                                  \
    VECTOR_CLONES                                                                             \
    static void transpose_##CH(const uint8_t *src, int64_t stride, int rows, int cols,        \
                               uint8_t *dst) {                                                \
        int r0, c0, r, c, j;                                                                  \
        for (r0 = 0; r0 < rows; r0 += TILE) {                                                 \
            int r1 = r0 + TILE < rows ? r0 + TILE : rows;                                     \
            for (c0 = 0; c0 < cols; c0 += TILE) {                                             \
                int c1 = c0 + TILE < cols ? c0 + TILE : cols;                                 \
                for (c = c0; c < c1; c++) {                                                   \
                    uint8_t *d = dst + ((int64_t)c * rows) * CH;                              \
                    for (r = r0; r < r1; r++) {                                               \
                        const uint8_t *s = src + (int64_t)r * stride + (int64_t)c * CH;       \
                        for (j = 0; j < CH; j++) {                                            \
                            d[(int64_t)r * CH + j] = s[j];                                    \
                        }                                                                     \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }
DEFINE_TRANSPOSE(1)
DEFINE_TRANSPOSE(2)
DEFINE_TRANSPOSE(4)

/* 3-byte pixels moved as 4-byte words: the extra byte written lands on the next pixel of
   the same output row, which is written after it, and the extra byte read is the next
   input pixel's; the last pixel of each input row and each output row moves 3 bytes. */
VECTOR_CLONES
static void transpose_3(const uint8_t *src, int64_t stride, int rows, int cols, uint8_t *dst) {
    int r0, c0, r, c;
    for (r0 = 0; r0 < rows; r0 += TILE) {
        int r1 = r0 + TILE < rows ? r0 + TILE : rows;
        for (c0 = 0; c0 < cols; c0 += TILE) {
            int c1 = c0 + TILE < cols ? c0 + TILE : cols;
            for (c = c0; c < c1; c++) {
                uint8_t *d = dst + ((int64_t)c * rows) * 3;
                for (r = r0; r < r1; r++) {
                    const uint8_t *s = src + (int64_t)r * stride + (int64_t)c * 3;
                    if (c + 1 < cols && r + 1 < rows) {
                        uint32_t word;
                        memcpy(&word, s, 4);
                        memcpy(d + (int64_t)r * 3, &word, 4);
                    } else {
                        d[(int64_t)r * 3] = s[0];
                        d[(int64_t)r * 3 + 1] = s[1];
                        d[(int64_t)r * 3 + 2] = s[2];
                    }
                }
            }
        }
    }
}

static void transpose(const uint8_t *src, int64_t stride, int rows, int cols, int ch,
                      uint8_t *dst) {
    switch (ch) {
        case 1: transpose_1(src, stride, rows, cols, dst); break;
        case 2: transpose_2(src, stride, rows, cols, dst); break;
        case 3: transpose_3(src, stride, rows, cols, dst); break;
        default: transpose_4(src, stride, rows, cols, dst); break;
    }
}

/* Horizontal pass over `rows` rows: (rows x in_w x ch) -> (rows x out_w x ch), contiguous
   output, through two transposes so that the filter runs over contiguous rows. */
static int horizontal(const uint8_t *src, int64_t stride, int rows, int in_w, int ch,
                      uint8_t *dst, int out_w, const Axis *axis, int32_t *acc) {
    uint8_t *t_in = malloc((size_t)in_w * rows * ch);
    uint8_t *t_out = malloc((size_t)out_w * rows * ch);
    if (!t_in || !t_out) {
        free(t_in);
        free(t_out);
        return -1;
    }
    transpose(src, stride, rows, in_w, ch, t_in);
    filter_rows(t_in, (int64_t)rows * ch, rows * ch, t_out, (int64_t)rows * ch, out_w, axis, 0,
                acc);
    transpose(t_out, (int64_t)rows * ch, out_w, rows, ch, dst);
    free(t_in);
    free(t_out);
    return 0;
}

/*
 * Resize `src` (in_h x in_w x ch bytes, rows `src_stride` bytes apart, pixels contiguous)
 * to `dst` (out_h x out_w x ch, contiguous) as Pillow's Image.resize with `filter`
 * (2 bilinear, 3 bicubic) does. `vertical_first`: run the vertical pass first when both
 * run. Returns 0, -1 when out of memory, -2 for bad arguments.
 */
int rsb_pil_resample_u8(const uint8_t *src, int64_t src_stride, int in_h, int in_w, int ch,
                        uint8_t *dst, int out_h, int out_w, int filter, int vertical_first) {
    int need_h = out_w != in_w, need_v = out_h != in_h;
    int status = 0, longest, r;
    Axis horiz = {0}, vert = {0};
    int32_t *acc = NULL;
    uint8_t *tmp = NULL;

    if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 || ch < 1 || ch > 4 ||
        (filter != FILTER_BILINEAR && filter != FILTER_BICUBIC)) {
        return -2;
    }
    if (!need_h && !need_v) {
        for (r = 0; r < out_h; r++) {
            memcpy(dst + (int64_t)r * out_w * ch, src + (int64_t)r * src_stride,
                   (size_t)out_w * ch);
        }
        return 0;
    }
    longest = in_h > in_w ? in_h : in_w;
    if (out_h > longest) longest = out_h;
    if (out_w > longest) longest = out_w;
    acc = malloc(sizeof(int32_t) * (size_t)longest * ch);
    if (!acc || (need_v && axis_init(&vert, in_h, out_h, filter)) ||
        (need_h && axis_init(&horiz, in_w, out_w, filter))) {
        status = -1;
        goto done;
    }
    if (!need_h) {
        filter_rows(src, src_stride, in_w * ch, dst, (int64_t)out_w * ch, out_h, &vert, 0, acc);
    } else if (!need_v) {
        status = horizontal(src, src_stride, in_h, in_w, ch, dst, out_w, &horiz, acc);
    } else if (vertical_first) {
        tmp = malloc((size_t)out_h * in_w * ch);
        if (!tmp) {
            status = -1;
            goto done;
        }
        filter_rows(src, src_stride, in_w * ch, tmp, (int64_t)in_w * ch, out_h, &vert, 0, acc);
        status = horizontal(tmp, (int64_t)in_w * ch, out_h, in_w, ch, dst, out_w, &horiz, acc);
    } else {
        /* only the rows the vertical pass reads go through the horizontal one */
        int y0 = vert.first[0], y1 = vert.first[out_h - 1] + vert.count[out_h - 1];
        tmp = malloc((size_t)(y1 - y0) * out_w * ch);
        if (!tmp) {
            status = -1;
            goto done;
        }
        status = horizontal(src + (int64_t)y0 * src_stride, src_stride, y1 - y0, in_w, ch, tmp,
                            out_w, &horiz, acc);
        if (!status) {
            filter_rows(tmp, (int64_t)out_w * ch, out_w * ch, dst, (int64_t)out_w * ch, out_h,
                        &vert, y0, acc);
        }
    }
done:
    free(tmp);
    free(acc);
    axis_free(&horiz);
    axis_free(&vert);
    return status;
}

static struct PyModuleDef pil_resample_module = {
    PyModuleDef_HEAD_INIT, "_pil_resample",
    "Pillow's bilinear/bicubic resampling; called through ctypes (rsb_pil_resample_u8).", -1,
    NULL};

PyMODINIT_FUNC PyInit__pil_resample(void) { return PyModule_Create(&pil_resample_module); }
