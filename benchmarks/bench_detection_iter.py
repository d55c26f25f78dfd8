"""Time one Faster R-CNN R50-FPN training iteration: rsb_mm's RSB detection config vs
MMDetection's stock config, on the same input batch, in the same process.

* (a) rsb_mm: ``configs/detection/faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py`` (MMDetection's
  RSB settings: AdamW lr 2e-4, weight decay 0.05, no decay on norm layers, which gives one
  parameter group per tensor, and ``fused=True``; the backbone loaded by ``StrictPretrained``).
* (b) MMDetection: ``mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py`` (SGD lr 0.02,
  momentum 0.9, weight decay 1e-4, one parameter group).
* (c) for context, MMDetection's own RSB optimizer: (a) with torch's default (unfused) AdamW,
  as ``resnet_strikes_back/faster-rcnn_r50-rsb-pre_fpn_1x_coco.py`` has it.

All three are built the way the Runner builds them (``MODELS.build`` in the ``mmdet`` scope,
``mmengine.optim.build_optim_wrapper``) and hold the same weights: (b) is initialised with a
fixed seed (its ``torchvision://`` backbone init is switched off: no download), its backbone is
saved as an MMPretrain-style checkpoint (``backbone.*`` keys) and loaded into (a) through the
config's ``StrictPretrained`` init, and the neck and heads are copied; (c) gets a copy of all.
One iteration is ``model.train_step(data_batch, optim_wrapper)``, the call
``EpochBasedTrainLoop.run_iter`` makes, on one batch produced by the stock COCO training
pipeline (``LoadImageFromFile``, ``LoadAnnotations``, ``Resize`` to 1333 x 800 with kept ratio
or ``--scale``, ``RandomFlip``, ``PackDetInputs``) from a COCO-format set written by
``rsb_mm.testing.write_coco_detection`` (photo crops with boxes), then ``pseudo_collate``. Each
iteration gets a fresh copy of that batch, and the global seed is reset before each iteration
alike for every variant, so the RPN/R-CNN samplers draw the same proposals (the first
iteration's losses are printed as a check). Runner hooks (timer, logger, scheduler) are not
timed. The variants take turns iteration by iteration, in a rotating order, so that load from
other jobs hits them alike; the table gives the median, mean and min wall time and the median
CPU time of this process, and the ratios to (b). A second table splits the iteration into
forward + loss, backward and optimizer step (+ zero_grad), the phase where the configs differ.
On a machine shared with other jobs, ``--threads 1`` and the CPU time are the steadiest
measure.

``--device all`` (the default) times the CPU, and CUDA too when torch sees a GPU (CUDA
timings synchronise before each clock read).

Usage::

    python3 benchmarks/bench_detection_iter.py [--threads N] [--iters 5] [--warmup 1]
        [--phase-iters 2] [--batch-size 2] [--image-size 640] [--scale W H]
        [--device cpu|cuda|all]
"""
import argparse
import contextlib
import copy
import logging
import os
import os.path as osp
import tempfile
import time
from collections import defaultdict
from typing import Dict, List, Tuple

import torch
from _timing import (clock, cpu_model, elapsed, median_phases, print_iteration_table,
                     print_phase_table, rounds, seed_all)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RSB_CONFIG = osp.join(REPO, 'configs', 'detection', 'faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py')
STOCK_CONFIG = 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
PHASES = ('forward + loss', 'backward', 'optimizer step + zero_grad')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=len(os.sched_getaffinity(0)),
                        help='torch CPU threads (default: all cores this process may use)')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations per variant')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed iterations per variant first')
    parser.add_argument('--phase-iters', type=int, default=2,
                        help='iterations per variant for the phase table (0: no table)')
    parser.add_argument('--batch-size', type=int, default=2,
                        help="images per iteration (MMDetection's 2 per GPU)")
    parser.add_argument('--image-size', type=int, default=640,
                        help='side of the square JPEGs written (a COCO-like 640)')
    parser.add_argument('--scale', type=int, nargs=2, default=(1333, 800), metavar=('W', 'H'),
                        help="the pipeline's Resize scale, kept ratio (default: the configs' "
                        '1333 x 800, so 800 x 800 for square images); smaller is quicker on '
                        'a CPU and puts more weight on the optimizer step, where the configs '
                        'differ')
    parser.add_argument('--device', choices=('cpu', 'cuda', 'all'), default='all')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def stock_config_path() -> str:
    import mmdet
    return osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', STOCK_CONFIG)


def make_batch(data_root: str, cfg, batch_size: int, scale: Tuple[int, int]) -> dict:
    """One batch from the config's own training data set and pipeline, as the loader gives it."""
    from mmdet.registry import DATASETS
    from mmengine.dataset import pseudo_collate
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.data_root = data_root
    for transform in dataset_cfg.pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = tuple(scale)
    dataset = DATASETS.build(dataset_cfg)
    if len(dataset) < batch_size:
        raise RuntimeError(f'the benchmark set has {len(dataset)} images, < {batch_size}')
    return pseudo_collate([dataset[i] for i in range(batch_size)])


class Variant:
    """A detector and its optimizer wrapper, built from a config like the Runner builds them."""

    def __init__(self, name: str, cfg, device: str):
        from mmdet.registry import MODELS
        from mmengine.optim import build_optim_wrapper
        self.name = name
        self.model = MODELS.build(copy.deepcopy(cfg.model)).to(device)
        self.cfg = cfg
        self.device = device
        self._optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        self.optim_wrapper = None
        self._build_optim_wrapper = lambda: build_optim_wrapper(self.model, self._optim_cfg)

    def finish(self) -> None:
        """Build the optimizer after the weights are final (as Runner.train does)."""
        self.model.train()
        self.optim_wrapper = self._build_optim_wrapper()

    def step(self, batch) -> float:
        log_vars = self.model.train_step(batch, self.optim_wrapper)
        return log_vars['loss'].item()

    def phases(self, batch) -> Dict[str, Tuple[float, float]]:
        # BaseModel.train_step and OptimWrapper.update_params, piece by piece
        model, wrapper, device = self.model, self.optim_wrapper, self.device
        t0 = clock(device)
        with wrapper.optim_context(model):
            data = model.data_preprocessor(batch, True)
            losses = model._run_forward(data, mode='loss')
        parsed, _ = model.parse_losses(losses)
        t1 = clock(device)
        wrapper.backward(parsed)
        t2 = clock(device)
        wrapper.step()
        wrapper.zero_grad()
        parsed.item()
        t3 = clock(device)
        return dict(zip(PHASES, (elapsed(t0, t1), elapsed(t1, t2), elapsed(t2, t3))))


@contextlib.contextmanager
def quiet_logger():
    """Silence MMEngine's logger below ERROR: building prints every tensor's init and one
    warning per frozen tensor ("skipped since its requires_grad=False")."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_variants(device: str, seed: int, tmp: str) -> List[Variant]:
    from mmengine.config import Config
    rsb_cfg = Config.fromfile(RSB_CONFIG)
    stock_cfg = Config.fromfile(stock_config_path())
    stock_cfg.model.backbone.init_cfg = None  # torchvision://resnet50 would be downloaded

    torch.manual_seed(seed)
    stock = Variant('(b) MMDetection stock (SGD)', stock_cfg, device)
    stock.model.init_weights()
    # The stock backbone as an rsb_mm/MMPretrain checkpoint, loaded the config's way.
    ckpt = osp.join(tmp, 'backbone.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v.cpu()
                                for k, v in stock.model.backbone.state_dict().items()}), ckpt)
    rsb_cfg.model.backbone.init_cfg.checkpoint = ckpt
    rsb = Variant('(a) rsb_mm RSB (fused AdamW)', rsb_cfg, device)
    rsb.model.init_weights()
    for key, value in stock.model.backbone.state_dict().items():
        if not torch.equal(rsb.model.backbone.state_dict()[key], value):
            raise RuntimeError(f'StrictPretrained did not load backbone.{key}')
    rsb.model.load_state_dict(stock.model.state_dict(), strict=True)  # neck and heads
    # (c) MMDetection's own RSB optimizer: the same config with torch's default AdamW.
    plain_cfg = copy.deepcopy(rsb_cfg)
    plain_cfg.model.backbone.init_cfg = None
    plain_cfg.optim_wrapper.optimizer.fused = False
    plain = Variant('(c) MMDetection RSB (AdamW)', plain_cfg, device)
    plain.model.load_state_dict(stock.model.state_dict(), strict=True)
    variants = [rsb, stock, plain]
    for variant in variants:
        variant.finish()
    return variants


def time_iterations(variants, batch, warmup: int, iters: int, seed: int, device: str):
    times: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
    losses: Dict[str, List[float]] = defaultdict(list)
    for i, variant in rounds(variants, warmup + iters):
        data = copy.deepcopy(batch)
        seed_all(seed + i)
        start = clock(device)
        loss = variant.step(data)
        took = elapsed(start, clock(device))
        losses[variant.name].append(loss)
        if i >= warmup:
            times[variant.name].append(took)
    return times, losses


def time_phases(variants, batch, iters: int, seed: int):
    samples = {v.name: defaultdict(list) for v in variants}
    for i, variant in rounds(variants, iters):
        data = copy.deepcopy(batch)
        seed_all(seed + 1000 + i)
        for phase, took in variant.phases(data).items():
            samples[variant.name][phase].append(took)
    return median_phases(samples, PHASES)


def run(device: str, args, batch) -> None:
    with tempfile.TemporaryDirectory() as tmp, quiet_logger():
        variants = build_variants(device, args.seed, tmp)
    groups = {v.name: len(v.optim_wrapper.optimizer.param_groups) for v in variants}
    shape = tuple(batch['inputs'][0].shape[1:])
    where = (torch.cuda.get_device_name() if device == 'cuda' else
             f'CPU ({cpu_model()}, {os.cpu_count()} cores, {args.threads} torch thread(s))')
    print(f'\n## {device}: Faster R-CNN R50-FPN, batch {len(batch["inputs"])} of {shape[0]} x '
          f'{shape[1]} px (before padding to /32), fp32, {where}; {args.warmup} warm-up + '
          f'{args.iters} timed iterations per variant, taking turns; parameter groups: '
          + ', '.join(f'{n} {g}' for n, g in groups.items()))
    times, losses = time_iterations(variants, batch, args.warmup, args.iters, args.seed,
                                    device)
    print('\nfirst-iteration loss (same weights, batch and seed): ' + ', '.join(
        f'{name} {values[0]:.6f}' for name, values in losses.items()))

    print('\nWall ms per iteration (median, mean, min-max) and this process\'s CPU ms '
          '(median); ratios = variant / (b); goal for (a): <= 1.02.\n')
    print_iteration_table([v.name for v in variants], times, variants[1].name)

    if args.phase_iters > 0:
        phases = time_phases(variants, batch, args.phase_iters, args.seed)
        print(f'\nPhases: median wall ms / CPU ms over {args.phase_iters} iterations per '
              'variant:\n')
        print_phase_table(phases, [v.name for v in variants], PHASES)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

    import mmdet
    import mmengine
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import rsb_mm  # noqa: F401  (StrictPretrained)
    from rsb_mm.testing import write_coco_detection
    init_default_scope('mmdet')

    devices = ['cpu', 'cuda'] if args.device == 'all' else [args.device]
    if not torch.cuda.is_available():
        if args.device == 'cuda':
            raise SystemExit('--device cuda: torch sees no GPU')
        devices = ['cpu']

    print(f'# One Faster R-CNN training iteration: {osp.relpath(RSB_CONFIG, REPO)} vs '
          f'mmdet::{STOCK_CONFIG}; torch {torch.__version__}, mmengine {mmengine.__version__}, '
          f'mmdet {mmdet.__version__}; {time.strftime("%Y-%m-%d %H:%M %Z")}')
    with tempfile.TemporaryDirectory() as data_root:
        write_coco_detection(data_root + '/', num_images=args.batch_size, size=args.image_size,
                             splits=('train2017', ))
        seed_all(args.seed)
        batch = make_batch(data_root + '/', Config.fromfile(stock_config_path()),
                           args.batch_size, args.scale)
    for device in devices:
        run(device, args, batch)


if __name__ == '__main__':
    main()
