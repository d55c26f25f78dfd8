"""Pillow's bilinear/bicubic resize on uint8 numpy images: the same bytes, 2-4x faster.

Reference: Pillow's ``Image.resize`` (``src/libImaging/Resample.c``) for 8-bit images, which is
what timm's ``RandomResizedCropAndInterpolation`` calls (through torchvision's ``F.resize``) on
every training image, and which costs about a third of rsb_mm's training input pipeline (see
benchmarks/README.md). Why our own: Pillow runs the convolution one output pixel at a time in
scalar code (4 bytes per RGB pixel), and MMPretrain's pipeline holds images as BGR numpy arrays
that have to be converted to PIL and back around it. ``pil_resample.c`` computes the same
weights and integer sums on the array itself, as whole-row multiply-adds the compiler
vectorises; the output bytes are Pillow's, which the tests check against the installed Pillow.
On one core, crops of 120x100 to 500x375 resized to 224x224 take 2.0-4.0x less time than
Pillow 13's ``Image.resize`` (benchmarks/bench_resize.py; tables in benchmarks/README.md).

The C file is compiled on first use with the system's C compiler (``$CC``, else ``cc``) into
``$RSB_MM_CACHE_DIR`` (default ``~/.cache/rsb_mm``) and loaded with ``ctypes``; a library
already built for the same source and flags is reused. Before it is used, a self-check
resizes probe images both ways and compares with the installed Pillow, which also tells the
order of the two passes: Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first
when the height shrinks by more than twice as many pixels as the width, older Pillow always
runs the horizontal one first. Without a compiler, on a failed build or a failed self-check,
:func:`resize` returns None and the caller falls back to Pillow (logged once), so the pixels
never change, only the speed. ``RSB_MM_NO_NATIVE=1`` turns it off.
"""
import ctypes
import os.path as osp
from typing import Any, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from PIL import Image

from rsb_mm.utils.native import build_library, load_once

__all__ = ['resize', 'available', 'vertical_first_pillow13', 'PIL_FILTERS']

SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'pil_resample.c')
# Contraction off: the filter weights must round as Pillow's (built without FMA) do.
CFLAGS = ('-O3', '-std=c99', '-fPIC', '-shared', '-ffp-contract=off')
# PIL.Image.Resampling values this module handles.
PIL_FILTERS = {Image.Resampling.BILINEAR: 2, Image.Resampling.BICUBIC: 3}

_state: dict = {}


def vertical_first_pillow13(in_h: int, in_w: int, out_h: int, out_w: int) -> bool:
    """Whether Pillow 13 runs the vertical pass before the horizontal one.

    Pillow 13 (python-pillow/Pillow#9549) does so when the height shrinks by more than twice
    as many pixels as the width; found by comparing with Pillow 13.0.0 on 1,700 random sizes,
    boundary cases included, all of which it explains.
    """
    return out_h < in_h and in_h - out_h > 2 * (in_w - out_w)


def build(compiler: Optional[str] = None) -> str:
    """Compile ``pil_resample.c`` (once per source and flags) and return the library's path.

    Raises:
        RuntimeError: no C compiler, or the compiler failed (its output in the message).
    """
    return build_library(SOURCE, CFLAGS, ('-lm', ), compiler)


def _load(path: str) -> Any:
    lib = ctypes.CDLL(path)
    fn = lib.rsb_pil_resample_u8
    fn.argtypes = [
        ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int
    ]
    fn.restype = ctypes.c_int
    return fn


def _call(fn: Any, img: np.ndarray, out_h: int, out_w: int, filt: int,
          vertical_first: bool) -> np.ndarray:
    view = img if img.ndim == 3 else img[:, :, None]
    ch = view.shape[2]
    out = np.empty((out_h, out_w, ch), np.uint8)
    status = fn(view.ctypes.data, view.strides[0], view.shape[0], view.shape[1], ch,
                out.ctypes.data, out_h, out_w, filt, int(vertical_first))
    if status != 0:
        raise MemoryError(f'pil_resample: status {status} resizing {img.shape} to '
                          f'{(out_h, out_w)}')
    return out if img.ndim == 3 else out[:, :, 0]


def _self_check(fn: Any) -> Optional[str]:
    """The pass-order rule with which ``fn`` reproduces the installed Pillow on probe images,
    'pillow13' or 'horizontal_first', or None when neither does."""
    rng = np.random.default_rng(0)
    # (in_h, in_w, out_h, out_w): the two rules agree on the first, differ on the others
    shapes = [(200, 400, 100, 224), (400, 200, 150, 100), (318, 232, 224, 224), (61, 37, 7, 30)]
    for rule in ('pillow13', 'horizontal_first'):
        ok = True
        for (h, w, oh, ow) in shapes:
            for channels in (3, 1):
                img = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
                img = img if channels == 3 else img[:, :, 0]
                for pil_filter, filt in PIL_FILTERS.items():
                    expected = np.asarray(Image.fromarray(img).resize((ow, oh), pil_filter))
                    first = rule == 'pillow13' and vertical_first_pillow13(h, w, oh, ow)
                    ok = ok and np.array_equal(_call(fn, img, oh, ow, filt, first), expected)
        if ok:
            return rule
    return None


def _setup() -> Tuple[Optional[Tuple[Any, str]], Optional[str]]:
    fn = _load(build())
    rule = _self_check(fn)
    if rule is None:
        return None, (f'its output differs from the installed Pillow {Image.__version__} on '
                      'the probe images')
    return (fn, rule), None


def _get() -> Optional[Tuple[Any, str]]:
    """The loaded function and its pass-order rule, or None (reason logged once)."""
    return load_once(_state, 'the compiled resize',
                     'TimmRandomResizedCrop uses Pillow (same pixels, slower)', _setup, print_log)


def available() -> bool:
    """Whether :func:`resize` runs the compiled code (builds and checks it on first call)."""
    return _get() is not None


def resize(img: np.ndarray, size: Tuple[int, int], resample: Any) -> Optional[np.ndarray]:
    """Resize as ``Image.fromarray(img).resize((w, h), resample)`` would, on the array.

    Args:
        img (np.ndarray): ``(H, W)`` or ``(H, W, C)`` uint8, C <= 4 (any channel order:
            channels are filtered independently, as Pillow does for L and RGB); rows may be
            strided (a crop view), pixels must be contiguous, channels may run backwards.
        size (tuple[int, int]): Output ``(h, w)``.
        resample: ``PIL.Image.Resampling.BILINEAR`` or ``BICUBIC`` (or their ints).

    Returns:
        np.ndarray | None: The resized image, ``(h, w)`` or ``(h, w, C)``; None when the
        compiled code is unavailable or the input is not one it handles (the caller then
        uses Pillow).
    """
    if img.ndim == 3 and img.strides[2] < 0:
        # mmcv's pillow decoding hands over RGB seen as BGR through [..., ::-1]: channels
        # are filtered independently, so resize the RGB view and look at it the same way
        out = resize(img[..., ::-1], size, resample)
        return None if out is None else out[..., ::-1]
    if (img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and not (
            1 <= img.shape[2] <= 4 and img.strides[2] == 1 and img.strides[1] == img.shape[2]))
            or (img.ndim == 2 and img.strides[1] != 1)):
        return None
    try:
        filt = PIL_FILTERS[Image.Resampling(resample)]
    except (KeyError, ValueError):
        return None
    loaded = _get()
    if loaded is None:
        return None
    fn, rule = loaded
    out_h, out_w = size
    first = rule == 'pillow13' and vertical_first_pillow13(img.shape[0], img.shape[1], out_h,
                                                           out_w)
    return _call(fn, img, out_h, out_w, filt, first)
