"""Pillow's bilinear/bicubic resize on uint8 numpy images: the same bytes, 2-4x faster.

Twin: Pillow's ``Image.resize`` (``src/libImaging/Resample.c``), which timm's
``RandomResizedCropAndInterpolation`` runs on every training image. ``pil_resample.c`` is built
with the package (setup.py's ``ext_modules``: ``rsb_mm._native._pil_resample``) and called
through ``ctypes``. On first use a self-check compares it with the installed Pillow on probe
images; when the extension is missing, the check fails or ``RSB_MM_NO_NATIVE=1``,
:func:`resize` returns None and the caller uses Pillow (said once): the pixels never change,
only the speed. Tests: tests/test_native/test_pil_resample.py; timings:
benchmarks/bench_resize.py; design: docs/design.md, "Compiled resize".
"""
import ctypes
import os
import threading
from typing import Any, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from PIL import Image

__all__ = ['resize', 'available', 'vertical_first_pillow13', 'PIL_FILTERS']

# PIL.Image.Resampling values this module handles.
PIL_FILTERS = {Image.Resampling.BILINEAR: 2, Image.Resampling.BICUBIC: 3}

_state: dict = {}
_lock = threading.Lock()


def vertical_first_pillow13(in_h: int, in_w: int, out_h: int, out_w: int) -> bool:
    """Whether Pillow 13 runs the vertical pass before the horizontal one.

    Pillow 13 (python-pillow/Pillow#9549) does so when the height shrinks by more than twice
    as many pixels as the width; found by comparing with Pillow 13.0.0 on 1,700 random sizes,
    boundary cases included, all of which it explains.
    """
    return out_h < in_h and in_h - out_h > 2 * (in_w - out_w)


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
    """The loaded function and its pass-order rule, or None and why not."""
    if os.environ.get('RSB_MM_NO_NATIVE', '') not in ('', '0'):
        return None, 'RSB_MM_NO_NATIVE is set'
    try:
        from . import _pil_resample
    except ImportError as err:
        return None, (f'the extension is not built ({err}; `pip install -e .` or '
                      '`python setup.py build_ext --inplace` builds it)')
    fn = _load(_pil_resample.__file__)
    rule = _self_check(fn)
    if rule is None:
        return None, (f'its output differs from the installed Pillow {Image.__version__} on '
                      'the probe images')
    return (fn, rule), None


def _get() -> Optional[Tuple[Any, str]]:
    """The loaded function and its pass-order rule, or None (the reason logged once)."""
    with _lock:
        if 'value' not in _state:
            _state['value'], reason = _setup()
            if reason:
                print_log(f'rsb_mm: the compiled resize is off ({reason}); '
                          'TimmRandomResizedCrop uses Pillow (same pixels, slower)',
                          logger='current', level=30)
        return _state['value']


def available() -> bool:
    """Whether :func:`resize` runs the compiled code (loads and checks it on first call)."""
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
