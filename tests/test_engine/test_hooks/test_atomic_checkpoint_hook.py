"""AtomicCheckpointHook: a write that fails for real (the file-size limit of the process, as a
full disk) leaves the previous checkpoint and pointer intact; kept checkpoints are bounded;
unfinished files of a killed run are removed; a checkpoint holding anything beyond the
allow-list is refused, before it is unpickled, with its name and what it holds."""
import errno
import os
import resource
import signal

import pytest
import torch
from mmengine.hooks import Hook
from toy_training import ToyModel, build_runner

import rsb_mm  # noqa: F401
from rsb_mm.engine.hooks import AtomicCheckpointHook
from rsb_mm.weights.safe_load import UnsafeCheckpointError

LIMIT = 2 * 1024 * 1024


class _BigToyModel(ToyModel):
    """The toy model with 4 MB of buffers: its checkpoint exceeds LIMIT, the logs do not."""

    def __init__(self):
        super().__init__()
        self.register_buffer('big', torch.zeros(1024 * 1024))


class _FileSizeLimitAtEpoch(Hook):
    """From the end of epoch ``epoch`` (1-based), files of this process stop at LIMIT bytes."""

    priority = 'NORMAL'  # before the checkpoint hook (VERY_LOW)

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    runner = build_runner(tmp_path, val=False, custom_hooks=[_FileSizeLimitAtEpoch(2)],
                          checkpoint=dict(type='AtomicCheckpointHook', interval=1),
                          model=_BigToyModel())
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    # Without a handler, exceeding the limit kills the process (SIGXFSZ); ignored, the write
    # fails with EFBIG, as a full disk fails with ENOSPC.
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with pytest.raises(OSError) as err:
            runner.train()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    assert err.value.errno == errno.EFBIG
    message = str(err.value)
    assert f'could not write the checkpoint {tmp_path / "epoch_2.pth"}' in message
    assert f'the last complete checkpoint ({tmp_path / "epoch_1.pth"}) is intact' in message
    assert 'resume with --resume auto' in message
    assert sorted(p.name for p in tmp_path.glob('*.pth*')) == ['epoch_1.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    assert torch.load(tmp_path / 'epoch_1.pth')['meta']['epoch'] == 1


def test_kept_checkpoints_are_bounded_and_leftovers_removed(tmp_path):
    (tmp_path / 'epoch_7.pth.tmp').write_bytes(b'half a checkpoint')
    (tmp_path / 'last_checkpoint.tmp').write_text('x')
    runner = build_runner(tmp_path, max_epochs=3, val=False, checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2, iter_interval=1,
        max_keep_iter_ckpts=1))
    runner.train()
    # 3 epochs x 3 iterations: iteration checkpoints inside epochs (1, 2, 4, 5, 7, 8), the
    # latest one kept; the last 2 epoch checkpoints.
    assert sorted(p.name for p in tmp_path.glob('*.pth*')) == [
        'epoch_2.pth', 'epoch_3.pth', 'iter_8.pth']
    assert not (tmp_path / 'last_checkpoint.tmp').exists()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_3.pth')
    log = open(os.path.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert f'Removed {tmp_path / "epoch_7.pth.tmp"}: an unfinished checkpoint' in log
    # every checkpoint records this process's random generators
    states = torch.load(tmp_path / 'iter_8.pth')['message_hub']['runtime_info']['rng_states']
    assert len(states) == 1 and {'python', 'numpy', 'torch'} <= set(states[0])


class _Exploit:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_unsafe_checkpoint_is_refused_before_loading(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _Exploit(str(marker))}, evil)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(evil))
    checkpoint = dict(type='AtomicCheckpointHook', interval=1)
    # --resume auto
    runner = build_runner(work_dir, checkpoint=checkpoint)
    runner._resume = True
    with pytest.raises(UnsafeCheckpointError, match=f'{evil} holds io.open, which rsb_mm '
                       'does not unpickle'):
        runner.train()
    # load_from
    runner = build_runner(tmp_path / 'other', checkpoint=checkpoint)
    runner._load_from = str(evil)
    with pytest.raises(UnsafeCheckpointError, match='io.open'):
        runner.train()
    assert not marker.exists()


def test_pointer_to_a_missing_checkpoint_is_named(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    runner = build_runner(tmp_path, checkpoint=dict(type='AtomicCheckpointHook', interval=1))
    runner._resume = True
    with pytest.raises(FileNotFoundError, match=r'last_checkpoint names .*gone.pth, which does '
                       'not exist'):
        runner.train()


@pytest.mark.parametrize('kwargs,message', [
    (dict(iter_interval=0), 'iter_interval must be an int >= 1 or -1'),
    (dict(iter_interval=2, by_epoch=False), 'with by_epoch=False, interval already counts'),
    (dict(iter_interval=2, max_keep_iter_ckpts=0), 'max_keep_iter_ckpts must be an int >= 1'),
])
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AtomicCheckpointHook(interval=1, **kwargs)
