"""Training input pipeline throughput: rsb_mm's MMPretrain pipeline vs timm's, per CPU core.

Both pipelines do the RSB A1/A2 training transform on the same JPEG files:
read + decode -> RandomResizedCrop 224 (random bilinear/bicubic) -> horizontal flip ->
RandAugment ``rand-m7-mstd0.5-inc1`` -> tensor.

* timm: ``Image.open(path).convert('RGB')`` (timm's ``ImageDataset``) then
  ``create_transform(224, is_training=True, auto_augment='rand-m7-mstd0.5-inc1',
  interpolation='random')``, once with its default ``ToTensor + Normalize`` (float) and once
  with ``use_prefetcher=True`` (uint8 tensor; what timm's ``train.py`` runs by default, the
  normalisation then happens on the GPU, as in MMPretrain's data preprocessor).
* rsb_mm: ``LoadImageFromFile`` (cv2 or pillow decoding) -> ``TimmRandomResizedCrop`` ->
  ``RandomFlip`` -> ``TimmRandAugment`` -> ``PackInputs`` (uint8 tensor), built from config
  dicts with ``mmcv.transforms.Compose`` in the ``mmpretrain`` scope; once more with
  ``TimmRandomResizedCrop(native_resize=False)`` (Pillow's own resize instead of rsb_mm's
  compiled copy of it), and the A1 config's training pipeline as shipped
  (``LoadImageFromFileChecked``: the same transforms).
* for reference, MMPretrain's own RSB pipeline (``RandomResizedCrop`` pillow bicubic +
  ``RandAugment(policies='timm_increasing')``), which is *not* pixel-equal to timm.

One process, ``torch.set_num_threads(1)`` and ``cv2.setNumThreads(1)``: images per second of
this process's CPU time (``time.process_time``, so other jobs on a shared machine inflate the
numbers less than wall time would), i.e. images/s per core.
Before timing, the script checks that rsb_mm's output equals timm's pixel for pixel (flip off
on both sides, since they draw it from different RNGs), with cv2 and pillow decoding and the
A1 config's pipeline.
A second table splits the time per stage.

Images: ``--images`` (files or folders of JPEGs, e.g. a few hundred ImageNet val images), else
scikit-image's bundled photos, else matplotlib's sample photo, saved as JPEG (quality 90,
long side resized to ``--long-side``, ImageNet-like) into a temporary folder.

Usage::

    python benchmarks/bench_input_pipeline.py [--images DIR_OR_FILES ...] [--passes 20]
"""
import argparse
import glob
import os.path as osp
import random
import sys
import tempfile
import time
from collections import defaultdict

import cv2
import numpy as np
import torch
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SKIMAGE_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'immunohistochemistry',
                  'hubble_deep_field', 'motorcycle_left', 'retina')
AA = 'rand-m7-mstd0.5-inc1'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--images',
        nargs='*',
        default=None,
        help='JPEG files or folders (default: scikit-image photos)')
    parser.add_argument(
        '--long-side',
        type=int,
        default=500,
        help='resize bundled photos so their long side is this (ImageNet: '
        '500); 0 keeps them as they are')
    parser.add_argument(
        '--passes', type=int, default=20, help='passes over the images per measurement')
    parser.add_argument(
        '--repeats', type=int, default=5, help='measurements per pipeline (the best is reported)')
    parser.add_argument('--size', type=int, default=224)
    return parser.parse_args()


def bundled_photos(out_dir, long_side):
    """Write the photos shipped with scikit-image (or matplotlib) as JPEGs into ``out_dir``."""
    arrays = {}
    try:
        from skimage import data
        for name in SKIMAGE_PHOTOS:
            try:
                arrays[name] = getattr(data, name)()
            except Exception:  # noqa: BLE001  (missing/optional files differ by version)
                continue
    except ImportError:
        print('scikit-image is not installed: falling back to matplotlib\'s sample photo')
        try:
            import matplotlib.cbook as cbook
            with cbook.get_sample_data('grace_hopper.jpg') as f:
                arrays['grace_hopper'] = np.asarray(Image.open(f).convert('RGB'))
        except Exception:  # noqa: BLE001
            pass
    paths = []
    for name, arr in arrays.items():
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            continue
        img = Image.fromarray(arr[..., :3])
        if long_side:
            scale = long_side / max(img.size)
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
        path = osp.join(out_dir, f'{name}.jpg')
        img.save(path, quality=90)
        paths.append(path)
    return paths


def collect(images):
    paths = []
    for item in images:
        if osp.isdir(item):
            for ext in ('jpg', 'jpeg', 'JPEG', 'JPG', 'png'):
                paths += glob.glob(osp.join(item, '**', f'*.{ext}'), recursive=True)
        else:
            paths += glob.glob(item)
    return sorted(set(paths))


class Timed:
    """Wrap a callable and add its run time to ``totals[name]``."""

    def __init__(self, fn, name, totals):
        self.fn, self.name, self.totals = fn, name, totals

    def __call__(self, x):
        t0 = time.process_time()
        out = self.fn(x)
        self.totals[self.name] += time.process_time() - t0
        return out


def timm_pipeline(size, prefetcher, totals=None):
    from timm.data import create_transform
    tf = create_transform(
        size, is_training=True, auto_augment=AA, interpolation='random', use_prefetcher=prefetcher)

    def load(path):
        # timm's ImageDataset: Image.open(path) then .convert('RGB') (which decodes).
        with open(path, 'rb') as f:
            return Image.open(f).convert('RGB')

    steps = [('read+decode (PIL)', load)] + [(type(t).__name__, t) for t in tf.transforms]
    if totals is not None:
        steps = [(n, Timed(fn, n, totals)) for n, fn in steps]

    def run(path):
        x = path
        for _, fn in steps:
            x = fn(x)
        return x

    return run


def mm_compose(cfgs, totals=None):
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        compose = Compose(cfgs)
    if totals is not None:
        names = [
            c['type'] + (f"({c['imdecode_backend']})" if 'imdecode_backend' in c else '')
            for c in cfgs
        ]
        compose.transforms = [Timed(t, n, totals) for t, n in zip(compose.transforms, names)]
    return lambda path: compose(dict(img_path=path))


def rsb_mm_cfgs(size, backend, flip=0.5, native_resize=True):
    cfgs = [
        dict(type='LoadImageFromFile', imdecode_backend=backend),
        dict(type='TimmRandomResizedCrop', scale=size, native_resize=native_resize),
        dict(type='RandomFlip', prob=flip, direction='horizontal'),
        dict(type='TimmRandAugment', config_str=AA, img_size=size),
        dict(type='PackInputs'),
    ]
    return cfgs if flip else cfgs[:2] + cfgs[3:]


def a1_config_cfgs(size, flip=True):
    """The RSB A1 config's training pipeline as shipped, or without its flip."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rsb_a1_resnet50.py'))
    if cfg.train_size != size:
        raise SystemExit(f'--size {size}: the A1 config trains at {cfg.train_size}')
    cfgs = [dict(t) for t in cfg.train_dataloader.dataset.pipeline]
    return cfgs if flip else [c for c in cfgs if c['type'] != 'RandomFlip']


def mmpretrain_rsb_cfgs(size):
    bgr_mean = [103.53, 116.28, 123.675]
    return [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=size, backend='pillow', interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(
            type='RandAugment',
            policies='timm_increasing',
            num_policies=2,
            total_level=10,
            magnitude_level=7,
            magnitude_std=0.5,
            hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
        dict(type='PackInputs'),
    ]


def check_equal(paths, size, cfgs, seeds=5):
    """rsb_mm's pipeline ``cfgs`` (no flip) vs timm (hflip=0, uint8 output): same pixels for
    the same seeds."""
    from timm.data import create_transform
    tf = create_transform(
        size,
        is_training=True,
        auto_augment=AA,
        interpolation='random',
        use_prefetcher=True,
        hflip=0.)
    ours = mm_compose(cfgs)
    for path in paths:
        for seed in range(seeds):
            random.seed(seed)
            np.random.seed(seed)
            with open(path, 'rb') as f:
                expected = tf(Image.open(f).convert('RGB')).numpy()
            random.seed(seed)
            np.random.seed(seed)
            got = ours(path)['inputs'].numpy()[::-1]  # BGR -> RGB
            if not np.array_equal(got, expected):
                return False
    return True


def throughputs(runs, paths, passes, repeats):
    """Best images/s of each pipeline; the pipelines take turns so load drifts hit all alike."""
    for run in runs.values():  # warm-up: page cache, lazy imports
        for path in paths:
            run(path)
    best = dict.fromkeys(runs, 0.)
    for r in range(repeats):
        for name, run in runs.items():
            random.seed(r)
            np.random.seed(r)
            torch.manual_seed(r)
            t0 = time.process_time()
            for _ in range(passes):
                for path in paths:
                    run(path)
            best[name] = max(best[name], passes * len(paths) / (time.process_time() - t0))
    return best


def stage_times(build, paths, passes, repeats):
    """Per-image ms of each stage, the lowest of ``repeats`` measurements."""
    best = {}
    for r in range(repeats):
        totals = defaultdict(float)
        run = build(totals)
        random.seed(r)
        np.random.seed(r)
        for _ in range(passes):
            for path in paths:
                run(path)
        for k, v in totals.items():
            best[k] = min(best.get(k, float('inf')), v / (passes * len(paths)) * 1e3)
    return best


def main():
    args = parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    import rsb_mm  # noqa: F401  (registers TimmRandomResizedCrop / TimmRandAugment)
    import mmpretrain.datasets  # noqa: F401  (registers PackInputs, RandAugment, ...)

    tmp = tempfile.TemporaryDirectory()
    if args.images:
        paths = collect(args.images)
        source = f'{len(paths)} files from {args.images}'
    else:
        paths = bundled_photos(tmp.name, args.long_side)
        source = (f'{len(paths)} bundled photos saved as JPEG q90, long side '
                  f'{args.long_side or "original"}')
    if not paths:
        print('No images found (install scikit-image or pass --images): skipping benchmark.')
        return 0
    sizes = [Image.open(p).size for p in paths]
    print(f'images: {source}; mean size {np.mean([s[0] for s in sizes]):.0f}x'
          f'{np.mean([s[1] for s in sizes]):.0f}')
    print(f'torch {torch.__version__}, Pillow {Image.__version__}, OpenCV {cv2.__version__}, '
          f'1 thread, {args.passes} passes x {len(paths)} images, best of {args.repeats}')

    for what, cfgs in [('cv2 decode', rsb_mm_cfgs(args.size, 'cv2', flip=0.)),
                       ('pillow decode', rsb_mm_cfgs(args.size, 'pillow', flip=0.)),
                       ('A1 config', a1_config_cfgs(args.size, flip=False))]:
        same = check_equal(paths, args.size, cfgs)
        print(f'rsb_mm ({what}) output == timm output (no flip, 5 seeds/image): '
              f'{"yes" if same else "NO"}')

    pipelines = {
        'timm create_transform (ToTensor+Normalize)':
        lambda t=None: timm_pipeline(args.size, False, t),
        'timm create_transform (use_prefetcher, uint8)':
        lambda t=None: timm_pipeline(args.size, True, t),
        'rsb_mm: LoadImageFromFile(cv2) + Timm* + PackInputs':
        lambda t=None: mm_compose(rsb_mm_cfgs(args.size, 'cv2'), t),
        'rsb_mm: LoadImageFromFile(pillow) + Timm* + PackInputs':
        lambda t=None: mm_compose(rsb_mm_cfgs(args.size, 'pillow'), t),
        'rsb_mm: as the cv2 row, Pillow\'s resize (native_resize=False)':
        lambda t=None: mm_compose(rsb_mm_cfgs(args.size, 'cv2', native_resize=False), t),
        'rsb_mm: configs/rsb_a1_resnet50.py\'s train pipeline':
        lambda t=None: mm_compose(a1_config_cfgs(args.size), t),
        'MMPretrain RSB config (not timm-exact), reference':
        lambda t=None: mm_compose(mmpretrain_rsb_cfgs(args.size), t),
    }
    results = throughputs({
        name: build()
        for name, build in pipelines.items()
    }, paths, args.passes, args.repeats)
    anchor = results['timm create_transform (ToTensor+Normalize)']
    anchor_pf = results['timm create_transform (use_prefetcher, uint8)']
    width = max(map(len, results))
    print(f'\n{"pipeline":<{width}} | img/s/core | vs timm | vs timm prefetcher')
    print(f'{"-" * width}-|------------|---------|-------------------')
    for name, ips in results.items():
        print(f'{name:<{width}} | {ips:10.1f} | {ips / anchor:6.2f}x | {ips / anchor_pf:6.2f}x')

    print('\nTime per image by stage (ms, best of repeats):')
    for name, build in pipelines.items():
        stages = stage_times(build, paths, max(1, args.passes // 2), args.repeats)
        detail = ', '.join(f'{k} {v:.3f}' for k, v in stages.items())
        print(f'  {name}: sum {sum(stages.values()):.3f} = {detail}')
    tmp.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
