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
- batch sizes and ``max_epochs`` / ``max_iters`` are positive.
"""
import os.path as osp
from typing import Iterator, List, Tuple

import torch
from mmengine.config import Config
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
    if root and split and not prefix and not osp.isdir(osp.join(root, split)):
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


def _check_builds(cfg: Config) -> List[str]:
    problems = []
    sampler = (cfg.get('train_dataloader', None) or {}).get('sampler', None)
    if isinstance(sampler, dict):
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


def check_config(cfg: Config) -> None:
    """Raise :class:`ConfigError` listing every problem found, each with its key and value.

    Args:
        cfg (Config): A merged config (after ``--cfg-options``).

    Raises:
        ConfigError: if any data path is missing or any checked value is out of range.
    """
    problems = _check_paths(cfg) + _check_values(cfg)
    scope = cfg.get('default_scope', None)
    # Build in the config's scope so its names (and rsb_mm's) resolve.
    with DefaultScope.overwrite_default_scope(scope):
        problems += _check_builds(cfg)
    if problems:
        raise ConfigError('the config cannot run:\n  - ' + '\n  - '.join(problems))
