"""rsb_mm.weights.convert: weights moved between timm, torchvision, MMPretrain and MMDetection
give the same outputs, come back bitwise, and a file that does not map completely is refused
with the keys (and shapes) named."""
import pickle

import pytest
import timm
import torch
import torchvision
from mmdet.models.backbones import ResNet as MMDetResNet
from mmdet.models.backbones import ResNetV1d as MMDetResNetV1d
from mmpretrain.registry import MODELS

from rsb_mm.weights import (ConversionReport, WeightsMappingError, check_state_dict,
                            convert_file, convert_state_dict, convert_with_report, detect_arch,
                            detect_format, load_state_dict_file, save_state_dict_file)

BATCH = (2, 3, 64, 64)


def _randomize(model):
    """Random BN affine and statistics (timm zero-inits the last BN of every block, which
    would hide a wrong conv2/conv3 mapping), calibrated on a batch so outputs stay O(1)."""
    gen = torch.Generator().manual_seed(1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.1)
            bn.momentum = 1.0  # running stats := this batch's statistics
        model.train()
        model(torch.randn(*BATCH, generator=gen))
        for bn in bns:
            bn.momentum = 0.1
            bn.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=gen)))
    return model.eval()


def _classifier(backbone):
    features = 2048 if backbone['depth'] >= 50 else 512
    model = MODELS.build(
        dict(type='ImageClassifier', backbone=dict(out_indices=(0, 1, 2, 3), **backbone),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=1000, in_channels=features)))
    return model.eval()


def _assert_bitwise(a, b, same_order=False):
    # safetensors stores keys sorted, so only in-memory results keep the model's order.
    assert (list(a) == list(b)) if same_order else (sorted(a) == sorted(b))
    for key in a:
        assert torch.equal(a[key], b[key]), key


CASES = {
    'timm resnet50': ('timm', 'resnet50', lambda: timm.create_model('resnet50'),
                      dict(type='ResNet', depth=50), MMDetResNet),
    'torchvision resnet50': ('torchvision', 'resnet50',
                             lambda: torchvision.models.resnet50(weights=None),
                             dict(type='ResNet', depth=50), MMDetResNet),
    'timm resnet50d': ('timm', 'resnet50d', lambda: timm.create_model('resnet50d'),
                       dict(type='ResNetV1d', depth=50), MMDetResNetV1d),
}


@pytest.mark.parametrize('case', list(CASES))
def test_round_trip_same_outputs_and_bitwise_back(case):
    fmt, arch, build_src, backbone, mmdet_cls = CASES[case]
    torch.manual_seed(0)
    src = _randomize(build_src())
    src_sd = src.state_dict()
    x = torch.randn(*BATCH, generator=torch.Generator().manual_seed(2))

    # -> MMPretrain classifier: same logits.
    mmpre_sd = convert_state_dict(src_sd, src=fmt, dst='mmpretrain', arch=arch)
    classifier = _classifier(backbone)
    classifier.load_state_dict(mmpre_sd, strict=True)
    captured = []  # the backbone's 4 stage outputs, from the same forward as the logits
    classifier.backbone.register_forward_hook(lambda mod, inp, out: captured.append(out))
    with torch.no_grad():
        ref_logits = src(x)
        logits = classifier(x, mode='tensor')
    stages = captured[0]
    assert ref_logits.abs().max() > 0.1  # a real signal, not a collapsed network
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=0)

    # -> MMDetection backbone: same 4 stage outputs as the classifier's backbone; head dropped.
    mmdet_sd, report = convert_with_report(mmpre_sd, src='mmpretrain', dst='mmdet', arch=arch)
    assert report.head == 'dropped' and 'dropped' in report.summary()
    assert not any(k.startswith('head.') for k in mmdet_sd)
    detector_backbone = mmdet_cls(depth=50, out_indices=(0, 1, 2, 3))
    detector_backbone.eval()  # MMDetection's ResNet.train() returns None: no chaining
    detector_backbone.load_state_dict(
        {k[len('backbone.'):]: v for k, v in mmdet_sd.items()}, strict=True)
    with torch.no_grad():
        det_stages = detector_backbone(x)
    assert len(det_stages) == len(stages) == 4
    for ours, theirs in zip(det_stages, stages):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)

    # Back to the source format: bitwise the same, with the head (from MMPretrain) ...
    _assert_bitwise(convert_state_dict(mmpre_sd, src='mmpretrain', dst=fmt, arch=arch), src_sd,
                    same_order=True)
    # ... and without it (from MMDetection, which has none: reported, not silent).
    back, report = convert_with_report(mmdet_sd, src='mmdet', dst=fmt, arch=arch)
    assert report.head == 'absent'
    _assert_bitwise(back, {k: v for k, v in src_sd.items() if not k.startswith('fc.')},
                    same_order=True)


def test_wrong_mapping_changes_outputs():
    """The output comparison above can fail: swap two blocks' conv2 and the logits move."""
    torch.manual_seed(0)
    src = _randomize(timm.create_model('resnet18'))
    sd = convert_state_dict(src.state_dict(), src='timm', dst='mmpretrain', arch='resnet18')
    a, b = 'backbone.layer1.0.conv2.weight', 'backbone.layer1.1.conv2.weight'
    sd[a], sd[b] = sd[b], sd[a]
    classifier = _classifier(dict(type='ResNet', depth=18))
    classifier.load_state_dict(sd, strict=True)
    x = torch.randn(*BATCH)
    with torch.no_grad():
        assert not torch.allclose(classifier(x, mode='tensor'), src(x), atol=1e-3)


def _convert_file_from(state_dict, tmp_path, dst_path, **kwargs):
    src_path = str(tmp_path / 'src.safetensors')
    save_state_dict_file(state_dict, src_path)
    return convert_file(src_path, dst_path, **kwargs)


def test_mmdet_pretrained_init_loads_converted_resnet50d(tmp_path):
    """The file a detection config points at: MMEngine's Pretrained init (strict=False, so a
    name mismatch would leave the stem random) loads every tensor of a converted ResNet-50-D."""
    torch.manual_seed(0)
    src_sd = timm.create_model('resnet50d').state_dict()
    path = str(tmp_path / 'resnet50d_mmdet.pth')
    report = _convert_file_from(src_sd, tmp_path, path, dst='mmdet')
    assert report.arch == 'resnet50d' and report.src == 'timm'  # both detected
    backbone = MMDetResNetV1d(
        depth=50, init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    backbone.init_weights()
    timm_module = {'stem.0': 'conv1.0', 'stem.1': 'conv1.1', 'stem.3': 'conv1.3',
                   'stem.4': 'conv1.4', 'stem.6': 'conv1.6', 'stem.7': 'bn1'}
    for key, value in backbone.state_dict().items():
        module, name = key.rsplit('.', 1)
        assert torch.equal(value, src_sd[f'{timm_module.get(module, module)}.{name}']), key


@pytest.mark.parametrize('dst_ext', ['.pth', '.safetensors'])
@pytest.mark.parametrize('src_ext', ['.pth', '.safetensors'])
def test_file_round_trips(tmp_path, src_ext, dst_ext):
    torch.manual_seed(0)
    src_sd = timm.create_model('resnet18').state_dict()
    src_path = str(tmp_path / f'timm{src_ext}')
    save_state_dict_file(src_sd, src_path)
    mm_path = str(tmp_path / f'mm{dst_ext}')
    report = convert_file(src_path, mm_path, dst='mmpretrain')
    assert isinstance(report, ConversionReport)
    assert (report.src, report.arch, report.num_keys, report.num_classes) == (
        'timm', 'resnet18', len(src_sd), 1000)
    mm_sd = load_state_dict_file(mm_path)
    assert detect_format(mm_sd) == 'mmpretrain'
    back_path = str(tmp_path / f'back{src_ext}')
    convert_file(mm_path, back_path, dst='timm')
    _assert_bitwise(load_state_dict_file(back_path), src_sd)
    if dst_ext == '.pth':
        # MMPretrain/MMDetection outputs carry an MMEngine-style meta (plain strings), loadable
        # with torch's default weights_only=True.
        raw = torch.load(mm_path)
        assert raw['meta']['converted_from'] == 'timm' and raw['meta']['arch'] == 'resnet18'
    else:
        from safetensors import safe_open
        with safe_open(mm_path, 'pt') as f:
            assert f.metadata()['layout'] == 'mmpretrain'


@pytest.mark.parametrize('wrap', ['state_dict', 'model', 'module.'])
def test_load_unwraps_checkpoints(tmp_path, wrap):
    sd = timm.create_model('resnet18').state_dict()
    if wrap == 'module.':
        obj = {f'module.{k}': v for k, v in sd.items()}
    else:
        obj = {wrap: sd, 'epoch': 3, 'optimizer': {'state': {}}}
    path = str(tmp_path / 'ckpt.pth')
    torch.save(obj, path)
    _assert_bitwise(load_state_dict_file(path), sd)


def test_load_picks_named_entry_and_refuses_missing_one(tmp_path):
    sd = timm.create_model('resnet18').state_dict()
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in sd.items()}
    path = str(tmp_path / 'timm_train.pth')
    torch.save({'state_dict': sd, 'state_dict_ema': ema}, path)
    _assert_bitwise(load_state_dict_file(path), sd)
    _assert_bitwise(load_state_dict_file(path, key='state_dict_ema'), ema)
    with pytest.raises(ValueError, match="key='nope'.*state_dict_ema"):
        load_state_dict_file(path, key='nope')


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / 'full.pth'
    torch.save(timm.create_model('resnet18').state_dict(), path)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(path.read_bytes()[:100000])
    with pytest.raises(ValueError, match='cut.pth'):
        load_state_dict_file(str(cut))


def test_unsafe_pickle_is_refused(tmp_path):
    import argparse
    path = str(tmp_path / 'timm_train.pth')
    torch.save({'state_dict': {}, 'args': argparse.Namespace(lr=1)}, path)
    with pytest.raises(pickle.UnpicklingError, match='Namespace'):
        load_state_dict_file(path)


def _timm_sd(arch='resnet50'):
    return dict(timm.create_model(arch).state_dict())


def test_missing_key_is_refused_with_its_target_name():
    sd = _timm_sd()
    del sd['layer3.2.conv2.weight']
    with pytest.raises(WeightsMappingError) as info:
        convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet50')
    assert info.value.missing == ['backbone.layer3.2.conv2.weight']
    assert 'backbone.layer3.2.conv2.weight' in str(info.value)
    assert not info.value.unmapped and not info.value.mismatched


def test_extra_key_is_refused_with_its_name():
    sd = _timm_sd()
    sd['layer1.0.extra.weight'] = torch.zeros(3)
    with pytest.raises(WeightsMappingError, match=r'layer1\.0\.extra\.weight') as info:
        convert_state_dict(sd, src='timm', dst='mmdet', arch='resnet50')
    assert info.value.unmapped == ['layer1.0.extra.weight']


def test_wrong_shape_is_refused_with_both_shapes():
    sd = _timm_sd()
    sd['layer2.0.conv1.weight'] = torch.zeros(128, 256, 3, 3)
    with pytest.raises(WeightsMappingError,
                       match=r'layer2\.0\.conv1\.weight: got \(128, 256, 3, 3\), '
                       r'expected \(128, 256, 1, 1\)'):
        convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet50')
    sd = _timm_sd()
    sd['fc.bias'] = torch.zeros(999)
    with pytest.raises(WeightsMappingError, match=r'fc\.bias: got \(999,\), expected \(1000,\)'):
        convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet50')


def test_se_resnet_is_refused_as_resnet50():
    sd = _timm_sd('seresnet50')
    with pytest.raises(WeightsMappingError, match=r'layer1\.0\.se\.fc1\.weight') as info:
        convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet50')
    assert len(info.value.unmapped) == 64  # 16 blocks x fc1/fc2 x weight/bias
    with pytest.raises(WeightsMappingError, match='no supported architecture'):
        detect_arch(sd, 'timm')


def test_wrong_arch_and_bad_arguments_are_refused():
    sd = _timm_sd('resnet18')
    with pytest.raises(WeightsMappingError, match='missing target keys'):
        convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet34')
    with pytest.raises(ValueError, match="arch must be one of .* got 'resnet51'"):
        convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet51')
    with pytest.raises(ValueError, match="dst must be one of .* got 'mmcls'"):
        convert_state_dict(sd, src='timm', dst='mmcls', arch='resnet18')
    with pytest.raises(ValueError, match="dst='torchvision' has no 'resnet50d'"):
        convert_state_dict(_timm_sd('resnet50d'), src='timm', dst='torchvision')
    with pytest.raises(ValueError, match='num_classes=10, but the source classifier has 1000'):
        convert_state_dict(sd, src='timm', dst='mmpretrain', num_classes=10)
    with pytest.raises(ValueError, match='num_classes must be None or an int >= 0, got -1'):
        convert_state_dict(sd, src='timm', dst='mmpretrain', num_classes=-1)


def test_head_drop_on_request_and_headless_sources():
    sd = _timm_sd('resnet18')
    out, report = convert_with_report(sd, dst='mmpretrain', num_classes=0)
    assert report.head == 'dropped' and not any(k.startswith('head.') for k in out)
    out, report = convert_with_report(sd, dst='mmpretrain', num_classes=1000)
    assert report.head == 'converted' and out['head.fc.weight'] is sd['fc.weight']
    headless = dict(timm.create_model('resnet18', num_classes=0).state_dict())
    out, report = convert_with_report(headless, dst='mmpretrain')
    assert report.head == 'absent' and report.num_keys == len(headless)
    only_weight = dict(sd)
    del only_weight['fc.bias']
    with pytest.raises(WeightsMappingError, match=r'head\.fc\.bias'):
        convert_state_dict(only_weight, src='timm', dst='mmpretrain')


def test_missing_num_batches_tracked_is_reported_and_loads_strictly():
    """torchvision's published ResNets have no num_batches_tracked: accepted, counted, and the
    result still loads with strict=True (BatchNorm fills the buffer with 0)."""
    sd = {k: v for k, v in torchvision.models.resnet18(weights=None).state_dict().items()
          if not k.endswith('num_batches_tracked')}
    out, report = convert_with_report(sd, src='torchvision', dst='mmpretrain')
    assert report.missing_num_batches_tracked == 20
    assert 'num_batches_tracked' in report.summary()
    classifier = _classifier(dict(type='ResNet', depth=18))
    classifier.load_state_dict(out, strict=True)


def test_detect_format_and_arch():
    sd = _timm_sd('resnet50d')
    mm = convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet50d')
    det = convert_state_dict(sd, src='timm', dst='mmdet', arch='resnet50d')
    assert [detect_format(s) for s in (sd, mm, det)] == ['timm', 'mmpretrain', 'mmdet']
    assert [detect_arch(s, f) for s, f in ((sd, 'timm'), (mm, 'mmpretrain'),
                                           (det, 'mmdet'))] == ['resnet50d'] * 3
    # A headless MMPretrain ResNet-D still has MMPretrain's stem names.
    headless = {k: v for k, v in mm.items() if not k.startswith('head.')}
    assert detect_format(headless) == 'mmpretrain'
    with pytest.raises(ValueError, match='cannot detect the format'):
        detect_format({'encoder.weight': torch.zeros(1)})
    check_state_dict(det, 'mmdet', 'resnet50d')
    with pytest.raises(WeightsMappingError, match=r'backbone\.stem\.0\.conv\.weight'):
        check_state_dict(mm, 'mmdet', 'resnet50d')  # MMPretrain's stem names in MMDet's place
