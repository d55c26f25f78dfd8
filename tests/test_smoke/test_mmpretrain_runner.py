"""Smoke test (b) of the foundation: MMPretrain's own ResNet-50 config trains 2 iterations on a
tiny ImageNet-format folder of JPEGs, saves a checkpoint, resumes from it (torch.load with
weights_only=True through rsb_mm's allow-list), and loads it as ``init_cfg`` Pretrained."""
import os
import os.path as osp

import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401
from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import build_runner


def _tiny_cfg(data_root, work_dir, max_epochs):
    # MMPretrain's config, loaded through the installed package as a user's config would.
    leaf = osp.join(work_dir, 'leaf_cfg.py')
    os.makedirs(work_dir, exist_ok=True)
    with open(leaf, 'w') as f:
        f.write("_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py']\n")
    cfg = Config.fromfile(leaf)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=32),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ]
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=dict(type='ImageNet', data_root=data_root, split='train', pipeline=pipeline))
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=100)
    cfg.param_scheduler = dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.5, end=100)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    return cfg


def test_resnet50_trains_saves_and_resumes(tmp_path):
    data_root = str(tmp_path / 'imagenet')
    # 2 classes x 2 images, batch 2 -> 2 iterations per epoch.
    write_imagenet_folder(data_root, num_classes=2, images_per_class=2, size=40)
    work_dir = str(tmp_path / 'work')

    runner = build_runner(_tiny_cfg(data_root, work_dir, max_epochs=1))
    assert len(runner.train_dataloader.dataset) == 4
    runner.train()
    assert runner.iter == 2
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    # The runner's own checkpoint loads under torch's default weights_only=True.
    saved = torch.load(ckpt, map_location='cpu')
    assert saved['meta']['iter'] == 2 and 'message_hub' in saved

    cfg = _tiny_cfg(data_root, work_dir, max_epochs=2)
    cfg.resume = True  # `--resume auto`: the latest checkpoint in work_dir
    resumed = build_runner(cfg)
    resumed.train()
    assert resumed.iter == 4 and resumed.epoch == 2
    # The LR scheduler state came back too: StepLR halved the lr after each finished epoch,
    # so a scheduler restarted from scratch would show base_lr / 2 here, not base_lr / 4.
    base_lr = cfg.optim_wrapper.optimizer.lr
    assert runner.optim_wrapper.get_lr()['lr'][0] == base_lr / 2
    assert resumed.optim_wrapper.get_lr()['lr'][0] == base_lr / 4

    # init_cfg Pretrained goes through mmengine's CheckpointLoader (torch.load) as well.
    from mmpretrain.registry import MODELS
    model_cfg = _tiny_cfg(data_root, work_dir, 1).model
    model_cfg.backbone.init_cfg = dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.')
    model = MODELS.build(model_cfg)
    model.init_weights()
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    assert torch.equal(model.backbone.conv1.weight, state['backbone.conv1.weight'])
