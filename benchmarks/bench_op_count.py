"""Operators dispatched in one training iteration: rsb_mm's RSB configs vs timm's ``train.py``.

Issue 14's budget, which a count can hold on any machine where a time cannot: a
``TorchDispatchMode`` counts every ATen operator one training iteration dispatches in the
training process (on a GPU, each is at least one kernel launch or host-side step), split into
data preprocessing, forward, loss, backward, optimizer step and the rest (the logged loss's
read). Goal: rsb_mm's total <= 1.05 x timm's, and a preprocessing count that does not grow
with the batch size.

The variants are ``bench_gpu_train.py``'s (reused, not copied): the config's model and
optimizer wrapper built as the Runner builds them and stepped with ``train_step``, the data
path as configured (``default_collate`` + ``BatchedClsDataPreprocessor``) and as before issue
14 (``pseudo_collate`` + MMPretrain's ``ClsDataPreprocessor``), against timm's
``train_one_epoch`` loop with its prefetcher, on the same weights and batch. timm's Mixup runs
in its loader's workers (``FastCollateMixup``), so it is not in timm's count; rsb_mm's runs on
the device and is. Phases are marked by wrapping the entry points (the preprocessor, the
backbone, the head's loss, ``Tensor.backward``, the optimizer's ``step``/``zero_grad``).

Counted after one warm-up iteration (the optimizers create their state on the first step),
once with a Mixup draw and once with a CutMix draw (``np.random`` seeded so; their operators
differ). On a CPU both optimizers are switched to the path they take on a GPU (timm's ``Lamb``
``foreach=True``; ``MultiTensorLamb`` has one path on every device), so the optimizer row is
the GPU's; ``--native-optimizers`` keeps the CPU paths. One difference stays:
on a CPU ``MultiTensorLamb`` skips the gradient clip when its factor is 1 (it reads the factor
for free there), on a GPU it does not read it and always divides (one foreach pass more).

Usage::

    python3 benchmarks/bench_op_count.py [--configs a3 a1] [--batch-sizes 2 4 8]
        [--img-size 32] [--device cpu|cuda] [--amp] [--ops] [--rows all|configured]
        [--native-optimizers]
"""
import argparse
import contextlib
import os.path as osp
import sys
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import bench_gpu_train as gpu_bench  # noqa: E402

PHASES = ('preprocess', 'forward', 'loss', 'backward', 'optimizer', 'other')
DRAWS = ('mixup', 'cutmix')
TIMM = 'timm train.py loop'
CONFIGURED = 'rsb_mm (as configured)'
BUDGET = 1.05

Counts = Dict[str, Counter]  # phase -> operator name -> count


class OpCounter(TorchDispatchMode):
    """Counts the ATen operators dispatched while active, per ``phase``."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = 'other'
        self.ops: Counts = {phase: Counter() for phase in PHASES}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[self.phase][func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _wrapped(obj, name: str, counter: OpCounter, phase: str,
             after: Optional[str] = None) -> Iterator[None]:
    """Make ``obj.name(...)`` set ``counter.phase`` to ``phase`` (and ``after`` on return)."""
    original = getattr(obj, name)
    own = name in vars(obj)

    def marked(*args, **kwargs):
        counter.phase = phase
        try:
            return original(*args, **kwargs)
        finally:
            if after is not None:
                counter.phase = after

    setattr(obj, name, marked)
    try:
        yield
    finally:
        if own:
            setattr(obj, name, original)
        else:
            delattr(obj, name)


def _marks(variant) -> List[Tuple[object, str, str, Optional[str]]]:
    """(object, method, phase, phase after return) for each entry point of ``variant``."""
    if isinstance(variant, gpu_bench.RsbMMVariant):
        model, wrapper = variant.model, variant.optim_wrapper
        marks = [(model.data_preprocessor, 'forward', 'preprocess', None),
                 (model, 'extract_feat', 'forward', None),
                 (model.head, '_get_loss', 'loss', None)]
        optimizers = [wrapper, wrapper.optimizer]
    else:
        marks = [(variant.model, 'forward', 'forward', None),
                 (variant.loss_fn, 'forward', 'loss', None)]
        optimizers = [variant.optimizer]
        if variant.loss_scaler is not None:
            optimizers.append(variant.loss_scaler._scaler)
    for optimizer in optimizers:
        for method in ('step', 'zero_grad', 'update'):
            if hasattr(optimizer, method):
                marks.append((optimizer, method, 'optimizer', 'other'))
    return marks


def count_step(variant, batch) -> Counts:
    """The operators of ``variant.step(batch)``, per phase."""
    counter = OpCounter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_wrapped(torch.Tensor, 'backward', counter, 'backward'))
        for obj, name, phase, after in _marks(variant):
            stack.enter_context(_wrapped(obj, name, counter, phase, after))
        counter.phase = 'preprocess'
        with counter:
            variant.step(batch)
    return counter.ops


def use_gpu_optimizer_paths(variant) -> None:
    """On a CPU, switch the optimizer to the path it takes on a GPU (see the docstring).

    ``MultiTensorLamb`` takes the same foreach path on every device; timm's ``Lamb`` picks
    ``foreach`` on CUDA only.
    """
    if not isinstance(variant, gpu_bench.RsbMMVariant):
        for group in variant.optimizer.param_groups:
            group['foreach'] = True


def draw_seeds(augment) -> Dict[str, int]:
    """An ``np.random`` seed per draw ('mixup', 'cutmix') of the config's ``MixupCutMix``."""
    from rsb_mm.models.utils import batch_mix_params
    seeds: Dict[str, int] = {}
    for seed in range(1000):
        np.random.seed(seed)
        lam, cutmix = batch_mix_params(augment.get('mixup_alpha', 1.), augment.get(
            'cutmix_alpha', 0.), augment.get('prob', 1.), augment.get('switch_prob', .5))
        if lam != 1.:
            seeds.setdefault('cutmix' if cutmix else 'mixup', seed)
        if len(seeds) == len(DRAWS):
            return seeds
    raise RuntimeError(f'no seed below 1000 draws both Mixup and CutMix with {augment}')


def count_config(key: str, batch_sizes: Sequence[int], img_size: int = 32,
                 device: str = 'cpu', amp: bool = False, extra: bool = False,
                 gpu_optimizer_paths: bool = True,
                 only: Optional[List[str]] = None) -> Dict[Tuple[str, int, str], Counts]:
    """Operator counts of one iteration per (variant, batch size, draw) for one config.

    Args:
        key (str): 'a1', 'a2' or 'a3'.
        batch_sizes (Sequence[int]): Even batch sizes.
        img_size (int): Training size (the count does not depend on it).
        device (str): 'cpu' or 'cuda'.
        amp (bool): float16 autocast and loss scaling (CUDA only).
        extra (bool): Add the 'default_collate + ClsDataPreprocessor' row.
        gpu_optimizer_paths (bool): On a CPU, the optimizers' GPU paths.
        only (list[str], optional): Only these rsb_mm variants (and timm's).

    Returns:
        dict: ``{(variant name, batch size, draw): {phase: Counter(operator: count)}}``.
    """
    from mmengine.registry import init_default_scope
    import rsb_mm  # noqa: F401  registers the recipe's modules
    init_default_scope('mmpretrain')
    dev = torch.device(device)
    cfg = gpu_bench.load_config(gpu_bench.CONFIGS[key], amp, channels_last=True)
    seeds = draw_seeds(cfg.model.train_cfg.augments[0])
    if any(size % 2 for size in batch_sizes):
        raise ValueError(f'batch sizes must be even (Mixup pairs), got {list(batch_sizes)}')
    variants = gpu_bench.build_variants(cfg, dev, amp, True, batch_sizes[0], img_size, seed=0,
                                        fused=False, extra=extra, only=only)
    results: Dict[Tuple[str, int, str], Counts] = {}
    for variant in variants:
        if dev.type == 'cpu' and gpu_optimizer_paths:
            use_gpu_optimizer_paths(variant)
        variant.step(variant.prepare(1)[0])  # warm-up: optimizer state, cuDNN
        for batch_size in batch_sizes:
            variant.use_batch(*gpu_bench.synthetic_batch(
                batch_size, img_size, cfg.model.head.num_classes, seed=batch_size))
            for draw, batch in zip(DRAWS, variant.prepare(len(DRAWS))):
                np.random.seed(seeds[draw])
                torch.manual_seed(0)
                results[variant.name, batch_size, draw] = count_step(variant, batch)
    return results


def totals(counts: Counts) -> Dict[str, int]:
    """Operators per phase and their ``'total'``."""
    out = {phase: sum(counts[phase].values()) for phase in PHASES}
    out['total'] = sum(out.values())
    return out


def print_table(key: str, results: Dict[Tuple[str, int, str], Counts]) -> None:
    names = list(dict.fromkeys(name for name, _, _ in results))
    sizes = sorted({size for _, size, _ in results})
    print(f'\n## {osp.basename(gpu_bench.CONFIGS[key])}\n')
    print('| variant | batch | draw | ' + ' | '.join(PHASES) + ' | total | vs timm |')
    print('|---|---:|---|' + '---:|' * (len(PHASES) + 2))
    for size in sizes:
        for draw in DRAWS:
            ref = totals(results[TIMM, size, draw])['total']
            for name in names:
                row = totals(results[name, size, draw])
                cells = ' | '.join(str(row[p]) for p in PHASES)
                print(f"| {name} | {size} | {draw} | {cells} | {row['total']} | "
                      f"{row['total'] / ref:.3f} |")
    for name in names:
        pre = sorted({totals(results[name, s, d])['preprocess'] for s in sizes for d in DRAWS})
        print(f'\n{name}: preprocessing operators over batch sizes {sizes} and both draws: '
              f'{", ".join(map(str, pre))}')


def print_op_diff(results: Dict[Tuple[str, int, str], Counts], name: str) -> None:
    """Operators whose count differs between ``name`` and timm, at the largest batch."""
    size = max(s for _, s, _ in results)
    for draw in DRAWS:
        ours, theirs = results[name, size, draw], results[TIMM, size, draw]
        print(f'\n### {name} vs timm, batch {size}, {draw}: operators that differ\n')
        print('| phase | operator | rsb_mm | timm |')
        print('|---|---|---:|---:|')
        for phase in PHASES:
            for op in sorted(set(ours[phase]) | set(theirs[phase])):
                if ours[phase][op] != theirs[phase][op]:
                    print(f'| {phase} | {op} | {ours[phase][op]} | {theirs[phase][op]} |')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=['a3', 'a1'],
                        choices=sorted(gpu_bench.CONFIGS))
    parser.add_argument('--batch-sizes', nargs='+', type=int, default=[2, 4, 8])
    parser.add_argument('--img-size', type=int, default=32)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', action='store_true', help='float16 AMP (CUDA only)')
    parser.add_argument('--ops', action='store_true',
                        help='list the operators whose count differs from timm')
    parser.add_argument('--rows', default='all', choices=['all', 'configured'],
                        help="'configured': only rsb_mm as configured and timm")
    parser.add_argument('--native-optimizers', action='store_true',
                        help='on a CPU, keep the optimizers\' CPU paths')
    args = parser.parse_args(argv)
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch sees no GPU')
    import timm
    paths = ('native' if args.native_optimizers or args.device == 'cuda' else
             'GPU paths emulated')
    device = gpu_bench.device_name(torch.device(args.device))
    print(f'# ATen operators per training iteration, {device}, torch {torch.__version__}, '
          f'timm {timm.__version__}; '
          f'{"AMP float16" if args.amp else "fp32"}, channels-last, {args.img_size} px; '
          f'optimizers: {paths}')
    worst = 0.
    for key in args.configs:
        results = count_config(key, args.batch_sizes, args.img_size, args.device, args.amp,
                               extra=True, gpu_optimizer_paths=not args.native_optimizers,
                               only=[CONFIGURED] if args.rows == 'configured' else None)
        print_table(key, results)
        if args.ops:
            print_op_diff(results, CONFIGURED)
        worst = max(worst, max(totals(results[CONFIGURED, s, d])['total'] /
                               totals(results[TIMM, s, d])['total']
                               for s in args.batch_sizes for d in DRAWS))
    print(f'\nlargest ratio rsb_mm (as configured) / timm: {worst:.3f} (budget {BUDGET})')


if __name__ == '__main__':
    main()
