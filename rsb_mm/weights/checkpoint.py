"""The one checkpoint reader, the one key difference and the one error of ``rsb_mm.weights``.

:func:`read_checkpoint` reads any file or URL MMEngine's ``CheckpointLoader`` reads (plus
``.safetensors``); :func:`extract_state_dict` finds its weights as timm's ``load_state_dict``
does (``timm/models/_helpers.py``: ``state_dict``, ``model``, then the EMA entries) and strips
DDP's ``module.`` and ``torch.compile``'s ``_orig_mod.`` when every key has them (timm's
``clean_state_dict``). :func:`key_diff` compares a state dict with the keys and shapes a model
expects; :class:`WeightsMappingError` reports what does not fit. Tests:
tests/test_weights/test_checkpoint.py, test_convert.py, test_strict_pretrained.py.
"""
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, List, Mapping, NamedTuple, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader

from .key_maps import BN_BUFFER_OPTIONAL

__all__ = [
    'STATE_DICT_KEYS', 'WeightsMappingError', 'KeyDiff', 'key_diff', 'listing',
    'read_checkpoint', 'extract_state_dict', 'load_state_dict_file'
]

#: Entries of a checkpoint that may hold the weights, in the order they are looked for:
#: MMEngine and timm save ``state_dict``, some trainers ``model``; the EMA entries come last
#: because the RSB recipe trains without EMA (pass ``key`` to pick one).
STATE_DICT_KEYS = ('state_dict', 'model', 'state_dict_ema', 'model_ema')

_WRAPPER_PREFIXES = ('module.', '_orig_mod.')  # DDP and torch.compile, as timm strips them
_SHOW = 20  # keys listed per kind in a message; the exception holds them all


class WeightsMappingError(ValueError):
    """Weights that do not fit their target: missing, unexpected or mis-shaped keys.

    Args:
        message (str): The message, listing the keys.
        unmapped (List[str]): Keys of the weights the target has no place for.
        missing (List[str]): Keys the target needs that the weights lack.
        mismatched (List[str]): ``'key: got (...), expected (...)'`` for each wrong shape.
    """

    def __init__(self, message: str, unmapped: Optional[List[str]] = None,
                 missing: Optional[List[str]] = None,
                 mismatched: Optional[List[str]] = None) -> None:
        super().__init__(message)
        self.unmapped = list(unmapped or [])
        self.missing = list(missing or [])
        self.mismatched = list(mismatched or [])


def listing(title: str, items: Sequence[str]) -> str:
    """``'  N <title>:'`` and the first :data:`_SHOW` items, one a line."""
    shown = list(items[:_SHOW])
    more = f'\n    ... and {len(items) - _SHOW} more' if len(items) > _SHOW else ''
    return f'  {len(items)} {title}:\n    ' + '\n    '.join(shown) + more


class KeyDiff(NamedTuple):
    """What :func:`key_diff` found; keys in the order of the expected keys / the state dict."""
    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]
    optional_missing: int


def key_diff(expected: Mapping[str, Sequence[int]], state_dict: Mapping[str, Any],
             prefix: str = '') -> KeyDiff:
    """Compare ``state_dict`` with the keys and shapes a model expects.

    Args:
        expected (Mapping[str, Sequence[int]]): Key to shape.
        state_dict (Mapping[str, Any]): Key to tensor.
        prefix (str): Put before every key reported (the part of the file's names that was
            removed). Defaults to ''.

    Returns:
        KeyDiff: Expected keys the state dict lacks (BatchNorm's ``num_batches_tracked``
        aside: PyTorch fills it with 0 on load; those are only counted), keys it has that are
        not expected, and ``'key: got ..., expected ...'`` for each wrong shape or non-tensor.
    """
    missing, optional_missing = [], 0
    for key in expected:
        if key not in state_dict:
            if key.endswith(BN_BUFFER_OPTIONAL):
                optional_missing += 1
            else:
                missing.append(prefix + key)
    unexpected, mismatched = [], []
    for key, value in state_dict.items():
        if key not in expected:
            unexpected.append(prefix + key)
            continue
        shape = tuple(expected[key])
        if not isinstance(value, torch.Tensor):
            mismatched.append(f'{prefix + key}: got {type(value).__name__}, expected a tensor '
                              f'of shape {shape}')
        elif tuple(value.shape) != shape:
            mismatched.append(f'{prefix + key}: got {tuple(value.shape)}, expected {shape}')
    return KeyDiff(missing, unexpected, mismatched, optional_missing)


def read_checkpoint(filename: str, map_location: Any = 'cpu', logger: str = 'current') -> Mapping:
    """Read a checkpoint: a ``.safetensors`` file, or anything MMEngine's ``CheckpointLoader``
    reads (local ``.pth``, URLs, ``torchvision://``, ...).

    ``torch.load`` keeps its default ``weights_only=True``; the allow-list rsb_mm adds at
    import lets MMEngine runner checkpoints through, and nothing else that is not tensors.

    Args:
        filename (str): The file or URL.
        map_location (Any): ``torch.load``'s ``map_location``. Defaults to 'cpu'.
        logger (str): MMEngine logger name. Defaults to 'current'.

    Returns:
        Mapping: The loaded checkpoint, ``meta`` and all.

    Raises:
        FileNotFoundError: If a local ``filename`` does not exist.
        ValueError: If the file cannot be read or is not a dict.
        pickle.UnpicklingError: If the pickle needs a global torch does not allow.
    """
    is_url = isinstance(filename, str) and '://' in filename
    if not is_url and not osp.isfile(filename):
        raise FileNotFoundError(f'no checkpoint file at {filename}')
    try:
        if str(filename).endswith('.safetensors'):
            from safetensors.torch import load_file
            if not isinstance(map_location, (str, torch.device, type(None))):
                raise ValueError('map_location must be a device (str or torch.device) for a '
                                 f'.safetensors file, got {map_location!r}')
            checkpoint = load_file(filename, device=str(map_location or 'cpu'))
        else:
            checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location,
                                                          logger=logger)
    except pickle.UnpicklingError as exc:
        raise pickle.UnpicklingError(
            f'{filename}: {exc}\nrsb_mm loads checkpoints with weights_only=True and never '
            'unpickles arbitrary objects. A timm training checkpoint (with argparse '
            "'args') can be cleaned first with timm's clean_checkpoint.py.") from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise ValueError(f'cannot read {filename} (truncated or not a checkpoint?): '
                         f'{exc}') from exc
    except ValueError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f'cannot read {filename}: {exc}') from exc
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{filename} holds a {type(checkpoint).__name__}, not a state dict')
    return checkpoint


def extract_state_dict(checkpoint: Mapping, key: Optional[str] = None,
                       source: str = 'the checkpoint') -> 'OrderedDict[str, torch.Tensor]':
    """The weights of a loaded checkpoint, wrapper prefixes removed.

    Args:
        checkpoint (Mapping): What :func:`read_checkpoint` returned.
        key (str, optional): Entry holding the weights (e.g. ``'state_dict_ema'``). Defaults
            to None: the whole checkpoint when it holds only tensors, else the first of
            :data:`STATE_DICT_KEYS` present.
        source (str): How to name the checkpoint in messages. Defaults to 'the checkpoint'.

    Returns:
        OrderedDict[str, torch.Tensor]: Key to tensor, with ``_metadata`` kept when present.

    Raises:
        ValueError: If there is no such ``key`` or the weights hold a non-tensor.
    """
    entry = key
    if entry is None and not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        entry = next((k for k in STATE_DICT_KEYS if k in checkpoint), None)
    if entry is not None:
        if entry not in checkpoint:
            raise ValueError(f'key={entry!r} is not in {source}; it has {sorted(checkpoint)}')
        checkpoint = checkpoint[entry]
        print_log(f'loaded the weights under {entry!r} of {source}', logger='current')
        if not isinstance(checkpoint, Mapping):
            raise ValueError(f'{source}[{entry!r}] is a {type(checkpoint).__name__}, not a '
                             'state dict')
    not_tensors = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ValueError(f'{source} holds entries that are not tensors: {not_tensors[:_SHOW]}; '
                         f'pass key= one of {list(STATE_DICT_KEYS)}')
    metadata = getattr(checkpoint, '_metadata', None)
    state_dict = OrderedDict(checkpoint)
    stripped = ''
    for prefix in _WRAPPER_PREFIXES:
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items())
            stripped += prefix
    if stripped:
        print_log(f'removed the prefix {stripped!r} from every key of {source}',
                  logger='current')
    if metadata is not None:
        state_dict._metadata = metadata  # type: ignore[attr-defined]
    return state_dict


def load_state_dict_file(path: str, key: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """:func:`read_checkpoint` then :func:`extract_state_dict` (see both)."""
    return extract_state_dict(read_checkpoint(path), key, source=path)
