"""Time one full RSB A3 training iteration: rsb_mm in MMPretrain's runner vs a bare timm loop.

One iteration = normalisation of a uint8 batch, Mixup/CutMix, ResNet-50 forward, thresholded
BCE, backward, LAMB step, zero_grad; batch 32 at 160 px (A3's training size), CPU, fp32.

* (a) rsb_mm: model (``ImageClassifier`` with ``ResNetTimmDropPath``, ``ClsDataPreprocessor``
  with ``MixupCutMix``, ``ThresholdedBCELoss``) and optimizer wrapper
  (``DecayGroupsOptimWrapperConstructor`` + ``MultiTensorLamb``) built from
  ``configs/rsb_a3_resnet50.py`` as the Runner builds them (the config's
  ``data_preprocessor`` merged into the model, ``mmengine.optim.build_optim_wrapper``), with
  ``AmpOptimWrapper`` turned into ``OptimWrapper`` and ``loss_scale`` dropped (fp32 on CPU).
  One iteration is ``model.train_step(data_batch, optim_wrapper)``, the call
  ``EpochBasedTrainLoop.run_iter`` makes, on a batch in MMPretrain's format after
  ``pseudo_collate``: ``dict(inputs=[uint8 CHW BGR tensors], data_samples=[DataSample with
  gt_label])``. The runner's hooks around the call (timer, logger, scheduler) are not timed.
* (b) timm: ``timm.create_model('resnet50', drop_path_rate=<A3's>)``, ``timm.data.Mixup`` with
  A3's settings, ``x.float().sub_(mean).div_(std)`` on the stacked uint8 RGB batch (as timm's
  ``PrefetchLoader``), ``BinaryCrossEntropy(target_threshold=0.2)``, ``Lamb`` from
  ``create_optimizer_v2(model, 'lamb', ...)`` (timm's two weight-decay groups), then
  ``loss.backward(); optimizer.step(); optimizer.zero_grad()``.
* (c) as (a) with MMPretrain's own ``Lamb`` in place of ``MultiTensorLamb``, for context.

All three models start from the same weights (timm's initialisation, copied into the
MMPretrain models), see the same images (RGB for timm, the same images in BGR for MMPretrain,
whose preprocessor flips them back) and labels, and are seeded alike before each iteration
(``np.random`` for Mixup/CutMix, ``torch`` for anything else), so they do the same
arithmetic: the first iteration's losses are printed as a check. The variants take turns
iteration by iteration, in a rotating order, so that load from other jobs on a shared
machine hits them alike. Each iteration's wall time and this process's CPU time are
recorded; the table gives the median, mean and min of the wall time and the median CPU
time, and the ratio to timm of the median, of the min and of the CPU time. On a machine
shared with other jobs the wall time varies several-fold; there, ``--threads 1`` and the CPU
time are the steadiest measure (with several threads, a thread whose partner was pre-empted
spins, which counts as CPU time too). A second table splits each variant's iteration into
phases (timed with the same pieces ``train_step`` calls), to show where a difference comes
from; ``--profile`` adds the top operators of one iteration per variant from ``torch.profiler``.

Usage::

    python benchmarks/bench_train_iter.py [--threads N] [--iters 10] [--warmup 2]
        [--phase-iters 3] [--profile]
"""
import argparse
import copy
import os
import os.path as osp
import time
from collections import defaultdict
from typing import Callable, Dict, List, Tuple

import torch
from _timing import (clock, cpu_model, elapsed, median_phases, print_iteration_table,
                     print_phase_table, rounds, seed_all)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'rsb_a3_resnet50.py')
PHASES = ('normalise', 'mixup/cutmix', 'forward+loss', 'backward', 'optimizer step',
          'zero_grad + rest')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=len(os.sched_getaffinity(0)),
                        help='torch CPU threads (default: all cores this process may use)')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per variant')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations per variant first')
    parser.add_argument('--phase-iters', type=int, default=3,
                        help='iterations per variant for the phase table (0: no table)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--img-size', type=int, default=160)
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='rsb_mm pretraining config (default: RSB A3)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--profile', action='store_true',
                        help='also print torch.profiler\'s top operators per variant')
    return parser.parse_args()


def load_config(path: str):
    """The config, made fp32 for the CPU as ``rsb_mm.utils.amp.resolve_amp`` makes it."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            cfg.optim_wrapper.pop(key, None)
    return cfg


def timm_to_mmpretrain(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """timm ResNet keys to MMPretrain ``ImageClassifier`` keys (same names, new prefixes)."""
    return {(f'head.{k}' if k.startswith('fc.') else f'backbone.{k}'): v
            for k, v in state_dict.items()}


class Variant:
    """One training setup: ``step(batch)`` runs an iteration and returns its loss;
    ``phases(batch)`` runs the same iteration with the clocks read between its pieces and
    returns ``{phase: (wall ms, CPU ms)}``."""

    name: str
    make_batch: Callable[[], object]

    def step(self, batch) -> float:
        raise NotImplementedError

    def phases(self, batch) -> Dict[str, Tuple[float, float]]:
        raise NotImplementedError


class MMVariant(Variant):
    """rsb_mm's model + optimizer wrapper, built from the config like the Runner builds them."""

    def __init__(self, name: str, cfg, optimizer_type: str, weights: Dict[str, torch.Tensor],
                 images_bgr: torch.Tensor, labels: torch.Tensor):
        from mmengine.optim import build_optim_wrapper
        from mmpretrain.registry import MODELS
        self.name = name
        model_cfg = copy.deepcopy(cfg.model)
        # Runner.build_model: the top-level data_preprocessor fills the model's
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.get('data_preprocessor')))
        self.model = MODELS.build(model_cfg)
        self.model.load_state_dict(weights, strict=True)
        self.model.train()
        wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
        if optimizer_type != wrapper_cfg.optimizer.type:
            # MMPretrain's Lamb has no caution/fused/...: keep the shared arguments
            keep = ('lr', 'betas', 'eps', 'weight_decay', 'max_grad_norm')
            wrapper_cfg.optimizer = dict(
                type=optimizer_type, **{k: wrapper_cfg.optimizer[k] for k in keep
                                        if k in wrapper_cfg.optimizer})
        self.optim_wrapper = build_optim_wrapper(self.model, wrapper_cfg)
        self.images = list(images_bgr.unbind(0))
        self.labels = labels.tolist()

    def make_batch(self):
        from mmpretrain.structures import DataSample
        # Fresh samples each time, as from the loader: the preprocessor writes gt_score
        # into them, and a reused sample would be mixed again from its old soft score.
        return dict(inputs=[img.clone() for img in self.images],
                    data_samples=[DataSample().set_gt_label(label) for label in self.labels])

    def step(self, batch) -> float:
        log_vars = self.model.train_step(batch, self.optim_wrapper)
        return log_vars['loss'].item()

    def phases(self, batch) -> Dict[str, Tuple[float, float]]:
        # BaseModel.train_step and OptimWrapper.update_params, piece by piece
        model, wrapper = self.model, self.optim_wrapper
        preprocessor = model.data_preprocessor
        augments = preprocessor.batch_augments
        aug = []

        def timed_augments(inputs, score):
            start = clock()
            out = augments(inputs, score)
            aug.append(elapsed(start, clock()))
            return out

        # the preprocessor calls its batch augment in the middle: time it from inside
        preprocessor.batch_augments = timed_augments
        try:
            t0 = clock()
            with wrapper.optim_context(model):
                data = preprocessor(batch, True)
                t1 = clock()
                losses = model._run_forward(data, mode='loss')
            parsed, _ = model.parse_losses(losses)
            t2 = clock()
            wrapper.backward(wrapper.scale_loss(parsed))
            t3 = clock()
            if wrapper.should_update():
                wrapper.step()
                t4 = clock()
                wrapper.zero_grad()
            else:
                t4 = clock()
            t5 = clock()
        finally:
            preprocessor.batch_augments = augments
        pre = elapsed(t0, t1)
        return dict(
            zip(PHASES, [(pre[0] - aug[0][0], pre[1] - aug[0][1]), aug[0],
                         elapsed(t1, t2), elapsed(t2, t3), elapsed(t3, t4), elapsed(t4, t5)]))


class TimmVariant(Variant):
    """The bare timm loop with RSB A3's ingredients."""

    def __init__(self, cfg, images_rgb: torch.Tensor, labels: torch.Tensor):
        import timm
        from timm.data import Mixup
        from timm.loss import BinaryCrossEntropy
        from timm.optim import create_optimizer_v2
        self.name = '(b) timm'
        backbone = cfg.model.backbone
        aug = cfg.model.train_cfg.augments[0]
        loss_cfg = cfg.model.head.loss
        opt = cfg.optim_wrapper.optimizer
        self.model = timm.create_model('resnet50', drop_path_rate=backbone.drop_path_rate,
                                       num_classes=cfg.model.head.num_classes)
        self.model.train()
        self.mixup = Mixup(
            mixup_alpha=aug.get('mixup_alpha', 1.), cutmix_alpha=aug.get('cutmix_alpha', 0.),
            cutmix_minmax=aug.get('cutmix_minmax'), prob=aug.get('prob', 1.),
            switch_prob=aug.get('switch_prob', .5), mode=aug.get('mode', 'batch'),
            label_smoothing=aug.get('label_smoothing', .1),
            num_classes=cfg.model.head.num_classes)
        self.loss_fn = BinaryCrossEntropy(target_threshold=loss_cfg.target_threshold)
        self.optimizer = create_optimizer_v2(
            self.model, 'lamb', lr=opt.lr, weight_decay=opt.weight_decay, betas=opt.betas,
            eps=opt.eps, max_grad_norm=opt.max_grad_norm)
        pre = cfg.data_preprocessor
        self.mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(pre.std).view(1, 3, 1, 1)
        self.images, self.labels = images_rgb, labels

    def make_batch(self):
        return self.images.clone(), self.labels.clone()

    def step(self, batch) -> float:
        x, y = batch
        x = x.float().sub_(self.mean).div_(self.std)
        x, y = self.mixup(x, y)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def phases(self, batch) -> Dict[str, Tuple[float, float]]:
        x, y = batch
        marks = [clock()]
        x = x.float().sub_(self.mean).div_(self.std)
        marks.append(clock())
        x, y = self.mixup(x, y)
        marks.append(clock())
        loss = self.loss_fn(self.model(x), y)
        marks.append(clock())
        loss.backward()
        marks.append(clock())
        self.optimizer.step()
        marks.append(clock())
        self.optimizer.zero_grad()
        loss.item()  # as step() does
        marks.append(clock())
        return dict(zip(PHASES, [elapsed(a, b) for a, b in zip(marks, marks[1:])]))


def time_iterations(
        variants: List[Variant], warmup: int, iters: int, seed: int
) -> Tuple[Dict[str, List[Tuple[float, float]]], Dict[str, List[float]]]:
    """(wall ms, CPU ms) of each timed iteration and the loss of every iteration, per
    variant."""
    times: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
    losses: Dict[str, List[float]] = defaultdict(list)
    for i, variant in rounds(variants, warmup + iters):
        batch = variant.make_batch()
        seed_all(seed + i)
        start = clock()
        loss = variant.step(batch)
        took = elapsed(start, clock())
        losses[variant.name].append(loss)
        if i >= warmup:
            times[variant.name].append(took)
    return times, losses


def time_phases(variants: List[Variant], iters: int,
                seed: int) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Median (wall ms, CPU ms) per phase, per variant."""
    samples = {v.name: defaultdict(list) for v in variants}
    for i, variant in rounds(variants, iters):
        batch = variant.make_batch()
        seed_all(seed + 1000 + i)
        for phase, took in variant.phases(batch).items():
            samples[variant.name][phase].append(took)
    return median_phases(samples, PHASES)


def profile(variants: List[Variant], seed: int, rows: int = 15) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    for variant in variants:
        batch = variant.make_batch()
        seed_all(seed)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            variant.step(batch)
        print(f'\n### torch.profiler, one iteration of {variant.name} (top {rows} by self CPU)')
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=rows))


def main() -> None:
    args = parse_args()
    if args.batch_size % 2:
        raise SystemExit(f'--batch-size must be even (timm Mixup), got {args.batch_size}')
    torch.set_num_threads(args.threads)

    import rsb_mm  # noqa: F401  registers the recipe's modules
    import timm
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    cfg = load_config(args.config)

    gen = torch.Generator().manual_seed(args.seed)
    size = args.img_size
    images_rgb = torch.randint(0, 256, (args.batch_size, 3, size, size), dtype=torch.uint8,
                               generator=gen)
    # MMPretrain's loaders decode to BGR; its preprocessor (to_rgb=True) flips them back
    images_bgr = images_rgb.flip(1).contiguous()
    labels = torch.randint(0, cfg.model.head.num_classes, (args.batch_size, ), generator=gen)

    torch.manual_seed(args.seed)
    timm_variant = TimmVariant(cfg, images_rgb, labels)
    weights = timm_to_mmpretrain(timm_variant.model.state_dict())
    variants: List[Variant] = [
        MMVariant('(a) rsb_mm (MultiTensorLamb)', cfg, cfg.optim_wrapper.optimizer.type,
                  weights, images_bgr, labels),
        timm_variant,
        MMVariant('(c) rsb_mm + MMPretrain Lamb', cfg, 'Lamb', weights, images_bgr, labels),
    ]

    print(f'# One training iteration, {osp.basename(args.config)}: batch {args.batch_size}, '
          f'{size} px, fp32, CPU ({cpu_model()}, {os.cpu_count()} cores, '
          f'{args.threads} torch thread(s)), torch {torch.__version__}, timm '
          f'{timm.__version__}, mmengine {__import__("mmengine").__version__}, mmpretrain '
          f'{__import__("mmpretrain").__version__}; {args.warmup} warm-up + {args.iters} timed '
          f'iterations per variant, taking turns; {time.strftime("%Y-%m-%d %H:%M %Z")}')

    times, losses = time_iterations(variants, args.warmup, args.iters, args.seed)
    print('\nfirst-iteration loss (same weights, images, Mixup/CutMix draws): ' + ', '.join(
        f'{name} {values[0]:.6f}' for name, values in losses.items()))
    print('last-iteration loss: ' + ', '.join(
        f'{name} {values[-1]:.6f}' for name, values in losses.items()))

    print('\nWall ms per iteration (median, mean, min-max), img/s at the median, and this '
          "process's CPU ms per iteration (median); ratios = variant / timm.\n")
    print_iteration_table([v.name for v in variants], times, timm_variant.name,
                          batch_size=args.batch_size)

    if args.phase_iters > 0:
        phases = time_phases(variants, args.phase_iters, args.seed)
        print(f'\nPhases: median wall ms / CPU ms over {args.phase_iters} iterations per '
              'variant (clocks read between the pieces train_step / the timm loop run):\n')
        print_phase_table(phases, [v.name for v in variants], PHASES, total=True)

    if args.profile:
        profile(variants, args.seed)


if __name__ == '__main__':
    main()
