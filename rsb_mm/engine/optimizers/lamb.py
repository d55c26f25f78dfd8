"""LAMB (https://arxiv.org/abs/1904.00962) in functional form, as ``torch.optim.adam.adam``.

:func:`lamb` runs one step for the tensors of one param group and dispatches
to the exact foreach path (``_lamb_foreach.py``: timm's ``_single_tensor_lamb``
bit for bit on CPU) or, with ``fused=True``, to the compiled path
(``_lamb_fused.py``) for the large tensors. Twin: ``timm/optim/lamb.py``;
tests: tests/test_engine/test_optimizers/test_multi_tensor_lamb.py.
"""
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ._lamb_foreach import foreach_lamb_
from ._lamb_fused import fusable, fused_lamb_


class LambStep(NamedTuple):
    """The scalars of one LAMB step, shared by both paths.

    ``beta3`` scales the gradient in the first moment (``1 - beta1`` with
    grad averaging, else 1); ``decoupled_wd_scale`` is None when weight decay
    is added to the update (timm's default), else the factor of
    ``w -= decoupled_wd_scale * weight_decay * w``.
    """
    lr: float
    beta1: float
    beta2: float
    beta3: float
    bias_correction1: float
    bias_correction2: float
    eps: float
    weight_decay: float
    decoupled_wd_scale: Optional[float]
    trust_clip: bool
    always_adapt: bool
    caution: bool


def global_clip_factor(grads: List[Tensor],
                       max_grad_norm: Optional[float]) -> Optional[Tensor]:
    """Global gradient-norm clip divisor, as timm's ``Lamb._get_clip_grad_norm``.

    Args:
        grads (list[Tensor]): The gradients of all parameters of all groups.
        max_grad_norm (float, optional): The norm to clip to; None disables
            the clip.

    Returns:
        Tensor | None: ``max(||g||_2 / max_grad_norm, 1)`` as a 0-dim tensor
        (gradients are divided by it); None when clipping is off, there are
        no gradients, or the factor is a CPU tensor equal to 1 (dividing by 1
        is exact, and reading a CPU tensor costs no device sync).
    """
    if max_grad_norm is None or not grads:
        return None
    global_norm = torch.linalg.vector_norm(
        torch.stack(torch._foreach_norm(grads)))
    factor = (global_norm / max_grad_norm).clamp_(min=1.0)
    if factor.device.type == 'cpu' and factor.item() == 1.0:
        return None
    return factor


def lamb(params: List[Tensor],
         grads: List[Tensor],
         exp_avgs: List[Tensor],
         exp_avg_sqs: List[Tensor],
         *,
         step: int,
         lr: float,
         beta1: float,
         beta2: float,
         eps: float,
         weight_decay: float,
         clip_factor: Optional[Tensor] = None,
         bias_correction: bool = True,
         grad_averaging: bool = True,
         trust_clip: bool = False,
         always_adapt: bool = False,
         caution: bool = False,
         decoupled_decay: bool = False,
         corrected_weight_decay: bool = False,
         max_lr: Optional[float] = None,
         fused: bool = False) -> None:
    """One LAMB step of one param group, in place (``grads`` unmodified).

    Args:
        params, grads, exp_avgs, exp_avg_sqs (list[Tensor]): The group's
            parameters with gradients, and their moments.
        step (int): The group's step count, this step included.
        clip_factor (Tensor, optional): Divisor of the gradients, from
            :func:`global_clip_factor` over all groups.
        max_lr (float, optional): Peak lr for ``corrected_weight_decay``.
        fused (bool): Step the tensors that :func:`fusable` accepts with the
            compiled path (not bit-exact), the others with the exact one.
        Others: as ``MultiTensorLamb``.
    """
    if bias_correction:
        bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
    else:
        bias_correction1 = bias_correction2 = 1.0
    decoupled_wd_scale = None
    if decoupled_decay:
        decoupled_wd_scale = lr**2 / max_lr if corrected_weight_decay else lr
    hp = LambStep(lr, beta1, beta2, 1 - beta1 if grad_averaging else 1.0,
                  bias_correction1, bias_correction2, eps, weight_decay,
                  decoupled_wd_scale, trust_clip, always_adapt, caution)
    tensors = list(zip(params, grads, exp_avgs, exp_avg_sqs))
    if fused:
        fused_lamb_(*_unzip([t for t in tensors if fusable(t)]),
                    clip_factor, hp)
        tensors = [t for t in tensors if not fusable(t)]
    # a foreach call takes tensors of one device and dtype
    kinds: Dict[Tuple[torch.device, torch.dtype], list] = {}
    for t in tensors:
        kinds.setdefault((t[0].device, t[0].dtype), []).append(t)
    for same_kind in kinds.values():
        foreach_lamb_(*_unzip(same_kind), clip_factor, hp)


def _unzip(tensors: List[tuple]) -> List[List[Tensor]]:
    """``[(p, g, m, v), ...]`` -> ``[[p, ...], [g, ...], [m, ...], [v, ...]]``."""
    return [list(column) for column in zip(*tensors)] or [[], [], [], []]
