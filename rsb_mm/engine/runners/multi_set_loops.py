"""Validation / test loops that evaluate several test sets in one run (val, ReaL, V2, ...).

The RSB paper reports every ImageNet test set (val / ReaL / V2) for each model, and timm's
``validate.py`` is run once per set. MMEngine's ``ValLoop`` / ``TestLoop``
(``mmengine/runner/loops.py``, MMEngine 0.10.x) evaluate one dataloader with one evaluator, and
MMPretrain has no loop for several sets, so these loops add the extra sets to the normal one:

* The primary set is the runner's usual ``val_dataloader`` / ``val_evaluator`` (or
  ``test_*``), built by MMEngine exactly as for ``ValLoop``; its metric keys keep their names
  (``accuracy/top1``) and come first in the returned dict, so ``CheckpointHook(save_best='auto')``
  (which takes the first key) and existing configs keep working. A missing primary set is an
  error, as with ``ValLoop``.
* Each extra set, ``dict(prefix=..., dataloader=..., evaluator=...)`` in the loop config, is built
  with ``runner.build_dataloader`` (the runner's sampler, seed and distributed setup, as
  ``BaseLoop`` does) and ``runner.build_evaluator``. Its metric keys are returned as
  ``'<prefix>/<key>'``: ``real/accuracy/top1``, ``v2/accuracy/top5``.
* ``skip_missing=True``: an extra set whose files are missing (its dataset raises
  ``FileNotFoundError`` while being built: no folder, no ``real.json``) is skipped with one
  warning naming the path, when the loop is built; other errors still raise.
* All sets run inside one ``before_val_epoch`` ... ``after_val_epoch`` (hooks such as
  ``EMAHook`` swap weights there, so every set sees the same weights) and the merged dict is
  what ``after_val_epoch`` hooks (logger, checkpoint) receive and what ``run`` returns.
  The per-iteration hooks fire for every set; while a set is iterated it is the loop's
  ``dataloader``, so the log's ``[i/N]`` progress counts that set's batches.
"""
import copy
import logging
from typing import Dict, List, NamedTuple, Sequence, Union

from mmengine.dist import all_gather_object
from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.runner.loops import TestLoop, ValLoop, _parse_losses
from mmpretrain.registry import LOOPS
from torch.utils.data import DataLoader

__all__ = ['MultiSetValLoop', 'MultiSetTestLoop', 'ExtraSet', 'build_extra_sets']

_SET_KEYS = {'prefix', 'dataloader', 'evaluator'}


class ExtraSet(NamedTuple):
    """A built extra test set: its metric prefix, dataloader and evaluator."""
    prefix: str
    dataloader: DataLoader
    evaluator: Evaluator


def _check_set_cfgs(extra_sets: Sequence[dict]) -> None:
    prefixes = []
    for i, cfg in enumerate(extra_sets):
        if not isinstance(cfg, dict) or set(cfg) != _SET_KEYS:
            raise ValueError(f'extra_sets[{i}] must be a dict with exactly the keys '
                             f'{sorted(_SET_KEYS)}, got {cfg!r}')
        prefix = cfg['prefix']
        if not isinstance(prefix, str) or not prefix or prefix != prefix.strip('/'):
            raise ValueError(f"extra_sets[{i}]['prefix'] must be a non-empty name without "
                             f"leading or trailing '/', got {prefix!r}")
        if prefix in prefixes:
            raise ValueError(f'extra_sets prefixes must be unique, got {prefix!r} twice')
        prefixes.append(prefix)


def build_extra_sets(runner, extra_sets: Sequence[dict],
                     skip_missing: bool = True) -> List[ExtraSet]:
    """Build the extra sets' dataloaders and evaluators, skipping missing ones if asked.

    Args:
        runner (Runner): The runner whose ``build_dataloader`` / ``build_evaluator`` (and so
            whose distributed sampler setup and seed) are used.
        extra_sets (Sequence[dict]): ``dict(prefix=str, dataloader=dict | DataLoader,
            evaluator=dict | list | Evaluator)`` per set.
        skip_missing (bool): Skip, with a warning, a set whose dataset raises
            ``FileNotFoundError`` while being built. Defaults to True.

    Returns:
        list[ExtraSet]: The sets that exist, in the given order.

    Raises:
        ValueError: If an entry is malformed or two prefixes are equal.
        FileNotFoundError: If a set is missing and ``skip_missing`` is False.
        RuntimeError: If ranks disagree on which sets exist (they would deadlock otherwise).
    """
    _check_set_cfgs(extra_sets)
    built = []
    for cfg in extra_sets:
        dataloader = cfg['dataloader']
        if isinstance(dataloader, dict):
            try:
                dataloader = runner.build_dataloader(
                    copy.deepcopy(dataloader),
                    seed=runner.seed,
                    diff_rank_seed=runner._randomness_cfg.get('diff_rank_seed', False))
            except FileNotFoundError as err:
                if not skip_missing:
                    raise
                print_log(f"Skipping the test set '{cfg['prefix']}' (skip_missing=True): {err}",
                          logger='current', level=logging.WARNING)
                built.append(None)
                continue
        evaluator = cfg['evaluator']
        if isinstance(evaluator, (dict, list)):
            evaluator = runner.build_evaluator(copy.deepcopy(evaluator))
        if hasattr(dataloader.dataset, 'metainfo'):
            evaluator.dataset_meta = dataloader.dataset.metainfo
        built.append(ExtraSet(cfg['prefix'], dataloader, evaluator))
    # A set present on some ranks only would leave the others waiting in its collectives.
    present = [s is not None for s in built]
    if any(flags != present for flags in all_gather_object(present)):
        raise RuntimeError('The ranks disagree on which extra test sets exist '
                           f"({[c['prefix'] for c in extra_sets]}): check that every node "
                           'sees the same data folders')
    return [s for s in built if s is not None]


def _prefixed(metrics: Dict[str, float], prefix: str, into: Dict[str, float]) -> None:
    for key, value in metrics.items():
        name = f'{prefix}/{key}' if prefix else key
        if name in into:
            raise ValueError(f'metric {name!r} is produced twice: rename the extra set '
                             f"prefix '{prefix}'")
        into[name] = value


class _MultiSetMixin:
    """The shared ``run`` of the two loops; ``_stage`` is 'val' or 'test'."""

    _stage: str

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, dict],
                 evaluator: Union[Evaluator, dict, list],
                 extra_sets: Sequence[dict] = (),
                 skip_missing: bool = True,
                 fp16: bool = False) -> None:
        # MRO: the mixin comes first, so this runs MMEngine's ValLoop/TestLoop __init__.
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self.skip_missing = skip_missing
        self.extra_sets = build_extra_sets(self.runner, extra_sets, skip_missing)

    @property
    def _losses(self) -> dict:
        return getattr(self, f'{self._stage}_loss')

    def run(self) -> dict:
        """Evaluate the primary set, then each extra set, in one validation/test epoch.

        Returns:
            dict: The primary set's metrics under their own keys, then each extra set's
            under ``'<prefix>/<key>'``.
        """
        stage = self._stage
        self.runner.call_hook(f'before_{stage}')
        self.runner.call_hook(f'before_{stage}_epoch')
        self.runner.model.eval()
        primary = ExtraSet('', self.dataloader, self.evaluator)
        metrics: Dict[str, float] = {}
        try:
            for test_set in [primary, *self.extra_sets]:
                if test_set.prefix:
                    print_log(f"Evaluating the test set '{test_set.prefix}' "
                              f'({len(test_set.dataloader.dataset)} images)', logger='current')
                # run_iter (MMEngine's own) reads the dataloader, evaluator and loss buffer
                # from self; hooks read runner.<stage>_loop.dataloader for the progress log.
                self.dataloader, self.evaluator = test_set.dataloader, test_set.evaluator
                self._losses.clear()
                for idx, data_batch in enumerate(test_set.dataloader):
                    self.run_iter(idx, data_batch)
                set_metrics = test_set.evaluator.evaluate(len(test_set.dataloader.dataset))
                if self._losses:
                    set_metrics.update(_parse_losses(self._losses, stage))
                _prefixed(set_metrics, test_set.prefix, metrics)
        finally:
            self.dataloader, self.evaluator = primary.dataloader, primary.evaluator
        self.runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{stage}')
        return metrics


@LOOPS.register_module()
class MultiSetValLoop(_MultiSetMixin, ValLoop):
    """``ValLoop`` over the primary val set plus extra test sets, metrics in one dict.

    Example::

        val_cfg = dict(
            type='MultiSetValLoop',
            extra_sets=[
                dict(prefix='real', dataloader=real_dataloader,
                     evaluator=dict(type='ReaLAccuracy', topk=(1, 5))),
                dict(prefix='v2', dataloader=v2_dataloader,
                     evaluator=dict(type='Accuracy', topk=(1, 5))),
            ],
            skip_missing=True)
        # -> {'accuracy/top1', 'accuracy/top5', 'real/accuracy/top1', ...,
        #     'v2/accuracy/top5'}

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The primary set (the runner passes
            ``val_dataloader``).
        evaluator (Evaluator | dict | list): The primary evaluator (the runner passes
            ``val_evaluator``).
        extra_sets (Sequence[dict]): ``dict(prefix, dataloader, evaluator)`` per extra set;
            its metrics are returned as ``'<prefix>/<key>'``. Defaults to ().
        skip_missing (bool): Skip, with one warning naming the path, an extra set whose
            files are missing. Defaults to True.
        fp16 (bool): Run the model under autocast. Defaults to False.
    """

    _stage = 'val'


@LOOPS.register_module()
class MultiSetTestLoop(_MultiSetMixin, TestLoop):
    """``TestLoop`` over the primary test set plus extra test sets, metrics in one dict.

    Same arguments and metric names as :class:`MultiSetValLoop`, with the runner's
    ``test_dataloader`` / ``test_evaluator`` as the primary set.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The primary set.
        evaluator (Evaluator | dict | list): The primary evaluator.
        extra_sets (Sequence[dict]): ``dict(prefix, dataloader, evaluator)`` per extra set.
            Defaults to ().
        skip_missing (bool): Skip missing extra sets with a warning. Defaults to True.
        fp16 (bool): Run the model under autocast. Defaults to False.
    """

    _stage = 'test'
