"""One AMP training iteration of the A1 and A3 configs on the GPU, through the Runner.

The configs as shipped except for the data (a tiny folder), the batch and the epoch length:
the loader's workers stack the uint8 batch (``default_collate``) into pinned memory, the
preprocessor copies it without blocking and normalises and mixes it on the GPU, the backbone
runs channels-last under float16 autocast, and ``AmpOptimWrapper`` scales the loss
dynamically. On the CPU (dry run) the same run is fp32 (``resolve_amp``).
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401
from rsb_mm.testing.tiny_datasets import write_imagenet_folder

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
BATCH = 4


def _config(name, root, device):
    data_root = osp.join(root, 'imagenet')
    write_imagenet_folder(data_root, num_classes=2, images_per_class=BATCH // 2, size=64,
                          splits=('train', ))
    cfg = Config.fromfile(osp.join(CONFIGS, f'rsb_{name}_resnet50.py'))
    cfg.work_dir = osp.join(root, 'work')
    cfg.model.backbone.channels_last = True  # what the GPU runs (timm's --channels-last)
    loader = cfg.train_dataloader
    loader.dataset.data_root = data_root
    loader.batch_size = BATCH
    loader.num_workers = 2
    loader.persistent_workers = False
    for key in ('dataloader', 'cfg', 'evaluator'):  # training only
        cfg[f'val_{key}'] = cfg[f'test_{key}'] = None
    if loader.sampler.type == 'RepeatAugSamplerDeiT':
        loader.sampler.selected_round = 0  # 4 images: no rounding to 256
    if device.type == 'cpu':  # dry run: the same steps at a size a CPU runs in seconds
        for t in loader.dataset.pipeline:
            for key in ('scale', 'img_size'):
                if key in t:
                    t[key] = 64
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler.t_initial = 1
    cfg.param_scheduler.warmup_t = 0
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, save_last=False)
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.cuda
@pytest.mark.parametrize('name', ['a1', 'a3'])
def test_amp_training_iteration(name, tmp_path, device):
    from mmengine.optim import AmpOptimWrapper

    from rsb_mm.utils import build_runner
    runner = build_runner(_config(name, str(tmp_path), device))
    seen = {}

    def record(module, args):
        inputs = args[0]['inputs']
        seen.update(type=type(inputs), dtype=getattr(inputs, 'dtype', None),
                    shape=tuple(getattr(inputs, 'shape', ())),
                    pinned=isinstance(inputs, torch.Tensor) and inputs.is_pinned())

    def record_output(module, args, output):
        seen['out_device'] = output['inputs'].device.type

    pre = runner.model.data_preprocessor
    pre.register_forward_pre_hook(record)
    pre.register_forward_hook(record_output)
    runner.train()

    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    # the loader's batch: one stacked uint8 tensor, pinned where a GPU takes it
    size = runner.cfg.train_dataloader.dataset.pipeline[1].scale
    assert seen['type'] is torch.Tensor and seen['dtype'] == torch.uint8
    assert seen['shape'] == (BATCH, 3, size, size)
    assert seen['out_device'] == device.type
    conv = runner.model.backbone.conv1.weight
    assert conv.device.type == device.type
    assert conv.is_contiguous(memory_format=torch.channels_last)
    if device.type == 'cuda':
        assert seen['pinned']
        assert type(runner.optim_wrapper) is AmpOptimWrapper
        scale = runner.optim_wrapper.loss_scaler.get_scale()
        assert math.isfinite(scale) and scale > 0
