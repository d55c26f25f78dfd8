"""Tests of ``ResNetTimmDropPath`` against timm's ``resnet50(drop_path_rate=0.05)``.

timm's weights are copied into the MMPretrain models; then eval outputs, per-block rates
and seeded train-mode outputs are compared with timm's ``forward_features``. The plain
``mmpretrain.models.ResNet(drop_path_rate=0.05)`` is run through the same checks to record
why the subclass exists: same architecture, rates and placement, other random draws.
"""
import re
from typing import List, Tuple

import pytest
import timm
import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath as MMCVDropPath
from mmpretrain.models import ResNet
from mmpretrain.registry import MODELS
from timm.layers import DropPath as TimmDropPath

from rsb_mm.models.backbones import ResNetTimmDropPath, timm_drop_path_rates

RATE = 0.05  # RSB A1 / A2
INPUT_SHAPE = (4, 3, 64, 64)
STAGES = ('layer1', 'layer2', 'layer3', 'layer4')


def timm_to_mmpretrain_backbone(state_dict: dict) -> dict:
    """Map a timm ``resnet50`` state dict onto MMPretrain's ``ResNet`` backbone.

    The backbone keys are the same on both sides (conv1, bn1, layerK.i.convJ / bnJ,
    layerK.0.downsample.{0,1}); only timm's classifier ``fc`` has no place in a backbone.
    """
    return {k: v for k, v in state_dict.items() if not k.startswith('fc.')}


def _blocks(backbone: nn.Module) -> List[nn.Module]:
    """The residual blocks of a timm or MMPretrain ResNet, in forward order."""
    return [block for name in STAGES for block in getattr(backbone, name)]


def _rates(backbone: nn.Module) -> List[float]:
    """Per-block drop-path rate, 0 where the block has no drop path (timm's None)."""
    rates = []
    for block in _blocks(backbone):
        module = block.drop_path
        rates.append(0.0 if module is None or isinstance(module, nn.Identity) else
                     module.drop_prob)
    return rates


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode last-stage features: timm's ``forward_features``, MMPretrain's last output."""
    model.eval()
    with torch.no_grad():
        if hasattr(model, 'forward_features'):
            return model.forward_features(x)
        return model(x)[-1]


def _seeded_train_forward(model: nn.Module,
                          x: torch.Tensor,
                          seed: int,
                          drop_path: bool = True) -> Tuple[torch.Tensor, int]:
    """Train-mode forward (BN on batch statistics) after ``torch.manual_seed(seed)``.

    The model's buffers (BN running statistics) are restored afterwards, so the shared
    fixtures stay as they were.

    Args:
        drop_path: If False, drop-path modules are put in eval mode (they keep every sample).

    Returns:
        The last-stage features and how many (block, sample) residual branches were dropped,
        counted from the drop-path outputs, whatever the drop-path implementation.
    """
    dropped = []

    def count_dropped(module, inputs, output):
        # The branch after the last BN is never exactly zero unless dropped.
        dropped.append(int((output.flatten(1) == 0).all(1).sum()))

    drop_paths = [m for m in model.modules() if isinstance(m, (TimmDropPath, MMCVDropPath))]
    handles = [m.register_forward_hook(count_dropped) for m in drop_paths]
    buffers = {name: buf.clone() for name, buf in model.named_buffers()}
    model.train()
    if not drop_path:
        for m in drop_paths:
            m.eval()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            out = model.forward_features(x) if hasattr(model, 'forward_features') else model(x)[-1]
    finally:
        for handle in handles:
            handle.remove()
        model.load_state_dict(buffers, strict=False)
        model.eval()
    return out, sum(dropped)


@pytest.fixture(scope='module')
def timm_model() -> nn.Module:
    torch.manual_seed(0)
    model = timm.create_model('resnet50', drop_path_rate=RATE)
    # timm zero-inits every block's last BN weight: residual branches would be zero and drop
    # path a no-op. Give every BN non-trivial affine parameters and running statistics.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.2, 1.0, generator=gen)
                m.bias.normal_(0.0, 0.1, generator=gen)
                m.running_mean.normal_(0.0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    model.eval()
    return model


def _with_timm_weights(backbone: nn.Module, timm_model: nn.Module) -> nn.Module:
    backbone.load_state_dict(timm_to_mmpretrain_backbone(timm_model.state_dict()), strict=True)
    backbone.eval()  # MMPretrain's ResNet.train() returns None, so .eval() does not chain
    return backbone


@pytest.fixture(scope='module')
def ours(timm_model) -> nn.Module:
    return _with_timm_weights(ResNetTimmDropPath(depth=50, drop_path_rate=RATE), timm_model)


@pytest.fixture(scope='module')
def plain(timm_model) -> nn.Module:
    return _with_timm_weights(ResNet(depth=50, drop_path_rate=RATE), timm_model)


@pytest.fixture(scope='module')
def x() -> torch.Tensor:
    return torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(2))


def test_eval_outputs_equal_timm_forward_features(timm_model, ours, plain, x):
    expected = _features(timm_model, x)
    assert expected.shape == (4, 2048, 2, 2)
    assert expected.abs().max() > 0.1  # a real signal, not zeros
    torch.testing.assert_close(_features(ours, x), expected, atol=1e-5, rtol=0)
    # The architecture was never the problem: plain MMPretrain ResNet matches too.
    torch.testing.assert_close(_features(plain, x), expected, atol=1e-5, rtol=0)


def test_per_block_rates_equal_timm(timm_model, ours, plain):
    expected = _rates(timm_model)
    assert len(expected) == 16
    assert expected[0] == 0.0 and expected[-1] == pytest.approx(RATE)
    assert _rates(ours) == expected  # exact floats, not approx
    assert ours.drop_path_rates == expected
    assert timm_drop_path_rates(RATE, 16) == expected
    # timm builds no DropPath at rate 0; neither do we. Elsewhere, timm's own module.
    assert isinstance(_blocks(ours)[0].drop_path, nn.Identity)
    assert all(type(b.drop_path) is TimmDropPath for b in _blocks(ours)[1:])
    # Plain MMPretrain ResNet ramps the same rates (as float32, so equal only to ~1e-9),
    # on the same blocks, but with mmcv's DropPath.
    assert _rates(plain) == pytest.approx(expected, rel=1e-6, abs=0)
    assert _rates(plain) != expected
    assert isinstance(_blocks(plain)[0].drop_path, nn.Identity)
    assert all(type(b.drop_path) is MMCVDropPath for b in _blocks(plain)[1:])


def test_mmcv_and_timm_drop_path_draw_different_masks():
    ones = torch.ones(256, 1, 1, 1)
    timm_dp, mmcv_dp = TimmDropPath(0.5).train(), MMCVDropPath(0.5).train()
    torch.manual_seed(0)
    timm_mask = timm_dp(ones).flatten()
    torch.manual_seed(0)
    mmcv_mask = mmcv_dp(ones).flatten()
    # Same law (keep with prob 0.5, kept samples scaled by 1 / 0.5) ...
    for mask in (timm_mask, mmcv_mask):
        assert set(mask.tolist()) == {0.0, 2.0}
        assert 0.35 < (mask > 0).float().mean() < 0.65
    # ... but not the same draws for the same seed.
    assert not torch.equal(timm_mask, mmcv_mask)


def test_train_mode_same_seed_equals_timm(timm_model, ours, plain, x):
    # The first seed whose forward drops a residual branch: a seed that drops nothing
    # could not tell the masks apart.
    for seed in range(20):
        expected, n_dropped = _seeded_train_forward(timm_model, x, seed)
        if n_dropped > 0:
            break
    assert n_dropped > 0, 'no seed in range(20) dropped a residual branch'

    got, got_dropped = _seeded_train_forward(ours, x, seed)
    assert got_dropped == n_dropped
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # The drops are visible in the output: without them the features differ.
    no_drop, _ = _seeded_train_forward(timm_model, x, seed, drop_path=False)
    assert not torch.allclose(no_drop, expected, atol=1e-3)

    # Plain MMPretrain ResNet(drop_path_rate=0.05), same weights, rates and placement,
    # does not reproduce timm: its DropPath draws other masks from the same seed ...
    plain_out, _ = _seeded_train_forward(plain, x, seed)
    assert not torch.allclose(plain_out, expected, atol=1e-3)
    # ... and it is only the masks: with drop path off, plain equals timm in train mode.
    plain_no_drop, _ = _seeded_train_forward(plain, x, seed, drop_path=False)
    torch.testing.assert_close(plain_no_drop, no_drop, atol=1e-5, rtol=0)


def test_init_weights_zero_inits_last_bn_like_timm():
    # timm's zero_init_last=True zeroes bn3.weight at construction; MMPretrain's
    # zero_init_residual=True (the default) does it in init_weights(), which runners call.
    torch.manual_seed(0)
    backbone = ResNetTimmDropPath(depth=50, drop_path_rate=RATE)
    backbone.init_weights()
    timm_fresh = timm.create_model('resnet50', drop_path_rate=RATE)
    for ours_block, timm_block in zip(_blocks(backbone), _blocks(timm_fresh)):
        assert torch.count_nonzero(ours_block.norm3.weight) == 0
        assert torch.count_nonzero(timm_block.bn3.weight) == 0
        assert torch.count_nonzero(ours_block.norm1.weight - 1) == 0


def _classifier_cfg(backbone: dict) -> dict:
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=2048,
            loss=dict(type='CrossEntropyLoss')))


def test_builds_from_config_and_shares_checkpoints_with_resnet(x):
    assert MODELS.get('ResNetTimmDropPath') is ResNetTimmDropPath
    model = MODELS.build(
        _classifier_cfg(dict(type='ResNetTimmDropPath', depth=50, drop_path_rate=RATE)))
    reference = MODELS.build(_classifier_cfg(dict(type='ResNet', depth=50)))
    assert type(model.backbone) is ResNetTimmDropPath
    assert type(reference.backbone) is ResNet
    assert model.backbone.drop_path_rates == timm_drop_path_rates(RATE, 16)

    assert list(model.state_dict()) == list(reference.state_dict())
    # A plain ResNet checkpoint loads strictly, and back (eval outputs: first test).
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(model.state_dict(), strict=True)
    model.eval()
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (4, 10)


@pytest.mark.parametrize('rate', [-0.01, 1.0, 1.5, float('nan')])
def test_invalid_drop_path_rate_raises(rate):
    with pytest.raises(ValueError, match=re.escape(f'drop_path_rate must be in [0, 1), '
                                                   f'got {rate}')):
        ResNetTimmDropPath(depth=50, drop_path_rate=rate)


def _conv_weights(module: nn.Module) -> List[torch.Tensor]:
    return [m.weight for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_channels_last_keeps_weights_and_grads_nhwc_and_equals_nchw(timm_model, ours, x):
    """channels_last=True (timm's --channels-last): weights NHWC from construction through
    init_weights, load_state_dict and .to(); the same state dict keys and values; eval
    outputs equal the NCHW model's up to rounding; gradients come back NHWC (the layout DDP's
    buckets are built for)."""
    torch.manual_seed(0)
    nhwc = ResNetTimmDropPath(depth=50, drop_path_rate=RATE, channels_last=True)
    weights = _conv_weights(nhwc)
    assert len(weights) == 53
    is_nhwc = [w.is_contiguous(memory_format=torch.channels_last) for w in weights]
    assert all(is_nhwc)
    # a 1x1 convolution's weight is contiguous both ways; the 3x3 and 7x7 ones are not
    assert not all(w.is_contiguous() for w in weights)
    nhwc.init_weights()
    _with_timm_weights(nhwc, timm_model).to('cpu')
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(nhwc))
    assert list(nhwc.state_dict()) == list(ours.state_dict())
    for key, value in nhwc.state_dict().items():
        assert torch.equal(value, ours.state_dict()[key]), key

    with torch.no_grad():
        got, expected = nhwc(x), ours(x)
    assert got[-1].is_contiguous(memory_format=torch.channels_last)
    assert not got[-1].is_contiguous()
    torch.testing.assert_close(got[-1], expected[-1], atol=1e-4, rtol=1e-4)

    nhwc.train()
    nhwc(x)[-1].sum().backward()
    grads = [w.grad for w in _conv_weights(nhwc)]
    assert all(g is not None and g.is_contiguous(memory_format=torch.channels_last)
               for g in grads)


def test_channels_last_through_config_and_invalid_value(x):
    model = MODELS.build(_classifier_cfg(
        dict(type='ResNetTimmDropPath', depth=50, drop_path_rate=RATE, channels_last=True)))
    assert model.backbone.channels_last
    assert all(w.is_contiguous(memory_format=torch.channels_last)
               for w in _conv_weights(model))
    model.eval()
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (4, 10)
    with pytest.raises(ValueError, match=re.escape("channels_last must be a bool, got 'yes'")):
        ResNetTimmDropPath(depth=50, channels_last='yes')
