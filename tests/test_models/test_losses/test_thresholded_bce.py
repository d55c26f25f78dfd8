"""ThresholdedBCELoss against timm's BinaryCrossEntropy (timm/loss/binary_cross_entropy.py).

Each test feeds the same logits and targets to both and asserts bit-identical losses and
gradients w.r.t. the logits, directly and through MMPretrain's ``LinearClsHead.loss``.
"""
import pytest
import torch
import torch.nn.functional as F
from timm.loss import BinaryCrossEntropy

from rsb_mm.models.losses import (ThresholdedBCELoss, binarize_targets, smooth_one_hot,
                                  thresholded_binary_cross_entropy)

N, C = 6, 10


def _logits(seed=0, n=N, c=C):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g) * 3).requires_grad_()


def _int_labels(seed=1, n=N, c=C):
    return torch.randint(0, c, (n, ), generator=torch.Generator().manual_seed(seed))


def _soft_targets(seed=2, n=N, c=C):
    # Mixup-like targets: two smoothed one-hots mixed with lambda 0.7 (0.7/0.3 split), so
    # that a 0.2 threshold keeps both classes and a 0.35 threshold only one.
    labels = _int_labels(seed, n, c)
    y = F.one_hot(labels, c).float() * 0.9 + 0.1 / c
    return y * 0.7 + y.flip(0) * 0.3


def _value_and_grad(loss_fn, logits, target, **kwargs):
    logits = logits.detach().clone().requires_grad_()
    loss = loss_fn(logits, target, **kwargs)
    loss.sum().backward()
    return loss.detach(), logits.grad


def _assert_same_as_timm(ours, timm_loss, target, logits=None, **kwargs):
    logits = _logits() if logits is None else logits
    value, grad = _value_and_grad(ours, logits, target, **kwargs)
    ref_value, ref_grad = _value_and_grad(timm_loss, logits, target)
    assert value.shape == ref_value.shape
    assert torch.equal(value, ref_value), (value, ref_value)
    assert torch.equal(grad, ref_grad)
    return value


@pytest.mark.parametrize('smoothing', [0.1, 0.])
@pytest.mark.parametrize('threshold', [None, 0.2])
def test_integer_labels_match_timm(smoothing, threshold):
    ours = ThresholdedBCELoss(smoothing=smoothing, target_threshold=threshold)
    ref = BinaryCrossEntropy(smoothing=smoothing, target_threshold=threshold)
    _assert_same_as_timm(ours, ref, _int_labels())


@pytest.mark.parametrize('threshold', [None, 0.2, 0.35])
def test_soft_labels_match_timm(threshold):
    target = _soft_targets()
    ours = ThresholdedBCELoss(target_threshold=threshold)
    ref = BinaryCrossEntropy(target_threshold=threshold)
    value = _assert_same_as_timm(ours, ref, target)
    # The threshold must have changed the loss (guards against a silently ignored option).
    if threshold is not None:
        plain = F.binary_cross_entropy_with_logits(_logits().detach(), target)
        assert not torch.equal(value, plain)


def test_smoothing_applies_to_integer_labels_only():
    # timm: dense targets are assumed softened upstream; smoothing must not touch them.
    target = _soft_targets()
    logits = _logits().detach()
    ours = ThresholdedBCELoss(smoothing=0.3)
    assert torch.equal(ours(logits, target), F.binary_cross_entropy_with_logits(logits, target))
    labels = _int_labels()
    smoothed = ThresholdedBCELoss(smoothing=0.3)(logits, labels)
    hard = ThresholdedBCELoss(smoothing=0.)(logits, labels)
    assert not torch.equal(smoothed, hard)


@pytest.mark.parametrize('target_kind', ['int', 'soft'])
def test_weight_pos_weight_sum_classes_match_timm(target_kind):
    target = _int_labels() if target_kind == 'int' else _soft_targets()
    weight = torch.linspace(0.5, 2., C)
    pos_weight = torch.linspace(3., 1., C)
    cases = [
        (dict(weight=weight), dict(weight=weight.tolist())),  # a list from a config
        (dict(pos_weight=2.5), dict(pos_weight=2.5)),
        (dict(pos_weight=pos_weight), dict(pos_weight=pos_weight.tolist())),
        (dict(weight=weight, pos_weight=pos_weight, target_threshold=0.2),
         dict(weight=weight, pos_weight=pos_weight, target_threshold=0.2)),
        (dict(sum_classes=True), dict(sum_classes=True)),
        (dict(smooth_dense=True, smoothing=0.2), dict(smooth_dense=True, smoothing=0.2)),
    ]
    for timm_kwargs, our_kwargs in cases:
        _assert_same_as_timm(
            ThresholdedBCELoss(**our_kwargs), BinaryCrossEntropy(**timm_kwargs), target)


@pytest.mark.parametrize('reduction', ['sum', 'none'])
def test_reductions_match_timm(reduction):
    ref = BinaryCrossEntropy(target_threshold=0.2, reduction=reduction)
    _assert_same_as_timm(ThresholdedBCELoss(target_threshold=0.2, reduction=reduction), ref,
                         _soft_targets())
    # The same through reduction_override on a 'mean' loss.
    _assert_same_as_timm(ThresholdedBCELoss(target_threshold=0.2), ref, _soft_targets(),
                         reduction_override=reduction)


def test_avg_factor_is_ignored_mean_stays_over_n_times_c():
    logits, target = _logits().detach(), _soft_targets()
    ref = BinaryCrossEntropy(target_threshold=0.2)(logits, target)
    loss = ThresholdedBCELoss(target_threshold=0.2)
    for avg_factor in (None, N, 1, 1000.):
        assert torch.equal(loss(logits, target, avg_factor=avg_factor), ref)
    # MMPretrain's sigmoid CrossEntropyLoss divides the sum by avg_factor=N instead: the
    # per-sample sum over classes, C times timm's mean. This is why avg_factor is ignored.
    from mmpretrain.models.losses import CrossEntropyLoss
    mm = CrossEntropyLoss(use_sigmoid=True)(logits, (target > 0.2).float(), avg_factor=N)
    torch.testing.assert_close(mm, ref * C)


def test_loss_weight_and_per_sample_weight():
    logits, target = _logits().detach(), _soft_targets()
    ref = BinaryCrossEntropy(target_threshold=0.2)(logits, target)
    assert torch.equal(ThresholdedBCELoss(target_threshold=0.2, loss_weight=2.)(logits, target),
                       2. * ref)
    sample_weight = torch.arange(1., N + 1.)
    elementwise = BinaryCrossEntropy(target_threshold=0.2, reduction='none')(logits, target)
    expected = (elementwise * sample_weight.view(-1, 1)).mean()
    loss = ThresholdedBCELoss(target_threshold=0.2)(logits, target, weight=sample_weight)
    assert torch.equal(loss, expected)


def test_pure_functions():
    labels = torch.tensor([2, 0, 1])
    target = smooth_one_hot(labels, 4, 0.2)
    off, on = 0.2 / 4, 1. - 0.2 + 0.2 / 4
    expected = torch.full((3, 4), off)
    expected[torch.arange(3), labels] = on
    assert torch.equal(target, expected)
    assert smooth_one_hot(labels, 4, 0.2, dtype=torch.float64).dtype == torch.float64
    assert torch.equal(smooth_one_hot(labels, 4), F.one_hot(labels, 4).float())
    soft = torch.tensor([[0.1, 0.2, 0.2001, 0.7]])
    assert torch.equal(binarize_targets(soft, 0.2), torch.tensor([[0., 0., 1., 1.]]))
    logits = _logits().detach()
    assert torch.equal(
        thresholded_binary_cross_entropy(logits, _int_labels(), 0.1, 0.2),
        BinaryCrossEntropy(smoothing=0.1, target_threshold=0.2)(logits, _int_labels()))


def _head_and_samples(target_kind):
    from mmpretrain.models.heads import LinearClsHead
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    head = LinearClsHead(num_classes=C, in_channels=8,
                         loss=dict(type='ThresholdedBCELoss', target_threshold=0.2))
    feats = (torch.randn(N, 8), )
    labels = _int_labels()
    scores = _soft_targets()
    samples = []
    for i in range(N):
        sample = DataSample().set_gt_label(int(labels[i]))
        if target_kind == 'soft':
            sample.set_gt_score(scores[i])
        samples.append(sample)
    target = labels if target_kind == 'int' else scores
    return head, feats, samples, target


@pytest.mark.parametrize('target_kind', ['int', 'soft'])
def test_through_linear_cls_head(target_kind):
    head, feats, samples, target = _head_and_samples(target_kind)
    assert isinstance(head.loss_module, ThresholdedBCELoss)
    losses = head.loss(feats, samples)
    losses['loss'].backward()
    grad = head.fc.weight.grad.clone()
    head.zero_grad()
    ref = BinaryCrossEntropy(smoothing=0.1, target_threshold=0.2)(head.fc(feats[0]), target)
    ref.backward()
    assert torch.equal(losses['loss'], ref)
    assert torch.equal(grad, head.fc.weight.grad)


def test_registered_and_buffers_follow_module():
    from mmpretrain.registry import MODELS
    loss = MODELS.build(dict(type='ThresholdedBCELoss', pos_weight=[1.] * C, weight=[2.] * C))
    assert isinstance(loss, ThresholdedBCELoss)
    assert {name for name, _ in loss.named_buffers()} == {'weight', 'pos_weight'}
    assert loss.double().pos_weight.dtype == torch.float64


@pytest.mark.parametrize('kwargs, message', [
    (dict(smoothing=1.0), 'smoothing must be in [0, 1), got 1.0'),
    (dict(smoothing=-0.1), 'smoothing must be in [0, 1), got -0.1'),
    (dict(target_threshold=1.5), 'target_threshold must be None or in [0, 1], got 1.5'),
    (dict(target_threshold=-0.2), 'target_threshold must be None or in [0, 1], got -0.2'),
    (dict(reduction='avg'), "reduction must be one of ('none', 'mean', 'sum'), got 'avg'"),
    (dict(sum_classes=True, reduction='sum'), "reduction must be 'mean', got 'sum'"),
])
def test_invalid_values_raise(kwargs, message):
    with pytest.raises(ValueError) as err:
        ThresholdedBCELoss(**kwargs)
    assert message in str(err.value)


def test_bad_target_shape_raises():
    with pytest.raises(ValueError, match='target must be'):
        ThresholdedBCELoss()(_logits().detach(), torch.zeros(N, C + 1))
    with pytest.raises(ValueError, match='reduction_override'):
        ThresholdedBCELoss()(_logits().detach(), _int_labels(), reduction_override='avg')
