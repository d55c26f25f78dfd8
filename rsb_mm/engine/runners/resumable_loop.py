"""An epoch-based train loop that resumes at the exact iteration where the run was stopped.

MMEngine 0.10.7's ``EpochBasedTrainLoop`` (``mmengine/runner/loops.py``) restores the epoch and
iteration counters on resume but restarts the epoch's data from its first batch, so a run
resumed from a mid-epoch checkpoint trains on those batches twice and shifts every later one.
RSB's A1 run is 600 epochs of ~625 iterations; a node lost mid-epoch should cost only the
iterations after the last checkpoint. This loop, used with :class:`AtomicCheckpointHook`
(checkpoints every N iterations plus at every epoch end, each holding every rank's random
generator states), makes a resumed run continue as if it had never stopped:

* **Data position.** The batches of the current epoch already consumed (``iter - epoch x
  iterations per epoch``) are skipped at the sampler: the epoch's index list is regenerated
  (the samplers are deterministic given ``set_epoch``) and its first batches are dropped
  without loading an image. Batch indices seen by hooks and the log continue from there.
* **Random streams.** The checkpoint's Python / numpy / torch (/ CUDA) generator states of this
  rank are restored right where the interrupted run saved them: before the epoch's DataLoader
  iterator is created (it draws its base seed from torch's generator) for an epoch-end
  checkpoint, after it for a mid-epoch one.
* **Validation.** Evaluation does not consume the training's random numbers (the generators
  are put back after it), so a run validated every epoch, every other epoch or never trains the
  same weights. An evaluation interrupted by the stop (the epoch checkpoint is written before
  evaluating) is run again on resume.

The iteration counter, LR schedule, optimizer and message hub come back through MMEngine's
``Runner.resume`` as before. With ``num_workers=0`` the resumed run is bitwise identical to an
uninterrupted one on CPU with ``randomness=dict(seed=..., deterministic=True)``; with workers,
the data order is exact and each worker's augmentation draws restart from torch's per-epoch
worker seeds (see :mod:`rsb_mm.engine.runners.rng_state`).
"""
import contextlib
import itertools
import logging
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner.loops import EpochBasedTrainLoop
from mmpretrain.registry import LOOPS
from torch.utils.data import DataLoader

from .rng_state import capture_rng_state, restore_rng_state

__all__ = ['ResumableEpochBasedTrainLoop', 'RNG_STATES_KEY', 'VALIDATED_EPOCH_KEY']

# Message-hub runtime info (saved in every checkpoint, restored by Runner.resume only).
RNG_STATES_KEY = 'rng_states'  # one capture_rng_state() per rank, written by the checkpoint hook
VALIDATED_EPOCH_KEY = 'evaluated_epoch'  # the last epoch whose evaluation started


class _SkipFirstBatches:
    """A batch sampler that yields the wrapped one's batches after the first ``num_skip``.

    Its length stays the epoch's full length, so ``len(dataloader)`` (which hooks compare batch
    indices against to find the epoch's end) is unchanged; other attributes (``sampler``,
    ``batch_size``) are the wrapped one's.
    """

    def __init__(self, batch_sampler, num_skip: int) -> None:
        self.batch_sampler = batch_sampler
        self.num_skip = num_skip

    def __iter__(self) -> Iterator[List[int]]:
        return itertools.islice(iter(self.batch_sampler), self.num_skip, None)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __getattr__(self, name: str):
        if name == 'batch_sampler':  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.batch_sampler, name)


@contextlib.contextmanager
def _skipping_first_batches(dataloader: DataLoader, num_skip: int):
    """Make the next ``iter(dataloader)`` start at batch ``num_skip`` of the epoch."""
    if num_skip == 0:
        yield
        return
    original = dataloader.batch_sampler
    if original is None:
        raise RuntimeError('cannot resume mid-epoch with a DataLoader without a batch sampler '
                           '(batch_size=None)')
    # DataLoader's __setattr__ refuses a new batch_sampler once built; the epoch's iterator
    # reads it when created, so it is swapped for that moment only. An iterator of persistent
    # workers keeps the object it read for its later epochs: the view is emptied of its skip.
    view = _SkipFirstBatches(original, num_skip)
    object.__setattr__(dataloader, 'batch_sampler', view)
    try:
        yield
    finally:
        view.num_skip = 0
        object.__setattr__(dataloader, 'batch_sampler', original)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes mid-epoch at the exact batch and random state.

    Same arguments as MMEngine's ``EpochBasedTrainLoop``; a config switches to it with
    ``train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=..., val_interval=...)``.
    See the module docstring for what a resume restores.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The training dataloader or its config.
        max_epochs (int): Total training epochs.
        val_begin (int): The epoch from which to evaluate. Defaults to 1.
        val_interval (int): Evaluate every this many epochs. Defaults to 1.
        dynamic_intervals (list[tuple[int, int]], optional): ``(milestone, interval)`` pairs,
            as in MMEngine. Defaults to None.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        self._resume_batches = 0
        self._resume_rng: Optional[dict] = None
        # The run's seed the sampler was built with; a resume may replace the run's seed.
        self._build_seed = runner.seed

    def run(self) -> torch.nn.Module:
        """Train (from the resume point, if any) to ``max_epochs``, evaluating as configured."""
        self.runner.call_hook('before_train')
        self._prepare_resume()
        self._decide_current_val_interval()
        if (self._resume_batches == 0 and self._epoch > 0 and self._val_due()
                and self.runner.message_hub.get_info(VALIDATED_EPOCH_KEY) != self._epoch):
            self.runner.logger.info(
                f'Evaluating epoch {self._epoch} again: the run stopped before its evaluation '
                'was saved')
            self._validate()

        while self._epoch < self._max_epochs and not self.stop_training:
            self.run_epoch()
            self._decide_current_val_interval()
            if self._val_due():
                self._validate()

        self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self) -> None:
        """Iterate one epoch, from the resume point if it is the first epoch after a resume."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        skip, rng = self._resume_batches, self._resume_rng
        self._resume_batches, self._resume_rng = 0, None
        # The interrupted run saved an epoch-end state before creating this epoch's iterator
        # (which draws a base seed from torch's generator), a mid-epoch state after.
        if rng is not None and skip == 0:
            restore_rng_state(rng)
        with _skipping_first_batches(self.dataloader, skip):
            batches = iter(self.dataloader)
        if rng is not None and skip > 0:
            restore_rng_state(rng)
        for idx, data_batch in enumerate(batches, start=skip):
            self.run_iter(idx, data_batch)

        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _val_due(self) -> bool:
        # MMEngine's EpochBasedTrainLoop.run condition, for the epoch just finished.
        return (self.runner.val_loop is not None and self._epoch >= self.val_begin
                and (self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs))

    def _validate(self) -> None:
        # Set before evaluating, so that a checkpoint written during the evaluation (the best
        # one) records it and a resume does not evaluate the epoch again.
        self.runner.message_hub.update_info(VALIDATED_EPOCH_KEY, self._epoch)
        # Evaluation must not shift the training's random streams (its DataLoader draws a
        # base seed from torch's generator): with or without it, training is the same.
        state = capture_rng_state()
        try:
            self.runner.val_loop.run()
        finally:
            restore_rng_state(state)

    def _prepare_resume(self) -> None:
        """Find the resume point: batches to skip in this epoch and this rank's RNG state."""
        if self._epoch == 0 and self._iter == 0:
            return
        self._follow_resumed_seed()
        per_epoch = len(self.dataloader)
        consumed = self._iter - self._epoch * per_epoch
        if not 0 <= consumed <= per_epoch:
            print_log(
                f'The checkpoint is at iteration {self._iter}, which is not in epoch '
                f'{self._epoch + 1} with {per_epoch} iterations per epoch (did the batch size, '
                'the number of processes or the data set change?); the epoch restarts from its '
                'first batch and the random streams are not restored.',
                logger='current',
                level=logging.WARNING)
            return
        self._resume_batches = consumed
        rank, world_size = get_dist_info()
        states = self.runner.message_hub.get_info(RNG_STATES_KEY)
        if states is None:
            print_log(
                'The checkpoint holds no random generator states (not written by '
                'AtomicCheckpointHook): the data position is restored, the augmentation draws '
                'after it differ from an uninterrupted run.',
                logger='current',
                level=logging.WARNING)
        elif len(states) != world_size:
            print_log(
                f'The checkpoint holds the random generator states of {len(states)} processes '
                f'and this run has {world_size}: they are not restored.',
                logger='current',
                level=logging.WARNING)
        else:
            self._resume_rng = states[rank]
        self.runner.logger.info(
            f'Resuming at epoch {self._epoch + 1}, batch {consumed}/{per_epoch} (iteration '
            f'{self._iter}): the first {consumed} batches of the epoch are skipped without '
            f'loading them; random generator states '
            f"{'restored' if self._resume_rng is not None else 'not restored'}.")

    def _follow_resumed_seed(self) -> None:
        # With randomness.seed=None, the resumed process draws a new seed and builds the train
        # sampler with it (MMEngine's DefaultSampler takes the run's seed); Runner.resume then
        # switches the run to the checkpoint's seed, but the sampler keeps the new one and the
        # data order changes. A sampler seeded from the run follows the checkpoint's seed.
        # With diff_rank_seed the Runner builds samplers with seed=None, never the run's seed.
        if self.runner._randomness_cfg.get('diff_rank_seed', False):
            return
        sampler = self.dataloader.sampler
        seed = self.runner.seed
        if seed != self._build_seed and getattr(sampler, 'seed', None) == self._build_seed:
            sampler.seed = seed
            self.runner.logger.info(f"Train sampler seed set to the checkpoint's seed {seed}")
