"""NonFiniteLossHook: a sample whose loss is NaN stops the run before its step, naming the
iteration and the last checkpoint, which is the last good one; with action='skip' the bad steps
are dropped (weights and BatchNorm statistics untouched), counted per epoch, and training goes
on."""
import math
import os.path as osp

import pytest
import torch
from mmengine.dataset import DefaultSampler
from toy_training import ToyDataset, build_runner

import rsb_mm  # noqa: F401
from rsb_mm.engine.hooks import NonFiniteLossHook

CHECKPOINT = dict(type='AtomicCheckpointHook', interval=1, iter_interval=1,
                  max_keep_iter_ckpts=10)


def _dataset_with_nan_in_iteration(iteration):
    """A ToyDataset whose NaN sample falls in ``iteration`` of epoch 1 (batch size 2)."""
    sampler = DefaultSampler(ToyDataset(6), shuffle=True, seed=0)
    sampler.set_epoch(0)
    return ToyDataset(6, nan_at=list(sampler)[2 * (iteration - 1)])


def _finite(tensors):
    return all(torch.isfinite(v.float()).all() for v in tensors)


def test_nan_loss_stops_before_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    runner = build_runner(tmp_path, dataset=_dataset_with_nan_in_iteration(3),
                          checkpoint=CHECKPOINT, custom_hooks=[NonFiniteLossHook()])
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    assert str(err.value).startswith(
        f'loss is nan at iteration 3 (epoch 1, batch 3/3); training stopped before this step '
        f'was applied. Last checkpoint: {tmp_path / "iter_2.pth"}. Resume from it')
    # nothing of the bad step reached the weights or a checkpoint (its forward pass did update
    # the BatchNorm statistics in memory, which the stopped run never saves)
    assert _finite(runner.model.parameters())
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth', 'iter_2.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert _finite(torch.load(tmp_path / 'iter_2.pth')['state_dict'].values())


def test_skip_drops_bad_steps_counts_them_and_goes_on(tmp_path):
    hook = NonFiniteLossHook(action='skip')
    runner = build_runner(tmp_path, dataset=_dataset_with_nan_in_iteration(2),
                          checkpoint=CHECKPOINT, custom_hooks=[hook])
    runner.train()
    assert (runner.epoch, runner.iter) == (2, 6)
    # weights and BatchNorm statistics (put back after each NaN forward pass) are finite
    assert _finite(runner.model.state_dict().values())
    # the NaN sample is in one batch per epoch: 2 of 6 steps skipped, 4 applied
    assert hook.skipped == 2
    assert runner.model.bn.num_batches_tracked.item() == 4
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'loss is nan at iteration 2 (epoch 1, batch 2/3); step skipped (1 in the run)' in log
    assert '1 step(s) with a NaN/Inf loss skipped in epoch 1 (1 in the run)' in log
    assert '1 step(s) with a NaN/Inf loss skipped in epoch 2 (2 in the run)' in log
    assert runner.message_hub.get_info('nonfinite_loss_skipped_steps') == 2


def test_skip_stops_a_diverged_run(tmp_path):
    class _AllNaN(ToyDataset):

        def __getitem__(self, idx):
            sample = super().__getitem__(idx)
            sample['inputs'] = torch.full_like(sample['inputs'], math.inf)
            return sample

    runner = build_runner(tmp_path, dataset=_AllNaN(6), checkpoint=CHECKPOINT,
                          custom_hooks=[NonFiniteLossHook(action='skip',
                                                          max_consecutive_skips=2)])
    with pytest.raises(FloatingPointError, match=r'at iteration 3 \(epoch 1, batch 3/3\) '
                       'after 2 skipped steps in a row'):
        runner.train()


@pytest.mark.parametrize('kwargs,message', [
    (dict(action='ignore'), "action must be one of \\('stop', 'skip'\\), got 'ignore'"),
    (dict(max_consecutive_skips=0), 'max_consecutive_skips must be an int >= 1, got 0'),
])
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NonFiniteLossHook(**kwargs)
