"""LAMB's fused path: one ``torch.compile``-d loop per large tensor (opt-in).

Not bit-exact with timm's ``_single_tensor_lamb`` (``timm/optim/lamb.py``):
rounding only, <= 1e-5 relative on ResNet-50 after 20 steps
(tests/test_engine/test_optimizers/test_multi_tensor_lamb.py).
"""
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

import torch
from torch import Tensor

from ._lamb_foreach import trust_ratio

if TYPE_CHECKING:
    from .lamb import LambStep

# Parameters of at least this many elements take the compiled path; smaller
# ones stay on the foreach path (a compiled call costs ~0.1 ms of Python and
# guard overhead, more than a small tensor's whole update). ResNet-50: 52 of
# 161 tensors, 99.8% of the elements.
FUSED_MIN_NUMEL = 2**14


def fusable(tensors: List[Tensor]) -> bool:
    """Whether a parameter (with its grad and state) takes the fused path."""
    return tensors[0].numel() >= FUSED_MIN_NUMEL and all(
        t.is_contiguous() for t in tensors)


def lamb_tensor_fused_(param: Tensor, grad: Tensor, exp_avg: Tensor,
                       exp_avg_sq: Tensor, update: Tensor, inv_clip: Tensor,
                       hyper: Tensor, *, lerp: bool, decay: bool,
                       decoupled: bool, adapt: bool, trust_clip: bool,
                       caution: bool) -> Tensor:
    """Moments, update and trust ratio of one flat tensor, written to be compiled.

    timm's arithmetic for one parameter as one expression graph: updates the
    moments in place, writes the update (weight decay and caution included,
    trust ratio not) into ``update`` and returns the factor for
    ``param.addcmul_(update, factor)``. Divisions by the clip factor and the
    bias corrections are multiplications by their reciprocals; ``lerp`` is
    spelt ``m + beta3 * (g - m)``, ATen's formula for weights below 0.5.

    Args:
        param, grad, exp_avg, exp_avg_sq (Tensor): 1-D contiguous views of
            the same length; ``grad`` is not modified, ``param`` only by
            decoupled weight decay.
        update (Tensor): 1-D output of the same length, overwritten.
        inv_clip (Tensor): 0-dim reciprocal of the global clip factor.
        hyper (Tensor): ``[lr, beta1, beta2, 1 - beta2, beta3,
            1 / bias_correction1, 1 / sqrt(bias_correction2), eps,
            weight_decay, decoupled_wd_scale * weight_decay]``.
        lerp (bool): ``beta3 == 1 - beta1`` (timm's ``lerp_`` branch).
        decay (bool): ``weight_decay != 0``.
        decoupled (bool): Decay the weights instead of adding to the update.
        adapt (bool): Apply the trust ratio.
        trust_clip, caution (bool): As timm's ``lamb``.

    Returns:
        Tensor: 0-dim ``-lr * trust_ratio`` (``-lr`` without ``adapt``).
    """
    (lr, beta1, beta2, one_minus_beta2, beta3, inv_bias_correction1,
     inv_sqrt_bias_correction2, eps, weight_decay,
     decoupled_decay_step) = hyper.unbind(0)
    grad = grad * inv_clip
    if lerp:
        exp_avg.add_((grad - exp_avg) * beta3)
    else:
        exp_avg.mul_(beta1).add_(grad * beta3)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=one_minus_beta2)
    new_update = (exp_avg * inv_bias_correction1) / (
        exp_avg_sq.sqrt() * inv_sqrt_bias_correction2 + eps)
    if caution:
        mask = (new_update * grad > 0).to(grad.dtype)
        new_update = new_update * (mask / mask.mean().clamp(min=1e-3))
    if decay:
        if decoupled:
            param.sub_(param * decoupled_decay_step)
        else:
            new_update = new_update + param * weight_decay
    update.copy_(new_update)
    if not adapt:
        return -lr
    return -lr * trust_ratio(
        torch.linalg.vector_norm(param), torch.linalg.vector_norm(new_update),
        trust_clip)


_COMPILED: Dict[str, Callable[..., Tensor]] = {}


def _compiled() -> Callable[..., Tensor]:
    """``lamb_tensor_fused_`` compiled once per process (dynamic sizes)."""
    if 'fn' not in _COMPILED:
        _COMPILED['fn'] = torch.compile(
            lamb_tensor_fused_, dynamic=True, fullgraph=True)
    return _COMPILED['fn']


def fused_lamb_(params: List[Tensor], grads: List[Tensor],
                exp_avgs: List[Tensor], exp_avg_sqs: List[Tensor],
                clip_factor: Optional[Tensor], hp: 'LambStep') -> None:
    """One LAMB step, one compiled call per tensor, in place.

    Args:
        params, grads, exp_avgs, exp_avg_sqs (list[Tensor]): Contiguous
            tensors (see :func:`fusable`).
        clip_factor (Tensor, optional): Divisor of the gradients from the
            global-norm clip.
        hp (LambStep): The step's hyper-parameters.
    """
    fused_fn = _compiled()
    flags = dict(
        lerp=hp.beta3 == 1 - hp.beta1,
        decay=hp.weight_decay != 0,
        decoupled=hp.decoupled_wd_scale is not None,
        adapt=hp.weight_decay != 0 or hp.always_adapt,
        trust_clip=hp.trust_clip,
        caution=hp.caution)
    hypers: Dict[tuple, Tensor] = {}
    inv_clips: Dict[torch.device, Tensor] = {}
    for tensors in zip(params, grads, exp_avgs, exp_avg_sqs):
        p = tensors[0]
        kind = (p.device, torch.promote_types(p.dtype, torch.float32))
        if kind not in hypers:
            hypers[kind] = torch.tensor(
                [hp.lr, hp.beta1, hp.beta2, 1 - hp.beta2, hp.beta3,
                 1 / hp.bias_correction1, hp.bias_correction2**-0.5, hp.eps,
                 hp.weight_decay,
                 (hp.decoupled_wd_scale or 0.) * hp.weight_decay],
                dtype=kind[1], device=p.device)
        if p.device not in inv_clips:
            inv_clips[p.device] = torch.ones(
                (), device=p.device) if clip_factor is None else \
                clip_factor.to(p.device).reciprocal()
        flat = [t.detach().view(-1) for t in tensors]
        update = torch.empty_like(flat[0], dtype=kind[1])
        scale = fused_fn(*flat, update, inv_clips[p.device], hypers[kind],
                         **flags)
        # a 0-dim factor: no host sync on a GPU
        flat[0].addcmul_(update, scale)
