"""A training run of the (reduced) RSB-A1 recipe killed with SIGKILL during an iteration, during
its evaluation and halfway through writing a checkpoint, each time resumed with
``tools/train.py ... --resume auto``, ends with the same weights, optimizer, LR schedule,
counters and random states as an uninterrupted run, bit for bit (CPU, one thread,
``randomness=dict(seed=0, deterministic=True)``, ``num_workers=0``), and every iteration trained
on the same images with the same loss and lr."""
import os.path as osp
import signal

import pytest
from dist_runs import assert_same_end, load, trace
from tiny_recipe import write_tiny_recipe
from train_child import start_train

KILLED = -signal.SIGKILL


def _train(config, work_dir, log, fault=''):
    proc = start_train([config, '--work-dir', str(work_dir), '--resume', 'auto'], str(log),
                       env=dict(RSB_FAULT=fault))
    proc.join(600)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f'training did not finish in 10 minutes; log: {log}')
    return proc.exitcode


def _pointer(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


def test_killed_three_times_resumes_to_the_uninterrupted_weights(tmp_path):
    config = write_tiny_recipe(tmp_path)
    ref, run = tmp_path / 'ref', tmp_path / 'run'
    logs = [tmp_path / f'run{i}.log' for i in range(4)]

    assert _train(config, ref, tmp_path / 'ref.log') == 0

    # 1. Killed during iteration 3, after its optimizer step and before anything saved it:
    #    the checkpoint of iteration 2 is the last one.
    assert _train(config, run, logs[0], fault='iter:3') == KILLED
    assert _pointer(run) == 'iter_2.pth'

    # 2. Resumed mid-epoch (batch 2 of 3 of epoch 1); killed while evaluating epoch 1, whose
    #    checkpoint was written before the evaluation.
    assert _train(config, run, logs[1], fault='val:1') == KILLED
    text = logs[1].read_text()
    assert 'Resuming at epoch 1, batch 2/3 (iteration 2)' in text
    assert 'random generator states restored' in text
    assert 'Epoch(train) [1][3/3]' in text and 'Epoch(train) [1][1/3]' not in text
    assert _pointer(run) == 'epoch_1.pth'

    # 3. Resumed at the epoch boundary: the interrupted evaluation runs again; iteration 4 is
    #    saved; killed halfway through writing epoch_2.pth.
    assert _train(config, run, logs[2], fault='save:epoch_2.pth') == KILLED
    text = logs[2].read_text()
    assert 'Evaluating epoch 1 again' in text and 'Epoch(val) [1][3/3]' in text
    partial = run / 'epoch_2.pth.tmp'
    assert partial.is_file() and not (run / 'epoch_2.pth').exists()
    with pytest.raises(RuntimeError, match='not a complete checkpoint'):
        from rsb_mm.weights.safe_load import check_checkpoint
        check_checkpoint(partial)
    # The pointer names the last complete checkpoint, and the epoch checkpoint before it is
    # still there although max_keep_ckpts=1 (MMEngine deletes the old one before writing).
    assert _pointer(run) == 'iter_4.pth'
    assert (run / 'epoch_1.pth').is_file()
    load(run / 'iter_4.pth')

    # 4. Resumed from iteration 4 (batch 1 of epoch 2); the partial file is removed; finishes.
    assert _train(config, run, logs[3]) == 0
    text = logs[3].read_text()
    assert 'Resuming at epoch 2, batch 1/3 (iteration 4)' in text
    assert 'Removed' in text and 'epoch_2.pth.tmp' in text

    # Kept checkpoints are bounded by the config, and the same as the uninterrupted run's.
    kept = sorted(p.name for p in run.glob('*.pth*'))
    assert kept == sorted(p.name for p in ref.glob('*.pth*'))
    assert kept == ['best_accuracy_top1_epoch_1.pth', 'epoch_2.pth', 'iter_4.pth']

    # Bitwise: weights, optimizer (LAMB moments, step counts), LR schedule, counters, and the
    # random generators where the run ended.
    assert_same_end(run / 'epoch_2.pth', ref / 'epoch_2.pth')
    assert load(ref / 'epoch_2.pth')['meta']['iter'] == 6

    # Every iteration, including the ones trained again after a kill, used the same images
    # (sampler epoch and position), loss (augmentations, Mixup, drop path) and lr.
    reference = {r['iter']: r for r in trace(ref)}
    assert sorted(reference) == [1, 2, 3, 4, 5, 6]
    records = trace(run)
    assert sorted({r['iter'] for r in records}) == [1, 2, 3, 4, 5, 6]
    assert [r['iter'] for r in records] == [1, 2, 3, 3, 4, 5, 6, 5, 6]
    for record in records:
        assert record == reference[record['iter']]
