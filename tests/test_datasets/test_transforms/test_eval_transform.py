"""The RSB test transform: MMPretrain's own transforms against timm's eval transform.

timm (``timm/data/transforms_factory.py`` ``transforms_imagenet_eval``, crop_pct 0.95,
bicubic): ``Resize(floor(224 / 0.95) = 235)`` on the short side (torchvision, PIL, the long
side ``int(235 * long / short)``), then ``CenterCrop(224)`` (top-left
``int(round((size - 224) / 2))``). MMPretrain 1.2.0 / mmcv 2.1.0 have both pieces:
``ResizeEdge(scale=235, edge='short', backend='pillow', interpolation='bicubic')`` computes the
long side with the same ``int(235 * long / short)`` and resizes with the same PIL call, and
mmcv's ``CenterCrop(crop_size=224)`` rounds the offset the same way, so no transform of our own
is needed. These tests pin that, and the two ways it can break: the default ``cv2`` resize
backend, and decoding (EXIF orientation).
"""
import io
import math

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from PIL import Image
from timm.data import create_transform

import rsb_mm  # noqa: F401  (registers rsb_mm's transforms; the test uses MMPretrain's)

CROP_PCT = 0.95
SIZES = [(500, 375), (375, 500), (333, 500), (640, 427), (235, 235), (236, 240), (1000, 237),
         (301, 300), (224, 300), (231, 347), (241, 1003)]  # (w, h)


def _photo(size):
    """A real photo (scikit-image) or a synthetic one, resized to ``size`` = (w, h), RGB."""
    try:
        from skimage import data
        rgb = data.coffee()
    except ImportError:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:400, 0:600].astype(np.float32)
        rgb = np.stack([xx / 600 * 255, yy / 400 * 255, (xx + yy) % 97 * 2.6], -1)
        rgb[80:200, 120:260] = (30, 200, 90)
        rgb = np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def _timm_eval(img_size=224):
    # use_prefetcher=True ends the pipeline with MaybePILToTensor: uint8 CHW RGB, no normalise.
    return create_transform(
        img_size,
        is_training=False,
        crop_pct=CROP_PCT,
        interpolation='bicubic',
        use_prefetcher=True)


def _mm_eval(backend='pillow', img_size=224, load=None):
    pipeline = [] if load is None else [load]
    pipeline += [
        dict(
            type='ResizeEdge',
            scale=math.floor(img_size / CROP_PCT),
            edge='short',
            backend=backend,
            interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=img_size),
    ]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose(pipeline)


def _timm_uint8(transform, pil):
    return transform(pil).numpy().transpose(1, 2, 0)  # HWC RGB


@pytest.mark.parametrize('size', SIZES)
def test_resize_edge_center_crop_equals_timm(size):
    rgb = _photo(size)
    expected = _timm_uint8(_timm_eval(), Image.fromarray(rgb))
    results = _mm_eval()(dict(img=np.ascontiguousarray(rgb[..., ::-1])))
    assert results['img_shape'] == (224, 224)
    np.testing.assert_array_equal(results['img'][..., ::-1], expected)


@pytest.mark.parametrize('size', [(500, 375), (241, 1003)])
def test_rectangular_and_a3_sizes(size):
    # A3 trains at 160 and tests at 224; check another eval size too (floor(160/.95)=168).
    rgb = _photo(size)
    expected = _timm_uint8(_timm_eval(160), Image.fromarray(rgb))
    results = _mm_eval(img_size=160)(dict(img=np.ascontiguousarray(rgb[..., ::-1])))
    np.testing.assert_array_equal(results['img'][..., ::-1], expected)


def test_cv2_backend_differs_from_timm():
    # MMPretrain's default ResizeEdge backend is cv2: no antialiasing on downscale and another
    # bicubic kernel, so configs must say backend='pillow' (this test keeps that visible).
    rgb = _photo((500, 375))
    expected = _timm_uint8(_timm_eval(), Image.fromarray(rgb)).astype(int)
    out = _mm_eval(backend='cv2')(dict(img=np.ascontiguousarray(rgb[..., ::-1])))['img']
    diff = np.abs(out[..., ::-1].astype(int) - expected)
    assert out.shape == (224, 224, 3) and diff.max() > 10


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_from_jpeg_file(tmp_path, backend):
    # Decoding: timm's ImageDataset does Image.open(path).convert('RGB'). With libjpeg-turbo in
    # both PIL and OpenCV the RGB JPEG decodes identically with either mmcv backend.
    rgb = _photo((500, 375))
    path = str(tmp_path / 'photo.jpg')
    Image.fromarray(rgb).save(path, quality=90)
    expected = _timm_uint8(_timm_eval(), Image.open(path).convert('RGB'))
    results = _mm_eval(load=dict(type='LoadImageFromFile', imdecode_backend=backend))(
        dict(img_path=path))
    assert results['ori_shape'] == (375, 500) and results['img_shape'] == (224, 224)
    np.testing.assert_array_equal(results['img'][..., ::-1], expected)


def test_exif_orientation_is_applied_by_mmcv_not_timm(tmp_path):
    # A JPEG tagged "rotate 90": mmcv's 'color' decoding applies the tag, timm's loader does
    # not; 'color_ignore_orientation' gives timm's pixels.
    rgb = _photo((320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, 'JPEG', quality=95, exif=exif)
    path = tmp_path / 'rotated.jpg'
    path.write_bytes(buffer.getvalue())
    expected = _timm_uint8(_timm_eval(), Image.open(path).convert('RGB'))
    for color_type, same in (('color', False), ('color_ignore_orientation', True)):
        load = dict(type='LoadImageFromFile', imdecode_backend='pillow', color_type=color_type)
        results = _mm_eval(load=load)(dict(img_path=str(path)))
        assert results['ori_shape'] == ((240, 320) if same else (320, 240))
        assert np.array_equal(results['img'][..., ::-1], expected) == same
