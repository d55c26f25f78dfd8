"""rsb_mm.weights.key_maps: the generated key names and shapes are exactly those of timm's,
torchvision's, MMPretrain's and MMDetection's models, for every supported architecture: a timm
state dict converted to each format loads with strict=True into the real model.

Only names and shapes matter here (test_convert.py proves the values by outputs), so the
models are built on the meta device where the library allows it (no weight init: ResNet-152
four times would dominate the run); MMPretrain's ResNet calls ``.item()`` in its constructor,
so it is built on the CPU and loaded with ``assign=True`` (strict still checks names and
shapes)."""
import pytest
import timm
import torch
import torchvision
from mmdet.models.backbones import ResNet as MMDetResNet
from mmdet.models.backbones import ResNetV1d as MMDetResNetV1d
from mmpretrain.registry import MODELS

from rsb_mm.weights import (ARCHS, FORMATS, arch_settings, convert_state_dict, head_key_map,
                            key_map, timm_head_shapes, timm_key_shapes)


def _depth(arch):
    return int(arch[len('resnet'):].rstrip('d'))


def _shapes(state_dict):
    return {k: tuple(v.shape) for k, v in state_dict.items()}


@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_every_key_maps_and_loads_strictly(arch):
    deep = arch_settings(arch).deep_stem
    with torch.device('meta'):
        timm_sd = timm.create_model(arch).state_dict()
        mmdet_backbone = (MMDetResNetV1d if deep else MMDetResNet)(depth=_depth(arch))
        tv_model = None if deep else getattr(torchvision.models, arch)(weights=None)
    # The generated canonical names are timm's, in timm's order, with timm's shapes.
    expected = {**timm_key_shapes(arch), **timm_head_shapes(arch, 1000)}
    assert list(expected) == list(timm_sd)
    assert expected == _shapes(timm_sd)

    features = 2048 if _depth(arch) >= 50 else 512
    classifier = MODELS.build(
        dict(type='ImageClassifier',
             backbone=dict(type='ResNetV1d' if deep else 'ResNet', depth=_depth(arch)),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=1000, in_channels=features)))
    mmpre = convert_state_dict(timm_sd, src='timm', dst='mmpretrain', arch=arch)
    assert list(mmpre) == list(classifier.state_dict())  # same names, same order
    # strict=True raises on any missing or unexpected key and on any shape mismatch.
    classifier.load_state_dict(mmpre, strict=True, assign=True)

    mmdet = convert_state_dict(mmpre, src='mmpretrain', dst='mmdet', arch=arch)
    assert list(mmdet) == ['backbone.' + k for k in mmdet_backbone.state_dict()]
    mmdet_backbone.load_state_dict({k[len('backbone.'):]: v for k, v in mmdet.items()},
                                   strict=True)

    if tv_model is not None:  # torchvision has no ResNet-D
        tv = convert_state_dict(mmpre, src='mmpretrain', dst='torchvision', arch=arch)
        assert list(tv) == list(tv_model.state_dict())
        tv_model.load_state_dict(tv, strict=True)


def test_strict_loading_would_catch_a_wrong_shape():
    """The strict loads above can fail on shapes, meta tensors included."""
    with torch.device('meta'):
        model = MMDetResNet(depth=18)
        sd = dict(model.state_dict())
        sd['layer1.0.conv1.weight'] = torch.empty(64, 64, 1, 1)
    with pytest.raises(RuntimeError, match=r'size mismatch for layer1\.0\.conv1\.weight'):
        model.load_state_dict(sd, strict=True)


@pytest.mark.parametrize('arch', sorted(ARCHS))
@pytest.mark.parametrize('fmt', FORMATS)
def test_maps_are_one_to_one(arch, fmt):
    if fmt == 'torchvision' and arch_settings(arch).deep_stem:
        with pytest.raises(ValueError, match="fmt='torchvision' has no"):
            key_map(arch, fmt)
        return
    names = key_map(arch, fmt)
    assert list(names) == list(timm_key_shapes(arch))
    assert len(set(names.values())) == len(names)


def test_resnet50d_names():
    mmpre, mmdet = key_map('resnet50d', 'mmpretrain'), key_map('resnet50d', 'mmdet')
    assert mmpre['conv1.6.weight'] == 'backbone.stem.2.conv.weight'
    assert mmpre['bn1.running_var'] == 'backbone.stem.2.bn.running_var'
    assert mmdet['conv1.4.bias'] == 'backbone.stem.4.bias'
    assert mmdet['bn1.weight'] == 'backbone.stem.7.weight'
    # MMPretrain has no pool in the stride-1 first stage, MMDetection and timm do.
    assert mmpre['layer1.0.downsample.1.weight'] == 'backbone.layer1.0.downsample.0.weight'
    assert mmdet['layer1.0.downsample.1.weight'] == 'backbone.layer1.0.downsample.1.weight'
    assert mmpre['layer2.0.downsample.2.bias'] == 'backbone.layer2.0.downsample.2.bias'
    # Block norms keep their names (bn1 is only renamed at the top level).
    assert mmpre['layer1.0.bn1.weight'] == 'backbone.layer1.0.bn1.weight'


def test_head_names_and_bad_values():
    assert head_key_map('mmpretrain') == {'fc.weight': 'head.fc.weight',
                                          'fc.bias': 'head.fc.bias'}
    assert head_key_map('timm') == head_key_map('torchvision') == {'fc.weight': 'fc.weight',
                                                                   'fc.bias': 'fc.bias'}
    assert head_key_map('mmdet') is None
    assert timm_head_shapes('resnet18', 10) == {'fc.weight': (10, 512), 'fc.bias': (10, )}
    with pytest.raises(ValueError, match="arch must be one of .* got 'resnet200'"):
        timm_key_shapes('resnet200')
    with pytest.raises(ValueError, match="fmt must be one of .* got 'mmcls'"):
        key_map('resnet50', 'mmcls')
    with pytest.raises(ValueError, match="fmt must be one of .* got 'detectron2'"):
        head_key_map('detectron2')
