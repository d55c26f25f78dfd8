"""The three pretraining configs carry exactly the values of RECIPE.md's table, and build."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

import rsb_mm  # noqa: F401

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')

# RECIPE.md, "Pretraining: ResNet-50, ImageNet-1k, no extra data".
TABLE = {
    'a1': dict(epochs=600, train_res=224, lr=5e-3, wd=0.01, smoothing=0.1, drop_path=0.05,
               repeated_aug=True, rand_augment='rand-m7-mstd0.5-inc1', mixup=0.2),
    'a2': dict(epochs=300, train_res=224, lr=5e-3, wd=0.02, smoothing=0.0, drop_path=0.05,
               repeated_aug=True, rand_augment='rand-m7-mstd0.5-inc1', mixup=0.1),
    'a3': dict(epochs=100, train_res=160, lr=8e-3, wd=0.02, smoothing=0.0, drop_path=0.0,
               repeated_aug=False, rand_augment='rand-m6-mstd0.5-inc1', mixup=0.1),
}


def _load(name):
    return Config.fromfile(osp.join(CONFIGS, f'rsb_{name}_resnet50.py'))


def _transform(pipeline, type_):
    found = [t for t in pipeline if t['type'] == type_]
    assert len(found) == 1, f'{type_} appears {len(found)} times in {pipeline}'
    return found[0]


@pytest.mark.parametrize('name', sorted(TABLE))
def test_config_matches_recipe_table(name):
    row, cfg = TABLE[name], _load(name)

    # epochs and schedule: cosine to 1e-6, 5 warm-up epochs from 1e-4, per epoch
    assert cfg.train_cfg.max_epochs == row['epochs']
    sched = cfg.param_scheduler
    assert sched.type == 'TimmCosineLR' and sched.by_epoch
    assert sched.t_initial == row['epochs'] and sched.get('cooldown_t', 0) == 0
    assert (sched.warmup_t, sched.warmup_lr_init, sched.lr_min) == (5, 1e-4, 1e-6)

    # global batch 2048 = 4 GPUs x 512, lr given for 2048
    assert cfg.train_dataloader.batch_size * 4 == 2048
    assert cfg.auto_scale_lr.base_batch_size == 2048
    assert cfg.train_dataloader.drop_last is True

    # LAMB with timm's settings, no decay on biases / 1-D params, AMP (on GPU)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'MultiTensorLamb'
    assert (opt.lr, opt.weight_decay) == (row['lr'], row['wd'])
    assert (opt.eps, tuple(opt.betas), opt.max_grad_norm) == (1e-6, (0.9, 0.999), 1.0)
    assert cfg.optim_wrapper.constructor == 'DecayGroupsOptimWrapperConstructor'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'

    # model: ResNet-50, drop path, BCE with target threshold 0.2
    backbone = cfg.model.backbone
    assert backbone.type == 'ResNetTimmDropPath' and backbone.depth == 50
    assert backbone.drop_path_rate == row['drop_path']
    assert cfg.model.head.loss.type == 'ThresholdedBCELoss'
    assert cfg.model.head.loss.target_threshold == 0.2

    # Mixup / CutMix: one batch augment with timm's semantics, smoothing inside the mixing
    (augment, ) = cfg.model.train_cfg.augments
    assert augment.type == 'MixupCutMix'
    assert (augment.mixup_alpha, augment.cutmix_alpha) == (row['mixup'], 1.0)
    assert augment.label_smoothing == row['smoothing']
    for key, default in (('prob', 1.0), ('switch_prob', 0.5), ('mode', 'batch')):
        assert augment.get(key, default) == default

    # repeated augmentation (3 repeats) or plain shuffling
    sampler = cfg.train_dataloader.sampler
    if row['repeated_aug']:
        assert sampler.type == 'RepeatAugSamplerDeiT' and sampler.num_repeats == 3
    else:
        assert sampler.type == 'DefaultSampler' and sampler.shuffle

    # train pipeline: RRC (random interpolation) at the train resolution, flip, RandAugment
    train = cfg.train_dataloader.dataset.pipeline
    rrc = _transform(train, 'TimmRandomResizedCrop')
    assert rrc.scale == row['train_res'] and rrc.get('interpolation', 'random') == 'random'
    assert _transform(train, 'RandomFlip').prob == 0.5
    ra = _transform(train, 'TimmRandAugment')
    assert ra.config_str == row['rand_augment'] and ra.img_size == row['train_res']
    # not used: random erasing, colour jitter, AutoAugment, PCA lighting
    used = {t['type'] for t in train}
    assert not used & {'RandomErasing', 'ColorJitter', 'AutoAugment', 'Lighting'}
    # not used: EMA, dropout
    assert not any(h.get('type') == 'EMAHook' for h in cfg.get('custom_hooks', []))
    assert cfg.model.head.get('dropout_ratio', 0) in (0, None)

    # test: short side to floor(224 / 0.95) = 235 (bicubic), centre crop 224
    test = cfg.test_dataloader.dataset.pipeline
    resize = _transform(test, 'ResizeEdge')
    assert (resize.scale, resize.edge, resize.interpolation) == (235, 'short', 'bicubic')
    assert _transform(test, 'CenterCrop').crop_size == 224
    assert cfg.val_evaluator.type == 'Accuracy' and tuple(cfg.val_evaluator.topk) == (1, 5)

    # every test set of the paper in the same run: val, ReaL, V2 (skipped when absent)
    for loop in (cfg.val_cfg, cfg.test_cfg):
        assert loop.type in ('MultiSetValLoop', 'MultiSetTestLoop') and loop.skip_missing
        sets = {s.prefix: s for s in loop.extra_sets}
        assert sets['real'].dataloader.dataset.type == 'ImageNetReaL'
        assert sets['real'].evaluator.type == 'ReaLAccuracy'
        assert sets['v2'].dataloader.dataset.type == 'ImageNetV2'
        for extra in sets.values():
            assert extra.dataloader.dataset.pipeline == test


@pytest.mark.parametrize('name', sorted(TABLE))
def test_config_survives_faults(name):
    """Exact mid-epoch resume, atomic and bounded checkpoints, unreadable images named, NaN
    losses stopped, a dead rank not waited for forever (README, "When things go wrong")."""
    cfg = _load(name)
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert 'by_epoch' not in cfg.train_cfg  # MMEngine refuses `type` with `by_epoch`
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval) == (TABLE[name]['epochs'], 1)
    ckpt = cfg.default_hooks.checkpoint
    assert ckpt.type == 'AtomicCheckpointHook'
    assert (ckpt.interval, ckpt.max_keep_ckpts, ckpt.iter_interval,
            ckpt.max_keep_iter_ckpts) == (1, 3, 200, 1)
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert hooks['NonFiniteLossHook'].action == 'stop'
    assert 'UnreadableImageCountHook' in hooks
    loader = cfg.train_dataloader.dataset.pipeline[0]
    assert loader.type == 'LoadImageFromFileChecked' and loader.on_error == 'raise'
    assert loader.color_type == 'color_ignore_orientation'
    assert cfg.train_dataloader.dataset.pipeline[1].type == 'TimmRandomResizedCrop'
    assert cfg.env_cfg.dist_cfg.timeout == 1800


@pytest.mark.parametrize('name', sorted(TABLE))
def test_config_builds(name):
    """Every type named in the config resolves: model, pipeline, optimizer, scheduler."""
    import torch
    from mmengine.dataset import Compose
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS, PARAM_SCHEDULERS

    cfg = _load(name)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'ResNetTimmDropPath'
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'  # AMP needs a GPU; the fp32 fallback is tested elsewhere
    optim_cfg.pop('loss_scale')
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    assert len(optim_wrapper.optimizer.param_groups) == 2
    sched_cfg = dict(cfg.param_scheduler, optimizer=optim_wrapper)
    sched_cfg.setdefault('end', cfg.train_cfg.max_epochs)
    PARAM_SCHEDULERS.build(sched_cfg)
    train_pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    Compose(cfg.test_dataloader.dataset.pipeline)
    # the shipped pipeline resizes with the compiled copy of Pillow's resampling (the same
    # bytes, tested in test_pil_resample), wherever the install built it
    crop, = [t for t in train_pipeline.transforms if type(t).__name__ == 'TimmRandomResizedCrop']
    if importlib.util.find_spec('rsb_mm._native._pil_resample'):
        assert crop.native_resize
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 64), mode='tensor')
    assert out.shape == (2, 1000)


@pytest.mark.parametrize('name', sorted(TABLE))
def test_config_composes_ranks_as_timm_train(name):
    """timm's distributed train.py: seed + rank per process, DDP broadcasting BN buffers, BN
    statistics averaged over ranks at each epoch end, samplers seeded with the epoch only.
    (tests/test_robustness/test_distributed_faults.py runs it with 2 processes.)"""
    cfg = _load(name)
    assert cfg.randomness.diff_rank_seed is True
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model_wrapper_cfg.broadcast_buffers is True
    assert 'SyncBuffersHook' in [h['type'] for h in cfg.custom_hooks]
    assert cfg.train_dataloader.sampler.seed == 0


def test_head_starts_as_timm_fc_and_backbone_init_is_unchanged():
    import inspect
    import math

    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.models.heads import LinearClsHead
    from mmpretrain.registry import MODELS

    cfg = _load('a1')
    init_default_scope(cfg.default_scope)
    assert cfg.model.head.init_cfg is None
    models = []
    mmpretrain_init = inspect.signature(LinearClsHead).parameters['init_cfg'].default
    for head_init in (None, mmpretrain_init):  # ours, MMPretrain's
        model_cfg = cfg.model.copy()
        model_cfg.head = dict(model_cfg.head, init_cfg=head_init)
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        model.init_weights()
        models.append(model)
    ours, mmpretrain_default = models
    assert mmpretrain_default.head.init_cfg == dict(type='Normal', layer='Linear', std=0.01)

    # PyTorch's default Linear init, as timm's ResNet leaves `fc`: weight and bias uniform in
    # +-1/sqrt(fan_in) (std = bound / sqrt(3)); MMPretrain's would give std 0.01 and bias 0.
    fc = ours.head.fc
    bound = 1 / math.sqrt(2048)
    for param in (fc.weight, fc.bias):
        assert param.abs().max() <= bound
        assert param.abs().max() > 0.99 * bound
        assert abs(param.std().item() / (bound / math.sqrt(3)) - 1) < 0.05
        assert abs(param.mean().item()) < 0.1 * bound
    assert mmpretrain_default.head.fc.bias.abs().max() == 0

    # The backbone's init (Kaiming convs, last BN of each block at zero) is drawn before the
    # head's and is the same either way.
    for (key, a), b in zip(ours.backbone.state_dict().items(),
                           mmpretrain_default.backbone.state_dict().values()):
        assert torch.equal(a, b), key
    assert torch.count_nonzero(ours.backbone.layer1[0].bn3.weight) == 0


class _DrawInWorker:
    """A data set whose items are what the DataLoader worker's generators draw."""

    def __len__(self):
        return 64

    def __getitem__(self, index):
        import random

        import numpy as np
        import torch
        from torch.utils.data import get_worker_info
        return dict(worker=get_worker_info().id, draws=(random.random(), float(np.random.rand()),
                                                        float(torch.rand(()))))


def test_dataloader_workers_draw_apart_per_rank_and_worker(monkeypatch):
    """The A1 train loader as MMEngine's Runner builds it under diff_rank_seed: real worker
    processes of ranks 0-3 (the rank set as the Runner reads it) start from distinct seeds."""
    import mmengine.runner.runner as runner_module
    from mmengine.runner import Runner

    cfg = _load('a1')
    seen = {}
    for rank in range(4):
        monkeypatch.setattr(runner_module, 'get_rank', lambda rank=rank: rank)
        loader_cfg = dict(cfg.train_dataloader, dataset=_DrawInWorker(), num_workers=2,
                          persistent_workers=False, pin_memory=False, batch_size=4,
                          collate_fn=dict(type='default_collate'),
                          sampler=dict(type='DefaultSampler', shuffle=False))
        loader = Runner.build_dataloader(loader_cfg, seed=1234 + rank, diff_rank_seed=True)
        for batch in loader:
            for worker, *draws in zip(batch['worker'].tolist(), *batch['draws']):
                seen.setdefault((rank, worker), tuple(float(d) for d in draws))
    assert len(seen) == 8
    firsts = list(seen.values())
    for i in range(3):  # python, numpy, torch: eight different streams each
        assert len({draws[i] for draws in firsts}) == 8
