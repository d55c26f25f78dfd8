"""Stop (or skip the step) when the training loss is NaN or infinite, before it reaches weights.

MMDetection's ``CheckInvalidLossHook`` (``mmdet/engine/hooks/checkloss_hook.py``; MMEngine and
MMPretrain have none) looks at the loss every 50 iterations in ``after_train_iter``, after the
optimizer step: by then the weights (and with LAMB's global gradient-norm clip, every weight)
are NaN, up to 49 such steps may have run, and its assertion message is empty. This hook checks
every iteration's loss *before* the backward pass and the optimizer step:

* ``action='stop'`` (default): raise ``FloatingPointError`` naming the value, the iteration and
  the last checkpoint written. Nothing of the bad step is applied and no checkpoint is written
  after it (the checkpoint hook never runs for that iteration), so the last good checkpoint is
  the one to resume from.
* ``action='skip'``: drop the step (no optimizer step; gradients dropped; the model's buffers,
  e.g. BatchNorm running statistics updated by the bad forward pass, put back), count it, and
  go on. Each skip is logged with its iteration, the count at every epoch end; after
  ``max_consecutive_skips`` skips in a row the run stops as with ``'stop'``.

In distributed training the ranks agree (one all-reduce of a flag per iteration), so either all
stop or all skip the same step and none waits for the others forever. The check wraps the
optimizer wrapper's ``update_params`` (where MMEngine models hand over the loss) for the run;
it works with ``OptimWrapper`` and ``AmpOptimWrapper``. With gradient accumulation, a skipped
step also drops the gradients accumulated before it in the same window.
"""
import functools
import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmpretrain.registry import HOOKS

__all__ = ['NonFiniteLossHook']

_ACTIONS = ('stop', 'skip')
_SKIPPED_KEY = 'nonfinite_loss_skipped_steps'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check every training loss before its step; stop, or skip and count, on NaN / Inf.

    Args:
        action (str): ``'stop'`` raises ``FloatingPointError``; ``'skip'`` drops the step and
            continues. Defaults to ``'stop'``.
        max_consecutive_skips (int): With ``'skip'``, stop after this many bad steps in a row
            (the run has diverged). Defaults to 20.
    """

    # Before the checkpoint hook and the logger, so neither sees a step that was not taken.
    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop', max_consecutive_skips: int = 20) -> None:
        if action not in _ACTIONS:
            raise ValueError(f'action must be one of {_ACTIONS}, got {action!r}')
        if (isinstance(max_consecutive_skips, bool) or not isinstance(max_consecutive_skips, int)
                or max_consecutive_skips < 1):
            raise ValueError(f'max_consecutive_skips must be an int >= 1, got '
                             f'{max_consecutive_skips!r}')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.skipped = 0
        self._consecutive = 0
        self._epoch_skipped = 0
        self._buffers: Optional[Dict[str, torch.Tensor]] = None
        self._batch_idx = 0

    def before_train(self, runner) -> None:
        """Install the check on the runner's optimizer wrapper."""
        self.skipped = runner.message_hub.get_info(_SKIPPED_KEY, 0)
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, OptimWrapper):
            raise TypeError(f'NonFiniteLossHook needs an OptimWrapper (or AmpOptimWrapper), got '
                            f'{type(wrapper).__name__}')
        # An instance attribute shadows the method for this run only; the original is called
        # for every finite loss.
        wrapper.update_params = functools.partial(self._update_params, runner,
                                                  wrapper.update_params)

    def after_train(self, runner) -> None:
        """Remove the check again."""
        if 'update_params' in vars(runner.optim_wrapper):
            del runner.optim_wrapper.update_params

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Note the batch; in skip mode keep the buffers the forward pass may spoil (BatchNorm
        statistics: small)."""
        self._batch_idx = batch_idx
        if self.action == 'skip':
            self._buffers = {k: v.detach().clone() for k, v in _model(runner).named_buffers()}

    def after_train_epoch(self, runner) -> None:
        """Report the steps skipped in the epoch (skip mode)."""
        if self.action == 'skip':
            runner.logger.info(f'NonFiniteLossHook: {self._epoch_skipped} step(s) with a NaN/Inf '
                               f'loss skipped in epoch {runner.epoch + 1} ({self.skipped} in '
                               'the run)')
            self._epoch_skipped = 0

    def _update_params(self, runner, update_params, loss: torch.Tensor, *args, **kwargs):
        if _finite_on_all_ranks(loss):
            self._consecutive = 0
            return update_params(loss, *args, **kwargs)
        value = loss.detach().float().sum().item()
        value_text = str(value) if not math.isfinite(value) else 'NaN or Inf on another rank'
        per_epoch = len(runner.train_dataloader)
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch '
                 f'{self._batch_idx + 1}/{per_epoch})')
        self._consecutive += 1
        if self.action == 'stop' or self._consecutive > self.max_consecutive_skips:
            last = runner.message_hub.get_info('last_ckpt') or 'none written yet'
            reason = ('' if self.action == 'stop' else
                      f' after {self.max_consecutive_skips} skipped steps in a row')
            raise FloatingPointError(
                f'loss is {value_text} at {where}{reason}; training stopped before this step '
                f'was applied. Last checkpoint: {last}. Resume from it with --resume auto '
                "(e.g. with a lower lr), or set NonFiniteLossHook(action='skip') to skip such "
                'steps')
        # Every rank still runs the backward pass, so that DDP's gradient all-reduce of this
        # step completes everywhere; the gradients are then dropped.
        if loss.requires_grad:
            loss.backward()
        runner.optim_wrapper.zero_grad()
        if self._buffers is not None:
            with torch.no_grad():
                for name, buf in _model(runner).named_buffers():
                    buf.copy_(self._buffers[name])
        self.skipped += 1
        self._epoch_skipped += 1
        runner.message_hub.update_info(_SKIPPED_KEY, self.skipped)
        runner.logger.warning(f'NonFiniteLossHook: loss is {value_text} at {where}; step '
                              f'skipped ({self.skipped} in the run)')


def _model(runner) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def _finite_on_all_ranks(loss: torch.Tensor) -> bool:
    bad = (~torch.isfinite(loss.detach())).any().to(torch.float32).reshape(1)
    if get_dist_info()[1] > 1:
        all_reduce(bad, op='max')
    return not bool(bad.item())
