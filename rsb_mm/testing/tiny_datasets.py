"""Tiny data sets in the real on-disk formats, for tests, smoke runs and the demo.

Each writer produces the layout MMPretrain's or MMDetection's docs teach (ImageNet class
folders of JPEGs, COCO ``instances_*.json``), so the real dataset classes and loaders read them.
Pictures are crops of the photos scikit-image bundles when it is installed (real JPEG
statistics), else smooth synthetic images.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# A few real ImageNet synsets (folder names as in ILSVRC2012).
IMAGENET_WNIDS = ('n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475',
                  'n01496331', 'n01498041', 'n01514668')
_SKIMAGE_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'immunohistochemistry',
                   'motorcycle_left', 'hubble_deep_field', 'colorwheel')


def sample_photos(max_photos: int = 8) -> List[np.ndarray]:
    """RGB uint8 photos: scikit-image's bundled ones, else synthetic gradients with shapes.

    Args:
        max_photos (int): How many photos at most. Defaults to 8.

    Returns:
        list[np.ndarray]: HxWx3 uint8 RGB arrays.
    """
    photos = []
    try:
        from skimage import data as skdata
        for name in _SKIMAGE_PHOTOS[:max_photos]:
            try:
                img = getattr(skdata, name)()
            except Exception:  # some skimage photos are fetched on demand; skip those
                continue
            if img.ndim == 3 and img.shape[2] >= 3:
                photos.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    while len(photos) < max_photos:
        yy, xx = np.mgrid[0:256, 0:256]
        img = np.stack([(xx + 40 * len(photos)) % 256, yy, (xx + yy) // 2 % 256], -1)
        x0, y0 = rng.integers(20, 150, size=2)
        img[y0:y0 + 60, x0:x0 + 80] = rng.integers(0, 255, size=3)
        photos.append(img.astype(np.uint8))
    return photos


def _save_jpeg(img_rgb: np.ndarray, path: str, quality: int = 90) -> None:
    from PIL import Image
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(img_rgb).save(path, format='JPEG', quality=quality)


def _crop_resize(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(img[y0:y0 + side, x0:x0 + side])
    return np.asarray(crop.resize((size, size), Image.BILINEAR))


def write_imagenet_folder(root: str,
                          num_classes: int = 2,
                          images_per_class: int = 2,
                          size: int = 48,
                          splits: Sequence[str] = ('train', 'val'),
                          seed: int = 0) -> Dict[str, int]:
    """Write ``root/<split>/<wnid>/<wnid>_<i>.JPEG`` and ``root/meta/<split>.txt``.

    This is the ImageNet layout MMPretrain's docs teach: class folders plus annotation lists
    (``<wnid>/<file> <label>``). MMPretrain's ``ImageNet`` reads the lists when present (with
    fewer than 1000 class folders it needs them). Class ``k`` is drawn from photo ``k``, so
    classes differ in content.

    Args:
        root (str): Data root (e.g. ``data/imagenet``).
        num_classes (int): Classes, at most 8. Defaults to 2.
        images_per_class (int): Images per class and split. Defaults to 2.
        size (int): Square image side in pixels. Defaults to 48.
        splits (Sequence[str]): Split folders to write. Defaults to ('train', 'val').
        seed (int): Seed of the crops. Defaults to 0.

    Returns:
        dict[str, int]: Number of images written per split.
    """
    if not 1 <= num_classes <= len(IMAGENET_WNIDS):
        raise ValueError(f'num_classes must be in [1, {len(IMAGENET_WNIDS)}], got {num_classes}')
    rng = np.random.default_rng(seed)
    photos = sample_photos(num_classes)
    counts = {}
    for split in splits:
        labels = np.repeat(np.arange(num_classes), images_per_class)
        images = np.stack([_crop_resize(photos[k], size, rng) for k in labels])
        counts[split] = write_imagenet_split(root, split, images, labels)
    return counts


def write_imagenet_split(root: str, split: str, images: np.ndarray,
                         labels: Sequence[int]) -> int:
    """Write given images as one split of an ImageNet-format folder.

    Image ``i`` of class ``k`` goes to ``root/<split>/<wnid k>/<wnid k>_<i>.JPEG`` and is listed
    in ``root/meta/<split>.txt`` as ``<wnid>/<file> <k>``.

    Args:
        root (str): Data root.
        split (str): Split folder ('train', 'val').
        images (np.ndarray): ``(N, H, W, 3)`` uint8 RGB images.
        labels (Sequence[int]): ``N`` class indices, each below ``len(IMAGENET_WNIDS)``.

    Returns:
        int: Number of images written.
    """
    if len(images) != len(labels):
        raise ValueError(f'{len(images)} images but {len(labels)} labels')
    if len(labels) and not 0 <= min(labels) <= max(labels) < len(IMAGENET_WNIDS):
        raise ValueError(f'labels must be in [0, {len(IMAGENET_WNIDS)}), got '
                         f'{min(labels)}..{max(labels)}')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    lines = []
    for i, (img, label) in enumerate(zip(images, labels)):
        wnid = IMAGENET_WNIDS[int(label)]
        name = f'{wnid}/{wnid}_{i:04d}.JPEG'
        _save_jpeg(img, osp.join(root, split, name))
        lines.append(f'{name} {int(label)}\n')
    with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
        f.writelines(lines)
    return len(lines)


# The 80 COCO categories with their official ids (1-90 with gaps), as instances_*.json lists
# them; MMDetection's CocoMetric maps label k to the k-th of these.
COCO_CATEGORIES = (
    (1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'), (5, 'airplane'), (6, 'bus'),
    (7, 'train'), (8, 'truck'), (9, 'boat'), (10, 'traffic light'), (11, 'fire hydrant'),
    (13, 'stop sign'), (14, 'parking meter'), (15, 'bench'), (16, 'bird'), (17, 'cat'),
    (18, 'dog'), (19, 'horse'), (20, 'sheep'), (21, 'cow'), (22, 'elephant'), (23, 'bear'),
    (24, 'zebra'), (25, 'giraffe'), (27, 'backpack'), (28, 'umbrella'), (31, 'handbag'),
    (32, 'tie'), (33, 'suitcase'), (34, 'frisbee'), (35, 'skis'), (36, 'snowboard'),
    (37, 'sports ball'), (38, 'kite'), (39, 'baseball bat'), (40, 'baseball glove'),
    (41, 'skateboard'), (42, 'surfboard'), (43, 'tennis racket'), (44, 'bottle'),
    (46, 'wine glass'), (47, 'cup'), (48, 'fork'), (49, 'knife'), (50, 'spoon'), (51, 'bowl'),
    (52, 'banana'), (53, 'apple'), (54, 'sandwich'), (55, 'orange'), (56, 'broccoli'),
    (57, 'carrot'), (58, 'hot dog'), (59, 'pizza'), (60, 'donut'), (61, 'cake'), (62, 'chair'),
    (63, 'couch'), (64, 'potted plant'), (65, 'bed'), (67, 'dining table'), (70, 'toilet'),
    (72, 'tv'), (73, 'laptop'), (74, 'mouse'), (75, 'remote'), (76, 'keyboard'),
    (77, 'cell phone'), (78, 'microwave'), (79, 'oven'), (80, 'toaster'), (81, 'sink'),
    (82, 'refrigerator'), (84, 'book'), (85, 'clock'), (86, 'vase'), (87, 'scissors'),
    (88, 'teddy bear'), (89, 'hair drier'), (90, 'toothbrush'),
)
# The categories the writer draws objects from: a few, so each gets several examples.
COCO_OBJECT_CATEGORIES = ((1, 'person'), (3, 'car'), (18, 'dog'))


def write_coco_detection(root: str,
                         num_images: int = 2,
                         size: int = 128,
                         splits: Sequence[str] = ('train2017', 'val2017'),
                         seed: int = 0,
                         object_categories: Optional[Sequence] = None) -> Dict[str, str]:
    """Write a COCO-format detection set: ``root/<split>/*.jpg`` and
    ``root/annotations/instances_<split>.json`` with boxes and polygon masks.

    Each image is a photo crop with 1-3 filled rectangles pasted in; each rectangle is an
    annotation (bbox, polygon segmentation, area, iscrowd 0) of a COCO category.

    Args:
        root (str): Data root (e.g. ``data/coco``).
        num_images (int): Images per split. Defaults to 2.
        size (int): Square image side. Defaults to 128.
        splits (Sequence[str]): Splits to write. Defaults to ('train2017', 'val2017').
        seed (int): Seed. Defaults to 0.
        object_categories (Sequence, optional): (id, name) pairs the objects are drawn from;
            the json lists all 80 COCO categories regardless. Defaults to
            COCO_OBJECT_CATEGORIES.

    Returns:
        dict[str, str]: Annotation file path per split.
    """
    categories = list(object_categories or COCO_OBJECT_CATEGORIES)
    rng = np.random.default_rng(seed)
    photos = sample_photos(4)
    ann_files = {}
    for split in splits:
        samples = []
        for i in range(num_images):
            img = _crop_resize(photos[i % len(photos)], size, rng).copy()
            objects = []
            for _ in range(int(rng.integers(1, 4))):
                w, h = (int(v) for v in rng.integers(size // 6, size // 2, size=2))
                x0 = int(rng.integers(0, size - w))
                y0 = int(rng.integers(0, size - h))
                cat_idx = int(rng.integers(0, len(categories)))
                img[y0:y0 + h, x0:x0 + w] = (np.array([255, 64, 32]) * (cat_idx + 1)) % 256
                objects.append((categories[cat_idx][0], [x0, y0, w, h],
                                [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]))
            samples.append((img, objects))
        ann_files[split] = write_coco_split(root, split, samples)
    return ann_files


def write_coco_split(root: str, split: str, samples: Sequence[Tuple[np.ndarray, Sequence]],
                     first_ann_id: int = 1) -> str:
    """Write given images and objects as one COCO split.

    Images go to ``root/<split>/<id:012d>.jpg``; ``root/annotations/instances_<split>.json``
    lists them, one annotation per object (bbox, one polygon, its box area, ``iscrowd`` 0) and
    all 80 COCO categories (MMDetection's ``CocoMetric`` maps label k to the k-th of them).

    Args:
        root (str): Data root (e.g. ``data/coco``).
        split (str): Split name ('train2017', 'val2017').
        samples (Sequence[tuple]): ``(image, objects)`` pairs: an ``(H, W, 3)`` uint8 RGB
            image and ``(category_id, [x, y, w, h], [x1, y1, x2, y2, ...])`` triples, with
            official COCO category ids.
        first_ann_id (int): Id of the first annotation. Defaults to 1.

    Returns:
        str: Path of the annotation file.
    """
    known = {c for c, _ in COCO_CATEGORIES}
    images, annotations = [], []
    ann_id = first_ann_id
    for image_id, (img, objects) in enumerate(samples, start=1):
        for category_id, bbox, polygon in objects:
            if category_id not in known:
                raise ValueError(f'category_id {category_id} is not a COCO category id')
            annotations.append(
                dict(id=ann_id, image_id=image_id, category_id=int(category_id),
                     bbox=[float(v) for v in bbox], area=float(bbox[2] * bbox[3]), iscrowd=0,
                     segmentation=[[float(v) for v in polygon]]))
            ann_id += 1
        file_name = f'{image_id:012d}.jpg'
        _save_jpeg(img, osp.join(root, split, file_name))
        images.append(dict(id=image_id, file_name=file_name, width=int(img.shape[1]),
                           height=int(img.shape[0])))
    ann_file = osp.join(root, 'annotations', f'instances_{split}.json')
    os.makedirs(osp.dirname(ann_file), exist_ok=True)
    with open(ann_file, 'w') as f:
        json.dump(
            dict(images=images, annotations=annotations,
                 categories=[dict(id=c, name=n, supercategory='none')
                             for c, n in COCO_CATEGORIES]), f)
    return ann_file


# The official archives' layouts: folder, pickle files per split, label key, meta file.
_CIFAR_LAYOUTS = {
    'cifar10': ('cifar-10-batches-py', {'train': [f'data_batch_{i}' for i in range(1, 6)],
                                        'test': ['test_batch']}, 'labels', 'batches.meta'),
    'cifar100': ('cifar-100-python', {'train': ['train'], 'test': ['test']}, 'fine_labels',
                 'meta'),
}


def write_cifar_arrays(root: str, splits: Dict[str, Tuple[np.ndarray, Sequence[int]]],
                       variant: str = 'cifar10') -> Dict[str, int]:
    """Write given 32 x 32 images as the official CIFAR-10 / CIFAR-100 python pickles.

    Each pickle holds ``data`` (N x 3072 uint8: the R, G and B planes of each image, row
    major), the labels (``labels``, CIFAR-100: ``fine_labels`` and ``coarse_labels``),
    ``filenames`` and ``batch_label``; CIFAR-10's train images are dealt over the five
    ``data_batch_*`` files in turn. The meta file lists all 10 / 100 class names.

    Args:
        root (str): Data root; the pickles go to ``root/cifar-10-batches-py`` or
            ``root/cifar-100-python``.
        splits (dict): ``{'train': (images, labels), 'test': (images, labels)}`` with
            ``(N, 32, 32, 3)`` uint8 RGB images; either split may be left out.
        variant (str): 'cifar10' or 'cifar100'. Defaults to 'cifar10'.

    Returns:
        dict[str, int]: Number of images written per split.
    """
    import pickle
    if variant not in _CIFAR_LAYOUTS:
        raise ValueError(f'variant must be one of {sorted(_CIFAR_LAYOUTS)}, got {variant!r}')
    folder_name, files, label_key, meta_name = _CIFAR_LAYOUTS[variant]
    num_classes = 10 if variant == 'cifar10' else 100
    folder = osp.join(root, folder_name)
    os.makedirs(folder, exist_ok=True)
    counts = {}
    for split, (images, labels) in splits.items():
        if split not in files:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        images = np.asarray(images)
        labels = [int(v) for v in labels]
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
            raise ValueError(f'{split}: images must be (N, 32, 32, 3) uint8, got '
                             f'{images.shape} {images.dtype}')
        if len(labels) != len(images) or any(not 0 <= v < num_classes for v in labels):
            raise ValueError(f'{split}: need {len(images)} labels in [0, {num_classes}), got '
                             f'{len(labels)}')
        for j, name in enumerate(files[split]):
            idx = list(range(j, len(labels), len(files[split])))
            data = images[idx].transpose(0, 3, 1, 2).reshape(len(idx), 3072)
            entry = {
                'batch_label': f'{split} batch {j + 1} of {len(files[split])}',
                label_key: [labels[i] for i in idx],
                'data': np.ascontiguousarray(data, dtype=np.uint8),
                'filenames': [f'{split}_{i:05d}.png' for i in idx],
            }
            if variant == 'cifar100':
                entry['coarse_labels'] = [labels[i] // 5 for i in idx]
            with open(osp.join(folder, name), 'wb') as f:
                pickle.dump(entry, f, protocol=2)
        counts[split] = len(labels)
    from mmpretrain.datasets.categories import CIFAR10_CATEGORIES, CIFAR100_CATEGORIES
    if variant == 'cifar10':
        meta = {'label_names': list(CIFAR10_CATEGORIES), 'num_cases_per_batch': 10000,
                'num_vis': 3072}
    else:
        meta = {'fine_label_names': list(CIFAR100_CATEGORIES),
                'coarse_label_names': [f'coarse_{i}' for i in range(20)]}
    with open(osp.join(folder, meta_name), 'wb') as f:
        pickle.dump(meta, f, protocol=2)
    return counts
