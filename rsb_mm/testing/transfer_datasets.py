"""Tiny copies of the transfer data sets in their official on-disk formats.

Each writer produces the files the official archives hold, in the layout the data set classes
read (MMPretrain's ``Flowers102``; rsb_mm's ``CIFAR10Offline``/``CIFAR100Offline``,
``StanfordCarsDevkit``, ``INaturalist2019``), with a few images per class:

- CIFAR-10 / CIFAR-100: the python pickles (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``, ``batches.meta``; ``cifar-100-python/train``, ``test``, ``meta``);
- Flowers-102: ``jpg/image_NNNNN.jpg``, ``imagelabels.mat`` and ``setid.mat`` (MATLAB v5,
  1 x N integer row vectors);
- Stanford Cars: ``cars_train/``, ``cars_test/``, ``devkit/cars_meta.mat``,
  ``devkit/cars_train_annos.mat``, ``devkit/cars_test_annos.mat`` (no labels) and the
  separately published ``cars_test_annos_withlabels.mat``;
- iNaturalist 2019: ``train2019.json``, ``val2019.json`` and
  ``train_val2019/<supercategory>/<category id>/<hash>.jpg``.

Pictures are crops of scikit-image's photos (see :func:`rsb_mm.testing.sample_photos`).
With ``signal=True`` each image also carries a planted texture that identifies its class
(:func:`plant_class_signal`), so a network can learn the task in a few iterations:
:func:`write_signal_imagenet_folder` writes the same signal in the ImageNet folder layout,
to pretrain on before fine-tuning on a CIFAR-format copy.

Over 300 lines: one writer per data set, each a few dozen lines of its official format, kept
together because they share the image and MATLAB-file helpers.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .tiny_datasets import (IMAGENET_WNIDS, _crop_resize, _save_jpeg, sample_photos,
                            write_cifar_arrays)

__all__ = [
    'CIFAR_NUM_CLASSES', 'FLOWERS102_NUM_CLASSES', 'STANFORDCARS_NUM_CLASSES',
    'INAT2019_NUM_CLASSES', 'SIGNAL_PATTERNS', 'plant_class_signal', 'write_cifar',
    'write_flowers102', 'write_stanford_cars', 'write_inat2019', 'write_signal_imagenet_folder'
]

CIFAR_NUM_CLASSES = {'cifar10': 10, 'cifar100': 100}
FLOWERS102_NUM_CLASSES = 102
STANFORDCARS_NUM_CLASSES = 196
INAT2019_NUM_CLASSES = 1010
_INAT2019_SUPERCATEGORIES = ('Amphibians', 'Birds', 'Fungi', 'Insects', 'Plants', 'Reptiles')


def _stripes_h(yy: np.ndarray, xx: np.ndarray, period: float, phase: float) -> np.ndarray:
    return np.sin(2 * np.pi * (yy / period + phase))


def _stripes_v(yy: np.ndarray, xx: np.ndarray, period: float, phase: float) -> np.ndarray:
    return np.sin(2 * np.pi * (xx / period + phase))


def _checkers(yy: np.ndarray, xx: np.ndarray, period: float, phase: float) -> np.ndarray:
    return (np.sin(2 * np.pi * (yy / period + phase)) *
            np.sin(2 * np.pi * (xx / period + phase)) * 2).clip(-1, 1)


def _rings(yy: np.ndarray, xx: np.ndarray, period: float, phase: float) -> np.ndarray:
    cy, cx = yy.mean(), xx.mean()
    return np.sin(2 * np.pi * (np.hypot(yy - cy, xx - cx) / period + phase))


# Textures that a horizontal flip (the fine-tuning pipeline's) maps onto themselves, so the
# augmentation never turns one class's signal into another's.
SIGNAL_PATTERNS: Dict[str, Callable] = {
    'horizontal_stripes': _stripes_h,
    'vertical_stripes': _stripes_v,
    'checkers': _checkers,
    'rings': _rings,
}


def plant_class_signal(img: np.ndarray, label: int, rng: np.random.Generator,
                       strength: float = 0.35) -> np.ndarray:
    """Overlay the texture of class ``label`` (cycling through :data:`SIGNAL_PATTERNS`).

    The texture modulates the brightness of the photo by ``+-strength * 255`` with a random
    period (a sixth to a third of the image side) and phase, so the class is in the texture's
    geometry, not in a colour or a fixed pixel.

    Args:
        img (np.ndarray): HxWx3 uint8 RGB image.
        label (int): Class index; classes ``k`` and ``k + 4`` share a texture.
        rng (np.random.Generator): Random source of the period and phase.
        strength (float): Amplitude as a fraction of the grey range. Defaults to 0.35.

    Returns:
        np.ndarray: The image with the texture, HxWx3 uint8.
    """
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    pattern = list(SIGNAL_PATTERNS.values())[label % len(SIGNAL_PATTERNS)]
    period = min(h, w) / rng.uniform(3.0, 6.0)
    texture = pattern(yy, xx, period, rng.uniform(0, 1))
    out = img.astype(np.float64) + strength * 255 * texture[..., None]
    return out.clip(0, 255).astype(np.uint8)


def _images(num_images: int, labels: Sequence[int], size: int, rng: np.random.Generator,
            signal: bool) -> List[np.ndarray]:
    photos = sample_photos(8)
    out = []
    for i in range(num_images):
        label = labels[i]
        img = _crop_resize(photos[(label + i) % len(photos)] if signal else
                           photos[label % len(photos)], size, rng)
        out.append(plant_class_signal(img, label, rng) if signal else img)
    return out


def _check_count(name: str, value: int, low: int, high: Optional[int] = None) -> None:
    if not isinstance(value, int) or value < low or high is not None and value > high:
        bound = f'[{low}, {high}]' if high is not None else f'>= {low}'
        raise ValueError(f'{name} must be an int in {bound}, got {value!r}')


def write_cifar(root: str,
                variant: str = 'cifar10',
                num_classes: int = 2,
                images_per_class: Dict[str, int] = None,
                signal: bool = False,
                seed: int = 0) -> Dict[str, int]:
    """Write a CIFAR-10 or CIFAR-100 copy as the official python pickles.

    Images of class ``k`` (``k < num_classes``) are 32 x 32 crops; CIFAR-10's train images are
    dealt over the five ``data_batch_*`` files in turn (some may be empty), CIFAR-100's go to
    ``train``. The meta file lists all 10 / 100 class names, as the official one does.

    Args:
        root (str): Data root (``data/cifar10``); the pickles go to
            ``root/cifar-10-batches-py`` or ``root/cifar-100-python``.
        variant (str): 'cifar10' or 'cifar100'. Defaults to 'cifar10'.
        num_classes (int): Classes that get images (the first ones). Defaults to 2.
        images_per_class (dict[str, int], optional): Images per class for 'train' and 'test'.
            Defaults to ``{'train': 2, 'test': 1}``.
        signal (bool): Plant each class's texture (:func:`plant_class_signal`). Defaults to
            False.
        seed (int): Seed of crops and textures. Defaults to 0.

    Returns:
        dict[str, int]: Number of images per split.
    """
    if variant not in CIFAR_NUM_CLASSES:
        raise ValueError(f'variant must be one of {sorted(CIFAR_NUM_CLASSES)}, got {variant!r}')
    _check_count('num_classes', num_classes, 1, CIFAR_NUM_CLASSES[variant])
    per_class = {'train': 2, 'test': 1, **(images_per_class or {})}
    rng = np.random.default_rng(seed)
    splits = {}
    for split in ('train', 'test'):
        _check_count(f'images_per_class[{split!r}]', per_class[split], 0)
        labels = [k for _ in range(per_class[split]) for k in range(num_classes)]
        images = _images(len(labels), labels, 32, rng, signal)
        splits[split] = (np.stack(images) if images else np.zeros((0, 32, 32, 3), np.uint8),
                         labels)
    # The pickle layout (data rows, labels, batches, meta) is tiny_datasets' writer's.
    return write_cifar_arrays(root, splits, variant)


def _savemat(path: str, content: Dict) -> None:
    from scipy.io import savemat
    os.makedirs(osp.dirname(path), exist_ok=True)
    savemat(path, content)


def _row(values: Sequence, dtype=np.uint16) -> np.ndarray:
    # MATLAB 1 x N integer row vectors. Both readers need integers: MMPretrain indexes a list
    # with the ids and torchvision formats them with ':05d', so the official files hold them.
    return np.asarray(values, dtype=dtype).reshape(1, -1)


def write_flowers102(root: str,
                     num_classes: int = 2,
                     images_per_split: int = 2,
                     size: int = 64,
                     seed: int = 0) -> Dict[str, int]:
    """Write a Flowers-102 copy: ``jpg/``, ``imagelabels.mat`` and ``setid.mat``.

    Each of the first ``num_classes`` classes gets ``images_per_split`` images in each of the
    official splits (``trnid``, ``valid``, ``tstid``); image ``i`` (1-based) is
    ``jpg/image_{i:05d}.jpg`` with label ``labels[i - 1]`` (1-based, as in the official file).

    Args:
        root (str): Data root (``data/flowers102``).
        num_classes (int): Classes that get images. Defaults to 2.
        images_per_split (int): Images per class and split. Defaults to 2.
        size (int): Side of the square JPEGs. Defaults to 64.
        seed (int): Seed of the crops. Defaults to 0.

    Returns:
        dict[str, int]: Number of images per split ('train', 'val', 'test', 'trainval').
    """
    _check_count('num_classes', num_classes, 1, FLOWERS102_NUM_CLASSES)
    # mat4py (MMPretrain's reader) returns a 1-element vector as a scalar, which its
    # Flowers102 cannot iterate: keep every split at two ids or more.
    if not isinstance(images_per_split, int) or images_per_split * num_classes < 2:
        raise ValueError('images_per_split * num_classes must be >= 2 (MMPretrain reads a '
                         f'1-element id list as a scalar), got {images_per_split!r}')
    rng = np.random.default_rng(seed)
    labels, ids = [], {'trnid': [], 'valid': [], 'tstid': []}
    for key in ids:
        for k in range(num_classes):
            for _ in range(images_per_split):
                labels.append(k + 1)
                ids[key].append(len(labels))
    images = _images(len(labels), [v - 1 for v in labels], size, rng, signal=False)
    for i, img in enumerate(images, start=1):
        _save_jpeg(img, osp.join(root, 'jpg', f'image_{i:05d}.jpg'))
    _savemat(osp.join(root, 'imagelabels.mat'), {'labels': _row(labels, np.uint8)})
    _savemat(osp.join(root, 'setid.mat'), {k: _row(v) for k, v in ids.items()})
    n = len(ids['trnid'])
    return dict(train=n, val=n, test=n, trainval=2 * n)


def _cars_annotations(names: Sequence[str], labels: Optional[Sequence[int]],
                      size: int) -> np.ndarray:
    fields = ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2'] + (['class'] if labels else []) + \
        ['fname']
    annos = np.zeros((1, len(names)), dtype=[(f, 'O') for f in fields])
    for i, name in enumerate(names):
        box = [np.array([[v]], np.uint16) for v in (1, 1, size, size)]
        label = [np.array([[labels[i] + 1]], np.uint8)] if labels else []
        annos[0, i] = tuple(box + label + [name])
    return annos


def write_stanford_cars(root: str,
                        num_classes: int = 2,
                        images_per_class: int = 2,
                        size: int = 64,
                        test_labels_in: str = 'root',
                        seed: int = 0) -> Dict[str, int]:
    """Write a Stanford Cars copy in the devkit layout.

    ``cars_train/`` and ``cars_test/`` hold ``NNNNN.jpg``; ``devkit/cars_meta.mat`` lists the
    196 class names (``class_names``, a 1 x 196 cell); ``devkit/cars_train_annos.mat`` and
    ``cars_test_annos_withlabels.mat`` hold the ``annotations`` struct array (``bbox_x1``,
    ``bbox_y1``, ``bbox_x2``, ``bbox_y2``, ``class`` 1-based, ``fname``);
    ``devkit/cars_test_annos.mat`` is the same without ``class``, as published.

    Args:
        root (str): Data root (``data/stanfordcars``).
        num_classes (int): Classes that get images. Defaults to 2.
        images_per_class (int): Images per class and split (>= 2 in all, see
            :func:`write_flowers102`). Defaults to 2.
        size (int): Side of the square JPEGs. Defaults to 64.
        test_labels_in (str): Where ``cars_test_annos_withlabels.mat`` goes: 'root' (next to
            ``devkit/``, where torchvision reads it), 'devkit' (where MMPretrain reads it) or
            'none'. Defaults to 'root'.
        seed (int): Seed of the crops. Defaults to 0.

    Returns:
        dict[str, int]: Number of images per split.
    """
    from mmpretrain.datasets.categories import STANFORDCARS_CATEGORIES
    _check_count('num_classes', num_classes, 1, STANFORDCARS_NUM_CLASSES)
    if not isinstance(images_per_class, int) or images_per_class * num_classes < 2:
        raise ValueError('images_per_class * num_classes must be >= 2, got '
                         f'{images_per_class!r}')
    if test_labels_in not in ('root', 'devkit', 'none'):
        raise ValueError(f"test_labels_in must be 'root', 'devkit' or 'none', got "
                         f'{test_labels_in!r}')
    rng = np.random.default_rng(seed)
    names = np.empty((1, STANFORDCARS_NUM_CLASSES), dtype=object)
    for i, name in enumerate(STANFORDCARS_CATEGORIES):
        names[0, i] = name
    _savemat(osp.join(root, 'devkit', 'cars_meta.mat'), {'class_names': names})
    counts = {}
    for split in ('train', 'test'):
        labels = [k for _ in range(images_per_class) for k in range(num_classes)]
        files = [f'{i:05d}.jpg' for i in range(1, len(labels) + 1)]
        for name, img in zip(files, _images(len(labels), labels, size, rng, signal=False)):
            _save_jpeg(img, osp.join(root, f'cars_{split}', name))
        if split == 'train':
            _savemat(osp.join(root, 'devkit', 'cars_train_annos.mat'),
                     {'annotations': _cars_annotations(files, labels, size)})
        else:
            _savemat(osp.join(root, 'devkit', 'cars_test_annos.mat'),
                     {'annotations': _cars_annotations(files, None, size)})
            if test_labels_in != 'none':
                folder = root if test_labels_in == 'root' else osp.join(root, 'devkit')
                _savemat(osp.join(folder, 'cars_test_annos_withlabels.mat'),
                         {'annotations': _cars_annotations(files, labels, size)})
        counts[split] = len(labels)
    return counts


def write_inat2019(root: str,
                   num_classes: int = 2,
                   images_per_class: Dict[str, int] = None,
                   size: int = 64,
                   seed: int = 0) -> Dict[str, str]:
    """Write an iNaturalist 2019 copy: ``train2019.json``, ``val2019.json`` and the images.

    The json files list all 1,010 categories (ids 0..1009, a supercategory each, placeholder
    names), as the official ones do; the first ``num_classes`` get images, stored as
    ``train_val2019/<supercategory>/<id>/<md5>.jpg`` and referenced by ``file_name``.

    Args:
        root (str): Data root (``data/inat2019``).
        num_classes (int): Categories that get images. Defaults to 2.
        images_per_class (dict[str, int], optional): Images per category for 'train' and
            'val'. Defaults to ``{'train': 2, 'val': 1}``.
        size (int): Side of the square JPEGs. Defaults to 64.
        seed (int): Seed of the crops. Defaults to 0.

    Returns:
        dict[str, str]: The json path per split.
    """
    _check_count('num_classes', num_classes, 1, INAT2019_NUM_CLASSES)
    per_class = {'train': 2, 'val': 1, **(images_per_class or {})}
    rng = np.random.default_rng(seed)
    supercategory = [_INAT2019_SUPERCATEGORIES[i % len(_INAT2019_SUPERCATEGORIES)]
                     for i in range(INAT2019_NUM_CLASSES)]
    categories = [
        dict(id=i, name=f'Species {i:04d}', kingdom='Animalia', phylum='Chordata',
             **{'class': supercategory[i]}, order='Order', family='Family', genus='Genus')
        for i in range(INAT2019_NUM_CLASSES)
    ]
    paths, image_id = {}, 0
    for split in ('train', 'val'):
        images, annotations = [], []
        labels = [k for _ in range(per_class[split]) for k in range(num_classes)]
        for label, img in zip(labels, _images(len(labels), labels, size, rng, signal=False)):
            image_id += 1
            digest = hashlib.md5(f'{split}{image_id}'.encode()).hexdigest()
            file_name = f'train_val2019/{supercategory[label]}/{label}/{digest}.jpg'
            _save_jpeg(img, osp.join(root, file_name))
            images.append(dict(id=image_id, file_name=file_name, width=size, height=size,
                               license=0, rights_holder='rsb_mm tests'))
            annotations.append(dict(id=image_id, image_id=image_id, category_id=label))
        paths[split] = osp.join(root, f'{split}2019.json')
        os.makedirs(root, exist_ok=True)
        with open(paths[split], 'w') as f:
            json.dump(dict(info=dict(year=2019), images=images, annotations=annotations,
                           categories=categories, licenses=[]), f)
    return paths


def write_signal_imagenet_folder(root: str,
                                 num_classes: int = 4,
                                 images_per_class: Dict[str, int] = None,
                                 size: int = 64,
                                 seed: int = 0) -> Dict[str, int]:
    """Write an ImageNet-layout folder whose classes are the planted textures.

    Same layout as :func:`rsb_mm.testing.write_imagenet_folder` (``<split>/<wnid>/*.JPEG`` and
    ``meta/<split>.txt``); class ``k`` carries texture ``k`` (:func:`plant_class_signal`) over
    photo crops, so a network pretrained on it has learned features that a fine-tuning on a
    CIFAR copy with ``signal=True`` can reuse.

    Args:
        root (str): Data root.
        num_classes (int): Classes, at most 8. Defaults to 4.
        images_per_class (dict[str, int], optional): Images per class for 'train' and 'val'.
            Defaults to ``{'train': 8, 'val': 2}``.
        size (int): Side of the square JPEGs. Defaults to 64.
        seed (int): Seed of crops and textures. Defaults to 0.

    Returns:
        dict[str, int]: Number of images per split.
    """
    _check_count('num_classes', num_classes, 1, len(IMAGENET_WNIDS))
    per_class = {'train': 8, 'val': 2, **(images_per_class or {})}
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    counts = {}
    for split in ('train', 'val'):
        labels = [k for _ in range(per_class[split]) for k in range(num_classes)]
        lines = []
        for i, (label, img) in enumerate(zip(labels, _images(len(labels), labels, size, rng,
                                                             signal=True))):
            wnid = IMAGENET_WNIDS[label]
            name = f'{wnid}/{wnid}_{i:04d}.JPEG'
            _save_jpeg(img, osp.join(root, split, name))
            lines.append(f'{name} {label}\n')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
        counts[split] = len(lines)
    return counts
