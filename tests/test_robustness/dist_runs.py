"""Shared by the distributed fault tests: start a run's ranks as a launcher would, wait for
them, read their traces and compare checkpoints bit for bit."""
import json
import os.path as osp

import pytest
import torch
from train_child import start_train

from rsb_mm.utils import free_port

# Far below the 30 min a rank would otherwise wait: a process still alive after this hangs.
JOIN_S = 240



def launch(config, work_dir, log_dir, tag, world=2, fault='', options=()):
    """Start ``world`` ranks of ``tools/train.py config --resume auto`` (torchrun's variables,
    ``--launcher pytorch``); their logs go to ``log_dir/<tag>_rank<r>.log``."""
    port = str(free_port())
    procs = []
    for rank in range(world):
        env = dict(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                   LOCAL_WORLD_SIZE=str(world), MASTER_ADDR='127.0.0.1', MASTER_PORT=port,
                   RSB_FAULT=fault)
        argv = [config, '--work-dir', str(work_dir), '--launcher', 'pytorch', '--resume',
                'auto', '--cfg-options', *options]
        procs.append(start_train(argv, str(osp.join(log_dir, f'{tag}_rank{rank}.log')), env))
    return procs


def join(proc):
    """The process's exit code; fails the test if it is still running after ``JOIN_S``."""
    proc.join(JOIN_S)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f'process {proc.pid} still running after {JOIN_S} s')
    return proc.exitcode


def trace(work_dir, rank=0):
    """The records ``RobustnessTestFaultHook`` wrote for ``rank``, one per iteration run."""
    with open(osp.join(str(work_dir), f'trace_rank{rank}.jsonl')) as f:
        return [json.loads(line) for line in f]


def load(path):
    return torch.load(str(path), map_location='cpu')  # weights_only=True, rsb_mm's allow-list


def assert_same_tensors(a, b, what):
    """``a`` and ``b`` (nested dicts / lists of tensors and plain values) are bitwise equal."""
    if isinstance(a, torch.Tensor):
        same = isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        assert same, f'{what} differs'
    elif isinstance(a, dict):
        assert set(a) == set(b), what
        for key in a:
            assert_same_tensors(a[key], b[key], f'{what}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f'{what}[{i}]')
    else:
        assert a == b, what


def assert_same_end(run_ckpt, ref_ckpt):
    """Two final checkpoints hold the same weights, optimizer, schedule and random states."""
    final, expected = load(run_ckpt), load(ref_ckpt)
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same_tensors(final[key], expected[key], key)
    assert (final['meta']['epoch'], final['meta']['iter']) == (
        expected['meta']['epoch'], expected['meta']['iter'])
    rng = final['message_hub']['runtime_info']['rng_states']
    assert_same_tensors(rng, expected['message_hub']['runtime_info']['rng_states'], 'rng')
