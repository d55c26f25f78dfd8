"""The whole rsb_mm path on tiny learnable data: pretrain, fine-tune, detect, one summary.

Each stage runs the shipped entry points in a subprocess, exactly as a user would:
``tools/dist_train.sh`` (2 processes, gloo on CPU) for RSB pretraining,
``tools/train.py`` for fine-tuning (twice: from the pretrained checkpoint and from random init)
and for Faster R-CNN. The configs are the shipped demo configs (``configs/demo/``), which
inherit the real ones and only scale them down; the data roots and sizes come through
``--cfg-options``. While a stage runs, one progress line every few seconds gives the stage's
iteration, the elapsed time and an estimate of the time left for the whole demo.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from mmengine.logging import print_log

from ..utils.launcher import free_port
from .data import DemoData, DemoDataSize, num_shape_classes, write_demo_data

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN_CONFIG = 'configs/demo/rsb_a3_resnet50_2xb32_shapes-32px.py'
FINETUNE_CONFIG = 'configs/demo/resnet50_rsb-pre_1xb32_shapes-cifar10-32px.py'
DETECTION_CONFIG = 'configs/demo/faster-rcnn_r50-rsb-pre_fpn_1xb4_shapes-coco-128px.py'


class DemoSize(NamedTuple):
    """The demo's scale: data and epochs of each stage."""
    data: DemoDataSize
    pretrain_epochs: int
    finetune_epochs: int
    detection_epochs: int


#: About 10-12 minutes on 2 CPU cores (12m15s measured while other jobs shared them).
FULL = DemoSize(
    data=DemoDataSize(image_size=32, pretrain_train_per_class=200, pretrain_val_per_class=25,
                      finetune_train_per_class=20, finetune_test_per_class=25,
                      detection_size=128, detection_train_images=64, detection_val_images=16),
    pretrain_epochs=12, finetune_epochs=10, detection_epochs=4)
#: The CI-sized run of the tests: every stage, a few iterations.
QUICK = DemoSize(
    data=DemoDataSize(image_size=32, pretrain_train_per_class=8, pretrain_val_per_class=2,
                      finetune_train_per_class=4, finetune_test_per_class=2,
                      detection_size=128, detection_train_images=4, detection_val_images=2),
    pretrain_epochs=1, finetune_epochs=1, detection_epochs=1)


class StageResult(NamedTuple):
    """What one stage produced."""
    name: str
    work_dir: str
    log_file: str
    seconds: float
    metrics: Dict[str, float]
    checkpoint: Optional[str]


class DemoSummary(NamedTuple):
    """The demo's outcome."""
    stages: List[StageResult]
    pretrain_top1: float
    finetune_top1: float
    finetune_random_init_top1: float
    detection_bbox_map: float
    plots: List[str]
    seconds: float


_PROGRESS = re.compile(r'(Epoch|Iter)\(train\)\s*(?:\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\]')


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f'{seconds // 60}m{seconds % 60:02d}s'


class _Progress:
    """Turns log lines into a progress line with the demo's estimated time left.

    A stage's share of the remaining time is its planned iteration count; the speed is the
    measured seconds per iteration so far (over all stages, weighted by plan).
    """

    def __init__(self, plan: Dict[str, float], say: Callable[[str], None]):
        self.plan = plan  # stage -> planned work units (training iterations x cost)
        self.done_units = 0.0
        self.done_seconds = 0.0
        self.say = say

    def stage_fraction(self, line: str, max_epochs: int) -> Optional[float]:
        match = _PROGRESS.search(line)
        if match is None:
            return None
        _, epoch, i, total = match.groups()
        if epoch is None:
            return int(i) / max(int(total), 1)
        return ((int(epoch) - 1) * int(total) + int(i)) / (max(int(total), 1) * max_epochs)

    def report(self, stage: str, fraction: float, elapsed: float, force: bool = False) -> None:
        units = self.done_units + fraction * self.plan[stage]
        seconds = self.done_seconds + elapsed
        total_units = sum(self.plan.values())
        left = (total_units - units) * seconds / units if units > 0 else float('nan')
        eta = _fmt_seconds(left) if left == left else '?'
        self.say(f'  [{stage}] {100 * fraction:5.1f}% of the stage, {_fmt_seconds(elapsed)} '
                 f'in it; demo done in about {eta}')

    def finish(self, stage: str, elapsed: float) -> None:
        self.done_units += self.plan[stage]
        self.done_seconds += elapsed


def _run_stage(name: str, argv: List[str], work_dir: str, max_epochs: int,
               progress: _Progress, env: Dict[str, str], every: float) -> StageResult:
    os.makedirs(work_dir, exist_ok=True)
    log_file = osp.join(work_dir, f'{name}.out')
    start = last = time.time()
    progress.say(f'[{name}] {" ".join(argv)}')
    with open(log_file, 'w') as log:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        fraction = 0.0
        for line in proc.stdout:
            log.write(line)
            seen = progress.stage_fraction(line, max_epochs)
            if seen is not None:
                fraction = seen
            if time.time() - last >= every:
                last = time.time()
                progress.report(name, fraction, last - start)
        code = proc.wait()
    elapsed = time.time() - start
    if code != 0:
        with open(log_file) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'demo stage {name!r} failed (exit {code}); full log: {log_file}\n'
                           f'{tail}')
    progress.finish(name, elapsed)
    progress.say(f'[{name}] done in {_fmt_seconds(elapsed)}')
    return StageResult(name, work_dir, log_file, elapsed, _last_metrics(work_dir),
                       _last_checkpoint(work_dir))


def _last_metrics(work_dir: str) -> Dict[str, float]:
    from rsb_mm.analysis.curves import load_curves
    curves = load_curves(work_dir, metrics=None)
    return {key: curve.y[-1] for key, curve in curves.metrics.items() if curve.y}


def _last_checkpoint(work_dir: str) -> Optional[str]:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip() or None


def _loader_options(data_root: str, keys: Sequence[str]) -> List[str]:
    options = []
    for key in keys:
        options += [f'{key}.dataset.data_root={data_root}', f'{key}.num_workers=0',
                    f'{key}.persistent_workers=False', f'{key}.pin_memory=False']
    return options


def _metric(metrics: Dict[str, float], key: str, stage: str) -> float:
    if key not in metrics:
        raise RuntimeError(f'demo stage {stage!r} logged no {key!r} (got {sorted(metrics)})')
    return float(metrics[key])


def run_demo(work_dir: str,
             size: DemoSize = FULL,
             gpus: int = 2,
             say: Optional[Callable[[str], None]] = None,
             progress_every: float = 15.0,
             seed: int = 0) -> DemoSummary:
    """Run the whole demo and return its summary.

    Args:
        work_dir (str): Everything goes here: ``data/``, one work dir per stage, the plots.
        size (DemoSize): :data:`FULL` (about 10 minutes on 2 cores) or :data:`QUICK`.
            Defaults to FULL.
        gpus (int): Processes of the distributed pretraining. Defaults to 2.
        say (Callable[[str], None], optional): Where progress lines go. Defaults to None:
            MMEngine's current logger.
        progress_every (float): Seconds between progress lines. Defaults to 15.
        seed (int): Seed of the data and of every run. Defaults to 0.

    Returns:
        DemoSummary: Metrics, timings and the paths of logs, checkpoints and plots.
    """
    from rsb_mm.analysis.curves import load_curves, plot_curves

    if say is None:
        def say(message: str) -> None:
            print_log(message, logger='current')
    start = time.time()
    work_dir = osp.abspath(work_dir)
    say(f'rsb_mm demo in {work_dir}: data, RSB pretraining ({gpus} processes), fine-tuning '
        f'(pretrained vs random init), Faster R-CNN; '
        + ('about 10-12 minutes on 2 CPU cores' if size == FULL else 'a few iterations each'))
    data: DemoData = write_demo_data(osp.join(work_dir, 'data'), size.data, seed=seed)
    say(f'[data] written: {data.imagenet}, {data.cifar10}, {data.coco}')

    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'),
               PYTHONUNBUFFERED='1', PORT=str(free_port()))
    n_classes = num_shape_classes()
    d = size.data
    pretrain_iters = size.pretrain_epochs * d.pretrain_train_per_class * n_classes / 64
    finetune_iters = size.finetune_epochs * d.finetune_train_per_class * n_classes / 32
    detection_iters = size.detection_epochs * d.detection_train_images / 4
    # Relative cost of an iteration (measured on 2 cores): pretraining 2 x 32 images of 32 px,
    # fine-tuning 32 images of 32 px, Faster R-CNN 4 images of 128 px.
    plan = {'pretrain': pretrain_iters * 1.0, 'finetune': finetune_iters * 0.5,
            'finetune_random_init': finetune_iters * 0.5, 'detection': detection_iters * 1.5}
    progress = _Progress(plan, say)
    common = ['--cfg-options', f'randomness.seed={seed}', 'default_hooks.logger.interval=5']

    stages = []
    pre_dir = osp.join(work_dir, 'pretrain')
    stages.append(_run_stage(
        'pretrain', ['bash', 'tools/dist_train.sh', PRETRAIN_CONFIG, str(gpus),
                     '--work-dir', pre_dir, *common,
                     f'train_cfg.max_epochs={size.pretrain_epochs}',
                     f'param_scheduler.t_initial={size.pretrain_epochs}',
                     *_loader_options(data.imagenet, ('train_dataloader', 'val_dataloader',
                                                      'test_dataloader'))],
        pre_dir, size.pretrain_epochs, progress, env, progress_every))
    checkpoint = stages[-1].checkpoint
    if checkpoint is None:
        raise RuntimeError(f'pretraining wrote no checkpoint in {pre_dir}')

    ft_options = [*common, f'train_cfg.max_epochs={size.finetune_epochs}',
                  f'param_scheduler.t_initial={size.finetune_epochs}',
                  *_loader_options(data.cifar10, ('train_dataloader', 'val_dataloader',
                                                  'test_dataloader'))]
    for name, init in (('finetune', f'model.backbone.init_cfg.checkpoint={checkpoint}'),
                       ('finetune_random_init', 'model.backbone.init_cfg=None')):
        ft_dir = osp.join(work_dir, name)
        stages.append(_run_stage(
            name, [sys.executable, 'tools/train.py', FINETUNE_CONFIG, '--work-dir', ft_dir,
                   *ft_options, init],
            ft_dir, size.finetune_epochs, progress, env, progress_every))

    det_dir = osp.join(work_dir, 'detection')
    stages.append(_run_stage(
        'detection', [sys.executable, 'tools/train.py', DETECTION_CONFIG, '--work-dir', det_dir,
                      *common, f'train_cfg.max_epochs={size.detection_epochs}',
                      f'model.backbone.init_cfg.checkpoint={checkpoint}',
                      f'train_dataloader.dataset.data_root={data.coco}/',
                      f'val_dataloader.dataset.data_root={data.coco}/',
                      f'test_dataloader.dataset.data_root={data.coco}/',
                      f'val_evaluator.ann_file={data.coco}/annotations/instances_val2017.json',
                      f'test_evaluator.ann_file={data.coco}/annotations/instances_val2017.json'],
        det_dir, size.detection_epochs, progress, env, progress_every))

    plots = []
    for stage in stages:
        path = osp.join(stage.work_dir, 'curves.png')
        plot_curves(load_curves(stage.work_dir), path, title=f'demo: {stage.name}')
        plots.append(path)

    by_name = {s.name: s for s in stages}
    return DemoSummary(
        stages=stages,
        pretrain_top1=_metric(by_name['pretrain'].metrics, 'accuracy/top1', 'pretrain'),
        finetune_top1=_metric(by_name['finetune'].metrics, 'accuracy/top1', 'finetune'),
        finetune_random_init_top1=_metric(by_name['finetune_random_init'].metrics,
                                          'accuracy/top1', 'finetune_random_init'),
        detection_bbox_map=_metric(by_name['detection'].metrics, 'coco/bbox_mAP', 'detection'),
        plots=plots,
        seconds=time.time() - start)


def format_summary(summary: DemoSummary) -> str:
    """The summary table and where everything is, as printed at the end of the demo.

    Args:
        summary (DemoSummary): What :func:`run_demo` returned.

    Returns:
        str: A markdown table plus the paths of logs, checkpoints and plots.
    """
    rows = [
        ('RSB A3 pretraining (shapes, ImageNet format, 2 processes)', 'val top-1',
         f'{summary.pretrain_top1:.2f}'),
        ('fine-tune from the pretrained checkpoint (CIFAR-10 format)', 'test top-1',
         f'{summary.finetune_top1:.2f}'),
        ('same fine-tune from random init', 'test top-1',
         f'{summary.finetune_random_init_top1:.2f}'),
        ('Faster R-CNN R50-FPN from the pretrained backbone (COCO format)', 'bbox mAP',
         f'{summary.detection_bbox_map:.3f}'),
    ]
    lines = ['| stage | metric | value |', '|---|---|---|']
    lines += [f'| {a} | {b} | {c} |' for a, b, c in rows]
    lines.append('')
    lines.append(f'total time: {_fmt_seconds(summary.seconds)}')
    for stage in summary.stages:
        lines.append(f'{stage.name}: {_fmt_seconds(stage.seconds)}; work dir {stage.work_dir} '
                     f'(log {stage.log_file}; checkpoint {stage.checkpoint})')
    lines.append('plots: ' + ', '.join(summary.plots))
    lines.append('TensorBoard: tensorboard --logdir ' +
                 osp.dirname(summary.stages[0].work_dir))
    return '\n'.join(lines)
