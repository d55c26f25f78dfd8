"""``BatchedClsDataPreprocessor``: MMPretrain's ``ClsDataPreprocessor``'s images and targets
(bit for bit, stacked or listed inputs, with the RSB configs' Mixup/CutMix), with a number of
operators that does not grow with the batch size."""
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import rsb_mm  # noqa: F401

C, H, W = 10, 12, 16
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# RSB A1's batch augment (A2/A3 differ only in alpha and smoothing)
MIX = dict(type='MixupCutMix', mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1)


class _OpCount(TorchDispatchMode):

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _build(type_, augments=True, **kwargs):
    from mmpretrain.registry import MODELS
    cfg = dict(type=type_, num_classes=C, **NORM, **kwargs)
    if augments:
        cfg['batch_augments'] = dict(augments=[MIX])
    return MODELS.build(cfg)


def _batch(seed, n=6, stacked=True, labels=None):
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, H, W), generator=gen, dtype=torch.uint8)
    if labels is None:
        labels = torch.randint(0, C, (n, ), generator=gen).tolist()
    samples = [DataSample().set_gt_label(label) for label in labels]
    return dict(inputs=images if stacked else list(images), data_samples=samples)


def _run(preprocessor, batch, seed, training=True):
    np.random.seed(seed)
    return preprocessor(batch, training=training)


def _assert_same(out, ref):
    assert torch.equal(out['inputs'], ref['inputs'])
    assert out['inputs'].dtype == ref['inputs'].dtype == torch.float32
    assert len(out['data_samples']) == len(ref['data_samples'])
    for ours, theirs in zip(out['data_samples'], ref['data_samples']):
        assert set(ours.keys()) == set(theirs.keys())
        assert torch.equal(ours.gt_label, theirs.gt_label)
        assert ours.gt_label.dtype == theirs.gt_label.dtype
        if 'gt_score' in theirs:
            assert torch.equal(ours.gt_score, theirs.gt_score)
            assert ours.gt_score.dtype == theirs.gt_score.dtype


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('seed', range(4))
def test_batched_path_equals_per_image_path(seed, training):
    """The batched path (default_collate + BatchedClsDataPreprocessor) gives the pixels and
    targets of the per-image path (pseudo_collate + ClsDataPreprocessor), Mixup and CutMix
    draws included (seeds 0-3 draw both)."""
    ours = _build('BatchedClsDataPreprocessor')
    ref = _build('ClsDataPreprocessor')
    out = _run(ours, _batch(seed, stacked=True), seed, training)
    for stacked in (False, True):
        _assert_same(out, _run(ref, _batch(seed, stacked=stacked), seed, training))
    # and through its own per-image input branch
    _assert_same(_run(ours, _batch(seed, stacked=False), seed, training), out)


def test_without_batch_augments_and_without_one_hot():
    for kwargs in (dict(to_onehot=True), dict()):
        ours = _build('BatchedClsDataPreprocessor', augments=False, **kwargs)
        ref = _build('ClsDataPreprocessor', augments=False, **kwargs)
        _assert_same(_run(ours, _batch(0), 0), _run(ref, _batch(0, stacked=False), 0))


def test_label_sets_and_given_scores_take_mmpretrain_path():
    """ImageNet-ReaL's label sets (ragged, possibly empty) and samples carrying scores go
    through ClsDataPreprocessor's own label code, unchanged."""
    labels = [[1, 3], [], [2], [0, 4, 5], [7], [9]]
    ours = _build('BatchedClsDataPreprocessor', augments=False, to_onehot=True)
    ref = _build('ClsDataPreprocessor', augments=False, to_onehot=True)
    _assert_same(_run(ours, _batch(0, labels=labels), 0, training=False),
                 _run(ref, _batch(0, labels=labels, stacked=False), 0, training=False))
    scored = [_batch(1) for _ in range(2)]
    for batch in scored:
        for i, sample in enumerate(batch['data_samples']):
            sample.set_gt_score(torch.full((C, ), float(i)))
    _assert_same(_run(_build('BatchedClsDataPreprocessor'), scored[0], 1),
                 _run(_build('ClsDataPreprocessor'), scored[1], 1))


def _count(preprocessor, n, stacked):
    batch = _batch(0, n=n, stacked=stacked)
    np.random.seed(0)  # the same draw at every batch size
    with _OpCount() as counter:
        preprocessor(batch, training=True)
    return counter.count


def test_operator_count_does_not_grow_with_batch_size():
    ours = _build('BatchedClsDataPreprocessor')
    counts = [_count(ours, n, stacked=True) for n in (2, 8, 32)]
    assert counts[0] == counts[1] == counts[2], counts
    # MMPretrain's own: about three operators more per image, even with a stacked batch
    ref = _build('ClsDataPreprocessor')
    ref_counts = [_count(ref, n, stacked=True) for n in (2, 8)]
    assert ref_counts[1] - ref_counts[0] >= 3 * 6, ref_counts
    assert counts[0] < ref_counts[0]


def test_non_blocking_copy():
    ours = _build('BatchedClsDataPreprocessor')
    assert ours._non_blocking is True
    assert _build('BatchedClsDataPreprocessor', non_blocking=False)._non_blocking is False
    with pytest.raises(ValueError, match="non_blocking must be a bool, got 'yes'"):
        _build('BatchedClsDataPreprocessor', non_blocking='yes')


@pytest.mark.parametrize('label', [C, -1])
def test_out_of_range_label_raises(label):
    batch = _batch(0, labels=[0, 1, 2, label, 4, 5])
    with pytest.raises(RuntimeError, match='out of bounds'):
        _build('BatchedClsDataPreprocessor')(batch, training=True)
