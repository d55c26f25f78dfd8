"""Strict loading of a state dict into a module: every key must fit, or nothing is loaded.

A key of the module the checkpoint lacks (BN's ``num_batches_tracked`` excepted), a checkpoint
key the module lacks (unless it matches ``ignore_keys``; keys outside ``prefix`` are dropped and
said so in one INFO line), a shape mismatch, or a ``prefix`` that selects nothing is an error
naming the keys (:class:`~rsb_mm.weights.checkpoint.WeightsMappingError`) before any weight is
copied. No timm twin (timm's strict load is torch's ``load_state_dict``). Tests:
tests/test_weights/test_strict_pretrained.py.
"""
import fnmatch
import logging
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import load_state_dict as mmengine_load_state_dict
from torch import nn

from .checkpoint import (WeightsMappingError, extract_state_dict, key_diff, listing,
                         read_checkpoint)

__all__ = ['top_level_prefixes', 'select_prefix', 'check_module_fit', 'load_state_dict_strict',
           'load_checkpoint_strict']


def top_level_prefixes(keys: Iterable[str]) -> Dict[str, int]:
    """Count the keys under each first dotted component (``'backbone.'``: 320, ...).

    Args:
        keys (Iterable[str]): State-dict keys.

    Returns:
        dict[str, int]: ``'<first component>.'`` (or the bare key when it has no dot) -> count,
        in first-seen order.
    """
    counts: Dict[str, int] = {}
    for key in keys:
        head = key.split('.', 1)[0] + '.' if '.' in key else key
        counts[head] = counts.get(head, 0) + 1
    return counts


def _describe_prefixes(keys: Iterable[str]) -> str:
    return ', '.join(f"'{p}' ({n} keys)" for p, n in top_level_prefixes(keys).items())


def _normalise_prefix(prefix: Optional[str]) -> str:
    if prefix is None or prefix == '':
        return ''
    if not isinstance(prefix, str):
        raise ValueError(f'prefix must be a str or None, got {prefix!r}')
    return prefix if prefix.endswith('.') else prefix + '.'


def _normalise_patterns(ignore_keys: Union[str, Sequence[str], None]) -> List[str]:
    if ignore_keys is None:
        return []
    if isinstance(ignore_keys, str):
        return [ignore_keys]
    patterns = list(ignore_keys)
    bad = [p for p in patterns if not isinstance(p, str)]
    if bad:
        raise ValueError(f'ignore_keys must be a list of glob patterns (str), got {ignore_keys!r}')
    return patterns


def select_prefix(state_dict: Mapping[str, torch.Tensor], prefix: Optional[str]
                  ) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Keep the keys under ``prefix``, with the prefix removed.

    Args:
        state_dict (Mapping[str, torch.Tensor]): The checkpoint's state dict.
        prefix (str, optional): E.g. ``'backbone.'`` (the trailing dot may be omitted). None or
            ``''`` keeps everything.

    Returns:
        tuple: The selected state dict (``_metadata`` re-keyed) and the checkpoint keys outside
        the prefix.

    Raises:
        ValueError: if ``prefix`` selects no key; the message lists the checkpoint's prefixes.
    """
    prefix = _normalise_prefix(prefix)
    metadata = getattr(state_dict, '_metadata', None)
    if not prefix:
        selected = OrderedDict(state_dict)
        if metadata is not None:
            selected._metadata = metadata  # type: ignore[attr-defined]
        return selected, []
    selected: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    outside = []
    for key, value in state_dict.items():
        if key.startswith(prefix):
            selected[key[len(prefix):]] = value
        else:
            outside.append(key)
    if not selected:
        raise ValueError(f"prefix={prefix!r} selects no key of the checkpoint; its keys start "
                         f'with: {_describe_prefixes(state_dict)}')
    if metadata is not None:
        # BN's version metadata is keyed by module path; keep it aligned with the new keys.
        selected._metadata = OrderedDict(  # type: ignore[attr-defined]
            (k[len(prefix):] if k.startswith(prefix) else '', v)
            for k, v in metadata.items() if k.startswith(prefix) or k == prefix[:-1])
    return selected, outside


def check_module_fit(expected: Mapping[str, torch.Size],
                     selected: Mapping[str, torch.Tensor],
                     prefix: Optional[str] = None,
                     ignore_keys: Sequence[str] = (),
                     source: str = 'the checkpoint') -> List[str]:
    """Check that ``selected`` fits ``expected`` exactly; return the keys ignored on purpose.

    Keys in messages are the checkpoint's own names (``prefix`` included), so a message names
    exactly what to look for in the file. ``ignore_keys`` patterns match those names too.

    Args:
        expected (Mapping[str, torch.Size]): The module's state-dict keys and shapes.
        selected (Mapping[str, torch.Tensor]): The checkpoint's keys after prefix selection.
        prefix (str, optional): The prefix that was removed, for the messages. Defaults to None.
        ignore_keys (Sequence[str]): Glob patterns (``fnmatch``, case-sensitive) of checkpoint
            keys the module may lack. Defaults to ().
        source (str): How to name the checkpoint in messages. Defaults to 'the checkpoint'.

    Returns:
        list[str]: Checkpoint keys (with prefix) that matched ``ignore_keys``.

    Raises:
        WeightsMappingError: listing every missing, unexpected and mis-shaped key at once.
        ValueError: if the selection shares no key with the module (wrong ``prefix``).
    """
    prefix = _normalise_prefix(prefix)
    patterns = _normalise_patterns(ignore_keys)
    missing, not_in_module, mismatched, _ = key_diff(expected, selected, prefix)
    ignored, unexpected = [], []
    for key in not_in_module:
        (ignored if any(fnmatch.fnmatchcase(key, p) for p in patterns) else unexpected).append(key)
    if missing and not any(k in expected for k in selected):
        raise ValueError(
            f'prefix={prefix or None!r} selects {len(selected)} keys of {source}, none of which '
            f'the module has (it expects e.g. {list(expected)[:3]}); the checkpoint\'s keys '
            f'there start with: {_describe_prefixes(selected)}. Set `prefix` to the part '
            'before the module\'s names, or convert the file with tools/convert_weights.py')
    parts = []
    if missing:
        parts.append(listing('missing in the checkpoint (the module would keep a random init)',
                             missing))
    if unexpected:
        parts.append(listing('unexpected in the checkpoint (not in the module; if dropped on '
                             'purpose, list them in `ignore_keys`, glob patterns of checkpoint '
                             'keys such as "head.*")', unexpected))
    if mismatched:
        parts.append(listing('shape mismatches', mismatched))
    if parts:
        raise WeightsMappingError(
            f'{source} does not fit the module (prefix={prefix or None!r}):\n' + '\n'.join(parts),
            unexpected, missing, mismatched)
    return ignored


def _log_dropped(source: str, prefix: str, outside: Sequence[str], ignored: Sequence[str],
                 logger: str) -> None:
    parts = []
    if outside:
        groups = ', '.join(f'{p}* ({n})' for p, n in top_level_prefixes(outside).items())
        parts.append(f'outside prefix {prefix!r}: {groups}')
    if ignored:
        parts.append('matching ignore_keys: ' + ', '.join(ignored))
    if parts:
        print_log(f'Strict loading: dropped on purpose from {source} '
                  f'({len(outside) + len(ignored)} keys, e.g. the classifier head): '
                  + '; '.join(parts), logger=logger, level=logging.INFO)


def load_state_dict_strict(module: nn.Module,
                           state_dict: Mapping[str, torch.Tensor],
                           prefix: Optional[str] = None,
                           ignore_keys: Union[str, Sequence[str], None] = (),
                           source: str = 'the checkpoint',
                           logger: str = 'current') -> None:
    """Load a state dict into ``module``, refusing anything but an exact fit.

    Args:
        module (nn.Module): The module (a model wrapper is unwrapped).
        state_dict (Mapping[str, torch.Tensor]): The full checkpoint state dict.
        prefix (str, optional): Load only the keys under this prefix (e.g. ``'backbone.'``).
            Defaults to None (all keys).
        ignore_keys (str | Sequence[str] | None): Glob patterns of checkpoint keys (prefix
            included) the module may lack. Defaults to ().
        source (str): How to name the checkpoint in messages. Defaults to 'the checkpoint'.
        logger (str): MMEngine logger name. Defaults to 'current'.

    Raises:
        WeightsMappingError: on missing, unexpected (not ignored) or mis-shaped keys.
        ValueError: on a ``prefix`` that selects nothing the module has.
    """
    if is_model_wrapper(module):
        module = module.module
    selected, outside = select_prefix(state_dict, prefix)
    expected = OrderedDict((k, v.shape) for k, v in module.state_dict().items())
    ignored = check_module_fit(expected, selected, prefix, ignore_keys, source)
    _log_dropped(source, _normalise_prefix(prefix), outside, ignored, logger)
    for key in ignored:
        selected.pop(key[len(_normalise_prefix(prefix)):])
    # Every remaining key fits, so MMEngine's loader (which raises on rank 0 only) has nothing
    # to report; it keeps torch's per-module _load_from_state_dict hooks and version metadata.
    mmengine_load_state_dict(module, selected, strict=True, logger=logger)


def load_checkpoint_strict(module: nn.Module,
                           filename: str,
                           prefix: Optional[str] = None,
                           map_location: Any = 'cpu',
                           ignore_keys: Union[str, Sequence[str], None] = (),
                           logger: str = 'current') -> Mapping:
    """MMEngine's ``load_checkpoint``, strict: read ``filename`` and load it into ``module``.

    Args:
        module (nn.Module): The module to load into.
        filename (str): Checkpoint path or URL (any scheme MMEngine's ``CheckpointLoader``
            knows), or a ``.safetensors`` file.
        prefix (str, optional): Load only the keys under this prefix. Defaults to None.
        map_location (Any): ``torch.load``'s ``map_location``. Defaults to 'cpu'.
        ignore_keys (str | Sequence[str] | None): Glob patterns of checkpoint keys the module
            may lack. Defaults to ().
        logger (str): MMEngine logger name. Defaults to 'current'.

    Returns:
        dict: The checkpoint as loaded (``meta`` and all).
    """
    checkpoint = read_checkpoint(filename, map_location, logger)
    state_dict = extract_state_dict(checkpoint, source=str(filename))
    load_state_dict_strict(module, state_dict, prefix, ignore_keys, source=str(filename),
                           logger=logger)
    return checkpoint
