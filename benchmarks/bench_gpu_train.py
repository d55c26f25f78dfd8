"""Training throughput on one GPU: rsb_mm's RSB configs vs timm's ``train.py`` loop.

Benchmark (4) of the recipe issue: images per second of one training process with the RSB A3
(160 px) and A1 (224 px) settings, AMP (float16, dynamic loss scale) and channels-last, on
synthetic data, against timm's ``train.py`` with the same settings on the same GPU.

* **rsb_mm** (one row per option): the model (``ImageClassifier`` + ``ResNetTimmDropPath``
  with ``channels_last=True``, ``BatchedClsDataPreprocessor`` + ``MixupCutMix``,
  ``ThresholdedBCELoss``) and the optimizer wrapper (the config's ``AmpOptimWrapper`` +
  ``MultiTensorLamb``) built from the config the way the Runner builds them; one iteration
  is ``model.train_step(batch, optim_wrapper)`` (the call ``EpochBasedTrainLoop.run_iter``
  makes) plus the ``.item()`` of the logged loss (MMEngine's message hub reads it every
  iteration, which waits for the GPU). The batch is what the loader hands over: a pinned
  uint8 BGR batch and ``DataSample``s, built before the timing (the loader's workers build
  them in a real run). Rows (``RSB_MM_VARIANTS``): as configured (``default_collate``: one
  stacked tensor, copied without blocking, normalised and mixed batch-wide, as timm), the
  same with ``MultiTensorLamb(fused=True)`` (compiled with Triton), and the data path
  before (MMEngine's default ``pseudo_collate`` and MMPretrain's ``ClsDataPreprocessor``,
  which move, cast and normalise image by image).
* **timm**: ``timm.create_model('resnet50', drop_path_rate=...)`` in channels-last, ``Lamb``
  from ``create_optimizer_v2`` (its multi-tensor path on CUDA), ``BinaryCrossEntropy``,
  ``NativeScaler`` and ``torch.autocast(float16)``, the loop of ``train.py``'s
  ``train_one_epoch`` with its default prefetcher: Mixup/CutMix done in the loader
  (``FastCollateMixup``, on the CPU, before the timing, so free for timm here), then
  ``cuda(non_blocking)``, ``float().sub_(mean).div_(std)``, channels-last, forward, loss,
  ``zero_grad``, ``loss_scaler(loss, optimizer)``; no host sync inside the loop (timm's
  ``train.py`` reads the loss only every ``log_interval`` iterations).

timm's ``train.py`` itself is not in the ``timm`` wheel (it lives in the repository), so the
timm row runs that loop, step for step, in this process; data loading is left out of both
(synthetic, ready batches), so the table measures the training step of each.

The variants take turns in rounds of ``--iters`` iterations each, after ``--warmup``
iterations each (cuDNN autotuning, the fused LAMB's compilation); a round is timed from a
``torch.cuda.synchronize()`` to another. The table gives the median images/s over the rounds,
the ratio to timm and the peak GPU memory. On a machine without a GPU, ``--device cpu``
(fp32, no channels-last unless asked) runs the same code on a tiny batch: the tests use it.

Usage::

    python benchmarks/bench_gpu_train.py [--configs a3 a1] [--batch-size 256] [--iters 20]
        [--rounds 3] [--warmup 10] [--no-amp] [--no-channels-last] [--device cuda|cpu]
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_train_iter import timm_to_mmpretrain  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'a1': osp.join(REPO, 'configs', 'rsb_a1_resnet50.py'),
    'a2': osp.join(REPO, 'configs', 'rsb_a2_resnet50.py'),
    'a3': osp.join(REPO, 'configs', 'rsb_a3_resnet50.py'),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=['a3', 'a1'], choices=sorted(CONFIGS))
    parser.add_argument('--batch-size', type=int, default=None,
                        help="images per iteration (default: the config's per-GPU batch, 512)")
    parser.add_argument('--img-size', type=int, default=None,
                        help="training size (default: the config's, 160 for A3, 224 for A1)")
    parser.add_argument('--iters', type=int, default=20, help='iterations per round')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds per variant')
    parser.add_argument('--warmup', type=int, default=10, help='untimed iterations first')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--no-amp', action='store_true', help='fp32 (AMP is off on CPU)')
    parser.add_argument('--channels-last', dest='channels_last', action='store_true',
                        default=None, help='(default on cuda, off on cpu)')
    parser.add_argument('--no-channels-last', dest='channels_last', action='store_false')
    parser.add_argument('--no-fused', action='store_true',
                        help='leave out the fused-LAMB row (it compiles: a minute or so)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.device == 'cpu':
        args.no_amp = True
    if args.channels_last is None:
        args.channels_last = args.device == 'cuda'
    return args


def load_config(path: str, amp: bool, channels_last: bool):
    """The config with the backbone's ``channels_last`` set and, without AMP, the fp32
    wrapper (as ``rsb_mm.utils.amp.resolve_amp`` makes it on a CPU)."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    cfg.model.backbone.channels_last = channels_last
    if not amp and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            cfg.optim_wrapper.pop(key, None)
    return cfg


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class Variant:
    """``prepare(n)`` builds the loader's output for ``n`` iterations (untimed);
    ``step(batch)`` runs one training iteration and returns its loss as a tensor."""

    name: str
    prepare: Callable[[int], List[object]]
    step: Callable[[object], torch.Tensor]


class RsbMMVariant(Variant):
    """The config's model and optimizer wrapper; ``batched``: the loader's batch as
    ``default_collate`` makes it (one stacked tensor), else as ``pseudo_collate`` (a list);
    ``preprocessor``: another data preprocessor type than the config's."""

    def __init__(self, name: str, cfg, device: torch.device, weights: Dict[str, torch.Tensor],
                 images_rgb: torch.Tensor, labels: torch.Tensor, batched: bool,
                 fused: bool, preprocessor: Optional[str] = None):
        from mmengine.optim import build_optim_wrapper
        from mmpretrain.registry import MODELS
        self.name, self.batched, self.device = name, batched, device
        model_cfg = copy.deepcopy(cfg.model)
        # Runner.build_model: the top-level data_preprocessor fills the model's
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.get('data_preprocessor')))
        if preprocessor is not None:
            model_cfg.data_preprocessor.type = preprocessor
            if preprocessor == 'ClsDataPreprocessor':  # it takes no non_blocking
                model_cfg.data_preprocessor.pop('non_blocking', None)
        self.model = MODELS.build(model_cfg)
        self.model.load_state_dict(weights, strict=True)
        self.model.to(device)  # as Runner.wrap_model
        self.model.train()
        wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
        wrapper_cfg.optimizer.fused = fused
        self.optim_wrapper = build_optim_wrapper(self.model, wrapper_cfg)
        self.use_batch(images_rgb, labels)

    def use_batch(self, images_rgb: torch.Tensor, labels: torch.Tensor) -> None:
        """Make ``prepare`` hand over these images and labels."""
        # MMPretrain's loaders decode to BGR; its preprocessor (to_rgb=True) flips them back
        self.images, self.labels = images_rgb.flip(1).contiguous(), labels.tolist()

    def prepare(self, count: int) -> List[dict]:
        from mmpretrain.structures import DataSample
        pin = self.device.type == 'cuda'
        batches = []
        for _ in range(count):
            # fresh samples: the preprocessor writes the mixed gt_score into them
            samples = [DataSample().set_gt_label(label) for label in self.labels]
            if self.batched:  # default_collate
                inputs = self.images.pin_memory() if pin else self.images.clone()
            else:  # pseudo_collate
                inputs = [img.pin_memory() if pin else img.clone()
                          for img in self.images.unbind(0)]
            batches.append(dict(inputs=inputs, data_samples=samples))
        return batches

    def step(self, batch) -> torch.Tensor:
        log_vars = self.model.train_step(batch, self.optim_wrapper)
        log_vars['loss'].item()  # the message hub's read
        return log_vars['loss']


class TimmVariant(Variant):
    """timm ``train.py``'s ``train_one_epoch`` with its default prefetcher."""

    def __init__(self, cfg, device: torch.device, amp: bool, channels_last: bool,
                 images_rgb: torch.Tensor, labels: torch.Tensor):
        import timm
        from timm.data import FastCollateMixup
        from timm.loss import BinaryCrossEntropy
        from timm.optim import create_optimizer_v2
        from timm.utils import NativeScaler
        self.name = 'timm train.py loop'
        self.device, self.amp, self.channels_last = device, amp, channels_last
        aug = cfg.model.train_cfg.augments[0]
        opt = cfg.optim_wrapper.optimizer
        num_classes = cfg.model.head.num_classes
        self.model = timm.create_model('resnet50', num_classes=num_classes,
                                       drop_path_rate=cfg.model.backbone.drop_path_rate)
        self.model.to(device)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.model.train()
        self.collate_mixup = FastCollateMixup(
            mixup_alpha=aug.get('mixup_alpha', 1.), cutmix_alpha=aug.get('cutmix_alpha', 0.),
            cutmix_minmax=aug.get('cutmix_minmax'), prob=aug.get('prob', 1.),
            switch_prob=aug.get('switch_prob', .5), mode='batch',
            label_smoothing=aug.get('label_smoothing', .1), num_classes=num_classes)
        self.loss_fn = BinaryCrossEntropy(
            target_threshold=cfg.model.head.loss.target_threshold).to(device)
        self.optimizer = create_optimizer_v2(
            self.model, 'lamb', lr=opt.lr, weight_decay=opt.weight_decay, betas=opt.betas,
            eps=opt.eps, max_grad_norm=opt.max_grad_norm)
        self.loss_scaler = NativeScaler() if amp else None
        pre = cfg.data_preprocessor
        self.mean = torch.tensor(pre.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(pre.std, device=device).view(1, 3, 1, 1)
        self.use_batch(images_rgb, labels)

    def use_batch(self, images_rgb: torch.Tensor, labels: torch.Tensor) -> None:
        """Make ``prepare`` hand over these images and labels."""
        self.samples = [(img.numpy(), int(label))
                        for img, label in zip(images_rgb.unbind(0), labels)]

    def prepare(self, count: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        pin = self.device.type == 'cuda'
        batches = []
        for _ in range(count):
            inputs, target = self.collate_mixup(self.samples)
            batches.append((inputs.pin_memory(), target.pin_memory()) if pin else
                           (inputs, target))
        return batches

    def step(self, batch) -> torch.Tensor:
        inputs, target = batch
        x = inputs.to(self.device, non_blocking=True).float().sub_(self.mean).div_(self.std)
        y = target.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = self.loss_fn(self.model(x), y)
        self.optimizer.zero_grad()
        if self.loss_scaler is not None:
            self.loss_scaler(loss, self.optimizer, parameters=self.model.parameters())
        else:
            loss.backward()
            self.optimizer.step()
        return loss.detach()


def run_rounds(variants: List[Variant], device: torch.device, warmup: int, iters: int,
               rounds: int) -> Tuple[Dict[str, List[float]], Dict[str, float],
                                     Dict[str, float]]:
    """Seconds per timed round, seconds of the warm-up and peak memory (GiB), per variant."""
    seconds: Dict[str, List[float]] = {v.name: [] for v in variants}
    warm: Dict[str, float] = {}
    peak: Dict[str, float] = {}
    for variant in variants:
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        start = time.perf_counter()
        for batch in variant.prepare(warmup):
            loss = variant.step(batch)
        if not torch.isfinite(loss).all():
            raise RuntimeError(f'{variant.name}: loss {loss.item()} after warm-up')
        synchronize(device)
        warm[variant.name] = time.perf_counter() - start
        if device.type == 'cuda':
            peak[variant.name] = torch.cuda.max_memory_allocated(device) / 2**30
    for r in range(rounds):
        shift = r % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            batches = variant.prepare(iters)
            synchronize(device)
            start = time.perf_counter()
            for batch in batches:
                variant.step(batch)
            synchronize(device)
            seconds[variant.name].append(time.perf_counter() - start)
    return seconds, warm, peak


# The rsb_mm rows: the config as shipped (its loaders' default_collate, its
# BatchedClsDataPreprocessor), with the fused LAMB, and the data path before issue 14
# (MMEngine's default pseudo_collate, MMPretrain's ClsDataPreprocessor); ``extra`` rows only
# where asked (bench_op_count.py: which part of the data path makes the difference).
RSB_MM_VARIANTS = {
    'rsb_mm (as configured)': dict(batched=True, fused=False),
    'rsb_mm, fused LAMB': dict(batched=True, fused=True),
    'rsb_mm, default_collate + ClsDataPreprocessor': dict(
        batched=True, fused=False, preprocessor='ClsDataPreprocessor', extra=True),
    'rsb_mm, pseudo_collate + ClsDataPreprocessor (before)': dict(
        batched=False, fused=False, preprocessor='ClsDataPreprocessor'),
}


def synthetic_batch(batch_size: int, img_size: int, num_classes: int,
                    seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 RGB images (N, 3, S, S) and labels (N, ), from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    images_rgb = torch.randint(0, 256, (batch_size, 3, img_size, img_size),
                               dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
    return images_rgb, labels


def build_variants(cfg, device: torch.device, amp: bool, channels_last: bool,
                   batch_size: int, img_size: int, seed: int, fused: bool,
                   extra: bool = False, only: Optional[List[str]] = None) -> List[Variant]:
    """The rsb_mm rows of ``RSB_MM_VARIANTS`` (with ``fused``/``extra``, or those named in
    ``only``) and timm's, all from timm's initial weights, on the same synthetic batch."""
    images_rgb, labels = synthetic_batch(batch_size, img_size, cfg.model.head.num_classes, seed)
    torch.manual_seed(seed)
    timm_variant = TimmVariant(cfg, device, amp, channels_last, images_rgb, labels)
    weights = timm_to_mmpretrain({k: v.cpu() for k, v in timm_variant.model.state_dict().items()})
    names = only if only is not None else [
        name for name, kwargs in RSB_MM_VARIANTS.items()
        if (fused or not kwargs['fused']) and (extra or not kwargs.get('extra'))]
    variants: List[Variant] = [
        RsbMMVariant(name, cfg, device, weights, images_rgb, labels,
                     **{k: v for k, v in RSB_MM_VARIANTS[name].items() if k != 'extra'})
        for name in names
    ]
    variants.append(timm_variant)
    return variants


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return 'CPU'


def main(argv=None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch sees no GPU (use --device cpu for a dry run)')
    import rsb_mm  # noqa: F401  registers the recipe's modules
    import timm
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    torch.backends.cudnn.benchmark = True  # the configs' env_cfg and timm's train.py
    amp = not args.no_amp

    print(f'# Training throughput, {device_name(device)}, torch {torch.__version__}, timm '
          f'{timm.__version__}, mmengine {__import__("mmengine").__version__}, mmpretrain '
          f'{__import__("mmpretrain").__version__}; AMP {"float16" if amp else "off"}, '
          f'channels-last {"on" if args.channels_last else "off"}, synthetic data; '
          f'{args.warmup} warm-up + {args.rounds} x {args.iters} timed iterations per variant; '
          f'{time.strftime("%Y-%m-%d %H:%M %Z")}')
    for key in args.configs:
        cfg = load_config(CONFIGS[key], amp, args.channels_last)
        batch_size = args.batch_size or cfg.train_dataloader.batch_size
        img_size = args.img_size or cfg.train_size
        if batch_size % 2:
            raise SystemExit(f'--batch-size must be even (Mixup pairs), got {batch_size}')
        variants = build_variants(cfg, device, amp, args.channels_last, batch_size, img_size,
                                  args.seed, fused=not args.no_fused)
        seconds, warm, peak = run_rounds(variants, device, args.warmup, args.iters,
                                         args.rounds)
        rates = {name: [batch_size * args.iters / s for s in values]
                 for name, values in seconds.items()}
        ref = statistics.median(rates[variants[-1].name])
        print(f'\n## {osp.basename(CONFIGS[key])}: batch {batch_size}, {img_size} px\n')
        print('| variant | img/s (median) | min-max img/s | vs timm | peak GiB | warm-up s |')
        print('|---|---:|---:|---:|---:|---:|')
        for variant in variants:
            r = rates[variant.name]
            mem = f'{peak[variant.name]:.1f}' if variant.name in peak else '-'
            print(f'| {variant.name} | {statistics.median(r):.0f} | {min(r):.0f}-{max(r):.0f} '
                  f'| {statistics.median(r) / ref:.3f} | {mem} | {warm[variant.name]:.1f} |')
        del variants
        if device.type == 'cuda':
            torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
