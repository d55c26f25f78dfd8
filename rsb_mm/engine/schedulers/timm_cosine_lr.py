"""timm's cosine learning-rate schedule with warm-up, as an MMEngine param scheduler.

Matches ``timm.scheduler.CosineLRScheduler`` (``timm/scheduler/cosine_lr.py``,
``_get_lr``) as built by ``timm.scheduler.create_scheduler_v2``
(``timm/scheduler/scheduler_factory.py``) with ``sched='cosine'``, one cycle
(``cycle_limit=1``), ``cycle_mul=1``, ``k_decay=1`` and no noise, stepped the way
timm's ``train.py`` steps it: the epoch-0 value is set at construction and
``lr_scheduler.step(epoch + 1)`` runs after every epoch, so epoch ``e`` trains
with ``lr(e)``.

Why our own class: MMEngine's ``LinearLR`` + ``CosineAnnealingLR`` (the pair in
MMPretrain's RSB configs, ``configs/_base_/schedules/imagenet_bs2048_rsb.py``)
cannot produce timm's numbers:

* timm warms up linearly from an *absolute* ``warmup_lr_init`` (1e-4), not from a
  fraction of the base lr (MMPretrain: ``start_factor=1e-4``, i.e. 5e-7 for A1);
* with ``warmup_prefix=False`` (timm's default, and the RSB runs) the cosine is
  a function of the epoch counted from 0, over ``t_initial`` epochs, and the
  warm-up simply overrides its first ``warmup_t`` epochs. So the lr never equals
  the base lr: after warm-up it jumps straight onto the cosine at ``t=warmup_t``
  (MMPretrain restarts a ``T_max = epochs - 5`` cosine at epoch 5 instead);
* the value is a closed form of the epoch, not a chain of ratios, so it is exact
  (to the last bit) for every epoch and after a resume.

Cool-down: timm's ``train.py`` of 2021 defaulted to ``--cooldown-epochs 10`` and
trained ``num_epochs = t_initial + cooldown_epochs`` epochs (``create_scheduler``
returns that count; ``get_cycle_length()`` adds ``warmup_t`` too when
``warmup_prefix=True``), the extra epochs at ``lr_min``. RECIPE.md records that
the RSB runs kept that default, i.e. ``--epochs 600`` trained 610 epochs. Here
``cooldown_t`` defaults to 0 so "600 epochs" means 600; set ``cooldown_t=10``
(and the train loop's ``max_epochs`` to ``t_initial + 10``) to train as timm did.
Current timm (``train.py`` and 1.0.31's ``scheduler_kwargs``) defaults the
cool-down to 0.
"""
import math
from typing import List, Optional, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmpretrain.registry import PARAM_SCHEDULERS
from torch.optim import Optimizer

__all__ = ['timm_cosine_lr', 'TimmCosineLR']


def _check_schedule_args(t_initial: Union[int, float], lr_min: float, warmup_t: Union[int, float],
                         warmup_lr_init: float, cooldown_t: Union[int, float] = 0) -> None:
    """Raise a ValueError naming the first out-of-range schedule argument."""
    if not t_initial >= 1:
        raise ValueError(f't_initial must be >= 1, got {t_initial}')
    if not warmup_t >= 0:
        raise ValueError(f'warmup_t must be >= 0, got {warmup_t}')
    if not lr_min >= 0:
        raise ValueError(f'lr_min must be >= 0, got {lr_min}')
    if not warmup_lr_init >= 0:
        raise ValueError(f'warmup_lr_init must be >= 0, got {warmup_lr_init}')
    if not cooldown_t >= 0:
        raise ValueError(f'cooldown_t must be >= 0, got {cooldown_t}')


def timm_cosine_lr(epoch: Union[int, float],
                   base_lr: float,
                   t_initial: Union[int, float],
                   lr_min: float = 1e-6,
                   warmup_t: Union[int, float] = 5,
                   warmup_lr_init: float = 1e-4,
                   warmup_prefix: bool = False) -> float:
    """The learning rate timm's ``CosineLRScheduler._get_lr`` gives at step ``epoch``.

    One cosine cycle with linear warm-up, written with the same floating-point
    operations in the same order as timm, so the result is bit-identical:

    * ``epoch < warmup_t``: ``warmup_lr_init + epoch * (base_lr - warmup_lr_init) / warmup_t``
      (the step is computed first, as timm's ``warmup_steps``);
    * otherwise ``t = epoch - warmup_t`` if ``warmup_prefix`` else ``t = epoch``, and
      ``lr_min + 0.5 * (base_lr - lr_min) * (1 + cos(pi * t / t_initial))`` while
      ``t < t_initial``;
    * ``lr_min`` from then on (timm's ``cycle_limit=1``: this is the cool-down).

    Args:
        epoch (int | float): The step the value is for (an epoch, or an update
            when the scheduler runs per iteration). Must be >= 0.
        base_lr (float): The lr the cosine starts from (timm's ``--lr``; the
            optimizer's lr after any batch-size scaling).
        t_initial (int | float): Length of the cosine in steps (timm's
            ``--epochs``). Must be >= 1.
        lr_min (float): The floor the cosine decays to, absolute.
            Defaults to 1e-6.
        warmup_t (int | float): Warm-up length in steps. Defaults to 5.
        warmup_lr_init (float): The lr at step 0 of the warm-up, absolute.
            Defaults to 1e-4.
        warmup_prefix (bool): If True the cosine starts after the warm-up
            (``t = epoch - warmup_t``); if False (timm's default) the warm-up
            covers the first ``warmup_t`` steps of the cosine. Defaults to False.

    Returns:
        float: The learning rate for that step.
    """
    _check_schedule_args(t_initial, lr_min, warmup_t, warmup_lr_init)
    if not epoch >= 0:
        raise ValueError(f'epoch must be >= 0, got {epoch}')
    if epoch < warmup_t:
        warmup_step = (base_lr - warmup_lr_init) / warmup_t
        return warmup_lr_init + epoch * warmup_step
    t = epoch - warmup_t if warmup_prefix else epoch
    if t >= t_initial:
        return lr_min
    return lr_min + 0.5 * (base_lr - lr_min) * (1 + math.cos(math.pi * t / t_initial))


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Cosine lr with linear warm-up from an absolute lr, exactly as timm's RSB runs.

    Each step sets every param group's lr to
    :func:`timm_cosine_lr` ``(last_step, base_lr_of_group, ...)``, where
    ``last_step`` counts the steps since ``begin`` (MMEngine's convention) and
    ``base_lr_of_group`` is the group's ``initial_lr`` (its lr when the scheduler
    was built). Driven by MMEngine's ``ParamSchedulerHook`` with ``by_epoch=True``
    (a step after each epoch, the first value set at construction), epoch ``e``
    trains with timm's ``lr(e)``.

    The value is a closed form of the step: it ignores what other schedulers did
    to the lr, so use it alone (it already contains the warm-up).

    Batch-size scaling: MMEngine's ``auto_scale_lr`` multiplies the optimizer's
    lr before the schedulers are built, so the scaled lr is the cosine's peak,
    while ``warmup_lr_init`` and ``lr_min`` stay absolute, as in timm, whose
    ``train.py`` scales only ``--lr`` (from ``--lr-base``) and never
    ``--warmup-lr`` or ``--min-lr``. Groups with their own lr (``lr_mult``) each
    get their own cosine peak and share ``warmup_lr_init`` and ``lr_min``, like
    timm's per-group ``base_values``.

    ``convert_to_iter_based=True`` gives timm's ``--sched-on-updates`` schedule:
    ``t_initial``, ``warmup_t``, ``cooldown_t``, ``begin`` and ``end`` are
    multiplied by the epoch length, and the lr changes after every update
    (timm's ``step_update(num_updates)``). The RSB runs stepped per epoch.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): The optimizer (wrapper).
        t_initial (int): Length of the cosine in epochs (timm's ``--epochs``,
            e.g. 600 for A1). Must be >= 1.
        lr_min (float): Floor of the cosine, absolute (timm's ``--min-lr``).
            Defaults to 1e-6.
        warmup_t (int): Warm-up epochs (timm's ``--warmup-epochs``).
            Defaults to 5.
        warmup_lr_init (float): The lr of epoch 0, absolute (timm's
            ``--warmup-lr``). Defaults to 1e-4.
        warmup_prefix (bool): Whether the cosine starts after the warm-up
            instead of under it. Defaults to False (timm's default and RSB).
        cooldown_t (int): Epochs at ``lr_min`` after the cosine (timm's
            ``--cooldown-epochs``; the RSB runs used timm's default of the time,
            10). Only sets the default ``end``: the lr is ``lr_min`` after the
            cosine whatever ``end`` is. Defaults to 0.
        begin (int): Step at which the schedule starts. Defaults to 0.
        end (int, optional): Step at which it stops updating the lr. None
            means timm's total: ``t_initial + cooldown_t`` (plus ``warmup_t``
            when ``warmup_prefix``). Note the Runner fills a missing ``end``
            with the train loop's ``max_epochs``, which changes no value.
            Defaults to None.
        last_step (int): The index of the last step, for resuming without a
            state dict. Defaults to -1.
        by_epoch (bool): Whether the steps are epochs. Defaults to True.
        verbose (bool): Whether to log every update. Defaults to False.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 t_initial: int,
                 lr_min: float = 1e-6,
                 warmup_t: int = 5,
                 warmup_lr_init: float = 1e-4,
                 warmup_prefix: bool = False,
                 cooldown_t: int = 0,
                 begin: int = 0,
                 end: Optional[int] = None,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False):
        _check_schedule_args(t_initial, lr_min, warmup_t, warmup_lr_init, cooldown_t)
        self.t_initial = t_initial
        self.lr_min = lr_min
        self.warmup_t = warmup_t
        self.warmup_lr_init = warmup_lr_init
        self.warmup_prefix = warmup_prefix
        self.cooldown_t = cooldown_t
        if end is None:
            # timm's get_cycle_length() + cooldown_t: the epochs timm's train.py runs
            end = begin + t_initial + (warmup_t if warmup_prefix else 0) + cooldown_t
        super().__init__(
            optimizer,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              t_initial: int,
                              warmup_t: int = 5,
                              cooldown_t: int = 0,
                              begin: int = 0,
                              end: Optional[int] = None,
                              by_epoch: bool = True,
                              epoch_length: Optional[int] = None,
                              **kwargs) -> 'TimmCosineLR':
        """Build the per-update twin of an epoch-based config.

        Scales every length by ``epoch_length`` as timm's
        ``create_scheduler_v2`` does for ``step_on_epochs=False``.
        """
        if not by_epoch:
            raise ValueError('by_epoch must be True to convert to iter-based, '
                             f'got {by_epoch}')
        if epoch_length is None or epoch_length <= 0:
            raise ValueError(f'epoch_length must be a positive integer, got {epoch_length}')
        if end is not None and end != INF:
            end = int(end * epoch_length)
        return cls(
            *args,
            t_initial=t_initial * epoch_length,
            warmup_t=warmup_t * epoch_length,
            cooldown_t=cooldown_t * epoch_length,
            begin=int(begin * epoch_length),
            end=end,
            by_epoch=False,
            **kwargs)

    def _get_value(self) -> List[float]:
        """The lr of every param group at step ``last_step`` (closed form)."""
        return [
            timm_cosine_lr(
                self.last_step,
                base_lr,
                t_initial=self.t_initial,
                lr_min=self.lr_min,
                warmup_t=self.warmup_t,
                warmup_lr_init=self.warmup_lr_init,
                warmup_prefix=self.warmup_prefix) for base_lr in self.base_values
        ]
