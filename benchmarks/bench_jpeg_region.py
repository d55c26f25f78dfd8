"""Decoding what RandomResizedCrop keeps: rsb_mm's region decoder vs whole-image decoders.

For each photo (JPEG files, as ``bench_input_pipeline.py`` writes them) and the same
RandomResizedCrop boxes (timm's ``get_params``: area 8-100%, ratio 3/4-4/3), times on one
thread, per image:

* (a) ``cv2.imdecode(..., IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION)``: what
  ``LoadImageFromFile(color_type='color_ignore_orientation')`` runs, the whole image;
* (b) ``Image.open(f).convert('RGB')``: timm's ``ImageDataset`` loader, the whole image;
* (c) ``jpeg_region.decode_region`` on the whole image;
* (d) ``jpeg_region.decode_region`` on the crop box (what ``TimmRandomResizedCrop`` does after
  ``LoadImageFromFileChecked(lazy_decode=True)``);
* (e) ``jpeg_region.decode_region`` of the image's last row only: the entropy decoding no
  region can skip (every row above it), a floor for (d).

It first checks that (d) equals (a) cropped, for every box. Prints mean ms per image (lowest of
``--repeats`` passes over all boxes) and (a)/(d).

A second table shows what skipping columns (``jpeg_crop_scanline``) gains: full-height crops
centred in each photo, 10-100% of its width, decoded with every column and with the columns
outside skipped (the decoder's default), taking turns (mean over photos).

Usage::

    python benchmarks/bench_jpeg_region.py [--images DIR_OR_FILES ...] [--boxes 50] [--repeats 5]
"""
import argparse
import os.path as osp
import random
import sys
import tempfile
import time

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_input_pipeline import bundled_photos, collect  # noqa: E402


def pil_load(path):
    with open(path, 'rb') as f:
        return Image.open(f).convert('RGB')


def per_image_ms(fn, items, repeats):
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        for item in items:
            fn(item)
        best = min(best, time.process_time() - start)
    return best / len(items) * 1e3


def columns_skipped_or_not(paths, repeats):
    """Full-height centred crops of 10-100% of the width, every column decoded or the columns
    outside skipped; ms per image, mean over the photos."""
    from rsb_mm.datasets.transforms import jpeg_region
    lib = jpeg_region._get()
    fractions = (0.1, 0.2, 0.3, 0.4, 0.55, 0.7, 0.85, 1.0)
    modes = (('every column', 0), ('columns outside skipped', 1))
    times = np.zeros((len(fractions), len(modes)))
    for path in paths:
        with open(path, 'rb') as f:
            data = f.read()
        header = jpeg_region.read_header(data)
        for i, frac in enumerate(fractions):
            width = max(1, int(header.width * frac))
            box = (0, (header.width - width) // 2, header.height, width)
            best = [float('inf')] * len(modes)
            for _ in range(repeats):  # the modes take turns, so load drifts hit all alike
                for j, (_, mode) in enumerate(modes):
                    best[j] = min(best[j], per_image_ms(
                        lambda _: jpeg_region._region(lib, data, *box, 1, mode), range(20), 1))
            times[i] += best
    times /= len(paths)
    print('\nColumns skipped or not (full-height centred crop, ms per image, mean over '
          'photos):\n')
    print('| crop width | ' + ' | '.join(name for name, _ in modes) + ' | skipped / every |')
    print('|---:|' + '---:|' * (len(modes) + 1))
    for frac, row in zip(fractions, times):
        print(f'| {frac:.0%} | ' + ' | '.join(f'{t:.3f}' for t in row)
              + f' | {row[1] / row[0]:.2f} |')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', nargs='*', help='JPEG files or folders (default: '
                        "scikit-image's photos saved as JPEG q90, long side 500)")
    parser.add_argument('--boxes', type=int, default=50, help='crop boxes per image')
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from timm.data.transforms import RandomResizedCropAndInterpolation

    from rsb_mm.datasets.transforms import jpeg_region
    if not jpeg_region.available():
        raise SystemExit('the JPEG region decoder is off on this machine (see the log above)')
    tmp = tempfile.TemporaryDirectory()
    paths = collect(args.images) if args.images else bundled_photos(tmp.name, 500)
    rrc = RandomResizedCropAndInterpolation(224)
    random.seed(0)
    print(f'OpenCV {cv2.__version__}, Pillow {Image.__version__}, one thread, {args.boxes} '
          f'RandomResizedCrop boxes per image, best of {args.repeats} passes')
    print('\n| image | size | KB | (a) cv2 whole | (b) PIL whole | (c) region decoder, whole | '
          '(d) region decoder, crop | (e) last row only | mean crop area | (a)/(d) |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    totals = np.zeros(5)
    for path in paths:
        with open(path, 'rb') as f:
            data = f.read()
        if not data.startswith(b'\xff\xd8'):
            continue
        header = jpeg_region.read_header(data)
        height, width = header.height, header.width
        boxes = [rrc.get_params(torch.empty(()).expand(height, width), rrc.scale, rrc.ratio)
                 for _ in range(args.boxes)]
        whole = cv2.imdecode(np.frombuffer(data, np.uint8), jpeg_region.CV2_FLAGS)
        for top, left, h, w in boxes:
            if not np.array_equal(jpeg_region.decode_region(data, top, left, h, w),
                                  whole[top:top + h, left:left + w]):
                raise SystemExit(f'{path}: region {(top, left, h, w)} differs from OpenCV')
        times = [
            per_image_ms(lambda b: cv2.imdecode(np.frombuffer(data, np.uint8),
                                                jpeg_region.CV2_FLAGS), boxes, args.repeats),
            per_image_ms(lambda b: pil_load(path), boxes, args.repeats),
            per_image_ms(lambda b: jpeg_region.decode_region(data, 0, 0, height, width), boxes,
                         args.repeats),
            per_image_ms(lambda b: jpeg_region.decode_region(data, *b), boxes, args.repeats),
            per_image_ms(lambda b: jpeg_region.decode_region(data, height - 1, 0, 1, 16), boxes,
                         args.repeats),
        ]
        totals += times
        area = np.mean([h * w for _, _, h, w in boxes]) / (height * width)
        print(f'| {osp.basename(path)} | {width}x{height} | {len(data) / 1024:.0f} | '
              + ' | '.join(f'{t:.3f}' for t in times)
              + f' | {area:.0%} | {times[0] / times[3]:.2f}x |')
    n = len(paths)
    print('| **mean** | | | ' + ' | '.join(f'{t / n:.3f}' for t in totals)
          + f' | | {totals[0] / totals[3]:.2f}x |')
    print('\nAll regions equal OpenCV\'s whole decode there.')
    columns_skipped_or_not(paths, args.repeats)
    tmp.cleanup()


if __name__ == '__main__':
    main()
