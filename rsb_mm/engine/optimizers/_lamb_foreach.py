"""LAMB's exact path: timm's per-tensor arithmetic as ``torch._foreach_*`` calls.

Twin: ``_single_tensor_lamb`` in ``timm/optim/lamb.py``; on CPU the same bits
(tests/test_engine/test_optimizers/test_multi_tensor_lamb.py).
"""
from typing import TYPE_CHECKING, List, Optional

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .lamb import LambStep


def trust_ratio(w_norm: Tensor, u_norm: Tensor, trust_clip: bool) -> Tensor:
    """``||w|| / ||u||``, 1 where either norm is 0, timm's ``_lamb_trust_ratio``.

    Element-wise, so one call serves a stacked vector of norms or one norm.

    Args:
        w_norm (Tensor): L2 norms of the parameters.
        u_norm (Tensor): L2 norms of the updates.
        trust_clip (bool): Clamp the ratio to at most 1 (LAMBC).
    """
    ratio = torch.where(
        w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, 1.0), 1.0)
    if trust_clip:
        ratio = torch.clamp(ratio, max=1.0)
    return ratio


def _caution_(updates: List[Tensor], products: List[Tensor]) -> None:
    """Cautious-optimizer mask, timm's ``caution`` branch over a tensor list.

    ``mask = (update * grad > 0)``, rescaled by ``1 / max(mean(mask), 1e-3)``
    and multiplied into the update. ``sign`` then ``clamp_min(0)`` is the
    foreach spelling of ``> 0``, and the L1 norm of a 0/1 mask is its count
    of ones.

    Args:
        updates (list[Tensor]): The updates, multiplied in place.
        products (list[Tensor]): ``update * grad`` (clipped gradient); turned
            into the masks in place.
    """
    torch._foreach_sign_(products)
    torch._foreach_clamp_min_(products, 0.)
    counts = torch.stack(torch._foreach_norm(products, 1))
    numels = torch.tensor([m.numel() for m in products],
                          dtype=counts.dtype, device=counts.device)
    scales = (counts / numels).clamp_(min=1e-3)
    torch._foreach_div_(products, list(scales.unbind(0)))
    torch._foreach_mul_(updates, products)


def foreach_lamb_(params: List[Tensor], grads: List[Tensor],
                  exp_avgs: List[Tensor], exp_avg_sqs: List[Tensor],
                  clip_factor: Optional[Tensor], hp: 'LambStep') -> None:
    """One LAMB step on tensors of one device and dtype, in place.

    The operations and their order are those of timm's
    ``_single_tensor_lamb``, each issued once for the whole list. Divisions
    by a bias correction of exactly 1 are skipped (exact no-ops). ``grads``
    are left unmodified.

    Args:
        params, grads, exp_avgs, exp_avg_sqs (list[Tensor]): The tensors.
        clip_factor (Tensor, optional): Divisor of the gradients from the
            global-norm clip.
        hp (LambStep): The step's hyper-parameters.
    """
    if clip_factor is not None:
        grads = torch._foreach_div(grads, clip_factor)

    if hp.beta3 == 1 - hp.beta1:
        torch._foreach_lerp_(exp_avgs, grads, hp.beta3)
    else:
        torch._foreach_mul_(exp_avgs, hp.beta1)
        torch._foreach_add_(exp_avgs, grads, alpha=hp.beta3)
    torch._foreach_mul_(exp_avg_sqs, hp.beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - hp.beta2)

    denom = torch._foreach_sqrt(exp_avg_sqs)
    if hp.bias_correction2 != 1:
        torch._foreach_div_(denom, hp.bias_correction2**0.5)
    torch._foreach_add_(denom, hp.eps)
    if hp.bias_correction1 != 1:
        updates = torch._foreach_div(exp_avgs, hp.bias_correction1)
        torch._foreach_div_(updates, denom)
    else:
        updates = torch._foreach_div(exp_avgs, denom)
    del denom

    if hp.caution:
        _caution_(updates, torch._foreach_mul(updates, grads))

    if hp.weight_decay != 0:
        if hp.decoupled_wd_scale is not None:
            torch._foreach_add_(
                params, params, alpha=-hp.decoupled_wd_scale * hp.weight_decay)
        else:
            torch._foreach_add_(updates, params, alpha=hp.weight_decay)

    if hp.weight_decay != 0 or hp.always_adapt:
        ratios = trust_ratio(
            torch.stack(torch._foreach_norm(params)),
            torch.stack(torch._foreach_norm(updates)), hp.trust_clip)
        torch._foreach_mul_(updates, list(ratios.unbind(0)))

    torch._foreach_add_(params, updates, alpha=-hp.lr)
