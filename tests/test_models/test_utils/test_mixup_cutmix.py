"""MixupCutMix against timm's Mixup (timm/data/mixup.py), alone and inside MMPretrain.

timm's ``Mixup`` gets integer labels and builds its own smoothed one-hot; ours gets the
one-hot ``batch_score`` MMPretrain's ``ClsDataPreprocessor`` builds. With the same
``np.random`` state both must give bit-identical images and targets.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.data import mixup as timm_mixup

import rsb_mm.models.utils.mixup_cutmix as ours_module
from rsb_mm.models.utils import (MixupCutMix, cutmix_bbox_and_lam, mix_target, rand_bbox,
                                 rand_bbox_minmax, smooth_target)

N, C, H, W = 6, 10, 20, 24


def _batch(seed=0, n=N, h=H, w=W):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, h, w, generator=g)
    labels = torch.randint(0, C, (n, ), generator=g)
    return images, labels


def _run_timm(kwargs, images, labels, seed, calls):
    mixer = timm_mixup.Mixup(num_classes=C, **kwargs)
    np.random.seed(seed)
    return [mixer(images.clone(), labels.clone()) for _ in range(calls)]


def _run_ours(kwargs, images, labels, seed, calls):
    mixer = MixupCutMix(num_classes=C, **kwargs)
    score = F.one_hot(labels, C)  # int64, as ClsDataPreprocessor builds it
    np.random.seed(seed)
    return [mixer(images, score) for _ in range(calls)]


def _assert_identical(ours, ref):
    for (x, y), (x_ref, y_ref) in zip(ours, ref):
        assert x.dtype == x_ref.dtype and y.dtype == y_ref.dtype
        assert torch.equal(x, x_ref)
        assert torch.equal(y, y_ref)


CONFIGS = {
    'mixup': dict(mixup_alpha=0.2, cutmix_alpha=0., label_smoothing=0.1),
    'cutmix': dict(mixup_alpha=0., cutmix_alpha=1.0, label_smoothing=0.),
    'cutmix_no_correct_lam': dict(mixup_alpha=0., cutmix_alpha=1.0, correct_lam=False),
    'cutmix_minmax': dict(mixup_alpha=0., cutmix_alpha=0., cutmix_minmax=(0.2, 0.8)),
    'switch_rsb_a1': dict(mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1),
    'switch_rsb_a2': dict(mixup_alpha=0.1, cutmix_alpha=1.0, label_smoothing=0.),
    'prob_half': dict(mixup_alpha=0.2, cutmix_alpha=1.0, prob=0.5, switch_prob=0.3),
}


@pytest.mark.parametrize('mode', ['batch', 'pair', 'elem'])
@pytest.mark.parametrize('name', list(CONFIGS))
def test_same_seed_same_result_as_timm(name, mode):
    kwargs = dict(CONFIGS[name], mode=mode)
    images, labels = _batch()
    calls = 12
    ours = _run_ours(kwargs, images, labels, seed=3, calls=calls)
    ref = _run_timm(kwargs, images, labels, seed=3, calls=calls)
    _assert_identical(ours, ref)
    # Not a tautology: the draws must have mixed some batches (and, with prob < 1, left
    # others alone), and our input must be left untouched.
    changed = [not torch.equal(x, images) for x, _ in ours]
    assert any(changed)
    if name == 'prob_half' and mode == 'batch':
        assert not all(changed)
    assert torch.equal(images, _batch()[0])


def test_switching_visits_both_modes():
    # With the same seed, record which branch timm takes; ours must produce the same images
    # in both branches (the comparison above), and here both branches must occur.
    images, labels = _batch()
    ours = _run_ours(CONFIGS['switch_rsb_a1'], images, labels, seed=5, calls=20)
    flipped = images.flip(0)
    cutmix = [bool(((x == images) | (x == flipped)).all()) and not torch.equal(x, images)
              for x, _ in ours]
    assert any(cutmix) and not all(cutmix)


@pytest.mark.parametrize('lam, use_cutmix', [(0.3, False), (0.7, True), (0.95, True)])
@pytest.mark.parametrize('correct_lam', [True, False])
@pytest.mark.parametrize('smoothing', [0., 0.1])
def test_forced_lambda_and_mode(monkeypatch, lam, use_cutmix, correct_lam, smoothing):
    kwargs = dict(mixup_alpha=0.2, cutmix_alpha=1.0, correct_lam=correct_lam,
                  label_smoothing=smoothing)
    monkeypatch.setattr(timm_mixup.Mixup, '_params_per_batch', lambda self: (lam, use_cutmix))
    monkeypatch.setattr(ours_module, 'batch_mix_params', lambda *args: (lam, use_cutmix))
    images, labels = _batch(1)
    ours = _run_ours(kwargs, images, labels, seed=11, calls=3)
    ref = _run_timm(kwargs, images, labels, seed=11, calls=3)
    _assert_identical(ours, ref)
    x, y = ours[0]
    if not use_cutmix:
        assert torch.equal(x, images * lam + images.flip(0) * (1 - lam))
        off = smoothing / C
        one_hot = F.one_hot(labels, C).double()
        smoothed = one_hot * (1 - smoothing + off) + (1 - one_hot) * off
        expected = smoothed * lam + smoothed.flip(0) * (1 - lam)
        torch.testing.assert_close(y.double(), expected)


def test_lambda_one_leaves_batch_but_still_smooths(monkeypatch):
    monkeypatch.setattr(ours_module, 'batch_mix_params', lambda *args: (1., False))
    images, labels = _batch()
    x, y = MixupCutMix(label_smoothing=0.1)(images, F.one_hot(labels, C))
    assert torch.equal(x, images)
    assert torch.equal(y, timm_mixup.mixup_target(labels, C, 1., 0.1))


def test_target_from_one_hot_equals_timm_target():
    labels = torch.tensor([3, 0, 9, 9, 1, 4])
    score = F.one_hot(labels, C)
    for smoothing in (0., 0.1, 0.3, 0.05):
        for lam in (1., 0.37, 0.5, np.float64(0.8125)):
            ref = timm_mixup.mixup_target(labels, C, lam, smoothing)
            assert torch.equal(mix_target(score, lam, smoothing), ref)
        off = smoothing / C
        assert torch.equal(smooth_target(score, smoothing),
                           timm_mixup.one_hot(labels, C, 1. - smoothing + off, off))


@pytest.mark.parametrize('shape', [(3, 224, 224), (2, 3, 160, 160), (5, 7), (3, 31, 17)])
@pytest.mark.parametrize('lam', [0.0, 0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize('count', [None, 4])
def test_rand_bbox_matches_timm(shape, lam, count):
    for seed in (0, 1, 2):
        for margin in (0., 0.25):
            np.random.seed(seed)
            ours = rand_bbox(shape, lam, margin=margin, count=count)
            state = np.random.get_state()[1].copy()
            np.random.seed(seed)
            ref = timm_mixup.rand_bbox(shape, lam, margin=margin, count=count)
            for a, b in zip(ours, ref):
                np.testing.assert_array_equal(a, b)
            # Same number of draws: the generator states agree afterwards.
            np.testing.assert_array_equal(state, np.random.get_state()[1])


@pytest.mark.parametrize('shape', [(3, 224, 224), (3, 31, 17)])
@pytest.mark.parametrize('minmax', [(0.2, 0.8), (0.3, 1.0)])
@pytest.mark.parametrize('count', [None, 3])
def test_rand_bbox_minmax_and_lam_correction_match_timm(shape, minmax, count):
    for seed in range(4):
        np.random.seed(seed)
        ours = rand_bbox_minmax(shape, minmax, count=count)
        np.random.seed(seed)
        ref = timm_mixup.rand_bbox_minmax(shape, minmax, count=count)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b)
        for ratio_minmax in (None, minmax):
            for correct_lam in (True, False):
                np.random.seed(seed)
                box, lam = cutmix_bbox_and_lam(shape, 0.6, ratio_minmax, correct_lam, count)
                np.random.seed(seed)
                box_ref, lam_ref = timm_mixup.cutmix_bbox_and_lam(
                    shape, 0.6, ratio_minmax, correct_lam, count)
                np.testing.assert_array_equal(np.asarray(box), np.asarray(box_ref))
                np.testing.assert_array_equal(lam, lam_ref)


def _preprocessor(mix_kwargs, **kwargs):
    from mmpretrain.registry import MODELS
    cfg = dict(
        type='ClsDataPreprocessor', num_classes=C, mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], to_rgb=True,
        batch_augments=dict(augments=[dict(type='MixupCutMix', **mix_kwargs)]), **kwargs)
    return MODELS.build(cfg)


def _raw_data(seed, stacked):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (N, 3, H, W), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, C, (N, ), generator=g)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    inputs = images if stacked else list(images)
    return dict(inputs=inputs, data_samples=samples), images, labels


@pytest.mark.parametrize('name', ['switch_rsb_a1', 'cutmix_minmax', 'prob_half'])
@pytest.mark.parametrize('stacked', [True, False])
def test_cls_data_preprocessor_full_path_matches_timm(name, stacked):
    mix_kwargs = dict(CONFIGS[name], num_classes=C)
    preprocessor = _preprocessor(mix_kwargs)
    timm_mixer = timm_mixup.Mixup(num_classes=C, **CONFIGS[name])
    mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    np.random.seed(7)
    outs = [preprocessor(_raw_data(i, stacked)[0], training=True) for i in range(6)]
    np.random.seed(7)
    for i, out in enumerate(outs):
        _, images, labels = _raw_data(i, stacked)
        # What timm's Mixup sees without the prefetcher: the normalised RGB float batch.
        x = (images.flip(1).float() - mean) / std
        x_ref, y_ref = timm_mixer(x, labels)
        assert torch.equal(out['inputs'], x_ref)
        gt_score = torch.stack([s.gt_score for s in out['data_samples']])
        assert torch.equal(gt_score, y_ref)
        gt_label = torch.cat([s.gt_label for s in out['data_samples']])
        assert torch.equal(gt_label, labels)


def test_cls_data_preprocessor_eval_does_not_mix():
    preprocessor = _preprocessor(CONFIGS['switch_rsb_a1'])
    data, images, _ = _raw_data(0, True)
    out = preprocessor(data, training=False)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    assert torch.equal(out['inputs'], (images.flip(1).float() - mean) / std)


def test_odd_batch_in_batch_mode_and_pair_mode_rejects_it(monkeypatch):
    images, labels = _batch(n=5)
    score = F.one_hot(labels, C)
    monkeypatch.setattr(ours_module, 'batch_mix_params', lambda *args: (0.6, False))
    x, y = MixupCutMix(label_smoothing=0.)(images, score)
    # The middle image is its own partner: unchanged up to float rounding.
    torch.testing.assert_close(x[2], images[2])
    torch.testing.assert_close(y[2], score[2].float())
    assert not torch.allclose(x[1], images[1])
    with pytest.raises(ValueError, match="mode='pair' needs an even batch size, got 5"):
        MixupCutMix(mode='pair')(images, score)


def test_registered_in_batch_augments():
    from mmpretrain.registry import BATCH_AUGMENTS
    aug = BATCH_AUGMENTS.build(dict(type='MixupCutMix', mixup_alpha=0.1, cutmix_alpha=1.0))
    assert isinstance(aug, MixupCutMix)
    aug = BATCH_AUGMENTS.build(dict(type='MixupCutMix', cutmix_minmax=[0.2, 0.8]))
    assert aug.cutmix_alpha == 1.0  # forced, as in timm


@pytest.mark.parametrize('kwargs, message', [
    (dict(mixup_alpha=-0.1), 'mixup_alpha must be >= 0, got -0.1'),
    (dict(cutmix_alpha=-1), 'cutmix_alpha must be >= 0, got -1'),
    (dict(mixup_alpha=0., cutmix_alpha=0.), 'one of mixup_alpha, cutmix_alpha must be > 0'),
    (dict(prob=1.5), 'prob must be in [0, 1], got 1.5'),
    (dict(prob=-0.5), 'prob must be in [0, 1], got -0.5'),
    (dict(switch_prob=2), 'switch_prob must be in [0, 1], got 2'),
    (dict(label_smoothing=1.0), 'label_smoothing must be in [0, 1), got 1.0'),
    (dict(label_smoothing=-0.1), 'label_smoothing must be in [0, 1), got -0.1'),
    (dict(mode='half'), "mode must be one of ('batch', 'pair', 'elem'), got 'half'"),
    (dict(cutmix_minmax=(0.8, 0.2)), 'cutmix_minmax must be (min, max)'),
    (dict(num_classes=0), 'num_classes must be None or a positive int, got 0'),
])
def test_invalid_values_raise(kwargs, message):
    with pytest.raises(ValueError) as err:
        MixupCutMix(**kwargs)
    assert message in str(err.value)


def test_bad_call_shapes_raise():
    images, labels = _batch()
    with pytest.raises(ValueError, match='batch_score has 10 classes, but num_classes is 7'):
        MixupCutMix(num_classes=7)(images, F.one_hot(labels, C))
    with pytest.raises(ValueError, match='batch_score must be'):
        MixupCutMix()(images, labels)
