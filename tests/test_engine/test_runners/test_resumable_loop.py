"""ResumableEpochBasedTrainLoop: a run resumed from a mid-epoch or epoch-end checkpoint ends with
the weights of the uninterrupted run (MMEngine's EpochBasedTrainLoop does not), without loading
the skipped samples; evaluation does not change training; a changed set-up is said."""
import os.path as osp

import pytest
import torch
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader
from toy_training import ToyDataset, build_runner, same, weights

import rsb_mm  # noqa: F401
from rsb_mm.engine.runners import ResumableEpochBasedTrainLoop
from rsb_mm.engine.runners.resumable_loop import _skipping_first_batches

CHECKPOINT = dict(type='AtomicCheckpointHook', interval=1, iter_interval=1,
                  max_keep_iter_ckpts=10)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted run (2 epochs x 3 iterations) that kept every checkpoint."""
    work_dir = tmp_path_factory.mktemp('reference')
    runner = build_runner(work_dir, checkpoint=CHECKPOINT)
    runner.train()
    return work_dir, weights(runner)


def test_skipping_first_batches_loads_only_the_rest():
    dataset = ToyDataset(10)
    sampler = DefaultSampler(dataset, shuffle=True, seed=3)
    loader = DataLoader(dataset, batch_size=3, sampler=sampler, collate_fn=lambda b: b)
    sampler.set_epoch(2)
    full = [[s['index'] for s in batch] for batch in loader]
    original = loader.batch_sampler
    dataset.loaded.clear()
    with _skipping_first_batches(loader, 2):
        batches = iter(loader)
        assert len(loader) == len(full)  # hooks still see the epoch's length
    rest = [[s['index'] for s in batch] for batch in batches]
    assert rest == full[2:]
    assert dataset.loaded == [i for batch in full[2:] for i in batch]  # nothing else read
    assert loader.batch_sampler is original


def test_skipping_first_batches_with_persistent_workers():
    # The workers' iterator is created once and reset every epoch from the batch sampler it
    # read first: only the resumed epoch may skip.
    dataset = ToyDataset(10)
    sampler = DefaultSampler(dataset, shuffle=True, seed=3)
    loader = DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=1,
                        persistent_workers=True, collate_fn=lambda b: [s['index'] for s in b])
    expected = {}
    for epoch in (1, 2):
        sampler.set_epoch(epoch)
        expected[epoch] = list(DataLoader(dataset, batch_size=3, sampler=sampler,
                                          collate_fn=lambda b: [s['index'] for s in b]))
    sampler.set_epoch(1)
    with _skipping_first_batches(loader, 3):
        batches = iter(loader)
    assert list(batches) == expected[1][3:]
    sampler.set_epoch(2)
    assert list(iter(loader)) == expected[2]


@pytest.mark.parametrize('checkpoint,position', [
    ('iter_1.pth', 'epoch 1, batch 1/3 (iteration 1)'),
    ('iter_4.pth', 'epoch 2, batch 1/3 (iteration 4)'),
    ('epoch_1.pth', 'epoch 2, batch 0/3 (iteration 3)'),
])
def test_resume_gives_the_uninterrupted_weights(reference, tmp_path, checkpoint, position):
    ref_dir, expected = reference
    runner = build_runner(tmp_path, resume_from=osp.join(ref_dir, checkpoint),
                          checkpoint=CHECKPOINT)
    runner.train()
    assert same(weights(runner), expected)
    assert (runner.epoch, runner.iter) == (2, 6)
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert f'Resuming at {position}' in log and 'random generator states restored' in log


def test_mmengine_loop_does_not(reference, tmp_path):
    # The same resume with MMEngine's loop trains the epoch's first batch twice: other weights.
    ref_dir, expected = reference
    runner = build_runner(tmp_path, resume_from=osp.join(ref_dir, 'iter_4.pth'), loop=None,
                          checkpoint=CHECKPOINT)
    runner.train()
    assert not same(weights(runner), expected)


def test_evaluation_does_not_change_training(reference, tmp_path):
    _, expected = reference  # evaluated after every epoch
    runner = build_runner(tmp_path, val=False, checkpoint=CHECKPOINT)
    runner.train()
    assert same(weights(runner), expected)
    # With MMEngine's loop, the evaluation's DataLoader shifts torch's random stream.
    runner = build_runner(tmp_path / 'mmengine', val=True, loop=None, checkpoint=CHECKPOINT)
    runner.train()
    assert not same(weights(runner), expected)


def test_interrupted_evaluation_runs_again(reference, tmp_path):
    ref_dir, _ = reference
    # epoch_1.pth was written before epoch 1's evaluation: a run stopped during it resumes
    # there and evaluates epoch 1 first.
    runner = build_runner(tmp_path, resume_from=osp.join(ref_dir, 'epoch_1.pth'),
                          checkpoint=CHECKPOINT)
    runner.train()
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'Evaluating epoch 1 again' in log
    assert log.index('Epoch(val) [1]') < log.index('Epoch(train) [2][1/3]')


def test_checkpoint_without_rng_states_or_with_another_epoch_length(tmp_path):
    work_dir = tmp_path / 'plain'
    build_runner(work_dir, max_epochs=1, checkpoint=dict(type='CheckpointHook', interval=1,
                                                         by_epoch=False)).train()
    # MMEngine's CheckpointHook saves no random states: the position is still restored.
    runner = build_runner(tmp_path / 'a', resume_from=str(work_dir / 'iter_2.pth'))
    runner.train()
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'holds no random generator states' in log
    assert 'Resuming at epoch 1, batch 2/3 (iteration 2)' in log
    # A batch size change moves iteration 2 out of epoch 1 (1 batch of 6 per epoch).
    runner = build_runner(tmp_path / 'b', resume_from=str(work_dir / 'iter_2.pth'),
                          batch_size=6)
    runner.train()
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'at iteration 2, which is not in epoch 1 with 1 iterations per epoch' in log


def test_sampler_follows_the_checkpoint_seed(tmp_path):
    # randomness.seed=None: each process draws its own seed, and MMEngine's DefaultSampler is
    # built with it before Runner.resume switches the run to the checkpoint's seed.
    first = build_runner(tmp_path / 'first', seed=None, checkpoint=CHECKPOINT)
    first.train()
    torch.manual_seed(12345)  # a different draw for the next run's seed
    runner = build_runner(tmp_path / 'second', seed=None, checkpoint=CHECKPOINT,
                          resume_from=str(tmp_path / 'first' / 'iter_4.pth'))
    assert runner.seed != first.seed
    runner.train()
    assert isinstance(runner.train_loop, ResumableEpochBasedTrainLoop)
    assert runner.seed == first.seed == runner.train_dataloader.sampler.seed
    assert same(weights(runner), weights(first))
