"""Check a config before the Runner starts: data paths and values that fail only late.

MMEngine builds the model when the Runner is built (so a bad loss threshold or drop-path rate
fails at once), but builds datasets, samplers and the optimizer only when training starts,
after scanning the data set (a minute on ImageNet), and some bad values fail later still (a
negative lr trains "fine"). :func:`check_config` fails first, with the config key and value:

- every ``data_root`` / ``ann_file`` / ``data_prefix`` of the train, val and test data sets
  exists (wrapped data sets too);
- the train sampler builds (its own argument checks run on a stand-in data set);
- the optimizer builds on a stand-in parameter (torch and rsb_mm check lr, eps, betas, weight
  decay), and the lr is not negative;
- batch sizes and ``max_epochs`` / ``max_iters`` are positive;
- the recipe's module arguments are in range wherever they appear (model, data pipelines,
  samplers, hooks), named by their full key: Mixup / CutMix alphas >= 0 and probabilities and
  label smoothing in range, the BCE target threshold in [0, 1], drop path in [0, 1), repeated
  augmentation ``num_repeats`` >= 1, known ``on_error`` / ``action`` values;
- the train sampler gives the same order each time it is built: with
  ``randomness.diff_rank_seed=True`` the Runner builds it with ``seed=None``, and a sampler
  that then draws a random seed (MMEngine's ``DefaultSampler``) would shuffle differently
  after ``--resume``;
- the global batch (processes x ``train_dataloader.batch_size``) is the one the lr is set for
  (``auto_scale_lr.base_batch_size``); if not, and ``--auto-scale-lr`` is off, a warning says
  that the lr stays as configured (timm's ``--lr``) and what batch size keeps the recipe;
- the train batch suits Mixup/CutMix: an even batch size (timm asserts it: each image is mixed
  with its mirror in the flipped batch, and the middle image of an odd batch with itself), and
  ``drop_last=True`` for ``mode='pair'``, which cannot mix a last odd batch.

The modules check these values themselves too; checking here names the config key and fails
before the model is built.
"""
import logging
import math
import numbers
import os
import os.path as osp
from typing import Any, Callable, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS, OPTIMIZERS, DefaultScope

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class ConfigError(ValueError):
    """A config value that would make the run fail, named by its key."""


class _SizedStub:
    """A data set stand-in with a length only: samplers check their arguments against it."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


def _datasets(key: str, dataset) -> Iterator[Tuple[str, dict]]:
    """Yield ``(key, dataset_cfg)`` for a data set config and the ones it wraps."""
    if not isinstance(dataset, dict):
        return
    yield key, dataset
    if isinstance(dataset.get('dataset'), dict):
        yield from _datasets(f'{key}.dataset', dataset['dataset'])
    for i, inner in enumerate(dataset.get('datasets', None) or []):
        yield from _datasets(f'{key}.datasets[{i}]', inner)


def _split_is_folder(dataset_type: Any) -> bool:
    """Whether the data set type reads ``data_root/<split>/`` (MMPretrain's ImageNet family)."""
    from mmengine.registry import DATASETS
    from mmpretrain.datasets import ImageNet, ImageNet21k

    if isinstance(dataset_type, str):
        # The registry of the current default scope (set by check_config), as the Runner uses.
        with DATASETS.switch_scope_and_registry(None) as registry:
            try:
                dataset_type = registry.get(dataset_type)
            except KeyError:  # a scope that is not installed: cannot tell
                return False
    return isinstance(dataset_type, type) and issubclass(dataset_type, (ImageNet, ImageNet21k))


def _path_problems(key: str, dataset: dict) -> List[str]:
    problems = []
    root = dataset.get('data_root', '') or ''
    if root and not osp.isdir(root):
        problems.append(f"{key}.data_root = '{root}': no such folder")
        return problems  # everything below lives under it
    ann_file = dataset.get('ann_file', '') or ''
    if ann_file:
        path = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
        if not osp.exists(path):
            problems.append(f"{key}.ann_file = '{ann_file}': no such file ({path})")
    prefix = dataset.get('data_prefix', '') or ''
    prefixes = prefix.items() if isinstance(prefix, dict) else [('', prefix)]
    for name, value in prefixes:
        if not isinstance(value, str) or not value:
            continue
        path = value if osp.isabs(value) else osp.join(root, value)
        if not osp.exists(path):
            sub = f'.{name}' if name else ''
            problems.append(f"{key}.data_prefix{sub} = '{value}': no such folder ({path})")
    split = dataset.get('split', '') or ''
    # Only ImageNet-style data sets keep a split in a folder of that name; CIFAR, Flowers-102,
    # Stanford Cars ... name files or lists with it.
    if (root and split and not prefix and _split_is_folder(dataset.get('type'))
            and not osp.isdir(osp.join(root, split))):
        problems.append(f"{key}.split = '{split}': no folder {osp.join(root, split)}")
    return problems


def _check_paths(cfg: Config) -> List[str]:
    problems = []
    for loader_key in DATALOADERS:
        loader = cfg.get(loader_key, None)
        if not loader or loader_key == 'val_dataloader' and cfg.get('val_cfg', None) is None:
            continue
        for key, dataset in _datasets(f'{loader_key}.dataset', loader.get('dataset')):
            problems += _path_problems(key, dataset)
    # MMDetection's CocoMetric reads its own ann_file, only once the evaluation loop is built:
    # after the training set has loaded, if data_root moved and the evaluator's path did not.
    for key in ('val_evaluator', 'test_evaluator'):
        if key == 'val_evaluator' and cfg.get('val_cfg', None) is None:
            continue
        evaluator = cfg.get(key, None) or []
        metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
        for i, metric in enumerate(metrics):
            ann_file = metric.get('ann_file', None) if isinstance(metric, dict) else None
            if isinstance(ann_file, str) and ann_file and not osp.exists(ann_file):
                where = f'{key}[{i}]' if len(metrics) > 1 else key
                problems.append(f"{where}.ann_file = '{ann_file}': no such file")
    return problems


def _check_values(cfg: Config) -> List[str]:
    problems = []
    for loader_key in DATALOADERS:
        loader = cfg.get(loader_key, None)
        if loader and not (isinstance(loader.get('batch_size'), int)
                           and loader['batch_size'] >= 1):
            problems.append(f"{loader_key}.batch_size = {loader.get('batch_size')!r}: must be "
                            'an int >= 1')
    train_cfg = cfg.get('train_cfg', None) or {}
    for key in ('max_epochs', 'max_iters'):
        if key in train_cfg and not (isinstance(train_cfg[key], int) and train_cfg[key] >= 1):
            problems.append(f'train_cfg.{key} = {train_cfg[key]!r}: must be an int >= 1')
    return problems


def _number(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _at_least(low: float) -> Tuple[Callable[[Any], bool], str]:
    return (lambda v: _number(v) and v >= low), f'must be a number >= {low:g}'


def _within(low: float, high: float, closed: bool = True) -> Tuple[Callable[[Any], bool], str]:
    if closed:
        return (lambda v: _number(v) and low <= v <= high), f'must be in [{low:g}, {high:g}]'
    return (lambda v: _number(v) and low <= v < high), f'must be in [{low:g}, {high:g})'


def _int_at_least(low: int) -> Tuple[Callable[[Any], bool], str]:
    return ((lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low),
            f'must be an int >= {low}')


def _one_of(*values: Any) -> Tuple[Callable[[Any], bool], str]:
    return (lambda v: v in values), f'must be one of {values}'


def _optional(rule: Tuple[Callable[[Any], bool], str]) -> Tuple[Callable[[Any], bool], str]:
    check, text = rule
    return (lambda v: v is None or check(v)), f'must be None or {text[len("must be "):]}'


# type -> argument -> (check, what it must be). MMPretrain's own Mixup/CutMix and repeated-
# augmentation sampler are checked too: a config may use them instead of ours.
_RULES = {
    'MixupCutMix': dict(mixup_alpha=_at_least(0), cutmix_alpha=_at_least(0),
                        prob=_within(0, 1), switch_prob=_within(0, 1),
                        label_smoothing=_within(0, 1, closed=False)),
    'Mixup': dict(alpha=_at_least(0)),
    'CutMix': dict(alpha=_at_least(0)),
    'ThresholdedBCELoss': dict(target_threshold=_optional(_within(0, 1)),
                               smoothing=_within(0, 1, closed=False)),
    'ResNetTimmDropPath': dict(drop_path_rate=_within(0, 1, closed=False)),
    'RepeatAugSamplerDeiT': dict(num_repeats=_int_at_least(1)),
    'RepeatAugSampler': dict(num_repeats=_int_at_least(1)),
    'LoadImageFromFileChecked': dict(on_error=_one_of('raise', 'skip')),
    'NonFiniteLossHook': dict(action=_one_of('stop', 'skip')),
}
# Where module configs live in a runnable config.
_ROOTS = ('model', 'data_preprocessor', 'train_dataloader', 'val_dataloader', 'test_dataloader',
          'default_hooks', 'custom_hooks')


def _typed_dicts(key: str, node: Any) -> Iterator[Tuple[str, dict]]:
    """Yield ``(key, dict)`` for every dict with a ``type`` under ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield key, node
        for name, value in node.items():
            yield from _typed_dicts(f'{key}.{name}', value)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _typed_dicts(f'{key}[{i}]', value)


def _module_type(type_name: str) -> str:
    return type_name.split('.')[-1]  # 'mmpretrain.Mixup' names Mixup in another scope


def _check_module_args(cfg: Config) -> List[str]:
    problems = []
    for root in _ROOTS:
        for key, module in _typed_dicts(root, cfg.get(root, None)):
            rules = _RULES.get(_module_type(module['type']), {})
            for arg, (check, text) in rules.items():
                if arg in module and not check(module[arg]):
                    problems.append(f'{key}.{arg} = {module[arg]!r}: {text} '
                                    f"({module['type']})")
    return problems


def _mixup_cfg(cfg: Config) -> Optional[Tuple[str, dict]]:
    for root in ('model', 'data_preprocessor'):
        for key, module in _typed_dicts(root, cfg.get(root, None)):
            if _module_type(module['type']) == 'MixupCutMix':
                return key, module
    return None


def _check_batch_for_mixup(cfg: Config) -> List[str]:
    loader = cfg.get('train_dataloader', None)
    found = _mixup_cfg(cfg)
    if not loader or found is None:
        return []
    key, mixup = found
    problems = []
    batch_size = loader.get('batch_size')
    if isinstance(batch_size, int) and batch_size % 2:
        problems.append(f'train_dataloader.batch_size = {batch_size}: MixupCutMix ({key}) '
                        'needs an even batch size (each image is mixed with its mirror in the '
                        'flipped batch; timm asserts it)')
    if mixup.get('mode', 'batch') == 'pair' and not loader.get('drop_last', False):
        problems.append(f"train_dataloader.drop_last = {loader.get('drop_last', False)!r}: "
                        f"MixupCutMix ({key}) with mode='pair' needs drop_last=True (an "
                        "epoch's last batch may be odd)")
    return problems


def _check_sampler_order(cfg: Config) -> List[str]:
    sampler = (cfg.get('train_dataloader', None) or {}).get('sampler', None)
    if not (cfg.get('randomness', None) or {}).get('diff_rank_seed', False) or \
            not isinstance(sampler, dict):
        return []
    orders = []
    for _ in range(2):  # as Runner.build_dataloader builds it with diff_rank_seed
        try:
            built = DATA_SAMPLERS.build(
                dict(sampler), default_args=dict(dataset=_SizedStub(1000), seed=None))
        except (ValueError, TypeError, KeyError):
            return []  # _check_builds names the problem
        orders.append(list(built))
    if orders[0] == orders[1]:
        return []
    return [f'train_dataloader.sampler = {dict(sampler)}: with randomness.diff_rank_seed=True '
            'it is built with seed=None and draws a random seed, so a resumed run would '
            'see another data order; set train_dataloader.sampler.seed (0 gives timm\'s '
            'order)']


def _check_builds(cfg: Config, sampler_checked: bool = False) -> List[str]:
    problems = []
    sampler = (cfg.get('train_dataloader', None) or {}).get('sampler', None)
    # A sampler whose arguments already failed a rule would only say it again.
    if isinstance(sampler, dict) and not sampler_checked:
        try:
            DATA_SAMPLERS.build(dict(sampler), default_args=dict(dataset=_SizedStub(10**7)))
        except (ValueError, TypeError, KeyError) as err:
            problems.append(f'train_dataloader.sampler = {dict(sampler)}: {err}')
    wrapper = cfg.get('optim_wrapper', None) or {}
    optimizer = wrapper.get('optimizer', None)
    if isinstance(optimizer, dict):
        lr = optimizer.get('lr', None)
        if isinstance(lr, (int, float)) and lr < 0:
            problems.append(f'optim_wrapper.optimizer.lr = {lr}: must be >= 0')
        else:
            stub = torch.nn.Parameter(torch.zeros(1))
            try:
                OPTIMIZERS.build(dict(optimizer, params=[stub]))
            except (ValueError, TypeError, KeyError) as err:
                problems.append(f'optim_wrapper.optimizer = {dict(optimizer)}: {err}')
    return problems


def _warn_global_batch(cfg: Config) -> None:
    scale = cfg.get('auto_scale_lr', None) or {}
    base, batch = scale.get('base_batch_size'), (cfg.get('train_dataloader', None) or {}).get(
        'batch_size')
    if not isinstance(base, int) or not isinstance(batch, int) or scale.get('enable', False):
        return
    world = 1
    if cfg.get('launcher', 'none') != 'none':
        world = int(os.environ.get('WORLD_SIZE') or os.environ.get('SLURM_NTASKS') or 1)
    if world * batch == base:
        return
    keep = (f'--cfg-options train_dataloader.batch_size={base // world}'
            if base % world == 0 else f'a batch size that makes {base} over all processes')
    print_log(f'The global batch is {world} process(es) x {batch} = {world * batch} images, '
              f'and the config\'s lr is set for {base} (auto_scale_lr.base_batch_size): it '
              f'stays as configured. To train the recipe as published use {keep}; to scale '
              'the lr linearly with the batch, pass --auto-scale-lr.',
              logger='current', level=logging.WARNING)


def check_config(cfg: Config) -> None:
    """Raise :class:`ConfigError` listing every problem found, each with its key and value.

    Args:
        cfg (Config): A merged config (after ``--cfg-options``).

    Raises:
        ConfigError: if any data path is missing or any checked value is out of range.
    """
    module_problems = _check_module_args(cfg)
    sampler_checked = any(p.startswith('train_dataloader.sampler.') for p in module_problems)
    scope = cfg.get('default_scope', None)
    # Look up and build in the config's scope so its names (and rsb_mm's) resolve.
    with DefaultScope.overwrite_default_scope(scope):
        problems = (_check_paths(cfg) + _check_values(cfg) + module_problems
                    + _check_batch_for_mixup(cfg)
                    + _check_builds(cfg, sampler_checked) + _check_sampler_order(cfg))
    if problems:
        raise ConfigError('the config cannot run:\n  - ' + '\n  - '.join(problems))
    _warn_global_batch(cfg)
