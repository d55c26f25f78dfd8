/* Decode one rectangle of a JPEG with libjpeg-turbo, as BGR, with the pixels a full decode
 * gives there.
 *
 * Used by rsb_mm/datasets/transforms/jpeg_region.py (see its docstring for why). Whole rows
 * above the rectangle are skipped (entropy-decoded only: jpeg_skip_scanlines), rows below it
 * are never decoded, and columns outside it are not transformed (jpeg_crop_scanline). The
 * decoded area extends one iMCU beyond the rectangle on each side where the image allows:
 * chroma upsampling reads neighbouring samples, and at the edge of a cropped or skipped region
 * libjpeg replicates instead, so only pixels at least that far inside are guaranteed equal to
 * the full decode's. The caller checks equality against a full decode before trusting this.
 *
 * Errors: libjpeg's fatal errors return through setjmp with libjpeg's message; its warnings
 * (corrupt data it decodes around) are silent, as they are for a full decode by OpenCV.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#if !defined(JCS_EXTENSIONS)
#error "libjpeg-turbo (JCS_EXT_BGR, jpeg_crop_scanline) is required"
#endif

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char *msg;
  int msg_len;
} error_mgr;

static void on_error(j_common_ptr cinfo) {
  error_mgr *err = (error_mgr *)cinfo->err;
  if (err->msg && err->msg_len > 0) {
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    snprintf(err->msg, (size_t)err->msg_len, "%s", buf);
  }
  longjmp(err->jump, 1);
}

static void no_output(j_common_ptr cinfo) { (void)cinfo; }

static void init_errors(struct jpeg_decompress_struct *cinfo, error_mgr *err, char *msg,
                        int msg_len) {
  cinfo->err = jpeg_std_error(&err->pub);
  err->pub.error_exit = on_error;
  err->pub.output_message = no_output;
  err->msg = msg;
  err->msg_len = msg_len;
  if (msg && msg_len > 0) msg[0] = '\0';
}

/* Header facts: info = {height, width, components, jpeg_color_space, progressive}.
 * Returns 0, or 1 on a libjpeg error (message in msg). */
int rsb_jpeg_info(const unsigned char *data, unsigned long size, int *info, char *msg,
                  int msg_len) {
  struct jpeg_decompress_struct cinfo;
  error_mgr err;
  init_errors(&cinfo, &err, msg, msg_len);
  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 1;
  }
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  info[0] = (int)cinfo.image_height;
  info[1] = (int)cinfo.image_width;
  info[2] = cinfo.num_components;
  info[3] = (int)cinfo.jpeg_color_space;
  info[4] = cinfo.progressive_mode ? 1 : 0;
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

/* Decode rows [top, top + height) x columns [left, left + width) into out (height rows of
 * width * 3 bytes, BGR), decoding margin iMCUs more on each side (1 for a full decode's
 * pixels; 0 only shows, in the tests, why the margin is there). crop_columns: 1 skips the
 * columns outside (jpeg_crop_scanline), 0 decodes every column (for the tests and
 * benchmarks/bench_jpeg_region.py, which compare the two). Returns 0; 1 on a libjpeg
 * error (message in msg); 2 when the colour space is not one this decodes (only grayscale,
 * YCbCr and RGB are); 3 for a rectangle outside the image (or a negative margin); 4 when out
 * of memory. */
int rsb_jpeg_decode_region(const unsigned char *data, unsigned long size, int top, int left,
                           int height, int width, int margin, int crop_columns,
                           unsigned char *out, char *msg, int msg_len) {
  struct jpeg_decompress_struct cinfo;
  error_mgr err;
  /* volatile: read after longjmp */
  unsigned char *volatile row = NULL;
  init_errors(&cinfo, &err, msg, msg_len);
  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jump)) {
    free(row);
    jpeg_destroy_decompress(&cinfo);
    return 1;
  }
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  if (!((cinfo.jpeg_color_space == JCS_YCbCr && cinfo.num_components == 3) ||
        (cinfo.jpeg_color_space == JCS_RGB && cinfo.num_components == 3) ||
        (cinfo.jpeg_color_space == JCS_GRAYSCALE && cinfo.num_components == 1))) {
    jpeg_destroy_decompress(&cinfo);
    return 2;
  }
  if (top < 0 || left < 0 || height <= 0 || width <= 0 || margin < 0 ||
      (JDIMENSION)top + (JDIMENSION)height > cinfo.image_height ||
      (JDIMENSION)left + (JDIMENSION)width > cinfo.image_width) {
    jpeg_destroy_decompress(&cinfo);
    return 3;
  }
  cinfo.out_color_space = JCS_EXT_BGR;
  jpeg_start_decompress(&cinfo);

  int mcu_w = margin * cinfo.max_h_samp_factor * DCTSIZE;
  int mcu_h = margin * cinfo.max_v_samp_factor * DCTSIZE;
  int x0 = left - mcu_w < 0 ? 0 : left - mcu_w;
  int x1 = left + width + mcu_w;
  if (x1 > (int)cinfo.output_width) x1 = (int)cinfo.output_width;
  JDIMENSION xoffset = 0, crop_width = cinfo.output_width;
  if (crop_columns && x1 - x0 < (int)cinfo.output_width) {
    xoffset = (JDIMENSION)x0;
    crop_width = (JDIMENSION)(x1 - x0);
    /* rounds xoffset down and crop_width up to iMCU boundaries */
    jpeg_crop_scanline(&cinfo, &xoffset, &crop_width);
  }
  int shift = left - (int)xoffset;

  int y0 = top - mcu_h < 0 ? 0 : top - mcu_h;
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)y0);
  row = (unsigned char *)malloc((size_t)crop_width * 3);
  if (!row) {
    jpeg_destroy_decompress(&cinfo);
    return 4;
  }
  JSAMPROW rows[1];
  while ((int)cinfo.output_scanline < top + height) {
    int y = (int)cinfo.output_scanline;
    /* rows of the rectangle land straight in out when no columns need trimming */
    int direct = y >= top && shift == 0 && (int)crop_width == width;
    rows[0] = direct ? out + (size_t)(y - top) * width * 3 : row;
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (y >= top && !direct)
      memcpy(out + (size_t)(y - top) * width * 3, row + (size_t)shift * 3, (size_t)width * 3);
  }
  free(row);
  row = NULL;
  /* rows below the rectangle are not needed: stop without decoding them */
  jpeg_abort_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}
