"""rsb_mm.weights.publish: a real runner checkpoint (with EMAHook) becomes
``{stem}_{YYYYMMDD}-{sha256[:8]}.pth`` holding only the state dict and a minimal meta, loadable
with torch.load's default weights_only=True; optionally a .safetensors twin."""
import hashlib
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from safetensors.torch import load_file

from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import build_runner
from rsb_mm.weights import PUBLISH_META_KEYS, publish_checkpoint, strip_checkpoint


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """Train a ResNet-18 classifier 2 iterations with EMA; return (checkpoint path, the
    runner's trained (non-EMA) state dict)."""
    tmp = tmp_path_factory.mktemp('run')
    data_root = str(tmp / 'imagenet')
    write_imagenet_folder(data_root, num_classes=2, images_per_class=2, size=32,
                          splits=('train', ))
    cfg = Config(dict(
        default_scope='mmpretrain',
        model=dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=2, in_channels=512,
                             loss=dict(type='CrossEntropyLoss'))),
        train_dataloader=dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ImageNet', data_root=data_root, split='train',
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='Resize', scale=32),
                                   dict(type='PackInputs')])),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        custom_hooks=[dict(type='EMAHook', momentum=0.5)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        work_dir=str(tmp / 'work'), randomness=dict(seed=0)))
    runner = build_runner(cfg)
    runner.train()
    trained = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
    return osp.join(str(tmp / 'work'), 'epoch_1.pth'), trained


def _sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_publish_name_hash_and_content(runner_checkpoint, tmp_path):
    ckpt_path, _ = runner_checkpoint
    original = torch.load(ckpt_path)  # default weights_only=True
    assert {'optimizer', 'message_hub', 'ema_state_dict'} <= set(original)

    files = publish_checkpoint(ckpt_path, str(tmp_path / 'out' / 'rsb-a1_resnet18.pth'),
                               safetensors=True)
    name = osp.basename(files.pth)
    match = re.fullmatch(r'rsb-a1_resnet18_(\d{8})-([0-9a-f]{8})\.pth', name)
    assert match, name
    assert _sha256(files.pth)[:8] == match.group(2)
    assert osp.dirname(files.pth) == str(tmp_path / 'out')

    published = torch.load(files.pth)  # default weights_only=True
    assert set(published) == {'meta', 'state_dict'}
    assert set(published['meta']) <= set(PUBLISH_META_KEYS) | {
        'mmpretrain_version', 'rsb_mm_version'}
    assert 'time' in original['meta'] and 'time' not in published['meta']
    assert published['meta']['cfg'] == original['meta']['cfg']
    assert published['meta']['dataset_meta'] == original['meta']['dataset_meta']
    # The state dict is intact (here: the EMA weights, which the runner saved as state_dict).
    assert list(published['state_dict']) == list(original['state_dict'])
    for key, value in original['state_dict'].items():
        assert torch.equal(published['state_dict'][key], value), key

    st_name = osp.basename(files.safetensors)
    st_match = re.fullmatch(r'rsb-a1_resnet18_(\d{8})-([0-9a-f]{8})\.safetensors', st_name)
    assert st_match and st_match.group(1) == match.group(1)
    assert _sha256(files.safetensors)[:8] == st_match.group(2)
    tensors = load_file(files.safetensors)
    assert sorted(tensors) == sorted(original['state_dict'])
    assert all(torch.equal(tensors[k], v) for k, v in original['state_dict'].items())


def test_publish_trained_weights_without_ema(runner_checkpoint, tmp_path):
    ckpt_path, trained = runner_checkpoint
    ema_weights = torch.load(ckpt_path)['state_dict']
    files = publish_checkpoint(ckpt_path, str(tmp_path / 'noema'), use_ema=False,
                               date='20240101')
    assert re.fullmatch(r'noema_20240101-[0-9a-f]{8}\.pth', osp.basename(files.pth))
    assert files.safetensors is None
    state = torch.load(files.pth)['state_dict']
    key = 'backbone.conv1.weight'
    assert not torch.equal(ema_weights[key], trained[key])  # EMA moved away: a real check
    for k, v in trained.items():
        assert torch.equal(state[k], v), k


def test_strip_bare_state_dict_and_bad_inputs(tmp_path):
    sd = {'w': torch.ones(2)}
    stripped, removed = strip_checkpoint(sd)
    assert stripped['state_dict'] is sd and removed == ()
    with pytest.raises(ValueError, match='no state_dict'):
        strip_checkpoint({'meta': {}, 'optimizer': {}})
    path = str(tmp_path / 'x.pth')
    torch.save(sd, path)
    with pytest.raises(ValueError, match="date must be YYYYMMDD, got '2024-01-01'"):
        publish_checkpoint(path, str(tmp_path / 'x'), date='2024-01-01')
