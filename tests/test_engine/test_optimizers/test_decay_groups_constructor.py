"""DecayGroupsOptimWrapperConstructor against its twin, timm's
``param_groups_weight_decay`` (timm/optim/_param_groups.py)."""
import pytest
import torch
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from timm.optim import param_groups_weight_decay

from rsb_mm.engine.optimizers import (DecayGroupsOptimWrapperConstructor,
                                      MultiTensorLamb)


@pytest.fixture(scope='module')
def classifier():
    """MMPretrain's ResNet-18 + linear head inside ImageClassifier."""
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='ResNet', depth=18),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=10, in_channels=512)))


def _build(model, optimizer=None, **kwargs):
    cfg = dict(
        type='OptimWrapper',
        optimizer=optimizer or dict(
            type='MultiTensorLamb', lr=5e-3, weight_decay=0.01),
        constructor='DecayGroupsOptimWrapperConstructor',
        **kwargs)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_optim_wrapper(model, cfg)


def _names(model, groups):
    """Each group as (weight_decay, [parameter names in order])."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [(g['weight_decay'], [name_of[id(p)] for p in g['params']])
            for g in groups]


def _group_names(model, optimizer):
    return _names(model, optimizer.param_groups)


def test_two_groups_equal_timm(classifier):
    wrapper = _build(classifier)
    assert isinstance(wrapper, OptimWrapper)
    assert isinstance(wrapper.optimizer, MultiTensorLamb)
    ours = _group_names(classifier, wrapper.optimizer)
    timm = _names(classifier, param_groups_weight_decay(classifier, 0.01))
    assert ours == timm
    (no_wd, no_decay), (wd, decay) = ours
    assert (no_wd, wd) == (0., 0.01)
    # what the rule means on a ResNet: norm layers and biases, not convs/fc
    assert 'backbone.bn1.weight' in no_decay and 'head.fc.bias' in no_decay
    assert 'backbone.conv1.weight' in decay and 'head.fc.weight' in decay
    assert len(no_decay) + len(decay) == len(list(classifier.parameters()))


def test_frozen_parameters_left_out(classifier):
    frozen = ['backbone.conv1.weight', 'backbone.bn1.weight']
    params = dict(classifier.named_parameters())
    try:
        for name in frozen:
            params[name].requires_grad_(False)
        ours = _group_names(classifier, _build(classifier).optimizer)
        timm = _names(classifier,
                      param_groups_weight_decay(classifier, 0.01))
    finally:
        for name in frozen:
            params[name].requires_grad_(True)
    assert ours == timm
    assert not any(n in names for _, names in ours for n in frozen)


@pytest.mark.parametrize('patterns', [['head.fc.weight'],
                                      ['backbone.layer1.*', '*.downsample.0.*']])
def test_no_weight_decay_patterns(classifier, patterns):
    wrapper = _build(classifier, paramwise_cfg=dict(no_weight_decay=patterns))
    ours = _group_names(classifier, wrapper.optimizer)
    timm = _names(classifier, param_groups_weight_decay(
        classifier, 0.01, no_weight_decay_list=patterns))
    assert ours == timm
    assert ours != _names(classifier,
                          param_groups_weight_decay(classifier, 0.01))


def test_model_no_weight_decay_method():
    """As timm's optimizer factory, the model's no_weight_decay() counts."""

    class Net(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.pos_embed = torch.nn.Parameter(torch.zeros(1, 4, 8))
            self.proj = torch.nn.Linear(8, 8)

        def no_weight_decay(self):
            return {'pos_embed'}

    net = Net()
    ours = _group_names(net, _build(net).optimizer)
    assert ours == [(0., ['pos_embed', 'proj.bias']), (0.01, ['proj.weight'])]
    assert ours == _names(net, param_groups_weight_decay(
        net, 0.01, no_weight_decay_list=net.no_weight_decay()))


def test_exclude_1d_off_and_zero_decay(classifier):
    wrapper = _build(
        classifier, paramwise_cfg=dict(weight_decay_exclude_1d=False))
    assert _group_names(classifier, wrapper.optimizer) == _names(
        classifier, param_groups_weight_decay(
            classifier, 0.01, weight_decay_exclude_1d=False))
    assert len(wrapper.optimizer.param_groups) == 1
    # weight decay 0: one no-decay group, as timm
    wrapper = _build(classifier, optimizer=dict(
        type='MultiTensorLamb', lr=5e-3, weight_decay=0.))
    assert _group_names(classifier, wrapper.optimizer) == _names(
        classifier, param_groups_weight_decay(classifier, 0.))


def test_unwraps_module_and_builds_torch_optimizers(classifier):

    class Wrapper(torch.nn.Module):  # what DDP looks like to the builder

        def __init__(self, module):
            super().__init__()
            self.module = module

    wrapper = _build(
        Wrapper(classifier),
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    assert _group_names(classifier, wrapper.optimizer) == _names(
        classifier, param_groups_weight_decay(classifier, 0.05))


@pytest.mark.parametrize('paramwise_cfg, message', [
    (dict(norm_decay_mult=0., bias_decay_mult=0.),
     r"keys \['bias_decay_mult', 'norm_decay_mult'\] are not supported"),
    (dict(custom_keys={'head': dict(lr_mult=10.)}),
     r"keys \['custom_keys'\] are not supported"),
    (dict(no_weight_decay='head.fc.weight'),
     r'no_weight_decay must be a list .*got \'head.fc.weight\''),
    (dict(weight_decay_exclude_1d=1),
     r'weight_decay_exclude_1d must be a bool, got 1'),
])
def test_bad_paramwise_cfg_raises(classifier, paramwise_cfg, message):
    with pytest.raises(ValueError, match=message):
        _build(classifier, paramwise_cfg=paramwise_cfg)


def test_missing_weight_decay_raises(classifier):
    with pytest.raises(ValueError, match=r'weight_decay must be set .*got None'):
        _build(classifier, optimizer=dict(type='MultiTensorLamb', lr=5e-3))


def test_registered_by_name():
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'DecayGroupsOptimWrapperConstructor') is \
        DecayGroupsOptimWrapperConstructor
    assert OPTIMIZERS.get('MultiTensorLamb') is MultiTensorLamb
