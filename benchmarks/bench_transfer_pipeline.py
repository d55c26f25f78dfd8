"""Fine-tuning input pipeline: the transfer configs' timm transforms vs albumentations, per core.

The transfer configs (``configs/transfer/``) train with DeiT's fine-tuning augmentation, which
is heavier than crop + flip: RandomResizedCrop 224 (bicubic) -> horizontal flip -> timm's
RandAugment ``rand-m9-mstd0.5-inc1`` (Mixup/CutMix run later, on the batch). This script times
that per-image transform against the closest albumentations 2.x pipelines, to decide which
library the configs should use (the project's rule: albumentations where it is faster), and
checks how albumentations draws its random numbers inside DataLoader workers.

* rsb_mm (the configs): ``TimmRandomResizedCrop`` -> ``RandomFlip`` -> ``TimmRandAugment`` ->
  ``PackInputs``, built from the config dicts in the ``mmpretrain`` scope (timm's PIL ops).
* albumentations: ``RandomResizedCrop`` (cv2 bicubic) -> ``HorizontalFlip`` -> ``SomeOf(n=2,
  replace=True)`` over albumentations' counterparts of timm's 15 "increasing" ops at
  magnitude 9 (AutoContrast, Equalize, InvertImg, Affine rotate / shear x / shear y /
  translate x / translate y, Posterize, Solarize, ColorJitter saturation, RandomBrightnessContrast
  brightness / contrast, Sharpen; SolarizeAdd has no counterpart), each with p=0.5 -> CHW tensor.
  It is *not* the same augmentation: albumentations has no RandAugment, its ops and ranges
  differ from timm's (no magnitude noise, other interpolation and fill), and cv2's bicubic
  resize does not antialias when it shrinks, unlike PIL's. It measures what the swap would buy.
* hybrid: albumentations' ``RandomResizedCrop`` (cv2 bicubic, ``area_for_downscale='image'``
  so that shrinking is antialiased as PIL's is) + ``HorizontalFlip``, then timm's RandAugment
  (``TimmRandAugment``): the same augmentation as the configs up to resize interpolation.
* All without RandAugment (crop + flip only), to show what RandAugment costs.

Worker check: albumentations 2.0.8's ``Compose`` draws from its own ``np.random.Generator``,
seeded once where the pipeline is built (the main process) and neither by MMEngine's
``randomness.seed`` nor per DataLoader worker; the script prints whether two workers return the
same draws (they do with 2.0.8), which would repeat each augmentation once per worker.

Inputs: CIFAR-like 32 x 32 arrays (upsampled by the crop, as the CIFAR configs do) and
Flowers/Cars-like photos (scikit-image's, long side ``--long-side``) as decoded arrays, so
decoding (the same for both) is not timed. One process, one thread (``torch``/``cv2``):
images per second of CPU time (``time.process_time``), i.e. per core; best of ``--repeats``.

Usage::

    NO_ALBUMENTATIONS_UPDATE=1 python benchmarks/bench_transfer_pipeline.py [--passes 20]
"""
import argparse
import os
import random
import time

import cv2
import numpy as np
import torch

os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

SIZE = 224
AA = 'rand-m9-mstd0.5-inc1'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--passes', type=int, default=20, help='passes over the images')
    parser.add_argument('--repeats', type=int, default=3, help='measurements per pipeline')
    parser.add_argument('--long-side', type=int, default=500,
                        help='long side of the photos (Flowers-102 / Cars images: ~500)')
    return parser.parse_args()


def inputs(long_side):
    """BGR uint8 arrays: 32 x 32 CIFAR-like crops and photos with the given long side."""
    from rsb_mm.testing import sample_photos
    photos = sample_photos(8)
    rng = np.random.default_rng(0)
    cifar = []
    for photo in photos:
        h, w = photo.shape[:2]
        y, x = rng.integers(0, h - 64), rng.integers(0, w - 64)
        cifar.append(cv2.resize(photo[y:y + 64, x:x + 64, ::-1], (32, 32),
                                interpolation=cv2.INTER_AREA))
    large = []
    for photo in photos:
        h, w = photo.shape[:2]
        scale = long_side / max(h, w)
        large.append(cv2.resize(photo[..., ::-1], (round(w * scale), round(h * scale)),
                                interpolation=cv2.INTER_AREA))
    return {'CIFAR 32x32': cifar, f'photo, long side {long_side}': large}


def rsb_mm_pipeline(rand_augment):
    import rsb_mm  # noqa: F401
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope
    steps = [
        dict(type='TimmRandomResizedCrop', scale=SIZE, interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    ]
    if rand_augment:
        steps.append(dict(type='TimmRandAugment', config_str=AA, img_size=SIZE,
                          interpolation='bicubic'))
    steps.append(dict(type='PackInputs'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(steps)

    def run(img):
        out = pipeline(dict(img=img.copy(), img_shape=img.shape[:2], ori_shape=img.shape[:2],
                            gt_label=0))
        return out['inputs']

    return run


def albumentations_crop_flip():
    import albumentations as A
    return [
        A.RandomResizedCrop(size=(SIZE, SIZE), interpolation=cv2.INTER_CUBIC,
                            area_for_downscale='image', p=1.0),
        A.HorizontalFlip(p=0.5),
    ]


def albumentations_pipeline(rand_augment):
    import albumentations as A
    m = 0.9  # magnitude 9 of 10
    steps = albumentations_crop_flip()
    if rand_augment:
        fill = (124, 116, 104)  # timm's fill: the ImageNet mean colour
        ops = [
            A.AutoContrast(p=0.5),
            A.Equalize(p=0.5),
            A.InvertImg(p=0.5),
            A.Affine(rotate=(-30 * m, 30 * m), interpolation=cv2.INTER_CUBIC, fill=fill, p=0.5),
            A.Posterize(num_bits=(max(1, 4 - int(4 * m)), 4), p=0.5),
            A.Solarize(threshold_range=(1 - m, 1 - m), p=0.5),
            A.ColorJitter(brightness=0, contrast=0, saturation=(1 - m * 0.9, 1 + m * 0.9),
                          hue=0, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=m * 0.9, contrast_limit=0, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=m * 0.9, p=0.5),
            A.Sharpen(alpha=(0.2, 0.9), p=0.5),
            A.Affine(shear={'x': (-17 * m, 17 * m), 'y': (0, 0)}, fill=fill,
                     interpolation=cv2.INTER_CUBIC, p=0.5),
            A.Affine(shear={'x': (0, 0), 'y': (-17 * m, 17 * m)}, fill=fill,
                     interpolation=cv2.INTER_CUBIC, p=0.5),
            A.Affine(translate_percent={'x': (-0.45 * m, 0.45 * m), 'y': (0, 0)}, fill=fill,
                     p=0.5),
            A.Affine(translate_percent={'x': (0, 0), 'y': (-0.45 * m, 0.45 * m)}, fill=fill,
                     p=0.5),
        ]
        steps.append(A.SomeOf(ops, n=2, replace=True, p=1.0))
    pipeline = A.Compose(steps)

    def run(img):
        out = pipeline(image=img)['image']
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))

    return run


def hybrid_pipeline(rand_augment):
    import albumentations as A

    import rsb_mm  # noqa: F401
    from rsb_mm.datasets.transforms import TimmRandAugment
    crop_flip = A.Compose(albumentations_crop_flip())
    timm_ra = TimmRandAugment(config_str=AA, img_size=SIZE, interpolation='bicubic')

    def run(img):
        out = crop_flip(image=img)['image']
        if rand_augment:
            out = timm_ra(dict(img=out))['img']
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))

    return run


class _Draws(torch.utils.data.Dataset):
    """Returns one albumentations crop per index, summarised as the crop's pixel sum."""

    def __init__(self):
        import albumentations as A
        self.aug = A.Compose([A.RandomResizedCrop(size=(8, 8), p=1.0)])
        self.img = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return int(self.aug(image=self.img)['image'].astype(np.int64).sum())


def workers_repeat_draws():
    """Whether two DataLoader workers give the same albumentations draws (in turn)."""
    draws = [int(x) for x in torch.utils.data.DataLoader(_Draws(), num_workers=2)]
    return draws[0::2] == draws[1::2]


def images_per_second(run, images, passes, repeats):
    best = 0.
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(passes):
            for img in images:
                out = run(img)
        elapsed = time.process_time() - start
        best = max(best, passes * len(images) / elapsed)
    assert tuple(out.shape) == (3, SIZE, SIZE), out.shape
    return best


def main():
    args = parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    random.seed(0)
    np.random.seed(0)
    rows = []
    for name, images in inputs(args.long_side).items():
        for rand_augment in (True, False):
            what = 'crop + flip + RandAugment' if rand_augment else 'crop + flip'
            speeds = [
                images_per_second(build(rand_augment), images, args.passes, args.repeats)
                for build in (rsb_mm_pipeline, albumentations_pipeline, hybrid_pipeline)
            ]
            rows.append((name, what, *speeds))
    print(f'Fine-tuning train transform at {SIZE}, images/s per core (higher is better)\n')
    print('| input | transform | rsb_mm configs (timm ops) | albumentations | '
          'albu crop/flip + timm RandAugment |')
    print('|---|---|---|---|---|')
    for name, what, ours, albu, hybrid in rows:
        print(f'| {name} | {what} | {ours:.0f} | {albu:.0f} ({albu / ours:.2f}x) | '
              f'{hybrid:.0f} ({hybrid / ours:.2f}x) |')
    print('\nalbumentations draws repeated across 2 DataLoader workers: '
          f'{"yes" if workers_repeat_draws() else "no"}')


if __name__ == '__main__':
    main()
