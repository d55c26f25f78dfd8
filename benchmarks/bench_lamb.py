"""Time one LAMB ``step()`` on ResNet-50's parameters: rsb_mm vs timm vs MMPretrain.

All optimizers get the same parameters (timm ``resnet50()``, seeded), the same two groups
(timm's ``param_groups_weight_decay``, weight decay 0.01 / 0) and the same random gradients;
no forward or backward pass is run. Prints the median milliseconds per step over ``--steps``
steps after ``--warmup`` steps (the optimizers take turns step by step), and the speed-up over
timm's ``Lamb`` (its default path on that device: the per-tensor loop on CPU, its
multi-tensor path on CUDA). The `fused=True` row (compiled, not bit-exact) reports its first
step, which compiles, separately.

Usage::

    python benchmarks/bench_lamb.py --threads 2 [--steps 20] [--device cpu]
"""
import argparse
import copy
import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch
from mmpretrain.engine.optimizers.lamb import Lamb as MMPretrainLamb
from timm.models import resnet50
from timm.optim import Lamb as TimmLamb
from timm.optim import param_groups_weight_decay

from rsb_mm.engine.optimizers import MultiTensorLamb

LR, WEIGHT_DECAY = 5e-3, 0.01


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help='torch CPU threads (default: torch\'s default)')
    parser.add_argument('--steps', type=int, default=20,
                        help='timed steps per optimizer')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed steps first (state allocation, caches)')
    parser.add_argument('--device', choices=['cpu', 'cuda', 'all'],
                        default='all',
                        help='device(s) to time; all = cpu and cuda if any')
    parser.add_argument('--grad-scale', type=float, default=1e-4,
                        help='std of the random gradients (1e-4: global norm '
                        'about 0.5, the clip does not trigger; 1e-3: it does)')
    return parser.parse_args()


def make_optimizers() -> Dict[str, Callable[[List[dict]], torch.optim.Optimizer]]:
    common = dict(lr=LR, weight_decay=WEIGHT_DECAY)
    return {
        'timm Lamb (default)': lambda g: TimmLamb(g, **common),
        'timm Lamb foreach=True': lambda g: TimmLamb(g, foreach=True, **common),
        'MMPretrain Lamb': lambda g: MMPretrainLamb(g, **common),
        'rsb_mm MultiTensorLamb': lambda g: MultiTensorLamb(g, **common),
        'rsb_mm MultiTensorLamb fused=True (not bit-exact)':
        lambda g: MultiTensorLamb(g, fused=True, **common),
    }


def time_steps(model: torch.nn.Module, grads: List[torch.Tensor], device: torch.device,
               warmup: int, steps: int) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Median ms of ``optimizer.step()`` per optimizer, each on its own copy of ``model``,
    and the seconds of each one's first step (state allocation; compilation for ``fused``).

    The optimizers take turns step by step, so that a machine shared with other jobs slows
    them alike.
    """
    optimizers = {}
    for name, build in make_optimizers().items():
        copy_ = copy.deepcopy(model).to(device)
        # Set once: re-copying every step churns the allocator and the caches outside the
        # timed region. MMPretrain's Lamb divides .grad in place by the clip factor, which is
        # 1 (a no-op) unless --grad-scale makes the clip trigger.
        for p, g in zip(copy_.parameters(), grads):
            p.grad = g.to(device, copy=True)
        optimizers[name] = build(param_groups_weight_decay(copy_, WEIGHT_DECAY))
    times: Dict[str, List[float]] = {name: [] for name in optimizers}
    first_steps: Dict[str, float] = {}
    for i in range(warmup + steps):
        for name, optimizer in optimizers.items():
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            optimizer.step()
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
            elif i == 0:
                first_steps[name] = time.perf_counter() - start
    return {name: statistics.median(t) for name, t in times.items()}, first_steps


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = resnet50()
    gen = torch.Generator().manual_seed(0)
    grads = [
        torch.randn(p.shape, generator=gen) * args.grad_scale
        for p in model.parameters()
    ]
    global_norm = torch.linalg.vector_norm(
        torch.stack([g.norm() for g in grads])).item()

    devices = [torch.device('cpu')] if args.device in ('cpu', 'all') else []
    if args.device in ('cuda', 'all') and torch.cuda.is_available():
        devices.append(torch.device('cuda'))
    elif args.device == 'cuda':
        raise SystemExit('--device cuda: CUDA is not available')

    numel = sum(p.numel() for p in model.parameters())
    print(f'ResNet-50: {len(grads)} tensors, {numel / 1e6:.1f}M parameters, '
          f'grad global norm {global_norm:.3f} (clip at 1.0), '
          f'torch {torch.__version__}, {args.threads} CPU thread(s), '
          f'median of {args.steps} steps after {args.warmup} warm-up')
    for device in devices:
        results, first_steps = time_steps(model, grads, device, args.warmup, args.steps)
        ref = results['timm Lamb (default)']
        print(f'\n| {device.type} | ms / step | speed-up vs timm Lamb |')
        print('|---|---:|---:|')
        for name, ms in results.items():
            print(f'| {name} | {ms:.1f} | {ref / ms:.2f}x |')
        for name, seconds in first_steps.items():
            if 'fused' in name:
                print(f'\n{name}: first step {seconds:.1f} s (one-off torch.compile, '
                      'not in the table; inductor caches it on disk, so a later run compiles less)')


if __name__ == '__main__':
    main()
