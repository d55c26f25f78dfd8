"""TimmRandAugment against timm's RandAugment (timm/data/auto_augment.py).

timm's transform is taken from timm's own ``transforms_imagenet_train(..., separate=True)``,
so the hparams (translate_const, img_mean, interpolation) are the ones timm builds, not a copy
of them. With the same ``random`` and ``np.random`` state both must give the same pixels.
"""
import random

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from PIL import Image
from timm.data.auto_augment import RandAugment
from timm.data.transforms_factory import transforms_imagenet_train

from rsb_mm.datasets.transforms import TimmRandAugment
from rsb_mm.datasets.transforms.timm_rand_augment import timm_rand_augment_hparams

CONFIGS = ('rand-m7-mstd0.5-inc1', 'rand-m6-mstd0.5-inc1', 'rand-m9-n3-mstd0')
SEEDS = range(30)


def _photo(size=(96, 72)):
    """A real photo (scikit-image) or, without it, a synthetic one with edges and texture.

    Returns an RGB uint8 array of ``size`` = (w, h).
    """
    try:
        from skimage import data
        rgb = data.chelsea()
    except ImportError:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
        rgb = np.stack([xx / 400 * 255, yy / 300 * 255, (xx + yy) % 97 * 2.6], -1)
        rgb[80:200, 120:260] = (30, 200, 90)  # a block: sharp edges for shear/rotate
        rgb[((xx - 300)**2 + (yy - 80)**2) < 50**2] = (240, 40, 40)  # a disc
        rgb = rgb + rng.normal(0, 12, rgb.shape)  # texture for sharpness/equalize
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def _timm_rand_augment(config_str, img_size, interpolation='random'):
    _, secondary, _ = transforms_imagenet_train(
        img_size, auto_augment=config_str, interpolation=interpolation, separate=True)
    ra = secondary.transforms[0]
    assert isinstance(ra, RandAugment)
    return ra


def _seed(seed):
    random.seed(seed)
    np.random.seed(seed)


@pytest.mark.parametrize('config_str', CONFIGS)
def test_matches_timm_pixel_for_pixel(config_str):
    rgb = _photo()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    timm_ra = _timm_rand_augment(config_str, 224)
    ours = TimmRandAugment(config_str=config_str, img_size=224)
    changed = 0
    for seed in SEEDS:
        _seed(seed)
        expected = np.asarray(timm_ra(Image.fromarray(rgb)))
        _seed(seed)
        results = ours.transform(dict(img=bgr.copy(), img_shape=bgr.shape[:2]))
        out = results['img']
        assert out.dtype == np.uint8 and out.shape == bgr.shape
        np.testing.assert_array_equal(out[..., ::-1], expected, err_msg=f'seed {seed}')
        assert results['img_shape'] == bgr.shape[:2]
        changed += not np.array_equal(out, bgr)
    # The comparison is only meaningful if ops were actually applied on most seeds.
    assert changed >= len(SEEDS) // 2


def test_hparams_are_timms():
    for img_size, interpolation in ((224, 'random'), (160, 'bicubic'), ((160, 192), 'random')):
        timm_ra = _timm_rand_augment('rand-m7-mstd0.5-inc1', img_size, interpolation)
        ours = TimmRandAugment(img_size=img_size, interpolation=interpolation)
        for ours_op, timm_op in zip(ours.timm_transform.ops, timm_ra.ops, strict=True):
            assert ours_op.name == timm_op.name
            assert ours_op.hparams == timm_op.hparams
            assert ours_op.kwargs == timm_op.kwargs
            assert ours_op.magnitude == timm_op.magnitude == 7
            assert ours_op.prob == timm_op.prob == 0.5
    # 224 * 0.45 = 100.8 -> 100; 160 * 0.45 = 72; ImageNet mean -> (124, 116, 104).
    assert timm_rand_augment_hparams(224) == dict(translate_const=100, img_mean=(124, 116, 104))
    assert timm_rand_augment_hparams((160, 192))['translate_const'] == 72


def test_fixed_interpolation_and_fill_matter():
    rgb = _photo()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    timm_ra = _timm_rand_augment('rand-m9-n3-mstd0', 160, 'bilinear')
    ours = TimmRandAugment('rand-m9-n3-mstd0', img_size=160, interpolation='bilinear')
    # (img_size alone would not do: RandAugment's translate is relative, see the module doc.)
    others = [
        TimmRandAugment('rand-m9-n3-mstd0', img_size=160, interpolation='bicubic'),
        TimmRandAugment(
            'rand-m9-n3-mstd0', img_size=160, interpolation='bilinear', mean=(0.5, 0.5, 0.5)),
    ]
    differs = [0] * len(others)
    for seed in SEEDS:
        _seed(seed)
        expected = np.asarray(timm_ra(Image.fromarray(rgb)))
        _seed(seed)
        np.testing.assert_array_equal(ours.transform(dict(img=bgr))['img'][..., ::-1], expected)
        for i, other in enumerate(others):
            _seed(seed)
            differs[i] += not np.array_equal(
                other.transform(dict(img=bgr))['img'][..., ::-1], expected)
    assert all(differs)  # the comparison can tell these hparams apart


def test_grayscale_and_non_contiguous_inputs():
    rgb = _photo()
    timm_ra = _timm_rand_augment('rand-m7-mstd0.5-inc1', 224)
    ours = TimmRandAugment()
    flipped_bgr = rgb[:, ::-1, ::-1]  # what mmcv.imflip hands on: a negative-stride view
    for seed in range(10):
        _seed(seed)
        expected = np.asarray(timm_ra(Image.fromarray(np.ascontiguousarray(rgb[:, ::-1]))))
        _seed(seed)
        out = ours.transform(dict(img=flipped_bgr))['img']
        np.testing.assert_array_equal(out[..., ::-1], expected)


@pytest.mark.parametrize('kwargs, value', [
    (dict(config_str='rand-m7-foo1'), 'rand-m7-foo1'),
    (dict(config_str='auto-m7'), 'auto-m7'),
    (dict(config_str='rand-mx'), 'rand-mx'),
    (dict(config_str='rand-m7-mstd0.5-inc'), 'rand-m7-mstd0.5-inc'),
    (dict(config_str='rand-m7.5'), 'rand-m7.5'),
    (dict(config_str=7), '7'),
    (dict(img_size=0), '0'),
    (dict(img_size=(224, 224, 3)), '(224, 224, 3)'),
    (dict(mean=(123.675, 116.28, 103.53)), '123.675'),
    (dict(interpolation='cubic'), 'cubic'),
])
def test_invalid_values_raise(kwargs, value):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name) as info:
        TimmRandAugment(**kwargs)
    assert value in str(info.value)


def test_invalid_image_raises():
    with pytest.raises(ValueError, match='float32'):
        TimmRandAugment().transform(dict(img=np.zeros((8, 8, 3), np.float32)))


def test_in_compose_from_config(tmp_path):
    rgb = _photo((120, 90))
    path = str(tmp_path / 'photo.jpg')
    Image.fromarray(rgb).save(path, quality=95)
    pipeline = [
        dict(type='LoadImageFromFile', imdecode_backend='pillow'),
        dict(type='TimmRandAugment', config_str='rand-m9-n3-mstd0', img_size=(90, 120)),
        dict(type='PackInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        compose = Compose(pipeline)
    assert isinstance(compose.transforms[1], TimmRandAugment)
    timm_ra = _timm_rand_augment('rand-m9-n3-mstd0', (90, 120))
    decoded = np.asarray(Image.open(path).convert('RGB'))
    for seed in range(5):
        _seed(seed)
        packed = compose(dict(img_path=path))
        _seed(seed)
        expected = np.asarray(timm_ra(Image.fromarray(decoded)))
        assert packed['data_samples'].img_shape == (90, 120)
        # PackInputs keeps MMCV's BGR channel order, CHW.
        np.testing.assert_array_equal(packed['inputs'].numpy().transpose(1, 2, 0)[..., ::-1],
                                      expected)


def test_posterize_to_zero_bits_gives_black_not_an_error():
    """Magnitude 10 of PosterizeIncreasing is 0 bits: Pillow >= 13 raises there, Pillow <= 12
    (what timm's RSB runs used) gave a black image; so does ours, and the rest is timm's."""
    from PIL import Image
    from timm.data.auto_augment import AugmentOp

    from rsb_mm.datasets.transforms.timm_rand_augment import (build_timm_rand_augment,
                                                              posterize_pillow_any)
    augment = build_timm_rand_augment('rand-m9-mstd0.5-inc1', timm_rand_augment_hparams(32))
    ops = [op for op in augment.ops if op.name == 'PosterizeIncreasing']
    assert len(ops) == 1 and ops[0].aug_fn is posterize_pillow_any
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(1, 256, (16, 16, 3), dtype=np.uint8))
    op = ops[0]
    op.prob, op.magnitude, op.magnitude_std = 1.0, 10, 0  # always, exactly 0 bits
    assert np.asarray(op(img)).max() == 0
    # 1..7 bits: exactly timm's posterize
    timm_op = AugmentOp('PosterizeIncreasing', prob=1.0, magnitude=5)
    ours = AugmentOp('PosterizeIncreasing', prob=1.0, magnitude=5)
    ours.aug_fn = posterize_pillow_any
    assert np.array_equal(np.asarray(ours(img)), np.asarray(timm_op(img)))
