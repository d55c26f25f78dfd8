"""Resize of a crop to 224: rsb_mm's compiled copy of Pillow's resampling vs Pillow itself.

For a few crop sizes of a scikit-image photo and both of timm's random interpolations
(bilinear, bicubic), times, on one thread, (a) ``Image.resize`` on a PIL image already in
memory, (b) what ``TimmRandomResizedCrop(native_resize=False)`` does per image: BGR crop ->
RGB PIL -> ``Image.resize`` -> BGR array, and (c) ``pil_resample.resize`` on the BGR crop view
(what ``TimmRandomResizedCrop`` does by default). It first checks that (c) gives the same bytes
as (a). Prints the median ms over ``--repeats`` calls and the speed-ups of (c).

Usage::

    python benchmarks/bench_resize.py [--repeats 300] [--size 224]
"""
import argparse
import statistics
import time

import numpy as np
from PIL import Image

from rsb_mm._native import pil_resample
from rsb_mm.datasets.transforms.timm_random_resized_crop import bgr_to_pil, pil_to_bgr

CROPS = ((300, 280), (500, 375), (420, 180), (120, 100))  # (h, w) of the crop


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=300)
    parser.add_argument('--size', type=int, default=224)
    args = parser.parse_args()
    import cv2
    import torch
    from skimage import data
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if not pil_resample.available():
        raise SystemExit('the compiled resize is off on this machine (see the log above)')
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((600, 600), Image.BICUBIC))
    bgr = np.ascontiguousarray(photo[..., ::-1])
    out = (args.size, args.size)
    print(f'Pillow {Image.__version__}, one thread, median of {args.repeats} calls, '
          f'crop of a 600x600 photo -> {args.size}x{args.size}')
    print('\n| crop (h x w) | filter | (a) Pillow resize ms | (b) BGR -> PIL -> resize -> BGR '
          'ms | (c) pil_resample ms | (a)/(c) | (b)/(c) |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for h, w in CROPS:
        crop = bgr[50:50 + h, 40:40 + w]
        pil = bgr_to_pil(crop)
        for name, resample in (('bilinear', Image.Resampling.BILINEAR),
                               ('bicubic', Image.Resampling.BICUBIC)):
            got = pil_resample.resize(crop, out, resample)
            expected = pil_to_bgr(pil.resize(out[::-1], resample))
            if not np.array_equal(got, expected):
                raise SystemExit(f'{h}x{w} {name}: pil_resample differs from Pillow')
            a = median_ms(lambda: pil.resize(out[::-1], resample), args.repeats)
            b = median_ms(lambda: pil_to_bgr(bgr_to_pil(crop).resize(out[::-1], resample)),
                          args.repeats)
            c = median_ms(lambda: pil_resample.resize(crop, out, resample), args.repeats)
            print(f'| {h} x {w} | {name} | {a:.3f} | {b:.3f} | {c:.3f} | {a / c:.2f}x | '
                  f'{b / c:.2f}x |')


if __name__ == '__main__':
    main()
