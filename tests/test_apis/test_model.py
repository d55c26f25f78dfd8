"""get_model: the RSB A3 config builds the classifier (or its backbone, also in MMDetection's
scope) and loads a local checkpoint strictly; a file that does not fit is refused by key."""
import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from rsb_mm.apis import get_model
from rsb_mm.weights import WeightsMappingError

CONFIG = 'configs/rsb_a3_resnet50.py'


class _Messages(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope='module')
def a3_checkpoint(tmp_path_factory):
    """A checkpoint saved from a randomly initialised A3 classifier, with a dataset_meta."""
    torch.manual_seed(0)
    model = get_model(CONFIG)
    model.init_weights()
    gen = torch.Generator().manual_seed(1)
    # Shift every float tensor so no initializer (zeros, ones, zero_init_residual) matches it.
    state = {k: v + torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    path = str(tmp_path_factory.mktemp('a3') / 'a3.pth')
    classes = tuple(f'class_{i}' for i in range(1000))
    torch.save({'state_dict': state, 'meta': {'dataset_meta': {'classes': classes}}}, path)
    return path, state, classes


def test_builds_the_config_classifier_without_weights():
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

    model = get_model(CONFIG)
    assert type(model).__name__ == 'ImageClassifier' and not model.training
    assert type(model.backbone).__name__ == 'ResNetTimmDropPath'
    # The config's top-level data_preprocessor is merged in, as the Runner does.
    assert torch.allclose(model.data_preprocessor.mean.flatten(),
                          torch.tensor([123.675, 116.28, 103.53]))
    # No checkpoint: classes come from the test dataset class (ImageNet).
    assert tuple(model._dataset_meta['classes']) == tuple(IMAGENET_CATEGORIES)
    assert model._config.model.backbone.depth == 50


def test_loads_every_tensor_of_the_checkpoint(a3_checkpoint):
    path, state, classes = a3_checkpoint
    model = get_model(Config.fromfile(CONFIG), path)
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key
    assert tuple(model._dataset_meta['classes']) == classes


def test_refuses_missing_keys_and_wrong_shapes(a3_checkpoint, tmp_path):
    path, state, _ = a3_checkpoint
    broken = dict(state)
    del broken['backbone.layer4.2.conv3.weight']
    broken_path = str(tmp_path / 'broken.pth')
    torch.save({'state_dict': broken}, broken_path)
    with pytest.raises(WeightsMappingError, match=r'(?s)missing.*backbone\.layer4\.2\.conv3\.weight'):
        get_model(CONFIG, broken_path)
    # A 1000-class head into a 10-class model: named, with both shapes.
    with pytest.raises(WeightsMappingError,
                       match=r'head\.fc\.weight: got \(1000, 2048\), expected \(10, 2048\)'):
        get_model(CONFIG, path, head=dict(num_classes=10))


def test_cfg_options_merge_into_the_model():
    model = get_model(CONFIG, head=dict(num_classes=10), **{'backbone.drop_path_rate': 0.1})
    assert model.head.fc.out_features == 10
    assert model._config.model.backbone.drop_path_rate == 0.1


def test_backbone_only_equals_the_checkpoint_backbone(a3_checkpoint, tmp_path):
    path, state, _ = a3_checkpoint
    handler = _Messages()
    MMLogger.get_current_instance().addHandler(handler)
    try:
        backbone = get_model(CONFIG, path, backbone_only=True)
    finally:
        MMLogger.get_current_instance().removeHandler(handler)
    assert type(backbone).__name__ == 'ResNetTimmDropPath' and not backbone.training
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, state['backbone.' + key]), key
    dropped = [m for m in handler.messages if 'dropped on purpose' in m]
    assert len(dropped) == 1 and 'head.* (2)' in dropped[0]

    # A backbone-only file (no prefix, e.g. an MMDetection backbone) loads as well.
    bare = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    bare_path = str(tmp_path / 'bare.pth')
    torch.save(bare, bare_path)
    again = get_model(CONFIG, bare_path, backbone_only=True)
    for key, value in again.state_dict().items():
        assert torch.equal(value, bare[key]), key


def test_backbone_of_a_detection_config_builds_in_mmdet_scope(a3_checkpoint):
    path, state, _ = a3_checkpoint
    det_cfg = Config(dict(
        default_scope='mmdet',
        model=dict(type='RetinaNet',
                   backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                                 frozen_stages=1, norm_eval=True, style='pytorch'))))
    backbone = get_model(det_cfg, path, backbone_only=True)
    assert type(backbone).__module__.startswith('mmdet.')
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, state['backbone.' + key]), key


@pytest.mark.parametrize('config', [42, 'configs/rsb_a3_resnet50.yaml'])
def test_bad_config_is_a_value_error(config):
    with pytest.raises(ValueError, match='config must be a path to a .py config file'):
        get_model(config)
