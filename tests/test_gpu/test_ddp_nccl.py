"""A one-process NCCL DDP training step of the A3 model equals the same step without DDP.

The Runner wraps the model in the config's ``model_wrapper_cfg`` (``MMDistributedDataParallel``
with timm's ``broadcast_buffers=True``) on every distributed run; with one process the
all-reduce averages over one rank, so the step must give the plain step's parameters, and the
epoch-end BatchNorm reduction (``SyncBuffersHook``) must leave the buffers as they are. On the
CPU (dry run) the backend is gloo.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

import rsb_mm  # noqa: F401

CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                  'rsb_a3_resnet50.py')


def _model_and_wrapper(cfg, device):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    model_cfg.backbone.channels_last = device.type == 'cuda'
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg.type = 'OptimWrapper'  # fp32: the comparison is exact up to cuDNN's order
    wrapper_cfg.pop('loss_scale', None)
    return model, wrapper_cfg, build_optim_wrapper


def _batch(size=4, img=32, num_classes=1000):
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (size, 3, img, img), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (size, ), generator=gen).tolist()
    return dict(inputs=images, data_samples=[DataSample().set_gt_label(x) for x in labels])


@pytest.mark.cuda
def test_one_process_ddp_step_equals_plain_step(device, tmp_path):
    from mmengine.model import MMDistributedDataParallel
    from mmengine.registry import init_default_scope
    if dist.is_initialized():
        pytest.skip('a process group already exists in this process')
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(CONFIG)
    backend = 'nccl' if device.type == 'cuda' else 'gloo'
    dist.init_process_group(backend, init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    try:
        assert dist.get_backend() == backend
        plain, wrapper_cfg, build_optim_wrapper = _model_and_wrapper(cfg, device)
        model = copy.deepcopy(plain)
        wrapper_args = {k: v for k, v in cfg.model_wrapper_cfg.items() if k != 'type'}
        assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
        ddp = MMDistributedDataParallel(
            module=model, device_ids=[device.index or 0] if device.type == 'cuda' else None,
            **wrapper_args)
        assert ddp.broadcast_buffers
        losses = []
        for net, optimized in ((plain, plain), (ddp, model)):
            wrapper = build_optim_wrapper(optimized, copy.deepcopy(wrapper_cfg))
            np.random.seed(0)  # the same Mixup/CutMix draw
            torch.manual_seed(0)
            losses.append(net.train_step(_batch(), wrapper)['loss'].item())
        assert np.isfinite(losses[0]) and losses[0] == pytest.approx(losses[1], rel=1e-6)
        exact = device.type == 'cpu'
        for (name, a), b in zip(plain.named_parameters(), model.parameters()):
            torch.testing.assert_close(b, a, rtol=0 if exact else 1e-5,
                                       atol=0 if exact else 1e-6, msg=name)
        # timm's --dist-bn reduce, as the config's SyncBuffersHook runs it at the epoch end.
        from mmengine.hooks import SyncBuffersHook
        assert 'SyncBuffersHook' in [h['type'] for h in cfg.custom_hooks]
        before = {k: v.clone() for k, v in model.named_buffers()}
        SyncBuffersHook().after_train_epoch(type('Runner', (), dict(model=ddp))())
        for name, buf in model.named_buffers():
            torch.testing.assert_close(buf, before[name], rtol=0, atol=0, msg=name)
    finally:
        dist.destroy_process_group()
