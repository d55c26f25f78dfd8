"""``MultiTensorLamb``: LAMB (https://arxiv.org/abs/1904.00962) as timm trains RSB.

Twin: ``timm.optim.Lamb`` (``timm/optim/lamb.py``), argument for argument and,
on CPU, bit for bit with its per-tensor path (unless ``fused=True``); the
arithmetic is :func:`rsb_mm.engine.optimizers.lamb.lamb`. Tests:
tests/test_engine/test_optimizers/test_multi_tensor_lamb.py. Why not timm's or
MMPretrain's ``Lamb``: docs/design.md, "LAMB".
"""
import math
from numbers import Real
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import torch
from mmpretrain.registry import OPTIMIZERS
from torch import Tensor
from torch.optim import Optimizer

from .lamb import global_clip_factor, lamb


def _check_range(name: str, value: Any, low: float,
                 high: Optional[float] = None) -> None:
    """Raise a ValueError naming ``name`` unless ``low <= value < high``."""
    if isinstance(value, (bool, Tensor)) or not isinstance(value, Real):
        raise ValueError(f'{name} must be a real number, got {value!r}')
    if math.isnan(value) or value < low or (high is not None
                                            and value >= high):
        bound = f'[{low}, {high})' if high is not None else f'>= {low}'
        raise ValueError(f'{name} must be {bound}, got {value!r}')


def _check_group(group: Dict[str, Any]) -> None:
    """Validate the hyper-parameters of one param group (or the defaults)."""
    _check_range('lr', group['lr'], 0.)
    _check_range('eps', group['eps'], 0.)
    _check_range('weight_decay', group['weight_decay'], 0.)
    betas = group['betas']
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f'betas must be a pair (beta1, beta2), got {betas!r}')
    _check_range('betas[0]', betas[0], 0., 1.)
    _check_range('betas[1]', betas[1], 0., 1.)
    max_grad_norm = group['max_grad_norm']
    if max_grad_norm is not None and (
            isinstance(max_grad_norm, (bool, Tensor))
            or not isinstance(max_grad_norm, Real)
            or not max_grad_norm > 0):
        raise ValueError('max_grad_norm must be None or > 0, got '
                         f'{max_grad_norm!r}')
    if group['decoupled_decay'] and group['corrected_weight_decay'] \
            and group['max_lr_snapshot'] <= 0:
        raise ValueError('corrected_weight_decay needs a positive peak lr, '
                         f"got lr={group['max_lr_snapshot']!r}")


@OPTIMIZERS.register_module()
class MultiTensorLamb(Optimizer):
    """LAMB with timm's behaviour (NVIDIA FusedLAMB), multi-tensor.

    Matches ``timm.optim.Lamb`` (timm 1.0.31) argument for argument (``lr``
    must be a number, not a tensor; ``foreach`` only None or True; plus
    ``fused``). State: ``exp_avg`` and ``exp_avg_sq`` per parameter and an
    int ``step`` per group (a timm state dict, whose step is a tensor, loads
    too)::

        optimizer=dict(type='MultiTensorLamb', lr=5e-3, weight_decay=0.01)

    Args:
        params (iterable): Parameters or dicts defining parameter groups.
        lr (float): Learning rate. Defaults to 1e-3.
        bias_correction (bool): Bias-correct the moments. Defaults to True.
        betas (tuple[float, float]): Coefficients of the running averages of
            the gradient and its square. Defaults to (0.9, 0.999).
        eps (float): Added to the denominator. Defaults to 1e-6.
        weight_decay (float): Weight decay, added to the update (scaled by
            the trust ratio and lr with it). Groups with 0 get no trust
            ratio unless ``always_adapt``. Defaults to 0.01.
        grad_averaging (bool): Scale the gradient by ``1 - beta1`` in the
            first moment. Defaults to True.
        max_grad_norm (float, optional): Clip the global L2 norm of the
            gradients of all groups to this value inside ``step()`` (the
            ``.grad`` tensors are not modified). Read from the constructor's
            value, as timm does, not per group. None disables it.
            Defaults to 1.0.
        trust_clip (bool): Clamp the trust ratio to at most 1 (LAMBC).
            Defaults to False.
        always_adapt (bool): Apply the trust ratio in groups without weight
            decay too. Defaults to False.
        caution (bool): Cautious-optimizer masking of the update
            (arXiv 2411.16085). Defaults to False.
        decoupled_decay (bool): Apply weight decay to the weights
            (``w -= lr * weight_decay * w``) instead of adding it to the
            update. Defaults to False.
        corrected_weight_decay (bool): With ``decoupled_decay``, scale the
            decay by ``lr**2 / max_lr`` (``max_lr`` is the constructor's lr).
            Defaults to False.
        foreach (bool, optional): Accepted for timm compatibility; this
            optimizer is always multi-tensor, so only None or True.
            Defaults to None.
        fused (bool): Update each large contiguous parameter with one
            ``torch.compile``-d function instead of the exact foreach passes:
            faster, not bit-exact with timm (rounding only: <= 1e-5 relative
            after training); the first step compiles (a C++ compiler on CPU,
            Triton on GPU). Not part of the state dict. Defaults to False.
    """

    def __init__(self,
                 params: Iterable,
                 lr: float = 1e-3,
                 bias_correction: bool = True,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6,
                 weight_decay: float = 0.01,
                 grad_averaging: bool = True,
                 max_grad_norm: Optional[float] = 1.0,
                 trust_clip: bool = False,
                 always_adapt: bool = False,
                 caution: bool = False,
                 decoupled_decay: bool = False,
                 corrected_weight_decay: bool = False,
                 foreach: Optional[bool] = None,
                 fused: bool = False) -> None:
        if foreach is not None and foreach is not True:
            raise ValueError(
                'foreach must be None or True (MultiTensorLamb is always '
                f'multi-tensor; use timm.optim.Lamb for the per-tensor loop), '
                f'got {foreach!r}')
        defaults = dict(
            lr=lr,
            bias_correction=bias_correction,
            betas=tuple(betas) if isinstance(betas, list) else betas,
            eps=eps,
            weight_decay=weight_decay,
            grad_averaging=grad_averaging,
            max_grad_norm=max_grad_norm,
            trust_clip=trust_clip,
            always_adapt=always_adapt,
            caution=caution,
            decoupled_decay=decoupled_decay,
            corrected_weight_decay=corrected_weight_decay,
            # the peak lr for corrected decay, as timm's _max_lr_snapshot
            max_lr_snapshot=lr,
        )
        _check_group(defaults)
        if not isinstance(fused, bool):
            raise ValueError(f'fused must be a bool, got {fused!r}')
        super().__init__(params, defaults)
        # an attribute, not a group key: a state dict loads either way
        self.fused = fused

    def __getstate__(self) -> Dict[str, Any]:
        state = super().__getstate__()
        state['fused'] = self.fused
        return state

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a param group, validating its hyper-parameters.

        Args:
            param_group (dict): The group; unset keys take the defaults.
        """
        super().add_param_group(param_group)
        _check_group(self.param_groups[-1])

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            # timm keeps the step as a float32 CPU tensor; accept its state
            if isinstance(group.get('step'), Tensor):
                group['step'] = int(group['step'].item())
            group.setdefault('caution', False)
            group.setdefault('decoupled_decay', False)
            group.setdefault('corrected_weight_decay', False)
            group.setdefault('max_lr_snapshot',
                             self.defaults['max_lr_snapshot'])
        self.__dict__.setdefault('fused', False)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Perform one optimization step.

        Args:
            closure (callable, optional): Re-evaluates the model and returns
                the loss. Defaults to None.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        grads = [p.grad for group in self.param_groups
                 for p in group['params'] if p.grad is not None]
        if any(g.is_sparse for g in grads):
            raise RuntimeError(
                'MultiTensorLamb does not support sparse gradients.')
        clip_factor = global_clip_factor(grads,
                                         self.defaults['max_grad_norm'])

        for group in self.param_groups:
            # as timm: the step counts per group, even without gradients
            group['step'] = group.get('step', 0) + 1
            params = [p for p in group['params'] if p.grad is not None]
            for p in params:
                if not self.state[p]:
                    self.state[p]['exp_avg'] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
                    self.state[p]['exp_avg_sq'] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
            lamb(params, [p.grad for p in params],
                 [self.state[p]['exp_avg'] for p in params],
                 [self.state[p]['exp_avg_sq'] for p in params],
                 step=group['step'],
                 lr=group['lr'],
                 beta1=group['betas'][0],
                 beta2=group['betas'][1],
                 eps=group['eps'],
                 weight_decay=group['weight_decay'],
                 clip_factor=clip_factor,
                 bias_correction=group['bias_correction'],
                 grad_averaging=group['grad_averaging'],
                 trust_clip=group['trust_clip'],
                 always_adapt=group['always_adapt'],
                 caution=group['caution'],
                 decoupled_decay=group['decoupled_decay'],
                 corrected_weight_decay=group['corrected_weight_decay'],
                 max_lr=group['max_lr_snapshot'],
                 fused=self.fused)
        return loss
