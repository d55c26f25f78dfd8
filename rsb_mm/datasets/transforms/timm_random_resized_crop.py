"""timm's training crop (RandomResizedCrop with random interpolation) as an mmcv transform.

Twin: ``RandomResizedCropAndInterpolation`` (``timm/data/transforms.py``), the crop
``transforms_imagenet_train`` puts first in the RSB training pipeline: the box from timm's own
``get_params``, the interpolation drawn in timm's order with Python's ``random``, the resize
Pillow's (or its compiled copy, :mod:`rsb_mm._native.pil_resample`: the same bytes), on the
crop of MMPretrain's BGR array only. Why not MMPretrain's ``RandomResizedCrop``, and the pixels
of Pillow 13 vs older Pillow: docs/design.md, "Training transforms". Tests:
tests/test_datasets/test_transforms/test_timm_random_resized_crop.py (same pixels as timm).
"""
import random
from numbers import Integral, Real
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as F
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation

from rsb_mm._native import pil_resample

__all__ = ['bgr_to_pil', 'pil_to_bgr', 'TimmRandomResizedCrop']

# The modes timm's ``str_to_interp_mode`` knows, plus its 'random' (bilinear or bicubic).
INTERPOLATIONS = ('random', 'nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos')


def _check_image(img: np.ndarray) -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or not (
            img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3))):
        desc = (f'{img.dtype} array of shape {img.shape}'
                if isinstance(img, np.ndarray) else type(img).__name__)
        raise ValueError('results["img"] must be a uint8 array of shape (H, W, 3) in BGR '
                         f'order or (H, W) grayscale (timm\'s PIL ops need it), got {desc}')
    return img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img


def bgr_to_pil(img: np.ndarray, box: Optional[Tuple[int, int, int, int]] = None) -> Image.Image:
    """Convert an MMCV image (BGR uint8) into the RGB PIL image timm's transforms take.

    Args:
        img (np.ndarray): ``(H, W, 3)`` BGR or ``(H, W)`` grayscale uint8 image, as
            ``LoadImageFromFile`` loads it.
        box (tuple[int, int, int, int], optional): ``(top, left, height, width)``: convert only
            this crop of ``img``. Defaults to None (the whole image).

    Returns:
        PIL.Image.Image: an ``'RGB'`` (or ``'L'`` for a grayscale array) image.

    Raises:
        ValueError: if ``img`` is not such an array.
    """
    img = _check_image(img)
    top, left, height, width = box if box is not None else (0, 0, *img.shape[:2])
    # Two views are common and would cost a slow strided numpy copy; both are undone for free:
    # ``mmcv.imflip``'s horizontal flip (negative column stride: PIL mirrors the crop instead)
    # and mmcv's pillow decoding, an RGB array seen as BGR through ``[..., ::-1]``.
    mirrored = img.strides[1] < 0
    if mirrored:
        img = img[:, ::-1]
        left = img.shape[1] - left - width
    code = cv2.COLOR_BGR2RGBA
    if img.ndim == 3 and img.strides[2] < 0:
        img, code = img[..., ::-1], cv2.COLOR_RGB2RGBA
    crop = img[top:top + height, left:left + width]
    if crop.strides[0] <= 0 or crop.strides[1:] != ((3, 1) if crop.ndim == 3 else (1, )):
        crop = np.ascontiguousarray(crop)
    if crop.ndim == 2:
        # A fresh array, so the image (which may map rather than copy it) aliases nothing.
        pil = Image.fromarray(np.array(crop))
    else:
        # PIL stores RGB as 4 bytes per pixel: cv2's SIMD conversion to RGBA (alpha 255, as
        # PIL's own unpackers write) lets PIL copy whole pixels, ~4x faster than its 'BGR'
        # unpacker. cv2 reads the crop in place, following the parent's row stride.
        pil = Image.frombytes('RGB', (width, height), cv2.cvtColor(crop, code), 'raw', 'RGBX', 0, 1)
    return pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else pil


def pil_to_bgr(img: Image.Image) -> np.ndarray:
    """Convert an RGB (or L) PIL image back into a writable BGR (or grayscale) uint8 array.

    Args:
        img (PIL.Image.Image): the output of a timm transform.

    Returns:
        np.ndarray: ``(H, W, 3)`` BGR for an ``'RGB'`` image, else ``np.array(img)``.
    """
    if img.mode == 'RGB':
        width, height = img.size
        # 'RGBX' is PIL's internal layout (a plain copy); cv2 then drops X and swaps channels.
        rgbx = np.frombuffer(img.tobytes('raw', 'RGBX'), np.uint8).reshape(height, width, 4)
        return cv2.cvtColor(rgbx, cv2.COLOR_RGBA2BGR)
    return np.array(img)


def _check_range(value: Sequence[float], name: str, positive: bool) -> Tuple[float, float]:
    ok = (
        isinstance(value, (tuple, list)) and len(value) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in value)
        and value[0] <= value[1] and (value[0] > 0 if positive else value[0] >= 0))
    if not ok:
        raise ValueError(f'{name} must be a (min, max) pair with '
                         f'{"0 < min" if positive else "0 <= min"} <= max, got {value!r}')
    return float(value[0]), float(value[1])


def _check_size(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """Return ``(h, w)`` from an int or MMPretrain's ``(w, h)`` pair."""
    if isinstance(size, Integral) and not isinstance(size, bool) and size > 0:
        return int(size), int(size)
    if (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in size)):
        return int(size[1]), int(size[0])
    raise ValueError(f'{name} must be a positive int or a (w, h) pair of them, got {size!r}')


@TRANSFORMS.register_module()
class TimmRandomResizedCrop(BaseTransform):
    """timm's ``RandomResizedCropAndInterpolation`` on an MMCV (BGR numpy) image.

    The arguments are named as in MMPretrain's ``RandomResizedCrop`` so that a config swaps
    one for the other by its ``type`` alone; timm's names are in brackets.

    Required Keys:

    - img

    Modified Keys:

    - img
    - img_shape

    Args:
        scale (int | Sequence[int]): output size, an int for a square or ``(w, h)`` as in
            MMPretrain (timm's ``size`` is ``(h, w)``).
        crop_ratio_range (Sequence[float]): range of the crop area as a fraction of the image
            area (timm's ``scale``). Defaults to ``(0.08, 1.0)``.
        aspect_ratio_range (Sequence[float]): range of the crop's aspect ratio w/h, sampled
            log-uniformly (timm's ``ratio``). Defaults to ``(3. / 4., 4. / 3.)``.
        interpolation (str): ``'random'`` (PIL bilinear or bicubic, drawn per call with
            ``random.choice`` as timm does) or a fixed one of ``'nearest'``, ``'bilinear'``,
            ``'bicubic'``, ``'box'``, ``'hamming'``, ``'lanczos'``. Defaults to ``'random'``.
        native_resize (bool): Resize bilinear/bicubic crops with rsb_mm's compiled copy of
            Pillow's resampling (``rsb_mm._native.pil_resample``: the same bytes, checked
            against the installed Pillow when first used, 2-4x faster, no conversion to
            PIL); Pillow itself where it is off or not built.
            Defaults to True.

    Raises:
        ValueError: if an argument is out of its range, naming it and its value.
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]],
                 crop_ratio_range: Sequence[float] = (0.08, 1.0),
                 aspect_ratio_range: Sequence[float] = (3. / 4., 4. / 3.),
                 interpolation: str = 'random',
                 native_resize: bool = True) -> None:
        super().__init__()
        size = _check_size(scale, 'scale')
        area = _check_range(crop_ratio_range, 'crop_ratio_range', positive=False)
        if area[1] > 1:
            raise ValueError('crop_ratio_range must be a (min, max) pair with 0 <= min <= max '
                             f'<= 1, got {crop_ratio_range!r}')
        ratio = _check_range(aspect_ratio_range, 'aspect_ratio_range', positive=True)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {INTERPOLATIONS}, '
                             f'got {interpolation!r}')
        self.scale = scale
        self.crop_ratio_range = area
        self.aspect_ratio_range = ratio
        self.interpolation = interpolation
        if not isinstance(native_resize, bool):
            raise ValueError(f'native_resize must be a bool, got {native_resize!r}')
        # loaded and checked here, in the main process, before the loader's workers start
        self.native_resize = native_resize and pil_resample.available()
        self.timm_transform = RandomResizedCropAndInterpolation(
            size, scale=area, ratio=ratio, interpolation=interpolation)

    def transform(self, results: Dict) -> Dict:
        """Crop and resize ``results['img']`` as timm does and update ``img_shape``.

        Args:
            results (dict): the result dict from the previous transform.

        Returns:
            dict: ``results`` with the cropped image.
        """
        img = _check_image(results['img'])
        height, width = img.shape[:2]
        timm = self.timm_transform
        # timm's get_params reads nothing but the image size; a zero-storage tensor of that
        # size lets us draw the box before converting, then touch only the crop.
        top, left, crop_h, crop_w = timm.get_params(
            torch.empty(()).expand(height, width), timm.scale, timm.ratio)
        if isinstance(timm.interpolation, (tuple, list)):
            interpolation = random.choice(timm.interpolation)
        else:
            interpolation = timm.interpolation
        crop = img[top:top + crop_h, left:left + crop_w]
        out = None
        if self.native_resize:
            # Pillow's bytes without the round trip through PIL (pil_resample); None when
            # the compiled code is off or the filter is not bilinear/bicubic
            out = pil_resample.resize(crop, timm.size,
                                      F.pil_modes_mapping.get(interpolation, interpolation))
        if out is None:
            out = pil_to_bgr(F.resize(bgr_to_pil(crop), timm.size, interpolation))
        results['img'] = out
        results['img_shape'] = out.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale!r}, '
                f'crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'interpolation={self.interpolation!r}, native_resize={self.native_resize})')
