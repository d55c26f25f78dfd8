"""Two-process gloo runs of the (reduced) RSB-A1 recipe on CPU, each rank a separate process
started as a cluster launcher (torchrun, srun) starts it (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` / ``MASTER_PORT``; ``tools/train.py --launcher pytorch``), composed as timm's
distributed ``train.py``:

* each rank draws from its own random streams (timm's ``random_seed(seed, rank)``): at every
  step the ranks' Mixup/CutMix lambdas and drop-path masks differ;
* each rank's samples are timm's ``RepeatAugSampler`` order for that rank and epoch;
* at every epoch end the BatchNorm running statistics are the mean over ranks (timm's
  ``--dist-bn reduce``) before the evaluation and in the epoch checkpoint;
* a rank killed with SIGKILL makes the other one exit with an error (no waiting forever), and
  ``--resume auto`` then ends where the uninterrupted 2-process run ends: weights, optimizer,
  schedule and every rank's random states, bit for bit;
* a rank that hangs (SIGSTOP) makes the other one fail once ``env_cfg.dist_cfg.timeout``
  seconds pass in a collective, instead of waiting for it forever (the default is 30 min).
"""
import signal
from collections import Counter

import pytest
import torch
from dist_runs import assert_same_end, join, launch, trace
from timm.data.distributed_sampler import RepeatAugSampler
from tiny_recipe import write_tiny_recipe

WORLD = 2
TIMEOUT_S = 10
# drop_path_rate 0.5 instead of A1's 0.05, so that a mask says something about the stream:
# at 0.05 both ranks keep every sample of a tiny batch in most steps, whatever they draw.
OPTIONS = (f'env_cfg.dist_cfg.timeout={TIMEOUT_S}', 'model.backbone.drop_path_rate=0.5')

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted 2-process run: 8 images, 3 repeats over 2 ranks, batch 2 -> 2 epochs of
    2 iterations. Returns (config, work_dir, log_dir)."""
    root = tmp_path_factory.mktemp('dist_reference')
    config = write_tiny_recipe(root, images_per_class=4)
    work_dir = root / 'work'
    codes = [join(p) for p in launch(config, work_dir, root, 'ref', WORLD, options=OPTIONS)]
    assert codes == [0, 0], [(root / f'ref_rank{r}.log').read_text()[-3000:]
                             for r in range(WORLD)]
    return config, work_dir, root


def _last_records(work_dir, rank):
    """The trace of ``rank``, one record per iteration (the last one run)."""
    return {r['iter']: r for r in trace(work_dir, rank)}


def test_ranks_draw_their_own_random_numbers(reference):
    _, work_dir, _ = reference
    ranks = [_last_records(work_dir, rank) for rank in range(WORLD)]
    assert sorted(ranks[0]) == sorted(ranks[1]) == [1, 2, 3, 4]
    modes = []
    for it in sorted(ranks[0]):
        a, b = ranks[0][it], ranks[1][it]
        # Mixup/CutMix: one lambda per batch and rank, drawn from the rank's numpy stream.
        assert a['mix'] is not None and b['mix'] is not None
        assert a['mix']['lam'] != b['mix']['lam'], it
        if a['mix']['cutmix'] and b['mix']['cutmix']:
            assert a['box'] != b['box'], it
        modes.append((a['mix']['cutmix'], b['mix']['cutmix']))
        # Drop path: 2 samples in each of the 15 blocks after the first (rate 0 there, no
        # DropPath, as in timm), from the rank's torch stream.
        assert len(a['drop_masks']) == len(b['drop_masks']) == 15
        assert a['drop_masks'] != b['drop_masks'], it
    # The ranks switch between Mixup and CutMix independently, not in lockstep.
    assert any(x != y for x, y in modes), modes


def test_each_rank_samples_timm_repeat_aug_order(reference):
    _, work_dir, _ = reference
    per_epoch = []
    for epoch in (1, 2):
        seen_by_rank = []
        for rank in range(WORLD):
            records = _last_records(work_dir, rank)
            seen = [i for it in sorted(records) if records[it]['epoch'] == epoch
                    for i in records[it]['samples']]
            sampler = RepeatAugSampler(list(range(8)), num_replicas=WORLD, rank=rank,
                                       shuffle=True, num_repeats=3)
            sampler.set_epoch(epoch - 1)
            assert seen == list(sampler), (epoch, rank)
            seen_by_rank.append(seen)
        assert seen_by_rank[0] != seen_by_rank[1]
        counts = Counter(i for seen in seen_by_rank for i in seen)
        assert max(counts.values()) <= 3  # no index beyond its repeats
        per_epoch.append(seen_by_rank)
    assert per_epoch[0] != per_epoch[1]


def test_batchnorm_statistics_are_the_mean_over_ranks_at_epoch_end(reference):
    _, work_dir, _ = reference
    for epoch in (1, 2):
        before = [torch.load(work_dir / f'bn_rank{r}_epoch{epoch}_before.pt')
                  for r in range(WORLD)]
        after = [torch.load(work_dir / f'bn_rank{r}_epoch{epoch}_after.pt')
                 for r in range(WORLD)]
        # The epoch's checkpoints: epoch_2.pth (max_keep_ckpts=1 keeps the last) and the best.
        paths = list(work_dir.glob(f'*epoch_{epoch}.pth'))
        assert epoch == 1 or work_dir / 'epoch_2.pth' in paths
        saved = [torch.load(path, map_location='cpu')['state_dict'] for path in paths]
        assert len(before[0]) == 2 * 53  # running mean and var of the 53 BN layers
        differed = 0
        for name, mean_of_ranks in before[0].items():
            # gloo sums the ranks' buffers, MMEngine's all_reduce(op='mean') divides the sum.
            expected = (before[0][name] + before[1][name]) / WORLD
            differed += not torch.equal(before[0][name], before[1][name])
            for r in range(WORLD):
                assert torch.equal(after[r][name], expected), (epoch, name, r)
            # Checkpoints are written after the reduction.
            for state in saved:
                assert torch.equal(state[name], expected), (epoch, name)
        # The ranks' statistics really differed before (each rank updates them with its own
        # batch after DDP broadcast rank 0's at the start of the forward).
        assert differed >= 50, differed


def test_killed_rank_stops_the_other_then_resume_ends_as_the_uninterrupted_run(
        reference, tmp_path):
    config, ref_dir, _ = reference
    work_dir = tmp_path / 'work'

    # Rank 1 is killed during iteration 3 (the first of epoch 2).
    rank0, rank1 = launch(config, work_dir, tmp_path, 'killed', WORLD, fault='iter:3:rank1',
                          options=OPTIONS)
    assert join(rank1) == -signal.SIGKILL
    assert join(rank0) not in (0, None)  # an error exit, not a hang
    log0 = (tmp_path / 'killed_rank0.log').read_text()
    # Rank 0 finished iteration 3 with rank 1, then its next collective failed at once.
    assert 'Epoch(train) [2][1/2]' in log0 and 'Epoch(train) [2][2/2]' not in log0
    assert 'RuntimeError' in log0 and 'by peer' in log0, log0[-2000:]

    # Both ranks resume from the epoch-1 checkpoint and finish.
    codes = [join(p) for p in launch(config, work_dir, tmp_path, 'resumed', WORLD,
                                     options=OPTIONS)]
    assert codes == [0, 0], [(tmp_path / f'resumed_rank{r}.log').read_text()[-3000:]
                             for r in range(WORLD)]
    assert 'Resuming at epoch 2, batch 0/2 (iteration 2)' in (
        tmp_path / 'resumed_rank0.log').read_text()

    # Every rank's iterations, including iteration 3 trained again by rank 1 after the kill,
    # drew the same images, Mixup/CutMix, drop paths, loss and lr as the uninterrupted run.
    for rank in range(WORLD):
        expected = _last_records(ref_dir, rank)
        for record in trace(work_dir, rank):
            assert record == expected[record['iter']], (rank, record['iter'])
    assert [r['iter'] for r in trace(work_dir, 1)] == [1, 2, 3, 3, 4]
    assert_same_end(work_dir / 'epoch_2.pth', ref_dir / 'epoch_2.pth')


def test_hung_rank_makes_the_other_fail_after_the_timeout(reference, tmp_path):
    config, _, _ = reference
    # Rank 1 stops (SIGSTOP: alive, connected, silent) during iteration 3.
    rank0, rank1 = launch(config, tmp_path / 'work', tmp_path, 'hung', WORLD,
                          fault='stop:3:rank1', options=OPTIONS)
    try:
        assert join(rank0) not in (0, None)
        log0 = (tmp_path / 'hung_rank0.log').read_text()
        assert 'Epoch(train) [2][1/2]' in log0 and 'Epoch(train) [2][2/2]' not in log0
        assert 'timed out' in log0.lower() or 'timeout' in log0.lower(), log0[-2000:]
        assert rank1.is_alive()  # still frozen: rank 0 did not wait for it
    finally:
        rank1.kill()
        rank1.join(30)
