"""Strict pretrained loading: ``init_cfg=dict(type='StrictPretrained', checkpoint=...)``.

MMEngine's ``Pretrained`` initializer (``mmengine/model/weight_init.py``, ``PretrainedInit``)
loads with ``strict=False``: a backbone key that is missing from the checkpoint, or named
differently, only produces a warning and the parameter keeps its random init, so training
starts from a partly random backbone and nobody notices. :class:`StrictPretrainedInit` is a
drop-in replacement with the same arguments (``checkpoint``, ``prefix``, ``map_location``) that
refuses every such load:

- a key of the module that the checkpoint lacks (after prefix selection) is an error listing
  the keys (BN's ``num_batches_tracked`` counters excepted, as MMEngine does: they do not touch
  the outputs and torchvision-era checkpoints lack them);
- a checkpoint key the module does not have is an error unless it matches one of the
  ``ignore_keys`` glob patterns; keys outside ``prefix`` (e.g. the classifier head when loading
  ``backbone.``) and ignored keys are dropped on purpose and said so in one INFO line;
- a shape mismatch names the key and both shapes;
- a ``prefix`` that selects nothing says which prefixes the checkpoint has.

There is no timm twin: timm's ``load_checkpoint(..., strict=True)`` (``timm/models/_helpers.py``)
is torch's strict ``load_state_dict``, which knows nothing of config prefixes or of the init
order of OpenMMLab modules. We reuse MMEngine's reading path (``CheckpointLoader``: local files,
URLs, ``torchvision://`` ...; ``torch.load`` with its default ``weights_only=True``, which the
allow-list rsb_mm adds at import extends to runner checkpoints) and MMEngine's
``load_state_dict`` for the copy, after checking everything ourselves.

Why the root registry: the initializer is registered in MMEngine's root
``mmengine.registry.WEIGHT_INITIALIZERS``, not in MMPretrain's. MMPretrain's and MMDetection's
``WEIGHT_INITIALIZERS`` are siblings, both children of the root; a lookup searches the scope's
registry and then its parents, never a sibling. Registered in MMPretrain's registry, the name
would resolve in pretraining/transfer configs (``default_scope='mmpretrain'``) but not in
detection configs (``default_scope='mmdet'``); in the root, both scopes (and ``rsb_mm``'s, a
child of MMPretrain's) find it, next to MMEngine's own ``Pretrained``. The name is one that
neither MMEngine, MMPretrain nor MMDetection registers.

Why it does more than load: ``BaseModule.init_weights`` (``mmengine/model/base_module.py``)
runs an ``init_cfg`` whose type is the string ``'Pretrained'`` *after* the children's
``init_weights`` and every other init, so nothing overwrites the loaded weights; any other type,
ours included, runs *before* them. Backbones also key their own post-init steps on that string:
MMPretrain's ``ResNet.init_weights`` skips ``zero_init_residual`` only for ``'Pretrained'``
(``mmpretrain/models/backbones/resnet.py``). So, to give the same guarantee, the initializer:

1. checks the checkpoint against the module before touching any weight (a bad load fails
   before anything else, so ``Runner.train()`` refuses to start);
2. runs the children's pending ``init_weights`` first and marks them initialised (what MMEngine
   achieves for ``'Pretrained'`` by ordering), e.g. mmcv's ``ModulatedDeformConv2dPack`` zeroing
   its offsets inside an MMDetection ResNet would otherwise overwrite the loaded ones;
3. turns off ``zero_init_residual`` of the module (as MMPretrain does for ``'Pretrained'``);
4. must be the last entry of the module's ``init_cfg`` list (an entry after it would overwrite
   the weights), else a ValueError.

A module class that overrides ``init_weights`` with other post-init steps (e.g. MMPretrain's
vision transformers re-draw ``pos_embed`` unless the type is ``'Pretrained'``) gets a warning:
rsb_mm verifies the ResNet family only.
"""
import fnmatch
import logging
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule, is_model_wrapper
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner import CheckpointLoader
from mmengine.runner import load_state_dict as mmengine_load_state_dict
from torch import nn

REGISTERED_NAME = 'StrictPretrained'
# BN counters: MMEngine's load_state_dict ignores them too; not part of any output.
_OPTIONAL_SUFFIXES = ('num_batches_tracked', )
# Keys listed in an error message before it says "and N more".
_MAX_LISTED = 100
RevisePairs = Sequence[Tuple[str, str]]


class StrictLoadError(RuntimeError):
    """A checkpoint does not fit the module exactly (missing, unexpected or mis-shaped keys)."""


def _listing(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f' ... and {more} more' if more > 0 else '')


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


def extract_state_dict(checkpoint: Mapping, revise_keys: RevisePairs = ((r'^module\.', ''), )
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict of a loaded checkpoint, as MMEngine's ``load_checkpoint`` reads it.

    Args:
        checkpoint (Mapping): What ``torch.load`` returned: a runner checkpoint (with a
            ``'state_dict'`` entry) or a bare state dict.
        revise_keys (Sequence[tuple[str, str]]): ``(regex, replacement)`` pairs applied to every
            key, in order. Defaults to stripping DDP's ``module.``, as MMEngine does.

    Returns:
        OrderedDict[str, torch.Tensor]: The state dict, with ``_metadata`` kept when present.

    Raises:
        StrictLoadError: if the checkpoint is not a mapping or holds a non-tensor weight.
    """
    if not isinstance(checkpoint, Mapping):
        raise StrictLoadError(f'a checkpoint must be a dict, got {type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state, '_metadata', None)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state.items():
        for pattern, repl in revise_keys:
            key = re.sub(pattern, repl, key)
        out[key] = value
    not_tensors = [k for k, v in out.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise StrictLoadError(
            f'the checkpoint\'s state dict holds non-tensor values under {_listing(not_tensors)}; '
            "is it a runner checkpoint without a 'state_dict' entry?")
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


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
        StrictLoadError: listing every missing, unexpected and mis-shaped key at once.
        ValueError: if the selection shares no key with the module (wrong ``prefix``).
    """
    prefix = _normalise_prefix(prefix)
    patterns = _normalise_patterns(ignore_keys)
    missing = [prefix + k for k in expected
               if k not in selected and not k.endswith(_OPTIONAL_SUFFIXES)]
    ignored, unexpected = [], []
    for key in selected:
        if key in expected:
            continue
        full = prefix + key
        if any(fnmatch.fnmatchcase(full, p) for p in patterns):
            ignored.append(full)
        else:
            unexpected.append(full)
    if missing and not any(k in expected for k in selected):
        raise ValueError(
            f'prefix={prefix or None!r} selects {len(selected)} keys of {source}, none of which '
            f'the module has (it expects e.g. {list(expected)[:3]}); the checkpoint\'s keys '
            f'there start with: {_describe_prefixes(selected)}. Set `prefix` to the part '
            'before the module\'s names, or convert the file with tools/convert_weights.py')
    mismatched = [
        f'{prefix + k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k])}'
        for k, v in selected.items() if k in expected and tuple(v.shape) != tuple(expected[k])
    ]
    problems = []
    if missing:
        problems.append(f'missing in the checkpoint ({len(missing)}; the module would keep '
                        f'a random init): {_listing(missing)}')
    if unexpected:
        problems.append(f'unexpected in the checkpoint ({len(unexpected)}; not in the module; '
                        'if dropped on purpose, list them in `ignore_keys`, glob patterns of '
                        f'checkpoint keys such as "head.*"): {_listing(unexpected)}')
    if mismatched:
        problems.append(f'shape mismatch ({len(mismatched)}): {_listing(mismatched)}')
    if problems:
        raise StrictLoadError(f'{source} does not fit the module (prefix={prefix or None!r}):\n'
                              + '\n'.join('  - ' + p for p in problems))
    return ignored


def read_checkpoint(filename: str, map_location: Any = 'cpu', logger: str = 'current') -> Dict:
    """Read a checkpoint with MMEngine's ``CheckpointLoader`` (or safetensors for ``.safetensors``).

    ``torch.load`` keeps its default ``weights_only=True``; rsb_mm's import-time allow-list lets
    MMEngine runner checkpoints through, and nothing else that is not plain tensors.

    Args:
        filename (str): Local path, URL, ``torchvision://...``, or any scheme MMEngine knows.
        map_location (Any): ``torch.load``'s ``map_location``. Defaults to 'cpu'.
        logger (str): MMEngine logger name. Defaults to 'current'.

    Returns:
        dict: The loaded checkpoint.
    """
    if isinstance(filename, str) and filename.endswith('.safetensors') and osp.isfile(filename):
        from safetensors.torch import load_file

        if map_location is None:
            map_location = 'cpu'
        if not isinstance(map_location, (str, torch.device)):
            raise ValueError('map_location must be a device (str or torch.device) for a '
                             f'.safetensors file, got {map_location!r}')
        return load_file(filename, device=str(map_location))
    return CheckpointLoader.load_checkpoint(filename, map_location=map_location, logger=logger)


def _log_dropped(source: str, prefix: str, outside: Sequence[str], ignored: Sequence[str],
                 logger: str) -> None:
    parts = []
    if outside:
        groups = ', '.join(f'{p}* ({n})' for p, n in top_level_prefixes(outside).items())
        parts.append(f'outside prefix {prefix!r}: {groups}')
    if ignored:
        parts.append(f'matching ignore_keys: {_listing(list(ignored))}')
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
        StrictLoadError: on missing, unexpected (not ignored) or mis-shaped keys.
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
                           revise_keys: RevisePairs = ((r'^module\.', ''), ),
                           logger: str = 'current') -> Dict:
    """MMEngine's ``load_checkpoint``, strict: read ``filename`` and load it into ``module``.

    Args:
        module (nn.Module): The module to load into.
        filename (str): Checkpoint path or URL (any scheme MMEngine's ``CheckpointLoader``
            knows), or a ``.safetensors`` file.
        prefix (str, optional): Load only the keys under this prefix. Defaults to None.
        map_location (Any): ``torch.load``'s ``map_location``. Defaults to 'cpu'.
        ignore_keys (str | Sequence[str] | None): Glob patterns of checkpoint keys the module
            may lack. Defaults to ().
        revise_keys (Sequence[tuple[str, str]]): ``(regex, replacement)`` pairs applied to the
            checkpoint's keys first. Defaults to stripping DDP's ``module.``.
        logger (str): MMEngine logger name. Defaults to 'current'.

    Returns:
        dict: The checkpoint as loaded (``meta`` and all).
    """
    checkpoint = read_checkpoint(filename, map_location, logger)
    state_dict = extract_state_dict(checkpoint, revise_keys)
    load_state_dict_strict(module, state_dict, prefix, ignore_keys, source=str(filename),
                           logger=logger)
    return checkpoint


def _is_this_initializer(cfg: Any) -> bool:
    return isinstance(cfg, Mapping) and cfg.get('type') in (REGISTERED_NAME, StrictPretrainedInit)


def _check_last(module: nn.Module) -> None:
    init_cfgs = getattr(module, 'init_cfg', None)
    if not isinstance(init_cfgs, (list, tuple)):
        return
    positions = [i for i, cfg in enumerate(init_cfgs) if _is_this_initializer(cfg)]
    if not positions:
        return
    # 'Pretrained' entries run last anyway (MMEngine orders them after all others).
    after = [cfg for cfg in init_cfgs[positions[0] + 1:]
             if isinstance(cfg, Mapping) and cfg.get('type') not in ('Pretrained', REGISTERED_NAME,
                                                                     StrictPretrainedInit)]
    if after:
        raise ValueError(
            f'init_cfg of {type(module).__name__} lists {after} after StrictPretrained; MMEngine '
            'runs init_cfg entries in order, so they would overwrite the loaded weights. Put '
            'StrictPretrained last.')


def _init_children_first(module: nn.Module) -> None:
    # What BaseModule.init_weights does right after this initializer returns, done now so that
    # it runs before the load instead of after it (MMEngine gives 'Pretrained' this order).
    for child in module.children():
        if is_model_wrapper(child) and not hasattr(child, 'init_weights'):
            child = child.module
        if hasattr(child, 'init_weights') and not getattr(child, 'is_init', False):
            child.init_weights()
            # The flag BaseModule.init_weights checks before calling a child; a plain
            # nn.Module with init_weights (mmcv's ConvModule) has no flag of its own.
            child.is_init = True
            if hasattr(module, '_params_init_info'):
                update_init_info(child, init_info=f'Initialized by user-defined `init_weights` '
                                 f'in {type(child).__name__} before StrictPretrained')


def _warn_post_init_steps(module: nn.Module) -> None:
    from mmpretrain.models.backbones import ResNet as MMPretrainResNet

    own = type(module).init_weights
    if own is BaseModule.init_weights or own is MMPretrainResNet.init_weights:
        return
    if not isinstance(module, BaseModule):
        return
    print_log(
        f'StrictPretrained: {type(module).__name__} overrides init_weights; steps it runs after '
        "loading (e.g. skipped only for init_cfg type 'Pretrained') may overwrite the loaded "
        'weights. rsb_mm verifies the ResNet family only.', logger='current',
        level=logging.WARNING)


@WEIGHT_INITIALIZERS.register_module(name=REGISTERED_NAME)
class StrictPretrainedInit:
    """Initialize a module from a checkpoint, refusing missing, unexpected or mis-shaped keys.

    Used as ``init_cfg=dict(type='StrictPretrained', checkpoint=..., prefix='backbone.')``,
    with the arguments of MMEngine's ``Pretrained`` plus ``ignore_keys``.

    Args:
        checkpoint (str): Checkpoint path or URL (MMEngine's schemes) or ``.safetensors`` file.
        prefix (str, optional): Load the keys under this prefix into the module, e.g.
            ``'backbone.'`` to load a classifier's backbone into a backbone. Keys outside it are
            dropped and logged. Defaults to None (the whole checkpoint).
        map_location (Any): ``torch.load``'s ``map_location``. Defaults to 'cpu'.
        ignore_keys (str | Sequence[str] | None): Glob patterns of checkpoint keys (prefix
            included) that the module may lack, e.g. ``['fc.*']`` to load a timm/torchvision
            ResNet into a backbone. Defaults to ().
        revise_keys (Sequence[tuple[str, str]]): ``(regex, replacement)`` pairs applied to the
            checkpoint's keys before selection. Defaults to stripping DDP's ``module.``.

    Raises:
        ValueError: on an empty ``checkpoint`` or a bad ``ignore_keys``/``prefix``.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: Any = 'cpu',
                 ignore_keys: Union[str, Sequence[str], None] = (),
                 revise_keys: RevisePairs = ((r'^module\.', ''), )) -> None:
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError(f'checkpoint must be a non-empty path or URL, got {checkpoint!r}')
        self.checkpoint = checkpoint
        self.prefix = _normalise_prefix(prefix) or None
        self.map_location = map_location
        self.ignore_keys = _normalise_patterns(ignore_keys)
        self.revise_keys = [tuple(pair) for pair in revise_keys]

    def __call__(self, module: nn.Module) -> None:
        """Check the checkpoint against ``module``, then load it (see the module docstring)."""
        _check_last(module)
        where = f'{self.prefix} of ' if self.prefix else ''
        print_log(f'StrictPretrained: load {where}{self.checkpoint} into '
                  f'{type(module).__name__}', logger='current')
        checkpoint = read_checkpoint(self.checkpoint, self.map_location)
        state_dict = extract_state_dict(checkpoint, self.revise_keys)
        target = module.module if is_model_wrapper(module) else module
        selected, _ = select_prefix(state_dict, self.prefix)
        # Fail before any weight changes, so a bad file stops a run before it starts.
        expected = OrderedDict((k, v.shape) for k, v in target.state_dict().items())
        check_module_fit(expected, selected, self.prefix, self.ignore_keys, self.checkpoint)

        _init_children_first(target)
        if getattr(target, 'zero_init_residual', False):
            # MMPretrain's ResNet does the same for 'Pretrained' (it zeroes the last BN of
            # each block after loading otherwise).
            target.zero_init_residual = False
        _warn_post_init_steps(target)
        load_state_dict_strict(target, state_dict, self.prefix, self.ignore_keys,
                               source=self.checkpoint)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return f'{type(self).__name__}: load from {self.checkpoint}'
