"""TimmRandomResizedCrop against timm's RandomResizedCropAndInterpolation (timm/data/transforms.py).

timm's transform is taken from timm's own ``transforms_imagenet_train(..., separate=True)``.
With the same ``random`` state both must give the same crop box, the same interpolation and
the same pixels.
"""
import importlib.util
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation
from timm.data.transforms_factory import transforms_imagenet_train

from rsb_mm.datasets.transforms import TimmRandomResizedCrop
from rsb_mm.datasets.transforms.timm_random_resized_crop import bgr_to_pil, pil_to_bgr

SEEDS = range(30)


def _photo(size=(96, 72)):
    """A real photo (scikit-image) or, without it, a synthetic one with edges and texture.

    Returns an RGB uint8 array of ``size`` = (w, h).
    """
    try:
        from skimage import data
        rgb = data.astronaut()
    except ImportError:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
        rgb = np.stack([xx / 400 * 255, yy / 300 * 255, (xx + yy) % 97 * 2.6], -1)
        rgb[80:200, 120:260] = (30, 200, 90)
        rgb[((xx - 300)**2 + (yy - 80)**2) < 50**2] = (240, 40, 40)
        rgb = rgb + rng.normal(0, 12, rgb.shape)
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def _timm_rrc(size, interpolation='random'):
    primary, _, _ = transforms_imagenet_train(size, interpolation=interpolation, separate=True)
    rrc = primary.transforms[0]
    assert isinstance(rrc, RandomResizedCropAndInterpolation)
    return rrc


@pytest.mark.parametrize('native', [True, False], ids=['compiled-resize', 'pillow-resize'])
@pytest.mark.parametrize('size', [224, 160])
@pytest.mark.parametrize('wh', [(96, 72), (50, 90), (500, 375)])
def test_matches_timm_pixel_for_pixel(size, wh, native):
    if native and not importlib.util.find_spec('rsb_mm._native._pil_resample'):
        pytest.skip('the compiled resize is not built (pip install -e . builds it)')
    rgb = _photo(wh)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    timm_rrc = _timm_rrc(size)
    ours = TimmRandomResizedCrop(scale=size, native_resize=native)
    assert ours.native_resize == native
    outputs = set()
    for seed in SEEDS:
        random.seed(seed)
        expected = np.asarray(timm_rrc(Image.fromarray(rgb)))
        state = random.getstate()
        random.seed(seed)
        results = ours.transform(dict(img=bgr, img_shape=bgr.shape[:2]))
        # Same number of draws from ``random`` as timm, so later transforms stay in step.
        assert random.getstate() == state
        assert results['img_shape'] == (size, size)
        np.testing.assert_array_equal(results['img'][..., ::-1], expected, err_msg=f'{seed}')
        outputs.add(results['img'].tobytes())
    assert len(outputs) == len(SEEDS)  # every seed gave another crop: the test can fail


def test_random_interpolation_uses_both_modes():
    # A crop of the same box with the other interpolation differs: the choice is not ignored.
    rgb = _photo()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    ours = TimmRandomResizedCrop(scale=224)
    bilinear = TimmRandomResizedCrop(scale=224, interpolation='bilinear')
    bicubic = TimmRandomResizedCrop(scale=224, interpolation='bicubic')
    picked = set()
    for seed in range(20):
        random.seed(seed)
        out = ours.transform(dict(img=bgr))['img']
        random.seed(seed)
        lin = bilinear.transform(dict(img=bgr))['img']
        random.seed(seed)
        cub = bicubic.transform(dict(img=bgr))['img']
        assert not np.array_equal(lin, cub)
        # 'random' draws one more number (the choice) after the box, so compare the pixels.
        picked.add('bilinear' if np.array_equal(out, lin) else 'bicubic' if np.
                   array_equal(out, cub) else 'other')
    assert picked == {'bilinear', 'bicubic'}


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic', 'lanczos'])
def test_fixed_interpolation_and_rectangular_size(interpolation):
    rgb = _photo()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    # MMPretrain's scale is (w, h); timm's size is (h, w).
    ours = TimmRandomResizedCrop(
        scale=(64, 48),
        interpolation=interpolation,
        crop_ratio_range=(0.3, 1.0),
        aspect_ratio_range=(0.5, 2.0))
    timm_rrc = RandomResizedCropAndInterpolation((48, 64),
                                                 scale=(0.3, 1.0),
                                                 ratio=(0.5, 2.0),
                                                 interpolation=interpolation)
    for seed in range(10):
        random.seed(seed)
        expected = np.asarray(timm_rrc(Image.fromarray(rgb)))
        random.seed(seed)
        results = ours.transform(dict(img=bgr))
        assert results['img_shape'] == (48, 64)
        np.testing.assert_array_equal(results['img'][..., ::-1], expected)


def test_grayscale_and_non_contiguous_inputs():
    rgb = _photo()
    gray = np.asarray(Image.fromarray(rgb).convert('L'))
    timm_rrc = _timm_rrc(160)
    ours = TimmRandomResizedCrop(scale=160)
    for seed in range(5):
        random.seed(seed)
        expected = np.asarray(timm_rrc(Image.fromarray(gray)))
        random.seed(seed)
        np.testing.assert_array_equal(ours.transform(dict(img=gray))['img'], expected)
        random.seed(seed)
        expected = np.asarray(timm_rrc(Image.fromarray(np.ascontiguousarray(rgb[:, ::-1]))))
        random.seed(seed)
        out = ours.transform(dict(img=rgb[:, ::-1, ::-1]))['img']  # flipped BGR view
        np.testing.assert_array_equal(out[..., ::-1], expected)


_RGB = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
_BGR = np.ascontiguousarray(_RGB[..., ::-1])
# The views bgr_to_pil meets: as loaded by cv2, as loaded by mmcv's pillow backend (an RGB array
# seen through [..., ::-1]), after mmcv.imflip (np.flip view), both, a crop view of a bigger
# array, a vertical flip, and grayscale.
_VIEWS = {
    'contiguous': lambda: _BGR,
    'pillow_decoded': lambda: _RGB[..., ::-1],
    'hflipped': lambda: np.flip(_BGR, axis=1),
    'pillow_decoded_hflipped': lambda: np.flip(_RGB[..., ::-1], axis=1),
    'cropped_view': lambda: _BGR[1:8, 2:12],
    'vflipped': lambda: _BGR[::-1],
    'gray': lambda: np.ascontiguousarray(_BGR[..., 1]),
    'gray_hflipped': lambda: _BGR[:, ::-1, 1],
}


@pytest.mark.parametrize('view', list(_VIEWS))
@pytest.mark.parametrize('box', [None, (2, 3, 4, 5)])
def test_bgr_pil_round_trip(view, box):
    bgr = _VIEWS[view]()
    top, left, height, width = box or (0, 0, *bgr.shape[:2])
    crop = bgr[top:top + height, left:left + width]
    pil = bgr_to_pil(bgr, box)
    assert pil.size == (width, height)
    if bgr.ndim == 3:
        assert pil.mode == 'RGB'
        np.testing.assert_array_equal(np.asarray(pil), crop[..., ::-1])
    else:
        assert pil.mode == 'L'
        np.testing.assert_array_equal(np.asarray(pil), crop)
    # Same pixels, and the same bytes inside PIL (RGB's 4th byte) as PIL's own conversion.
    reference = Image.fromarray(np.ascontiguousarray(crop[..., ::-1] if bgr.ndim == 3 else crop))
    raw = ('raw', 'RGBX') if bgr.ndim == 3 else ('raw', 'L')
    assert pil.tobytes(*raw) == reference.tobytes(*raw)
    back = pil_to_bgr(pil)
    assert back.flags.writeable and back.flags.c_contiguous
    np.testing.assert_array_equal(back, crop)
    # No aliasing: writing the result never touches the source.
    before = bgr.copy()
    back[...] = 0
    np.testing.assert_array_equal(bgr, before)


@pytest.mark.parametrize('kwargs, value', [
    (dict(scale=0), '0'),
    (dict(scale=(224, )), '(224,)'),
    (dict(scale=224, crop_ratio_range=(0.5, 0.1)), '(0.5, 0.1)'),
    (dict(scale=224, crop_ratio_range=(0.08, 1.5)), '(0.08, 1.5)'),
    (dict(scale=224, aspect_ratio_range=(0, 1)), '(0, 1)'),
    (dict(scale=224, interpolation='cubic'), 'cubic'),
    (dict(scale=224, native_resize='yes'), "'yes'"),
])
def test_invalid_values_raise(kwargs, value):
    name = list(kwargs)[-1]
    with pytest.raises(ValueError, match=name) as info:
        TimmRandomResizedCrop(**kwargs)
    assert value in str(info.value)


def test_invalid_image_raises():
    with pytest.raises(ValueError, match=r'\(8, 8, 4\)'):
        TimmRandomResizedCrop(scale=32).transform(dict(img=np.zeros((8, 8, 4), np.uint8)))


def _compose(pipeline):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose(pipeline)


def _assert_same_as_timm(compose, primary, secondary, path, seeds):
    """Our pipeline on the file vs timm's transforms on PIL's decoding of it, seed by seed
    (``random`` and ``np.random``); returns our packed outputs."""
    decoded = Image.open(path).convert('RGB')
    outputs = []
    for seed in seeds:
        random.seed(seed)
        np.random.seed(seed)
        packed = compose(dict(img_path=path))
        random.seed(seed)
        np.random.seed(seed)
        expected = np.asarray(secondary(primary(decoded)))
        np.testing.assert_array_equal(packed['inputs'].numpy().transpose(1, 2, 0)[..., ::-1],
                                      expected, err_msg=f'{path} seed {seed}')
        outputs.append(packed)
    return outputs


def test_in_compose_from_config(tmp_path):
    rgb = _photo((120, 90))
    path = str(tmp_path / 'photo.jpg')
    Image.fromarray(rgb).save(path, quality=95)
    # No RandomFlip here: it draws from np.random, timm's flip from torch, so the RandAugment
    # op choice (np.random) would no longer be in step.
    compose = _compose([
        dict(type='LoadImageFromFile', imdecode_backend='pillow'),
        dict(type='TimmRandomResizedCrop', scale=(64, 48)),
        dict(type='TimmRandAugment', img_size=(48, 64)),
        dict(type='PackInputs'),
    ])
    assert isinstance(compose.transforms[1], TimmRandomResizedCrop)
    primary, secondary, _ = transforms_imagenet_train((48, 64),
                                                      hflip=0.,
                                                      auto_augment='rand-m7-mstd0.5-inc1',
                                                      separate=True)
    for packed in _assert_same_as_timm(compose, primary, secondary, path, range(5)):
        assert packed['data_samples'].img_shape == (48, 64)
        assert packed['data_samples'].ori_shape == (90, 120)


def test_rsb_train_pipeline_shapes(tmp_path):
    path = str(tmp_path / 'photo.jpg')
    Image.fromarray(_photo((120, 90))).save(path, quality=90)
    compose = _compose([
        dict(type='LoadImageFromFile'),
        dict(type='TimmRandomResizedCrop', scale=160),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='TimmRandAugment', config_str='rand-m6-mstd0.5-inc1', img_size=160),
        dict(type='PackInputs'),
    ])
    flipped = 0
    for seed in range(8):
        random.seed(seed)
        np.random.seed(seed)
        packed = compose(dict(img_path=path))
        assert packed['inputs'].shape == (3, 160, 160)
        assert packed['inputs'].dtype == torch.uint8
        assert packed['data_samples'].img_shape == (160, 160)
        flipped += packed['data_samples'].flip
    assert 0 < flipped < 8


def test_shipped_train_pipeline_equals_timm_on_jpeg_files(tmp_path):
    """configs/rsb_a1_resnet50.py's train pipeline as shipped (JPEG file loaded, crop,
    RandAugment; the flip left out: it draws from np.random, timm's from torch) against timm's
    transform on the PIL-decoded file: the same pixels, in every JPEG layout."""
    from mmengine.config import Config
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(repo, 'configs', 'rsb_a1_resnet50.py'))
    pipeline = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] != 'RandomFlip']
    compose = _compose(pipeline)
    primary, secondary, _ = transforms_imagenet_train(224,
                                                      hflip=0.,
                                                      interpolation='random',
                                                      auto_augment='rand-m7-mstd0.5-inc1',
                                                      separate=True)
    rgb = _photo((333, 250))
    for i, kwargs in enumerate([dict(subsampling=2), dict(subsampling=0),
                                dict(progressive=True)]):
        path = str(tmp_path / f'photo{i}.jpg')
        Image.fromarray(rgb).save(path, quality=90, **kwargs)
        _assert_same_as_timm(compose, primary, secondary, path, range(4))
