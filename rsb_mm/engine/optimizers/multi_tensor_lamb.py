"""LAMB as timm trains RSB, computed over whole lists of tensors at once.

Reference: ``timm/optim/lamb.py`` (timm 1.0.31), class ``Lamb`` and its
per-tensor step ``_single_tensor_lamb``: NVIDIA FusedLAMB behaviour, i.e. a
global gradient-norm clip inside the optimizer (``max_grad_norm``), Adam
moments with bias correction, weight decay added to the update, and the
layer-wise trust ratio ``||w|| / ||update||`` (1 where either norm is 0),
applied only where ``weight_decay != 0`` unless ``always_adapt``.

Why our own instead of ``timm.optim.Lamb``:

* timm's ``Lamb`` picks its multi-tensor path only on devices that PyTorch
  gives fast foreach kernels (CUDA); on CPU it loops over the parameters in
  Python and allocates four temporaries per parameter per step; for large
  tensors those are fresh pages from the OS every step (the page faults
  take about a third of its step time on ResNet-50). Its multi-tensor path,
  in turn, folds the bias corrections into scalars, so it rounds
  differently from the per-tensor loop, and is no faster on CPU.
* ``MultiTensorLamb`` runs timm's per-tensor arithmetic, operation for
  operation and in the same order, as ``torch._foreach_*`` calls over blocks
  of a group's parameters (small ones packed up to ``chunk_numel`` elements
  so that a block stays in cache across the step's passes), with the
  temporaries in two reused scratch buffers on CPU. On CPU it gives the same
  bits as timm's per-tensor loop (``_single_tensor_lamb``); the tests check
  it.
* MMPretrain's ``Lamb`` (``mmpretrain/engine/optimizers/lamb.py``) is an
  older copy of timm's: no ``caution``/decoupled decay, ``mul_``/``add_``
  instead of ``lerp_`` for the first moment, a global norm summed
  differently, it divides ``p.grad`` in place by the clip factor, and fails
  with ``max_grad_norm=None``.

* ``fused=True`` (opt-in) trades the bit-exactness for speed: each
  parameter of at least ``FUSED_MIN_NUMEL`` elements gets its moments, bias
  corrections, denominator, caution, weight decay and both norms from one
  ``torch.compile``-d function (``lamb_tensor_fused_``: one loop over the
  tensor, a vectorised C++ kernel on CPU, Triton on GPU), which writes the
  update into a scratch buffer kept across steps; one ``addcmul_`` then
  applies ``-lr * trust_ratio``. Two passes instead of ~15, and no
  temporaries allocated per step. The global clip and the per-tensor norms
  keep timm's semantics; only the rounding differs (<= 1e-5 relative on
  ResNet-50 after 20 steps, tested). It needs a working ``torch.compile``
  (a C++ compiler on CPU, Triton on GPU) and compiles on the first step
  (seconds to a minute per combination of options; see
  benchmarks/bench_lamb.py).

Registered in ``mmpretrain.registry.OPTIMIZERS`` as ``MultiTensorLamb``::

    optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='MultiTensorLamb', lr=5e-3, weight_decay=0.01),
        constructor='DecayGroupsOptimWrapperConstructor')
"""
import math
from numbers import Real
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch
from mmpretrain.registry import OPTIMIZERS
from torch import Tensor
from torch.optim import Optimizer

# Elements per block of parameters on CPU: the block's gradients, moments,
# parameters and temporaries (6 float32 streams, 1.5 MiB) stay in a 1-2 MiB
# L2 cache while all of a step's passes run over them, instead of streaming
# every tensor from memory once per pass. A parameter larger than this forms a
# block of its own: cutting it into cache-sized flat pieces was measured
# slower on ResNet-50 (the ~15 foreach calls per piece cost more than the
# cache saves). See benchmarks/bench_lamb.py.
CPU_CHUNK_NUMEL = 2**16

# With ``fused=True``, parameters of at least this many elements take the
# compiled per-tensor path; smaller ones keep the exact blocked foreach path,
# where one set of foreach calls serves a whole block of them (a compiled
# call per tensor costs ~0.1 ms of Python and guard overhead, more than the
# whole update of a small tensor). ResNet-50: 52 of 161 tensors, 99.8% of the
# elements. See benchmarks/bench_lamb.py.
FUSED_MIN_NUMEL = 2**14


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
    chunk_numel = group['chunk_numel']
    if isinstance(chunk_numel, bool) or not isinstance(chunk_numel, int) \
            or chunk_numel < 0:
        raise ValueError(
            f'chunk_numel must be an int >= 0, got {chunk_numel!r}')
    if group['decoupled_decay'] and group['corrected_weight_decay'] \
            and group['max_lr_snapshot'] <= 0:
        raise ValueError('corrected_weight_decay needs a positive peak lr, '
                         f"got lr={group['max_lr_snapshot']!r}")


def global_clip_factor(grads: List[Tensor],
                       max_grad_norm: Optional[float]) -> Optional[Tensor]:
    """Global gradient-norm clip divisor, as timm's ``Lamb._get_clip_grad_norm``.

    Args:
        grads (list[Tensor]): The gradients of all parameters of all groups.
        max_grad_norm (float, optional): The norm to clip to; None disables
            the clip.

    Returns:
        Tensor | None: ``max(||g||_2 / max_grad_norm, 1)`` as a 0-dim tensor
        (gradients are divided by it), or None when clipping is off or there
        are no gradients.
    """
    if max_grad_norm is None or not grads:
        return None
    global_norm = torch.linalg.vector_norm(
        torch.stack(torch._foreach_norm(grads)))
    return (global_norm / max_grad_norm).clamp_(min=1.0)


def lamb_trust_ratios(w_norms: List[Tensor], u_norms: List[Tensor],
                      trust_clip: bool) -> List[Tensor]:
    """Layer-wise trust ratios ``||w|| / ||u||``, timm's ``_lamb_trust_ratio``.

    Computed for all tensors of one device and dtype at once (one stacked
    vector), element by element the same float operations as timm's.

    Args:
        w_norms (list[Tensor]): 0-dim L2 norms of the parameters.
        u_norms (list[Tensor]): 0-dim L2 norms of the updates.
        trust_clip (bool): Clamp the ratio to at most 1 (LAMBC).

    Returns:
        list[Tensor]: One 0-dim ratio per tensor; 1 where either norm is 0.
    """
    w_norm, u_norm = torch.stack(w_norms), torch.stack(u_norms)
    ratio = torch.where(
        w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, 1.0), 1.0)
    if trust_clip:
        ratio = torch.clamp(ratio, max=1.0)
    return list(ratio.unbind(0))


def _sqrt(src: List[Tensor], out: Optional[List[Tensor]]) -> List[Tensor]:
    """``sqrt(src)`` into the workspace views ``out``, or new tensors."""
    if out is None:
        return torch._foreach_sqrt(src)
    torch._foreach_copy_(out, src)
    torch._foreach_sqrt_(out)
    return out


def _div(src: List[Tensor], divisor: Any,
         out: Optional[List[Tensor]]) -> List[Tensor]:
    """``src / divisor`` into the workspace views ``out``, or new tensors."""
    if out is None:
        return torch._foreach_div(src, divisor)
    torch._foreach_copy_(out, src)
    torch._foreach_div_(out, divisor)
    return out


def _caution_(updates: List[Tensor], products: List[Tensor]) -> None:
    """Cautious-optimizer mask, timm's ``caution`` branch over a tensor list.

    ``mask = (update * grad > 0)``, rescaled by ``1 / max(mean(mask), 1e-3)``
    and multiplied into the update. ``sign`` then ``clamp_min(0)`` is the
    foreach spelling of ``> 0`` (foreach has no comparison; a NaN product
    only occurs where the update is NaN already), and the L1 norm of a 0/1
    mask is its count of ones.

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


def lamb_block_(params: List[Tensor],
                grads: List[Tensor],
                exp_avgs: List[Tensor],
                exp_avg_sqs: List[Tensor],
                clip_factor: Optional[Tensor],
                workspace: Optional[Tuple[List[Tensor], List[Tensor]]] = None,
                *,
                lr: float,
                beta1: float,
                beta2: float,
                beta3: float,
                bias_correction1: float,
                bias_correction2: float,
                eps: float,
                weight_decay: float,
                decoupled_wd_scale: Optional[float],
                trust_clip: bool,
                always_adapt: bool,
                caution: bool) -> None:
    """One LAMB step on a block of tensors (same device and dtype), in place.

    The operations and their order are those of timm's
    ``_single_tensor_lamb``, each one issued once for the whole block.
    Divisions by a bias correction of exactly 1 are skipped (they are exact
    no-ops). ``grads`` are left unmodified.

    Args:
        params, grads, exp_avgs, exp_avg_sqs (list[Tensor]): The block.
        clip_factor (Tensor, optional): Divisor of the gradients from the
            global-norm clip.
        workspace (tuple[list[Tensor], list[Tensor]], optional): Two lists
            of scratch tensors shaped like ``params`` for the temporaries;
            None allocates them. Defaults to None.
        lr, beta1, beta2, beta3, bias_correction1, bias_correction2, eps,
            weight_decay, trust_clip, always_adapt, caution: As timm's
            ``lamb`` function.
        decoupled_wd_scale (float, optional): ``lr`` (or ``lr**2 / max_lr``)
            when weight decay is decoupled (applied to the weights), None when
            it is added to the update (timm's default).
    """
    buf_a, buf_b = workspace if workspace is not None else (None, None)
    raw_grads = grads
    if clip_factor is not None:
        grads = _div(raw_grads, clip_factor, buf_a)

    if beta3 == 1 - beta1:
        torch._foreach_lerp_(exp_avgs, grads, beta3)
    else:
        torch._foreach_mul_(exp_avgs, beta1)
        torch._foreach_add_(exp_avgs, grads, alpha=beta3)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)

    denom = _sqrt(exp_avg_sqs, buf_b)
    if bias_correction2 != 1:
        torch._foreach_div_(denom, bias_correction2**0.5)
    torch._foreach_add_(denom, eps)
    if bias_correction1 != 1:
        updates = _div(exp_avgs, bias_correction1, buf_a)
        torch._foreach_div_(updates, denom)
    else:
        updates = _div(exp_avgs, denom, buf_a)

    del denom
    if caution:
        if buf_b is None:
            products = torch._foreach_mul(updates, grads)
        else:
            # the clipped gradients in buf_a were overwritten by the update
            if clip_factor is None:
                torch._foreach_copy_(buf_b, raw_grads)
            else:
                _div(raw_grads, clip_factor, buf_b)
            torch._foreach_mul_(buf_b, updates)
            products = buf_b
        _caution_(updates, products)

    if weight_decay != 0:
        if decoupled_wd_scale is not None:
            torch._foreach_add_(
                params, params, alpha=-decoupled_wd_scale * weight_decay)
        else:
            torch._foreach_add_(updates, params, alpha=weight_decay)

    if weight_decay != 0 or always_adapt:
        ratios = lamb_trust_ratios(
            torch._foreach_norm(params), torch._foreach_norm(updates),
            trust_clip)
        torch._foreach_mul_(updates, ratios)

    torch._foreach_add_(params, updates, alpha=-lr)


def lamb_tensor_fused_(param: Tensor, grad: Tensor, exp_avg: Tensor,
                       exp_avg_sq: Tensor, update: Tensor, inv_clip: Tensor,
                       hyper: Tensor, *, lerp: bool, decay: bool,
                       decoupled: bool, adapt: bool, trust_clip: bool,
                       caution: bool) -> Tensor:
    """Moments, update and trust ratio of one flat tensor, written to be compiled.

    The arithmetic of timm's ``_single_tensor_lamb`` for one parameter as
    one expression graph, which ``torch.compile`` fuses into a single loop:
    it updates the moments in place, writes the update (weight decay and
    caution included, trust ratio not) into ``update`` and reduces both
    norms on the way. The caller finishes with
    ``param.addcmul_(update, <returned scale>)``.

    Why not the weight update in the same compiled function: inductor then
    materialises the update in a temporary it allocates on every call, and
    on CPU a freshly allocated tensor of megabytes is fresh pages from the
    OS (glibc hands large blocks back), whose page faults cost about a
    quarter of the step on ResNet-50 when other code allocates in between,
    as in training.
    ``update`` is a scratch buffer the optimizer keeps.

    Divisions by the clip factor and the bias corrections are
    multiplications by their reciprocals (one division per element is
    left): the loop is bound by arithmetic as much as by memory. ``lerp`` is
    spelt ``m + beta3 * (g - m)``, ATen's formula for weights below 0.5.

    Args:
        param, grad, exp_avg, exp_avg_sq (Tensor): 1-D contiguous views of
            the same length; ``grad`` is not modified, ``param`` only by
            decoupled weight decay.
        update (Tensor): 1-D scratch of the same length, overwritten.
        inv_clip (Tensor): 0-dim reciprocal of the global clip factor.
        hyper (Tensor): ``[lr, beta1, beta2, 1 - beta2, beta3,
            1 / bias_correction1, 1 / sqrt(bias_correction2), eps,
            weight_decay, decoupled_wd_scale * weight_decay]``, each
            computed in double and rounded once.
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
    w_norm = torch.linalg.vector_norm(param)
    u_norm = torch.linalg.vector_norm(new_update)
    ratio = torch.where(
        w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, 1.0), 1.0)
    if trust_clip:
        ratio = torch.clamp(ratio, max=1.0)
    return -lr * ratio


_COMPILED: Dict[str, Callable[..., Tensor]] = {}


def compiled_lamb_tensor_fused_() -> Callable[..., Tensor]:
    """``lamb_tensor_fused_`` compiled once per process (dynamic sizes)."""
    if 'fn' not in _COMPILED:
        _COMPILED['fn'] = torch.compile(
            lamb_tensor_fused_, dynamic=True, fullgraph=True)
    return _COMPILED['fn']


def split_blocks(tensors: List[Tensor],
                 chunk_numel: Optional[int]) -> List[List[int]]:
    """Indices of ``tensors`` in blocks of one device and dtype.

    Consecutive tensors of the same device and dtype are packed into a block
    until adding the next would exceed ``chunk_numel`` elements; a tensor
    larger than that is a block of its own.

    Args:
        tensors (list[Tensor]): The parameters of one group.
        chunk_numel (int, optional): Block budget in elements; None or 0
            keeps one block per device and dtype.

    Returns:
        list[list[int]]: The blocks, as indices into ``tensors``.
    """
    blocks: Dict[Tuple[torch.device, torch.dtype], List[List[int]]] = {}
    filled: Dict[Tuple[torch.device, torch.dtype], int] = {}
    for i, t in enumerate(tensors):
        kind = (t.device, t.dtype)
        kind_blocks = blocks.setdefault(kind, [])
        numel = t.numel()
        if not kind_blocks or (chunk_numel
                               and filled[kind] + numel > chunk_numel):
            kind_blocks.append([])
            filled[kind] = 0
        kind_blocks[-1].append(i)
        filled[kind] += numel
    return [block for kind_blocks in blocks.values() for block in kind_blocks]


@OPTIMIZERS.register_module()
class MultiTensorLamb(Optimizer):
    """LAMB with timm's behaviour (NVIDIA FusedLAMB), multi-tensor.

    Matches ``timm.optim.Lamb`` (timm 1.0.31) argument for argument (``lr``
    must be a number, not a tensor; ``foreach`` only None or True; plus
    ``chunk_numel``, ``fused``) and, on CPU, bit for bit with its per-tensor
    path unless ``fused=True``; see
    the module docstring.
    State: ``exp_avg`` and ``exp_avg_sq`` per parameter and an int ``step``
    per group (a timm state dict, whose step is a tensor, loads too).

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
        chunk_numel (int, optional): On CPU, elements per block of
            parameters that every pass runs over before the next block, so
            the block stays in cache; 0 disables blocking. Other devices run
            each op over the whole group. Defaults to 65536.
        fused (bool): Update each parameter of at least
            ``FUSED_MIN_NUMEL`` elements (contiguous, with contiguous
            gradient and state) with one ``torch.compile``-d function
            instead of the exact foreach passes: on ResNet-50 on CPU about
            2x the exact path's speed (3.2-3.6x timm's Lamb on one thread, see
            benchmarks/README.md), but not bit-exact with timm (rounding
            only: <= 1e-5 relative after training), and the first step
            compiles (needs a C++ compiler on CPU, Triton on GPU). Not part
            of the state dict, which is the same either way.
            Defaults to False.
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
                 chunk_numel: int = CPU_CHUNK_NUMEL,
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
            chunk_numel=chunk_numel,
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
            group.setdefault('chunk_numel', CPU_CHUNK_NUMEL)
        self.__dict__.setdefault('fused', False)

    def _workspace(
        self, params: List[Tensor]
    ) -> Optional[Tuple[List[Tensor], List[Tensor]]]:
        """Two lists of scratch views shaped like ``params`` (CPU only).

        On CPU, fresh temporaries of a large tensor are new pages from the
        OS on every step (glibc hands big blocks back), and the page faults
        are a large share of timm's step time; two reused flat buffers of
        the largest block avoid them. Other devices' caching allocators make temporaries
        cheap, so they get None (allocate). Not part of the state.
        """
        first = params[0]
        if first.device.type != 'cpu':
            return None
        numel = sum(p.numel() for p in params)
        # not set by __init__ alone: a pickled optimizer comes back without it
        buffers = self.__dict__.setdefault('_flat_workspace', {})
        key = (first.device, first.dtype)
        if key not in buffers or buffers[key][0].numel() < numel:
            buffers[key] = tuple(
                torch.empty(numel, dtype=first.dtype, device=first.device)
                for _ in range(2))
        views: Tuple[List[Tensor], List[Tensor]] = ([], [])
        offset = 0
        for p in params:
            for flat, out in zip(buffers[key], views):
                out.append(flat[offset:offset + p.numel()].view(p.shape))
            offset += p.numel()
        return views

    def _fused_scratch(self, kind: Tuple[torch.device, torch.dtype],
                       numel: int) -> Tensor:
        """A flat scratch of ``numel`` elements of ``kind`` (device, dtype),
        kept across steps (not part of the state)."""
        # not set by __init__ alone: a pickled optimizer comes back without it
        buffers = self.__dict__.setdefault('_fused_update', {})
        if kind not in buffers or buffers[kind].numel() < numel:
            buffers[kind] = torch.empty(numel, dtype=kind[1], device=kind[0])
        return buffers[kind][:numel]

    def _fused_step(
        self, group: Dict[str, Any], params: List[Tensor],
        grads: List[Tensor], exp_avgs: List[Tensor],
        exp_avg_sqs: List[Tensor], clip_factor: Optional[Tensor],
        beta3: float, bias_correction1: float, bias_correction2: float,
        decoupled_wd_scale: Optional[float]
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Step the large contiguous tensors of a group with the compiled
        function; return the others (params, grads, exp_avgs, exp_avg_sqs)
        for the exact path."""
        fused_fn = compiled_lamb_tensor_fused_()
        beta1, beta2 = group['betas']
        weight_decay = group['weight_decay']
        flags = dict(
            lerp=beta3 == 1 - beta1,
            decay=weight_decay != 0,
            decoupled=decoupled_wd_scale is not None,
            adapt=weight_decay != 0 or group['always_adapt'],
            trust_clip=group['trust_clip'],
            caution=group['caution'])
        hypers: Dict[Tuple[torch.device, torch.dtype], Tensor] = {}
        inv_clips: Dict[torch.device, Tensor] = {}
        rest: Tuple[List[Tensor], ...] = ([], [], [], [])
        for tensors in zip(params, grads, exp_avgs, exp_avg_sqs):
            p = tensors[0]
            if p.numel() < FUSED_MIN_NUMEL or not all(
                    t.is_contiguous() for t in tensors):
                for out, t in zip(rest, tensors):
                    out.append(t)
                continue
            kind = (p.device, torch.promote_types(p.dtype, torch.float32))
            if kind not in hypers:
                hypers[kind] = torch.tensor(
                    [group['lr'], beta1, beta2, 1 - beta2, beta3,
                     1 / bias_correction1, bias_correction2**-0.5,
                     group['eps'], weight_decay,
                     (decoupled_wd_scale or 0.) * weight_decay],
                    dtype=kind[1], device=p.device)
            if p.device not in inv_clips:
                inv_clips[p.device] = torch.ones(
                    (), device=p.device) if clip_factor is None else \
                    clip_factor.to(p.device).reciprocal()
            flat = [t.detach().view(-1) for t in tensors]
            update = self._fused_scratch(kind, flat[0].numel())
            scale = fused_fn(*flat, update, inv_clips[p.device],
                             hypers[kind], **flags)
            # a 0-dim factor: no host sync on a GPU
            flat[0].addcmul_(update, scale)
        return rest

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

        all_grads = []
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(
                        'MultiTensorLamb does not support sparse gradients.')
                all_grads.append(p.grad)
        clip_factor = global_clip_factor(all_grads,
                                         self.defaults['max_grad_norm'])
        if clip_factor is not None and clip_factor.device.type == 'cpu' \
                and clip_factor.item() == 1.0:
            # dividing by 1 is exact: skip the pass (reading a CPU tensor
            # costs no device sync)
            clip_factor = None

        for group in self.param_groups:
            # as timm: the step counts per group, even without gradients
            group['step'] = group.get('step', 0) + 1
            params = [p for p in group['params'] if p.grad is not None]
            if not params:
                continue
            step = float(group['step'])
            beta1, beta2 = group['betas']
            beta3 = 1 - beta1 if group['grad_averaging'] else 1.0
            if group['bias_correction']:
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
            else:
                bias_correction1 = bias_correction2 = 1.0
            decoupled_wd_scale = None
            if group['decoupled_decay']:
                decoupled_wd_scale = group['lr']
                if group['corrected_weight_decay']:
                    decoupled_wd_scale = \
                        group['lr']**2 / group['max_lr_snapshot']

            grads, exp_avgs, exp_avg_sqs = [], [], []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state['exp_avg'] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
                    state['exp_avg_sq'] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
                grads.append(p.grad)
                exp_avgs.append(state['exp_avg'])
                exp_avg_sqs.append(state['exp_avg_sq'])

            if self.fused:
                params, grads, exp_avgs, exp_avg_sqs = self._fused_step(
                    group, params, grads, exp_avgs, exp_avg_sqs, clip_factor,
                    beta3, bias_correction1, bias_correction2,
                    decoupled_wd_scale)
                if not params:
                    continue

            # GPUs run each foreach op as a few fused kernels over the whole
            # list; splitting it would only add launches
            chunk_numel = group['chunk_numel'] \
                if params[0].device.type == 'cpu' else None
            for block in split_blocks(params, chunk_numel):
                block_params = [params[i] for i in block]
                lamb_block_(
                    block_params, [grads[i] for i in block],
                    [exp_avgs[i] for i in block],
                    [exp_avg_sqs[i] for i in block],
                    clip_factor,
                    self._workspace(block_params),
                    lr=group['lr'],
                    beta1=beta1,
                    beta2=beta2,
                    beta3=beta3,
                    bias_correction1=bias_correction1,
                    bias_correction2=bias_correction2,
                    eps=group['eps'],
                    weight_decay=group['weight_decay'],
                    decoupled_wd_scale=decoupled_wd_scale,
                    trust_clip=group['trust_clip'],
                    always_adapt=group['always_adapt'],
                    caution=group['caution'])
        return loss
