"""Strict pretrained loading: ``init_cfg=dict(type='StrictPretrained', checkpoint=...)``.

A drop-in replacement for MMEngine's ``Pretrained`` initializer (``PretrainedInit``, which
loads with ``strict=False``: a missing or misnamed key keeps its random init with only a
warning), with the same arguments plus ``ignore_keys``, that loads with
:mod:`rsb_mm.weights.strict_load` and so refuses every such load. Registered in MMEngine's root
registry so that both MMPretrain's and MMDetection's scopes find it; it checks before loading,
runs the children's ``init_weights`` first and turns off ``zero_init_residual``, as MMEngine
does for ``'Pretrained'``: why, in docs/design.md, "Weights". Tests:
tests/test_weights/test_strict_pretrained.py.
"""
import logging
from collections import OrderedDict
from typing import Any, Mapping, Optional, Sequence, Union

from mmengine.logging import print_log
from mmengine.model import BaseModule, is_model_wrapper
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from .checkpoint import extract_state_dict, read_checkpoint
from .strict_load import (_normalise_patterns, _normalise_prefix, check_module_fit,
                          load_state_dict_strict, select_prefix)

REGISTERED_NAME = 'StrictPretrained'


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

    Raises:
        ValueError: on an empty ``checkpoint`` or a bad ``ignore_keys``/``prefix``.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: Any = 'cpu',
                 ignore_keys: Union[str, Sequence[str], None] = ()) -> None:
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError(f'checkpoint must be a non-empty path or URL, got {checkpoint!r}')
        self.checkpoint = checkpoint
        self.prefix = _normalise_prefix(prefix) or None
        self.map_location = map_location
        self.ignore_keys = _normalise_patterns(ignore_keys)

    def __call__(self, module: nn.Module) -> None:
        """Check the checkpoint against ``module``, then load it (see the module docstring)."""
        _check_last(module)
        where = f'{self.prefix} of ' if self.prefix else ''
        print_log(f'StrictPretrained: load {where}{self.checkpoint} into '
                  f'{type(module).__name__}', logger='current')
        state_dict = extract_state_dict(read_checkpoint(self.checkpoint, self.map_location),
                                        source=self.checkpoint)
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
