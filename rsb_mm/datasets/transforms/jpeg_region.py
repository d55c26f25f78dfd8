"""Decode only the crop of a JPEG that RandomResizedCrop keeps: OpenCV's pixels, less work.

Why our own: the RSB training pipeline decodes every image whole and then keeps one random
crop of 8-100% of its area (``TimmRandomResizedCrop``); decoding is the largest stage left
(see benchmarks/README.md). OpenCV's and Pillow's decoders only decode whole images.
libjpeg-turbo, which both of them use, can skip rows (``jpeg_skip_scanlines``: rows above the
crop are entropy-decoded only, rows below it not at all) and columns (``jpeg_crop_scanline``:
no inverse DCT, upsampling or colour conversion outside the crop). ``jpeg_region.c`` does
that, with a margin of one iMCU around the crop so that chroma upsampling sees the same
neighbours as in a full decode, and writes BGR directly. Huffman decoding cannot seek, so
every row above the crop and the whole width of its rows are still entropy-decoded: the saving
is 5-20% of the decode time on RandomResizedCrop's boxes (benchmarks/bench_jpeg_region.py),
and the training pipeline 0.95-1.25x in throughput (median 1.07x over twelve runs of
bench_input_pipeline.py).

The pixels are those ``cv2.imdecode(..., IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION)`` gives at
the same place (MMCV's ``color_ignore_orientation``, what the RSB configs load, since timm's
PIL loader ignores EXIF orientation too): libjpeg-turbo's integer inverse DCT, fancy upsampling
and YCbCr conversion are the same code in every build. A self-check compares the two on probe
JPEGs (4:2:0, 4:2:2, 4:4:4, progressive, restart markers, grayscale, sizes that are not
multiples of the iMCU) before the compiled code is used; the tests compare random crops of
photos.

Scope: baseline and progressive JPEGs in YCbCr, RGB or grayscale (CMYK/YCCK, 12-bit and
lossless JPEGs are decoded whole by the caller, as before). The C file is compiled on first use
against the system's libjpeg-turbo (``libjpeg-turbo8-dev`` / ``libjpeg62-turbo-dev`` /
``libjpeg-turbo-devel``) by :mod:`rsb_mm.utils.native`; without a compiler, the headers, or
with a failed self-check, :func:`available` is False (logged once) and callers decode whole
images. ``RSB_MM_NO_NATIVE=1`` turns it off.
"""
import ctypes
import os.path as osp
from typing import Any, NamedTuple, Optional, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from rsb_mm.utils.native import build_library, load_once

__all__ = ['JpegDecodeError', 'JpegHeader', 'available', 'read_header', 'decode_region']

SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'jpeg_region.c')
CFLAGS = ('-O2', '-std=c99', '-fPIC', '-shared')
# libjpeg's J_COLOR_SPACE values this module decodes, with their component counts
_GRAYSCALE, _RGB, _YCBCR = 1, 2, 3
_SUPPORTED = {(_GRAYSCALE, 1), (_RGB, 3), (_YCBCR, 3)}
# cv2's reading of MMCV's 'color_ignore_orientation'
CV2_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
_MSG_LEN = 200

_state: dict = {}


class JpegDecodeError(ValueError):
    """libjpeg stopped on the data (its message is the exception's)."""


class JpegHeader(NamedTuple):
    """What a JPEG's header says."""
    height: int
    width: int
    components: int
    color_space: int
    progressive: bool

    @property
    def supported(self) -> bool:
        """Whether :func:`decode_region` decodes this colour space (else decode it whole)."""
        return (self.color_space, self.components) in _SUPPORTED


def _load(path: str) -> Any:
    lib = ctypes.CDLL(path)
    lib.rsb_jpeg_info.argtypes = [
        ctypes.c_char_p, ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_int
    ]
    lib.rsb_jpeg_info.restype = ctypes.c_int
    lib.rsb_jpeg_decode_region.argtypes = [
        ctypes.c_char_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    ]
    lib.rsb_jpeg_decode_region.restype = ctypes.c_int
    return lib


def _header(lib: Any, data: bytes) -> JpegHeader:
    info = (ctypes.c_int * 5)()
    msg = ctypes.create_string_buffer(_MSG_LEN)
    if lib.rsb_jpeg_info(data, len(data), info, msg, _MSG_LEN) != 0:
        raise JpegDecodeError(msg.value.decode(errors='replace') or 'libjpeg error')
    return JpegHeader(info[0], info[1], info[2], info[3], bool(info[4]))


def _region(lib: Any, data: bytes, top: int, left: int, height: int, width: int,
            margin: int = 1, crop_columns: int = 1) -> Optional[np.ndarray]:
    """``crop_columns=0`` decodes every column (for the tests and the benchmark)."""
    out = np.empty((height, width, 3), np.uint8)
    msg = ctypes.create_string_buffer(_MSG_LEN)
    status = lib.rsb_jpeg_decode_region(data, len(data), top, left, height, width, margin,
                                        crop_columns, out.ctypes.data, msg, _MSG_LEN)
    if status == 0:
        return out
    if status == 1:
        raise JpegDecodeError(msg.value.decode(errors='replace') or 'libjpeg error')
    if status == 2:
        return None
    if status == 3:
        raise ValueError(f'the box (top={top}, left={left}, height={height}, width={width}) '
                         'is not inside the image')
    raise MemoryError(f'jpeg_region: out of memory decoding a {height}x{width} region')


def _probe_jpegs() -> list:
    """Small JPEGs of each kind the decoder handles, encoded by OpenCV."""
    rng = np.random.default_rng(0)
    h, w = 77, 131  # not multiples of any iMCU size
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (h + w)], -1)
    img = np.clip(smooth + rng.integers(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)
    settings = [
        (img, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]),
        (img, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]),
        (img, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]),
        (img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        (img, [cv2.IMWRITE_JPEG_RST_INTERVAL, 2]),
        (img[..., 1], []),
    ]
    return [cv2.imencode('.jpg', im, [cv2.IMWRITE_JPEG_QUALITY, 90, *params])[1].tobytes()
            for im, params in settings]


def _self_check(lib: Any, margin: int = 1) -> Optional[str]:
    """None when every probe region equals OpenCV's full decode there, else what differed."""
    for i, data in enumerate(_probe_jpegs()):
        full = cv2.imdecode(np.frombuffer(data, np.uint8), CV2_FLAGS)
        h, w = full.shape[:2]
        # edges inside the image on iMCU boundaries are where a decoder without the margin
        # differs (upsampling replicates the edge there)
        boxes = [(0, 0, h, w), (0, 0, 1, 1), (h - 1, w - 1, 1, 1), (17, 9, 40, 90),
                 (33, 50, 44, 81), (16, 16, 32, 48), (8, 32, 40, 64), (5, 0, 3, w),
                 (0, 70, h, 3), (16, 64, 32, 4), (0, 32, h, 8), (40, 48, 20, 5)]
        for top, left, bh, bw in boxes:
            out = _region(lib, data, top, left, bh, bw, margin)
            if out is None or not np.array_equal(out, full[top:top + bh, left:left + bw]):
                return f'probe JPEG {i}, box {(top, left, bh, bw)}'
    return None


def _setup() -> Tuple[Any, Optional[str]]:
    lib = _load(build_library(SOURCE, CFLAGS, ('-ljpeg', )))
    differs = _self_check(lib)
    if differs:
        return None, f'its pixels differ from OpenCV {cv2.__version__} on {differs}'
    return lib, None


def _get() -> Any:
    """The loaded library, or None (reason logged once)."""
    return load_once(_state, 'the JPEG region decoder',
                     'images are decoded whole (same pixels, slower)', _setup, print_log)


def available() -> bool:
    """Whether the compiled region decoder is in use (builds and checks it on first call)."""
    return _get() is not None


def read_header(data: bytes) -> JpegHeader:
    """Read a JPEG's header.

    Args:
        data (bytes): The file's content (must start with the JPEG SOI marker).

    Returns:
        JpegHeader: Its size, components, colour space and whether it is progressive.

    Raises:
        RuntimeError: if :func:`available` is False.
        JpegDecodeError: if libjpeg cannot read the header (libjpeg's message).
    """
    lib = _get()
    if lib is None:
        raise RuntimeError('the JPEG region decoder is not available')
    return _header(lib, bytes(data))


def decode_region(data: bytes, top: int, left: int, height: int,
                  width: int) -> Optional[np.ndarray]:
    """Decode rows ``top:top+height`` and columns ``left:left+width`` of a JPEG.

    Args:
        data (bytes): The file's content.
        top (int): First row.
        left (int): First column.
        height (int): Number of rows.
        width (int): Number of columns.

    Returns:
        np.ndarray | None: ``(height, width, 3)`` BGR uint8, equal to
        ``cv2.imdecode(data, IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION)[top:top+height,
        left:left+width]``; None for a colour space it does not decode (see
        :attr:`JpegHeader.supported`).

    Raises:
        RuntimeError: if :func:`available` is False.
        JpegDecodeError: if libjpeg stops on the data (its message).
        ValueError: if the box is not inside the image.
    """
    lib = _get()
    if lib is None:
        raise RuntimeError('the JPEG region decoder is not available')
    return _region(lib, bytes(data), int(top), int(left), int(height), int(width))
