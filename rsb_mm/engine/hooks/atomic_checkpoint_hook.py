"""MMEngine's CheckpointHook, made safe to kill at any moment, with iteration checkpoints.

What MMEngine 0.10.7's ``CheckpointHook`` (``mmengine/hooks/checkpoint_hook.py``) and
``Runner.save_checkpoint`` do, and what this subclass changes:

* They write ``epoch_N.pth`` in place (``torch.save`` to memory, then one ``open(path, 'wb')``):
  a kill or a full disk mid-write leaves a truncated file under the final name. Here every
  checkpoint (periodic, last, best) is written to ``<name>.tmp`` in the same folder, flushed to
  disk and renamed over the final name (``os.replace``, atomic on POSIX). ``last_checkpoint``,
  the pointer ``--resume auto`` reads, is replaced the same way and only after the checkpoint is
  complete, so it always names a complete file. Leftover ``.tmp`` files of a killed run are
  removed when training starts. A failed write (e.g. no space left) stops the run with the path
  and the previous checkpoint, which is intact. Remote ``out_dir`` backends keep MMEngine's
  direct write.
* With ``max_keep_ckpts``, MMEngine deletes the oldest checkpoint *before* writing the new one:
  with ``max_keep_ckpts=1`` a kill during the write leaves no checkpoint at all. Here old
  checkpoints are deleted only after the new one is complete.
* With ``by_epoch=True`` it saves only at epoch ends, and ``EpochBasedTrainLoop`` resumes only
  there. ``iter_interval=N`` also saves ``iter_<I>.pth`` every N iterations inside epochs
  (keeping the latest ``max_keep_iter_ckpts``); with ``ResumableEpochBasedTrainLoop`` a run
  resumes from it at the exact batch, so a crash costs at most N iterations.
* Every checkpoint also records every rank's Python / numpy / torch (/ CUDA) random generator
  states (message-hub runtime info ``rng_states``, gathered from all ranks), which
  ``ResumableEpochBasedTrainLoop`` restores. A checkpoint written during evaluation (the best
  one, and the epoch one written again with it) records the state from before the evaluation,
  which is where the loop puts the generators back after it.
* Before a run loads a checkpoint (``--resume``, ``load_from``, ``tools/test.py``), the file is
  checked without unpickling it (:func:`rsb_mm.weights.safe_load.check_checkpoint`): globals
  beyond the ``weights_only`` allow-list, a truncated file, or a ``last_checkpoint`` naming a
  missing file each stop the run with one message naming the file.

Everything else (``interval``, ``save_best``, ``max_keep_ckpts``, ``save_last``, file names,
published keys) is MMEngine's.
"""
import functools
import os
import os.path as osp
from collections import deque
from typing import List, Optional

from mmengine.dist import all_gather_object, get_dist_info, is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS

from rsb_mm.weights.safe_load import check_checkpoint
from ..runners.resumable_loop import RNG_STATES_KEY
from ..runners.rng_state import capture_rng_state

__all__ = ['AtomicCheckpointHook', 'TMP_SUFFIX']

TMP_SUFFIX = '.tmp'
_POINTER = 'last_checkpoint'
_KEEP_ITER_IDS = 'keep_iter_ckpt_ids'


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems (and every directory on some) refuse fsync
        pass
    finally:
        os.close(fd)


def _replace_durably(src: str, dst: str) -> None:
    """Flush ``src`` to disk, rename it to ``dst`` and flush the folder entry."""
    _fsync_path(src)
    os.replace(src, dst)
    _fsync_path(osp.dirname(osp.abspath(dst)))


def _checkpoint_to_load(runner) -> Optional[str]:
    """The local checkpoint ``Runner.load_or_resume`` is about to read, if any."""
    # Runner keeps these private; they are what load_or_resume decides from.
    resume, load_from = getattr(runner, '_resume', False), getattr(runner, '_load_from', None)
    if resume and load_from is None:
        pointer = osp.join(runner.work_dir, _POINTER)
        if not osp.isfile(pointer):
            return None  # MMEngine starts from scratch and says so
        with open(pointer) as f:
            path = f.read().strip()
        if not path:
            raise FileNotFoundError(f'--resume auto: {pointer} is empty; pass the checkpoint to '
                                    'resume from with --resume PATH')
        if not osp.exists(path):
            raise FileNotFoundError(
                f'--resume auto: {pointer} names {path}, which does not exist (moved or '
                'deleted?); pass the checkpoint to resume from with --resume PATH')
        return path
    return load_from


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic writes, iteration checkpoints and RNG states.

    Takes every argument of MMEngine's ``CheckpointHook`` (``interval``, ``by_epoch``,
    ``max_keep_ckpts``, ``save_best``, ...) and these:

    Args:
        iter_interval (int): With ``by_epoch=True``, also save ``iter_<I>.pth`` every this many
            iterations inside epochs (not where an epoch checkpoint is written anyway); -1
            never. Defaults to -1.
        max_keep_iter_ckpts (int): Iteration checkpoints to keep; older ones are deleted once a
            newer one is complete. Defaults to 1.
        *args, **kwargs: ``CheckpointHook``'s arguments.
    """

    def __init__(self, *args, iter_interval: int = -1, max_keep_iter_ckpts: int = 1,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if (isinstance(iter_interval, bool) or not isinstance(iter_interval, int)
                or not (iter_interval == -1 or iter_interval >= 1)):
            raise ValueError(f'iter_interval must be an int >= 1 or -1 (never), got '
                             f'{iter_interval!r}')
        if iter_interval > 0 and not self.by_epoch:
            raise ValueError('iter_interval adds iteration checkpoints to by_epoch=True; with '
                             'by_epoch=False, interval already counts iterations')
        if (isinstance(max_keep_iter_ckpts, bool) or not isinstance(max_keep_iter_ckpts, int)
                or max_keep_iter_ckpts < 1):
            raise ValueError(f'max_keep_iter_ckpts must be an int >= 1, got '
                             f'{max_keep_iter_ckpts!r}')
        self.iter_interval = iter_interval
        self.max_keep_iter_ckpts = max_keep_iter_ckpts
        self.iter_filename_tmpl = 'iter_{}.pth'
        self.keep_iter_ckpt_ids: deque = deque()
        self._rng_before_val: Optional[dict] = None

    # ---- loading ----------------------------------------------------------------------------
    def before_run(self, runner) -> None:
        """Check the checkpoint the run will resume from or load, before it is unpickled."""
        path = _checkpoint_to_load(runner)
        if path is not None and osp.isfile(path):
            check_checkpoint(path)

    # ---- saving -----------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        """Set up the output folder (MMEngine), then restore the iteration-checkpoint list and
        remove the unfinished files a killed run left."""
        super().before_train(runner)
        self.keep_iter_ckpt_ids = deque(runner.message_hub.get_info(_KEEP_ITER_IDS, []))
        if not is_main_process() or not isinstance(self.file_backend, LocalBackend):
            return
        for folder in {self.out_dir, runner.work_dir}:
            if not osp.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if name.endswith('.pth' + TMP_SUFFIX) or name == _POINTER + TMP_SUFFIX:
                    os.remove(osp.join(folder, name))
                    runner.logger.warning(
                        f'Removed {osp.join(folder, name)}: an unfinished checkpoint of a run '
                        'stopped while writing it (the previous checkpoint is complete)')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """MMEngine's iteration saving, plus ``iter_interval`` checkpoints inside epochs."""
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if (self.by_epoch and self.iter_interval > 0
                and self.every_n_train_iters(runner, self.iter_interval)
                and not self._epoch_checkpoint_follows(runner, batch_idx)):
            runner.logger.info(f'Saving checkpoint at {runner.iter + 1} iterations')
            self._write(runner, self.iter_filename_tmpl, runner.iter + 1,
                        dict(epoch=runner.epoch, iter=runner.iter + 1), self.keep_iter_ckpt_ids,
                        _KEEP_ITER_IDS, self.max_keep_iter_ckpts, by_epoch=False)

    def before_val(self, runner) -> None:
        """Remember the training's random state: checkpoints written during evaluation record
        it (the train loop puts the generators back there after evaluating)."""
        self._rng_before_val = capture_rng_state()

    def after_val(self, runner) -> None:
        """Forget the state remembered in :meth:`before_val`."""
        self._rng_before_val = None

    def after_val_epoch(self, runner, metrics) -> None:
        """MMEngine's best-checkpoint logic, with atomic writes."""
        # MMEngine writes the best checkpoint by calling runner.save_checkpoint itself; route
        # that call (on this runner, for this call only) through the atomic writer.
        runner.save_checkpoint = functools.partial(self._save_atomically, runner)
        try:
            super().after_val_epoch(runner, metrics)
        finally:
            del runner.save_checkpoint

    def _epoch_checkpoint_follows(self, runner, batch_idx: int) -> bool:
        return self.end_of_epoch(runner.train_dataloader, batch_idx) and (
            self.every_n_epochs(runner, self.interval, self.save_begin)
            or (self.save_last and self.is_last_train_epoch(runner)))

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # Every periodic / last checkpoint of MMEngine's hook comes through here.
        ids = self.keep_ckpt_ids if self.max_keep_ckpts > 0 else None
        self._write(runner, self.filename_tmpl, step, meta, ids, 'keep_ckpt_ids',
                    self.max_keep_ckpts, by_epoch=self.by_epoch)

    def _write(self, runner, filename_tmpl: str, step: int, meta: dict, ids: Optional[deque],
               ids_key: str, max_keep: int, by_epoch: bool) -> None:
        """Save one checkpoint atomically, update the pointer, then delete the oldest ones."""
        evicted: List[int] = []
        if ids is not None and max_keep > 0 and not (ids and ids[-1] == step):
            while len(ids) >= max_keep:
                evicted.append(ids.popleft())
            ids.append(step)
            runner.message_hub.update_info(ids_key, list(ids))
        filename = filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.message_hub.update_info(RNG_STATES_KEY, self._gather_rng_states())

        self._save_atomically(
            runner,
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        pointer = osp.join(runner.work_dir, _POINTER)
        with open(pointer + TMP_SUFFIX, 'w') as f:
            f.write(self.last_ckpt)
        _replace_durably(pointer + TMP_SUFFIX, pointer)
        for old in evicted:
            path = self.file_backend.join_path(self.out_dir, filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)

    def _gather_rng_states(self) -> List[dict]:
        state = self._rng_before_val or capture_rng_state()
        _, world_size = get_dist_info()
        return all_gather_object(state) if world_size > 1 else [state]

    def _save_atomically(self, runner, out_dir: str, filename: str, *args, **kwargs) -> None:
        """``Runner.save_checkpoint`` (same arguments) through a temporary file and a rename."""
        save = type(runner).save_checkpoint  # the class's, not a per-call override
        if not isinstance(self.file_backend, LocalBackend):
            save(runner, out_dir, filename, *args, **kwargs)
            return
        final = osp.join(out_dir, filename)
        tmp = final + TMP_SUFFIX
        try:
            save(runner, out_dir, filename + TMP_SUFFIX, *args, **kwargs)
            if is_main_process():
                _replace_durably(tmp, final)
        except OSError as err:
            if is_main_process() and osp.exists(tmp):
                os.remove(tmp)
            pointer = osp.join(runner.work_dir, _POINTER)
            previous = 'none yet'
            if osp.isfile(pointer):
                with open(pointer) as f:
                    previous = f.read().strip()
            raise OSError(
                err.errno, f'could not write the checkpoint {final} ({err.strerror or err}); '
                f'the last complete checkpoint ({previous}) is intact: free space or fix '
                f'{out_dir}, then resume with --resume auto') from err
