"""Two parameter groups, decay and no decay, the way timm builds them.

Reference: ``timm/optim/_param_groups.py`` (timm 1.0.31), function
``param_groups_weight_decay``, as ``timm.optim.create_optimizer_v2`` calls it
for RSB (``weight_decay_exclude_1d=True``, the model's ``no_weight_decay()``
names, no fallback optimizer): trainable parameters with ``ndim <= 1`` or a
name ending in ``.bias`` or matching a ``no_weight_decay`` pattern get weight
decay 0; the others get the optimizer's weight decay; frozen parameters are
left out.

Why our own instead of calling timm's function: its home and signature
have changed across timm releases (``optim/optim_factory.py`` in 0.x,
``optim/_param_groups.py`` with fallback groups for Muon now), the rule
itself is a few lines, and a pure function over ``(name, param)`` pairs is
what the constructor needs. Why not MMEngine's ``paramwise_cfg``: it makes
one group per parameter (161 for ResNet-50), which defeats a multi-tensor
optimizer, and its ``norm/bias/flat_decay_mult`` rules select a slightly
different set (e.g. 0-dim parameters keep decay). The tests check the
groups against timm's function.

Registered in ``mmpretrain.registry.OPTIM_WRAPPER_CONSTRUCTORS``::

    optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='MultiTensorLamb', lr=5e-3, weight_decay=0.01),
        constructor='DecayGroupsOptimWrapperConstructor',
        # optional; these are the only keys accepted
        paramwise_cfg=dict(no_weight_decay=['*.pos_embed'],
                           weight_decay_exclude_1d=True))
"""
import fnmatch
import inspect
from typing import Any, Collection, Dict, Iterable, List, Optional, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
# Built through MMEngine's root registries, as DefaultOptimWrapperConstructor
# does, so the optimizer type resolves in the config's default scope.
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS

# paramwise_cfg keys this constructor understands; MMEngine's (custom_keys,
# *_decay_mult, *_lr_mult, ...) would make per-parameter groups, so they are
# rejected instead of silently ignored.
ACCEPTED_PARAMWISE_KEYS = ('no_weight_decay', 'weight_decay_exclude_1d')


def decay_param_groups(
        named_params: Iterable[Tuple[str, nn.Parameter]],
        weight_decay: float,
        no_weight_decay: Collection[str] = (),
        weight_decay_exclude_1d: bool = True) -> List[Dict[str, Any]]:
    """Split parameters into a no-decay and a decay group, as timm does.

    Same rule and group order as timm's ``param_groups_weight_decay``.

    Args:
        named_params (iterable[tuple[str, Parameter]]): ``(name, param)``
            pairs, e.g. ``model.named_parameters()``.
        weight_decay (float): Weight decay of the decay group. When it is 0,
            every parameter goes to the no-decay group (as timm).
        no_weight_decay (collection[str]): Names or ``fnmatch`` patterns
            (``*``, ``?``) of parameters that get no decay. Defaults to ().
        weight_decay_exclude_1d (bool): No decay for parameters with
            ``ndim <= 1`` or a name ending in ``.bias``. Defaults to True.

    Returns:
        list[dict]: ``[{'params': no_decay, 'weight_decay': 0.},
        {'params': decay, 'weight_decay': weight_decay}]``, an empty group
        left out. Parameters with ``requires_grad=False`` are left out.
    """
    decay, no_decay = [], []
    for name, param in named_params:
        if not param.requires_grad:
            continue
        excluded = (not weight_decay
                    or (weight_decay_exclude_1d and
                        (param.ndim <= 1 or name.endswith('.bias')))
                    or any(fnmatch.fnmatch(name, pattern)
                           for pattern in no_weight_decay))
        (no_decay if excluded else decay).append(param)
    groups = []
    if no_decay:
        groups.append({'params': no_decay, 'weight_decay': 0.})
    if decay:
        groups.append({'params': decay, 'weight_decay': weight_decay})
    return groups


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DecayGroupsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Build an optimizer over two param groups: decay and no decay.

    The groups follow timm's ``param_groups_weight_decay`` (see the module
    docstring): no decay for trainable parameters with ``ndim <= 1``, names
    ending in ``.bias``, and names matching ``no_weight_decay`` (the
    ``paramwise_cfg`` patterns plus the model's ``no_weight_decay()`` if it
    has one, as timm's optimizer factory); the optimizer's ``weight_decay``
    for the rest. Both groups use the optimizer's lr.

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config, with an
            ``optimizer`` dict that must set ``weight_decay``.
        paramwise_cfg (dict, optional): Only these keys:

            - ``no_weight_decay`` (list[str]): full parameter names (as in
              ``model.named_parameters()``) or ``fnmatch`` patterns with no
              decay. Defaults to ().
            - ``weight_decay_exclude_1d`` (bool): exclude 1-D parameters and
              biases from decay. Defaults to True.

            Defaults to None.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def _validate_cfg(self) -> None:
        """Check the optimizer's weight decay and the paramwise keys."""
        if not isinstance(self.paramwise_cfg, dict):
            raise ValueError('paramwise_cfg must be None or a dict, got '
                             f'{self.paramwise_cfg!r}')
        unknown = sorted(set(self.paramwise_cfg) -
                         set(ACCEPTED_PARAMWISE_KEYS))
        if unknown:
            raise ValueError(
                f'paramwise_cfg keys {unknown} are not supported by '
                'DecayGroupsOptimWrapperConstructor (it builds timm\'s two '
                'groups: no decay for ndim <= 1 and *.bias parameters); '
                f'accepted keys: {list(ACCEPTED_PARAMWISE_KEYS)}, got '
                f'paramwise_cfg={self.paramwise_cfg!r}')
        patterns = self.paramwise_cfg.get('no_weight_decay', ())
        if isinstance(patterns, str) or not all(
                isinstance(p, str) for p in patterns):
            raise ValueError('paramwise_cfg.no_weight_decay must be a list of '
                             f'names or patterns, got {patterns!r}')
        exclude_1d = self.paramwise_cfg.get('weight_decay_exclude_1d', True)
        if not isinstance(exclude_1d, bool):
            raise ValueError('paramwise_cfg.weight_decay_exclude_1d must be a '
                             f'bool, got {exclude_1d!r}')
        if isinstance(self.base_wd, bool) or not isinstance(
                self.base_wd, (int, float)) or self.base_wd < 0:
            raise ValueError(
                'optimizer.weight_decay must be set to a number >= 0 for '
                'DecayGroupsOptimWrapperConstructor, got '
                f'{self.base_wd!r}')

    def param_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        """The two param groups of ``model`` (pure; builds nothing).

        Args:
            model (nn.Module): The model (unwrapped from DDP if needed).

        Returns:
            list[dict]: See :func:`decay_param_groups`.
        """
        if hasattr(model, 'module'):
            model = model.module
        no_weight_decay = set(self.paramwise_cfg.get('no_weight_decay', ()))
        if callable(getattr(model, 'no_weight_decay', None)):
            no_weight_decay |= set(model.no_weight_decay())
        return decay_param_groups(
            model.named_parameters(),
            weight_decay=self.base_wd,
            no_weight_decay=no_weight_decay,
            weight_decay_exclude_1d=self.paramwise_cfg.get(
                'weight_decay_exclude_1d', True))

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper over the two groups of ``model``.

        Args:
            model (nn.Module): The model to optimize.

        Returns:
            OptimWrapper: The built wrapper.
        """
        groups = self.param_groups(model)
        print_log(
            'DecayGroupsOptimWrapperConstructor: ' + ', '.join(
                f"{len(g['params'])} tensors "
                f"({sum(p.numel() for p in g['params'])} elements) with "
                f"weight_decay={g['weight_decay']}" for g in groups),
            logger='current')

        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(optimizer_cfg['type'])
            if optimizer_cls is None:
                raise ValueError(
                    f"optimizer type {optimizer_cfg['type']!r} is not "
                    'registered in the current scope')
        # as MMEngine: some optimizers name their first argument otherwise
        first_arg_name = next(iter(inspect.signature(optimizer_cls).parameters))
        optimizer_cfg[first_arg_name] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)

        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
