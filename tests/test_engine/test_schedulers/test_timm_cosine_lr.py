"""TimmCosineLR against timm's CosineLRScheduler, stepped the way each framework steps it."""
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from timm.scheduler import create_scheduler_v2
from torch.utils.data import DataLoader

from rsb_mm.engine.schedulers import TimmCosineLR, timm_cosine_lr

WARMUP_LR, MIN_LR, WARMUP_EPOCHS = 1e-4, 1e-6, 5
# RSB: (epochs, lr for batch 2048)
RSB = {'A1': (600, 5e-3), 'A2': (300, 5e-3), 'A3': (100, 8e-3)}


def _optimizer(lr):
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=lr)


def _timm_lrs(t_initial, lr, warmup_t=WARMUP_EPOCHS, warmup_lr=WARMUP_LR, min_lr=MIN_LR,
              cooldown=0, warmup_prefix=False):
    """Per-epoch lr of timm's scheduler, stepped as timm's train.py does, and its epoch count."""
    opt = _optimizer(lr)
    sched, num_epochs = create_scheduler_v2(
        opt, sched='cosine', num_epochs=t_initial, warmup_epochs=warmup_t, warmup_lr=warmup_lr,
        min_lr=min_lr, cooldown_epochs=cooldown, warmup_prefix=warmup_prefix)
    lrs = []
    for epoch in range(num_epochs):
        lrs.append(opt.param_groups[0]['lr'])  # the lr epoch `epoch` trains with
        sched.step(epoch + 1)
    return lrs, num_epochs


def _mm_lrs(opt, sched, epochs):
    """Per-epoch lr of an MMEngine scheduler driven like ParamSchedulerHook (step after epoch)."""
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize('warmup_prefix', [False, True])
@pytest.mark.parametrize('cooldown', [0, 10])
@pytest.mark.parametrize('setting', sorted(RSB))
def test_every_epoch_equals_timm(setting, cooldown, warmup_prefix):
    t_initial, lr = RSB[setting]
    expected, num_epochs = _timm_lrs(t_initial, lr, cooldown=cooldown, warmup_prefix=warmup_prefix)
    opt = _optimizer(lr)
    sched = TimmCosineLR(opt, t_initial=t_initial, cooldown_t=cooldown, warmup_prefix=warmup_prefix)
    # the default `end` is the number of epochs timm's train.py runs
    assert sched.end == num_epochs == t_initial + cooldown + (WARMUP_EPOCHS if warmup_prefix else 0)
    got = _mm_lrs(opt, sched, num_epochs)
    assert got == pytest.approx(expected, rel=1e-12, abs=0)
    # the pure function gives the same numbers
    pure = [timm_cosine_lr(e, lr, t_initial, warmup_prefix=warmup_prefix)
            for e in range(num_epochs)]
    assert pure == pytest.approx(expected, rel=1e-12, abs=0)
    assert got[0] == WARMUP_LR
    if cooldown:
        assert got[-cooldown:] == [MIN_LR] * cooldown
    # past `end` the scheduler no longer moves the lr
    sched.step()
    assert opt.param_groups[0]['lr'] == got[-1]


def test_warmup_overlaps_cosine_by_default():
    """timm's default: the lr after warm-up is cos(5/600), never the base lr itself."""
    lr = 5e-3
    no_prefix = timm_cosine_lr(WARMUP_EPOCHS, lr, 600)
    prefix = timm_cosine_lr(WARMUP_EPOCHS, lr, 600, warmup_prefix=True)
    assert prefix == lr
    assert no_prefix < lr
    cos = torch.cos(torch.tensor(torch.pi * 5 / 600, dtype=torch.float64)).item()
    assert no_prefix == pytest.approx(MIN_LR + 0.5 * (lr - MIN_LR) * (1 + cos), rel=1e-12)
    # warm-up is linear from the absolute warmup_lr_init
    assert timm_cosine_lr(2, lr, 600) == pytest.approx(
        WARMUP_LR + 2 * (lr - WARMUP_LR) / 5, rel=1e-15)
    # after the cycle: the floor (cool-down)
    assert timm_cosine_lr(600, lr, 600) == MIN_LR
    assert timm_cosine_lr(599, lr, 600) > MIN_LR


def test_no_warmup_starts_at_base_lr():
    expected, n = _timm_lrs(20, 5e-3, warmup_t=0)
    opt = _optimizer(5e-3)
    got = _mm_lrs(opt, TimmCosineLR(opt, t_initial=20, warmup_t=0), n)
    assert got[0] == 5e-3
    assert got == pytest.approx(expected, rel=1e-12, abs=0)


def test_iter_based_equals_timm_sched_on_updates():
    """convert_to_iter_based: timm's step_on_epochs=False with step_update after each update."""
    from mmpretrain.registry import PARAM_SCHEDULERS
    epoch_length, lr = 3, 5e-3
    opt_t = _optimizer(lr)
    timm_sched, num_epochs = create_scheduler_v2(
        opt_t, sched='cosine', num_epochs=6, warmup_epochs=2, warmup_lr=WARMUP_LR, min_lr=MIN_LR,
        cooldown_epochs=1, step_on_epochs=False, updates_per_epoch=epoch_length)
    expected, num_updates = [], 0
    for epoch in range(num_epochs):
        for _ in range(epoch_length):
            expected.append(opt_t.param_groups[0]['lr'])
            num_updates += 1
            timm_sched.step_update(num_updates)
        timm_sched.step(epoch + 1)  # a no-op for a per-update schedule

    opt = _optimizer(lr)
    sched = PARAM_SCHEDULERS.build(
        dict(type='TimmCosineLR', t_initial=6, warmup_t=2, cooldown_t=1,
             convert_to_iter_based=True),
        default_args=dict(optimizer=opt, epoch_length=epoch_length))
    assert not sched.by_epoch and sched.end == num_epochs * epoch_length
    got = _mm_lrs(opt, sched, num_epochs * epoch_length)
    assert got == pytest.approx(expected, rel=1e-12, abs=0)
    assert len(set(got[:6])) == 6  # the warm-up moves every update, not every epoch


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, mode='tensor'):
        out = self.fc(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class _LrRecorder(Hook):
    """The lr each training iteration ran with: optimizer's and the one the logger reports."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.optim_lrs, self.logged_lrs = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        # after_train_iter runs before the epoch-end scheduler step: still this epoch's lr
        self.optim_lrs.append(runner.optim_wrapper.get_lr()['lr'][0])
        self.logged_lrs.append(runner.message_hub.get_scalar('train/lr').current())


def _run_toy(work_dir, lr, batch_size, scheduler, auto_scale_lr=None, iters_per_epoch=2):
    # a unique name per run: MMEngine shares logger / visualizer instances by experiment name
    from mmengine.runner import Runner
    data = [dict(inputs=torch.randn(2)) for _ in range(batch_size * iters_per_epoch)]
    recorder = _LrRecorder()
    runner = Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'timm_cosine_lr_{osp.basename(str(work_dir))}',
        train_dataloader=DataLoader(data, batch_size=batch_size, shuffle=False),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
        param_scheduler=scheduler,
        train_cfg=dict(by_epoch=True, max_epochs=3),
        auto_scale_lr=auto_scale_lr,
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[recorder],
        default_scope='mmpretrain',
        log_level='WARNING',
        randomness=dict(seed=0),
    )
    runner.train()
    logged = []
    for path in glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            logged += [json.loads(line)['lr'] for line in f if '"lr"' in line]
    return recorder, logged, iters_per_epoch


def _per_iter(per_epoch, iters_per_epoch):
    return [v for v in per_epoch for _ in range(iters_per_epoch)]


def test_runner_three_epochs(tmp_path):
    # 3 epochs cover all phases: warm-up (epoch 0), cosine (1), cool-down at the floor (2)
    lr = 5e-3
    scheduler = dict(type='TimmCosineLR', t_initial=2, warmup_t=1, cooldown_t=1)
    recorder, logged, ipe = _run_toy(tmp_path, lr, 4, scheduler)
    expected, n = _timm_lrs(2, lr, warmup_t=1, cooldown=1)
    assert n == 3
    assert expected == pytest.approx([WARMUP_LR, MIN_LR + 0.5 * (lr - MIN_LR), MIN_LR], rel=1e-12)
    assert recorder.optim_lrs == pytest.approx(_per_iter(expected, ipe), rel=1e-12, abs=0)
    assert recorder.logged_lrs == pytest.approx(_per_iter(expected, ipe), rel=1e-12, abs=0)
    assert logged == pytest.approx(_per_iter(expected, ipe), rel=1e-6)  # scalars.json, rounded


def test_auto_scaled_lr_scales_peak_only(tmp_path):
    """auto_scale_lr scales the cosine's peak; warmup_lr_init and lr_min stay absolute."""
    lr, ratio = 5e-3, 2.0  # batch 4 against base batch 2
    scheduler = dict(type='TimmCosineLR', t_initial=2, warmup_t=1, cooldown_t=1)
    recorder, _, ipe = _run_toy(
        tmp_path, lr, 4, scheduler, auto_scale_lr=dict(enable=True, base_batch_size=2))
    expected, _ = _timm_lrs(2, lr * ratio, warmup_t=1, cooldown=1)
    assert recorder.optim_lrs == pytest.approx(_per_iter(expected, ipe), rel=1e-12, abs=0)
    epoch_lrs = recorder.optim_lrs[::ipe]
    assert epoch_lrs[0] == WARMUP_LR  # not ratio * 1e-4
    assert epoch_lrs[1] == pytest.approx(MIN_LR + 0.5 * (lr * ratio - MIN_LR), rel=1e-12)
    assert epoch_lrs[2] == MIN_LR  # not ratio * 1e-6


def test_resume_from_state_dict():
    t_initial, lr = RSB['A1']
    expected, _ = _timm_lrs(t_initial, lr)
    opt = _optimizer(lr)
    sched = TimmCosineLR(opt, t_initial=t_initial)
    before = _mm_lrs(opt, sched, 7)  # stop mid-schedule, past the warm-up
    sched_state, opt_state = sched.state_dict(), opt.state_dict()
    after = _mm_lrs(opt, sched, 20)

    opt2 = _optimizer(123.0)  # a fresh run with a different lr: everything must come from the state
    sched2 = TimmCosineLR(opt2, t_initial=t_initial)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    resumed = _mm_lrs(opt2, sched2, 20)
    assert resumed == after
    assert before + after == pytest.approx(expected[:27], rel=1e-12, abs=0)

    # resuming without a state dict: last_step with the optimizer's initial_lr
    opt3 = _optimizer(123.0)
    opt3.load_state_dict(opt_state)
    sched3 = TimmCosineLR(opt3, t_initial=t_initial, last_step=6)
    assert _mm_lrs(opt3, sched3, 20) == pytest.approx(after, rel=1e-12, abs=0)


@pytest.mark.parametrize('name,value', [
    ('t_initial', 0),
    ('warmup_t', -1),
    ('lr_min', -1e-6),
    ('warmup_lr_init', -1e-4),
    ('cooldown_t', -2),
])
def test_invalid_values_raise(name, value):
    kwargs = dict(t_initial=10)
    kwargs[name] = value
    with pytest.raises(ValueError, match=f'{name} must be >= .*got {value}'):
        TimmCosineLR(_optimizer(1e-3), **kwargs)
    if name != 'cooldown_t':
        with pytest.raises(ValueError, match=f'{name} must be >= .*got {value}'):
            timm_cosine_lr(0, 1e-3, **kwargs)


def test_invalid_values_raise_through_registry_and_epoch():
    from mmpretrain.registry import PARAM_SCHEDULERS
    with pytest.raises(ValueError, match='t_initial must be >= 1, got 0'):
        PARAM_SCHEDULERS.build(dict(type='TimmCosineLR', t_initial=0),
                               default_args=dict(optimizer=_optimizer(1e-3)))
    with pytest.raises(ValueError, match='epoch must be >= 0, got -1'):
        timm_cosine_lr(-1, 1e-3, 10)
