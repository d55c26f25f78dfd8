"""Turn an MMEngine runner checkpoint into a file to publish, in OpenMMLab's convention.

Reference: MMPretrain 1.2's ``tools/model_converters/publish_model.py`` (drops
``optimizer``, ``param_schedulers``, ``hook_msgs`` and ``message_hub``; wraps a bare state dict
as ``state_dict``; adds ``mmpretrain_version`` and ``dataset_meta`` to ``meta``; puts the EMA
weights in ``state_dict`` unless ``--no-ema``; writes a temporary file, hashes it, renames it
``{out}_{YYYYMMDD}-{sha256[:8]}.pth``) and MMDetection 3.3's (keeps only ``meta`` and
``state_dict``).

Why our own: MMPretrain's is a script (not importable, not tested), prints instead of logging,
keeps the whole ``meta`` (run time, seed, experiment name) and cannot write safetensors.
Here only ``state_dict`` and a minimal ``meta`` survive (:data:`PUBLISH_META_KEYS` plus the
library versions), the name's hash is the SHA-256 of the final file (computed after writing,
then renamed), and ``safetensors=True`` also writes the state dict as
``{out}_{YYYYMMDD}-{sha256[:8]}.safetensors`` (its own hash).
"""
import datetime
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, NamedTuple, Optional, Tuple

import torch
from mmengine.logging import print_log

from .checkpoint import read_checkpoint
from .convert import save_state_dict_file

__all__ = ['PUBLISH_META_KEYS', 'PublishedFiles', 'publish_checkpoint', 'sha256_file',
           'strip_checkpoint']

#: The entries of a runner checkpoint's ``meta`` kept when publishing: what the weights are
#: (config text, dataset classes) and how far they were trained; the run's time, seed and
#: experiment name are dropped.
PUBLISH_META_KEYS = ('cfg', 'dataset_meta', 'mmengine_version', 'epoch', 'iter')

_BLOCK = 1 << 20


class PublishedFiles(NamedTuple):
    """Paths written by :func:`publish_checkpoint`.

    Attributes:
        pth (str): The ``.pth`` file.
        safetensors (Optional[str]): The ``.safetensors`` file, or None if not asked for.
    """
    pth: str
    safetensors: Optional[str]


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_BLOCK), b''):
            digest.update(block)
    return digest.hexdigest()


def _library_versions() -> Dict[str, str]:
    import mmengine
    import mmpretrain

    from ..version import __version__
    return dict(mmengine_version=mmengine.__version__,
                mmpretrain_version=mmpretrain.__version__, rsb_mm_version=__version__)


def strip_checkpoint(checkpoint: Dict[str, Any], use_ema: bool = True
                     ) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
    """Keep only ``state_dict`` and a minimal ``meta`` of a runner checkpoint.

    Args:
        checkpoint (Dict[str, Any]): A loaded MMEngine checkpoint, or a bare state dict
            (then wrapped as ``state_dict``).
        use_ema (bool): With MMEngine's ``EMAHook`` the saved ``state_dict`` already holds the
            EMA weights (the hook swaps them in) and ``ema_state_dict`` the trained ones. True
            publishes the EMA weights, False the trained ones. Defaults to True.

    Returns:
        Tuple[Dict[str, Any], Tuple[str, ...]]: ``{'meta': ..., 'state_dict': ...}`` and the
        names of the top-level and ``meta`` entries removed.

    Raises:
        ValueError: If there is no state dict in ``checkpoint``.
    """
    if not isinstance(checkpoint, dict):
        raise ValueError(f'a checkpoint must be a dict, got {type(checkpoint).__name__}')
    if 'state_dict' not in checkpoint:
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            checkpoint = dict(state_dict=checkpoint)
        else:
            raise ValueError(f'no state_dict in the checkpoint; it has {sorted(checkpoint)}')
    state_dict = checkpoint['state_dict']
    ema = checkpoint.get('ema_state_dict')
    if ema is not None and not use_ema:
        # EMAHook's AveragedModel keys are 'module.<key>', plus its 'steps' counter.
        trained = {k[len('module.'):]: v for k, v in ema.items() if k.startswith('module.')}
        unknown = sorted(set(trained) - set(state_dict))
        if unknown:
            raise ValueError(f'ema_state_dict has keys not in state_dict: {unknown[:20]}')
        state_dict = type(state_dict)(state_dict)
        state_dict.update(trained)
    if ema is not None:
        print_log(f'the checkpoint has EMA weights; publishing the '
                  f'{"EMA" if use_ema else "trained (non-EMA)"} weights', logger='current')

    old_meta = checkpoint.get('meta') or {}
    meta = {k: old_meta[k] for k in PUBLISH_META_KEYS if k in old_meta}
    for name, version in _library_versions().items():
        meta.setdefault(name, version)
    removed = tuple(sorted(k for k in checkpoint if k not in ('meta', 'state_dict'))) + tuple(
        f'meta.{k}' for k in sorted(old_meta) if k not in meta)
    return dict(meta=meta, state_dict=state_dict), removed


def _write_hashed(write, stem: str, ext: str) -> str:
    tmp = f'{stem}.tmp{ext}'
    write(tmp)
    final = f'{stem}-{sha256_file(tmp)[:8]}{ext}'
    os.replace(tmp, final)
    return final


def _safetensors_meta(meta: Dict[str, Any]) -> Dict[str, str]:
    # safetensors metadata is str -> str: keep strings, JSON-encode the rest.
    return {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in meta.items()}


def publish_checkpoint(in_file: str, out_file: str, safetensors: bool = False,
                       use_ema: bool = True,
                       date: Optional[str] = None) -> PublishedFiles:
    """Write ``{out}_{YYYYMMDD}-{sha256[:8]}.pth`` (and ``.safetensors``) from a checkpoint.

    Args:
        in_file (str): A runner checkpoint (``work_dirs/<cfg>/epoch_N.pth``), read with
            :func:`~rsb_mm.weights.checkpoint.read_checkpoint`.
        out_file (str): Output path without date and hash, e.g.
            ``publish/rsb-a1_resnet50`` (a trailing ``.pth`` is removed); its folder is created.
        safetensors (bool): Also write the state dict as ``.safetensors``. Defaults to False.
        use_ema (bool): See :func:`strip_checkpoint`. Defaults to True.
        date (str, optional): ``YYYYMMDD`` for the name. Defaults to None (today).

    Returns:
        PublishedFiles: The final paths.

    Raises:
        ValueError: If ``date`` is not 8 digits or the checkpoint has no state dict.
    """
    if date is None:
        date = datetime.date.today().strftime('%Y%m%d')
    if not (isinstance(date, str) and len(date) == 8 and date.isdigit()):
        raise ValueError(f'date must be YYYYMMDD, got {date!r}')
    published, removed = strip_checkpoint(dict(read_checkpoint(in_file)), use_ema=use_ema)
    if removed:
        print_log(f'removed from the checkpoint: {", ".join(removed)}', logger='current')

    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    stem = f'{stem}_{date}'
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    pth = _write_hashed(lambda path: torch.save(published, path), stem, '.pth')
    print_log(f'published {pth}', logger='current')
    st_path = None
    if safetensors:
        st_path = _write_hashed(
            lambda path: save_state_dict_file(
                published['state_dict'], path, meta=_safetensors_meta(published['meta'])),
            stem, '.safetensors')
        print_log(f'published {st_path}', logger='current')
    return PublishedFiles(pth, st_path)
