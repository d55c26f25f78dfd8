"""StrictPretrained: a bad backbone checkpoint stops training before it starts, with the key in
the message; a good one loads exactly (and nothing overwrites it later), from MMPretrain's and
MMDetection's scopes alike."""
import logging
import os.path as osp
from contextlib import contextmanager

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import initialize
from mmengine.registry import DefaultScope

from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import build_runner
from rsb_mm.weights import StrictPretrainedInit, WeightsMappingError

MISNAMED = 'backbone.layer1.0.conv1.weight'


class _Messages(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def captured_log(logger=None):
    logger = logger or MMLogger.get_current_instance()
    handler = _Messages()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _classifier_cfg(depth=18, num_classes=2, **backbone):
    in_channels = 512 if depth < 50 else 2048
    return dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=depth, **backbone),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels),
        data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                               to_rgb=True))


def _build(cfg, scope='mmpretrain'):
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def _distinct(state):
    # Values no initializer produces (no zeros, no ones), so a later re-init shows up.
    gen = torch.Generator().manual_seed(0)
    return {k: v + torch.rand(v.shape, generator=gen) + 0.5 if v.is_floating_point() else v
            for k, v in state.items()}


def _save(path, state):
    torch.save({'state_dict': state, 'meta': {}}, path)
    return str(path)


def _assert_equal_to(module, state, prefix=''):
    for key, value in module.state_dict().items():
        assert torch.equal(value, state[prefix + key]), prefix + key


@pytest.fixture(scope='module')
def r18(tmp_path_factory):
    """An MMPretrain ResNet-18 classifier checkpoint (2 classes) and its state dict."""
    state = _distinct(_build(_classifier_cfg()).state_dict())
    return _save(tmp_path_factory.mktemp('r18') / 'r18.pth', state), state


@pytest.fixture(scope='module')
def r50(tmp_path_factory):
    """An MMPretrain ResNet-50 classifier checkpoint, as `torch.save` of its state dict."""
    state = _distinct(_build(_classifier_cfg(depth=50, num_classes=1000)).state_dict())
    return _save(tmp_path_factory.mktemp('r50') / 'r50.pth', state), state


# ---------------------------------------------------------------- registry and scopes

@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'rsb_mm'])
def test_found_from_every_scope_through_its_registry_and_initialize(scope, r18):
    import mmdet.registry
    import mmpretrain.registry
    from mmengine.registry import WEIGHT_INITIALIZERS as ROOT

    import rsb_mm.registry

    # One entry, in MMEngine's root, which every scope's registry searches as a parent.
    assert ROOT.module_dict['StrictPretrained'] is StrictPretrainedInit
    registry = dict(mmpretrain=mmpretrain.registry, mmdet=mmdet.registry,
                    rsb_mm=rsb_mm.registry)[scope].WEIGHT_INITIALIZERS
    assert 'StrictPretrained' not in registry.module_dict
    path, state = r18
    cfg = dict(type='StrictPretrained', checkpoint=path, prefix='backbone.')
    with DefaultScope.overwrite_default_scope(scope):
        assert isinstance(registry.build(cfg), StrictPretrainedInit)
    backbone = _build(dict(type='ResNet', depth=18))
    with DefaultScope.overwrite_default_scope(scope):
        initialize(backbone, cfg)  # MMEngine's own entry point, root registry + default scope
    _assert_equal_to(backbone, state, 'backbone.')


# ---------------------------------------------------------------- (a) training refuses to start

class _IterCounter(Hook):

    def __init__(self):
        self.calls = 0
        self.first_state = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.calls == 0:
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            self.first_state = {k: v.clone() for k, v in model.backbone.state_dict().items()}
        self.calls += 1


def _runner_cfg(tmp_path, checkpoint):
    data_root = str(tmp_path / 'imagenet')
    if not osp.isdir(data_root):
        write_imagenet_folder(data_root, num_classes=2, images_per_class=2, size=40,
                              splits=('train', ))
    model = _classifier_cfg()
    model['backbone']['init_cfg'] = dict(type='StrictPretrained', checkpoint=checkpoint,
                                         prefix='backbone.')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', scale=32),
                dict(type='PackInputs')]
    return Config(dict(
        default_scope='mmpretrain',
        model=model,
        train_dataloader=dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ImageNet', data_root=data_root, split='train',
                         pipeline=pipeline)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0),
        work_dir=str(tmp_path / 'work'),
        launcher='none'))


@pytest.mark.parametrize('fault', ['missing', 'misnamed'])
def test_bad_backbone_key_stops_training_before_the_first_iteration(fault, r18, tmp_path):
    _, good = r18
    state = dict(good)
    value = state.pop(MISNAMED)
    if fault == 'misnamed':
        state['backbone.layer1.0.conv_1.weight'] = value
    runner = build_runner(_runner_cfg(tmp_path, _save(tmp_path / 'bad.pth', state)))
    counter = _IterCounter()
    runner.register_hook(counter)
    with pytest.raises(WeightsMappingError) as info:
        runner.train()
    message = str(info.value)
    assert '1 missing in the checkpoint (' in message and MISNAMED in message
    if fault == 'misnamed':
        assert 'backbone.layer1.0.conv_1.weight' in message
    else:
        assert 'unexpected' not in message
    assert counter.calls == 0 and runner.iter == 0


def test_good_checkpoint_trains_from_exactly_its_weights(r18, tmp_path, monkeypatch):
    path, state = r18
    runner = build_runner(_runner_cfg(tmp_path, path))
    counter = _IterCounter()
    runner.register_hook(counter)
    with captured_log(runner.logger) as messages:
        runner.train()
    assert counter.calls == 2
    # Every backbone tensor as in the file when the first iteration starts: neither the
    # backbone's init_cfg defaults nor MMPretrain ResNet's zero_init_residual (on by default,
    # zeroing each block's last BN after the load unless init_cfg says 'Pretrained') touched it.
    for key, value in counter.first_state.items():
        assert torch.equal(value, state['backbone.' + key]), key
    dropped = [m for m in messages if 'dropped on purpose' in m]
    assert len(dropped) == 1 and "head.* (2)" in dropped[0]

    # The runner's own checkpoint (HistoryBuffer, numpy values inside) loads back with
    # torch.load's weights_only=True, through rsb_mm's allow-list, and map_location is passed.
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    saved = osp.join(runner.work_dir, 'epoch_1.pth')
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=saved, prefix='backbone',
        map_location=lambda storage, loc: storage)))
    backbone.init_weights()
    assert len(seen) == 1 and seen[0].get('weights_only', True) is True
    assert callable(seen[0]['map_location'])
    trained = real_load(saved)['state_dict']
    _assert_equal_to(backbone, trained, 'backbone.')
    assert 'message_hub' in real_load(saved)


# ---------------------------------------------------------------- (b) shapes, prefixes, extras

def test_shape_mismatch_names_the_key_and_both_shapes(r18, tmp_path):
    _, good = r18
    state = dict(good, **{'backbone.conv1.weight': torch.zeros(64, 4, 7, 7)})
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=_save(tmp_path / 'c.pth', state),
        prefix='backbone.')))
    before = backbone.conv1.weight.clone()
    with pytest.raises(WeightsMappingError) as info:
        backbone.init_weights()
    message = str(info.value)
    assert 'backbone.conv1.weight: got (64, 4, 7, 7), expected (64, 3, 7, 7)' in message
    assert 'missing' not in message
    # Checked before anything was copied.
    assert torch.equal(backbone.conv1.weight, before)


def test_wrong_prefix_lists_the_checkpoint_prefixes(r18):
    path, _ = r18
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=path, prefix='model.backbone.')))
    with pytest.raises(ValueError, match=r"prefix='model.backbone.' selects no key.*"
                       r"'backbone.' \(\d+ keys\), 'head.' \(2 keys\)"):
        backbone.init_weights()
    # No prefix on a full-classifier file: nothing the backbone knows, said as such.
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=path)))
    with pytest.raises(ValueError, match="none of which the module has.*'backbone.'"):
        backbone.init_weights()


def test_unexpected_keys_fail_unless_ignored_and_then_logged(r18, tmp_path):
    # A timm/torchvision-style file: backbone keys at the top level plus the classifier `fc`.
    _, good = r18
    state = {k[len('backbone.'):]: v for k, v in good.items() if k.startswith('backbone.')}
    state.update({'fc.weight': torch.ones(1000, 512), 'fc.bias': torch.ones(1000)})
    path = _save(tmp_path / 'tv.pth', state)
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=path)))
    with pytest.raises(WeightsMappingError,
                       match=r'(?s)2 unexpected in the checkpoint \(.*fc.weight'):
        backbone.init_weights()
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=path, ignore_keys=['fc.*'])))
    with captured_log() as messages:
        backbone.init_weights()
    _assert_equal_to(backbone, state)
    dropped = [m for m in messages if 'dropped on purpose' in m]
    assert len(dropped) == 1 and 'matching ignore_keys: fc.weight, fc.bias' in dropped[0]


def test_bn_counters_may_be_missing_and_safetensors_load(r18, tmp_path):
    from safetensors.torch import save_file
    _, good = r18
    state = {k: v for k, v in good.items() if not k.endswith('num_batches_tracked')}
    path = str(tmp_path / 'r18.safetensors')
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=path, prefix='backbone.')))
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        if not key.endswith('num_batches_tracked'):
            assert torch.equal(value, state['backbone.' + key]), key


def test_whole_classifier_load_survives_the_children_inits(r18):
    # init_cfg on the classifier itself: its backbone and head have init_cfgs of their own
    # (Kaiming, Normal) that MMEngine runs after a non-'Pretrained' initializer of the parent.
    path, state = r18
    model = _build(dict(_classifier_cfg(), init_cfg=dict(type='StrictPretrained',
                                                         checkpoint=path)))
    model.init_weights()
    _assert_equal_to(model, state)


def test_must_be_the_last_init_cfg_entry(r18):
    path, _ = r18
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=[
        dict(type='StrictPretrained', checkpoint=path, prefix='backbone.'),
        dict(type='Constant', layer='_BatchNorm', val=1)]))
    with pytest.raises(ValueError, match='Put StrictPretrained last'):
        backbone.init_weights()


@pytest.mark.parametrize('kwargs, match', [
    (dict(checkpoint=''), 'checkpoint must be a non-empty path'),
    (dict(checkpoint='x.pth', ignore_keys=['fc.*', 3]), 'ignore_keys must be a list'),
    (dict(checkpoint='x.pth', prefix=3), 'prefix must be a str or None, got 3'),
])
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StrictPretrainedInit(**kwargs)


# ---------------------------------------------------------------- (d) MMDetection scope

def test_mmdet_resnet50_loads_an_mmpretrain_classifier_checkpoint(r50, tmp_path):
    path, state = r50
    cfg = dict(type='ResNet', depth=50,
               init_cfg=dict(type='StrictPretrained', checkpoint=path, prefix='backbone.'))
    backbone = _build(cfg, scope='mmdet')
    assert type(backbone).__module__.startswith('mmdet.')
    backbone.init_weights()
    _assert_equal_to(backbone, state, 'backbone.')

    broken = dict(state)
    del broken['backbone.layer3.2.bn2.running_var']
    cfg['init_cfg']['checkpoint'] = _save(tmp_path / 'broken.pth', broken)
    backbone = _build(cfg, scope='mmdet')
    with pytest.raises(WeightsMappingError, match=r'(?s)missing.*backbone\.layer3\.2\.bn2\.running_var'):
        backbone.init_weights()


def test_mmdet_dcn_offsets_are_not_reinitialised_after_the_load(tmp_path):
    # mmcv's ModulatedDeformConv2dPack.init_weights zeroes its offset conv; inside an mmdet
    # ResNet it runs as a child's init_weights, which MMEngine calls after this initializer.
    cfg = dict(type='ResNet', depth=50, stage_with_dcn=(False, False, False, True),
               dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False))
    state = _distinct(_build(cfg, scope='mmdet').state_dict())
    assert any('conv_offset' in k for k in state)
    path = _save(tmp_path / 'dcn.pth', state)
    backbone = _build(dict(cfg, init_cfg=dict(type='StrictPretrained', checkpoint=path)),
                      scope='mmdet')
    backbone.init_weights()
    _assert_equal_to(backbone, state)


def test_timm_safetensors_file_loads_into_an_mmdet_resnet_with_fc_ignored(tmp_path):
    # timm's (and torchvision's) plain ResNet names its tensors as MMDetection's ResNet does;
    # only the classifier `fc` is extra, and the file may be timm's .safetensors.
    import timm
    from safetensors.torch import save_file

    state = _distinct(timm.create_model('resnet18', pretrained=False).state_dict())
    path = str(tmp_path / 'resnet18.safetensors')
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    backbone = _build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='StrictPretrained', checkpoint=path, ignore_keys=['fc.*'])), scope='mmdet')
    backbone.init_weights()
    _assert_equal_to(backbone, state)
