"""Two-process gloo runs of the (reduced) RSB-A1 recipe on CPU, each rank a separate process
started as a cluster launcher (torchrun, srun) starts it (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` / ``MASTER_PORT``; ``tools/train.py --launcher pytorch``):

* a rank killed with SIGKILL makes the other one exit with an error (no waiting forever), and
  ``--resume auto`` then completes the run; every rank trained on its own share of the
  repeated-augmentation indices (timm's order; no index more often than its 3 repeats);
* a rank that hangs (SIGSTOP) makes the other one fail once ``env_cfg.dist_cfg.timeout``
  seconds pass in a collective, instead of waiting for it forever (the default is 30 min).
"""
import json
import os.path as osp
import signal
import socket
from collections import Counter

import pytest
import torch
from tiny_recipe import write_tiny_recipe
from train_child import start_train

from rsb_mm.datasets.samplers.repeat_aug_deit import deit_repeat_aug_indices

WORLD = 2
TIMEOUT_S = 10
# Far below the 30 min a rank would otherwise wait: a process still alive after this hangs.
JOIN_S = 240

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _launch(config, work_dir, tmp_path, tag, fault=''):
    port = str(_free_port())
    procs = []
    for rank in range(WORLD):
        env = dict(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                   LOCAL_WORLD_SIZE=str(WORLD), MASTER_ADDR='127.0.0.1', MASTER_PORT=port,
                   RSB_FAULT=fault)
        argv = [config, '--work-dir', str(work_dir), '--launcher', 'pytorch', '--resume',
                'auto', '--cfg-options', f'env_cfg.dist_cfg.timeout={TIMEOUT_S}']
        procs.append(start_train(argv, str(tmp_path / f'{tag}_rank{rank}.log'), env))
    return procs


def _join(proc):
    proc.join(JOIN_S)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f'process {proc.pid} still running after {JOIN_S} s')
    return proc.exitcode


def _trace(work_dir, rank):
    with open(osp.join(work_dir, f'trace_rank{rank}.jsonl')) as f:
        return [json.loads(line) for line in f]


def test_killed_rank_stops_the_other_then_resume_completes(tmp_path):
    # 8 images, 3 repeats over 2 ranks: 4 samples per rank and epoch, 2 iterations of 2.
    config = write_tiny_recipe(tmp_path, images_per_class=4)
    work_dir = tmp_path / 'work'

    # Rank 1 is killed during iteration 3 (the first of epoch 2).
    rank0, rank1 = _launch(config, work_dir, tmp_path, 'killed', fault='iter:3:rank1')
    assert _join(rank1) == -signal.SIGKILL
    assert _join(rank0) not in (0, None)  # an error exit, not a hang
    log0 = (tmp_path / 'killed_rank0.log').read_text()
    # Rank 0 finished iteration 3 with rank 1, then its next collective failed at once.
    assert 'Epoch(train) [2][1/2]' in log0 and 'Epoch(train) [2][2/2]' not in log0
    assert 'RuntimeError' in log0 and 'by peer' in log0, log0[-2000:]

    # Both ranks resume from the epoch-1 checkpoint and finish.
    codes = [_join(p) for p in _launch(config, work_dir, tmp_path, 'resumed')]
    assert codes == [0, 0], [(tmp_path / f'resumed_rank{r}.log').read_text()[-3000:]
                             for r in range(WORLD)]
    assert 'Resuming at epoch 2, batch 0/2 (iteration 2)' in (
        tmp_path / 'resumed_rank0.log').read_text()
    assert osp.isfile(work_dir / 'epoch_2.pth')

    traces = [_trace(work_dir, rank) for rank in range(WORLD)]
    # Rank 1 trained iteration 3 before it was killed and again after the resume: the same
    # images, loss and lr (its own random streams came back from the checkpoint).
    again = [r for r in traces[1] if r['iter'] == 3]
    assert len(again) == 2 and again[0] == again[1]
    for epoch in (1, 2):
        per_rank = []
        for rank, trace in enumerate(traces):
            last = {r['iter']: r for r in trace if r['epoch'] == epoch}
            seen = [i for it in sorted(last) for i in last[it]['samples']]
            # timm's repeated-augmentation order for this rank (seed 0: timm seeds with the
            # epoch), 4 samples each
            assert seen == deit_repeat_aug_indices(8, epoch - 1, rank, WORLD, 4, seed=0)
            per_rank.append(seen)
        assert per_rank[0] != per_rank[1]
        counts = Counter(i for seen in per_rank for i in seen)
        assert max(counts.values()) <= 3  # no index beyond its repeats


def test_hung_rank_makes_the_other_fail_after_the_timeout(tmp_path):
    config = write_tiny_recipe(tmp_path, images_per_class=4)
    # Rank 1 stops (SIGSTOP: alive, connected, silent) during iteration 3.
    rank0, rank1 = _launch(config, tmp_path / 'work', tmp_path, 'hung', fault='stop:3:rank1')
    try:
        assert _join(rank0) not in (0, None)
        log0 = (tmp_path / 'hung_rank0.log').read_text()
        assert 'Epoch(train) [2][1/2]' in log0 and 'Epoch(train) [2][2/2]' not in log0
        assert 'timed out' in log0.lower() or 'timeout' in log0.lower(), log0[-2000:]
        assert rank1.is_alive()  # still frozen: rank 0 did not wait for it
    finally:
        rank1.kill()
        rank1.join(30)
