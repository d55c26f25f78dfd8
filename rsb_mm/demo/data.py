"""The demo's three data sets, learnable and in the real on-disk formats.

* ``shapes_imagenet``: an ImageNet-format folder (class folders of JPEGs + ``meta/*.txt``) of
  filled polygons on photo crops; the class is the polygon (:mod:`rsb_mm.testing.shapes`).
  Pretraining learns it.
* ``shapes_cifar10``: the official CIFAR-10 python pickles of new images of the same shapes, 20
  a class: the small labelled set of a downstream task whose concept the pretraining data
  covers, which is where a pretrained backbone helps. (Outlined shapes, a shifted domain, were
  tried first: the few-minute pretraining does not carry over to them, fine-tuning from it and
  from random init both stayed near chance.)
* ``shapes_coco``: a COCO set (``instances_*.json`` with boxes and polygons, JPEGs) of several
  filled polygons per image, mapped to three COCO categories.
"""
import os.path as osp
from typing import Dict, NamedTuple

from rsb_mm.testing.shapes import SHAPE_NAMES, shapes_classification, shapes_detection
from rsb_mm.testing.tiny_datasets import write_coco_split, write_imagenet_split
from rsb_mm.testing.tiny_datasets import write_cifar_arrays

# The detection classes and the COCO categories they are stored as (json lists all 80).
DETECTION_SHAPES = ('triangle', 'square', 'star')
DETECTION_CATEGORY_IDS = (1, 3, 18)  # person, car, dog: any ids of COCO's 80


class DemoDataSize(NamedTuple):
    """How much data each stage gets."""
    image_size: int  # pretraining and fine-tuning images (square side)
    pretrain_train_per_class: int
    pretrain_val_per_class: int
    finetune_train_per_class: int
    finetune_test_per_class: int
    detection_size: int
    detection_train_images: int
    detection_val_images: int


class DemoData(NamedTuple):
    """Data roots of the three sets."""
    imagenet: str
    cifar10: str
    coco: str


def write_demo_data(root: str, size: DemoDataSize, seed: int = 0) -> DemoData:
    """Write the three data sets under ``root``.

    Train and held-out images are drawn with different seeds (no image is in both).

    Args:
        root (str): Output folder.
        size (DemoDataSize): Image sizes and counts.
        seed (int): Base seed. Defaults to 0.

    Returns:
        DemoData: The data root of each set.
    """
    data = DemoData(imagenet=osp.join(root, 'shapes_imagenet'),
                    cifar10=osp.join(root, 'shapes_cifar10'),
                    coco=osp.join(root, 'shapes_coco'))
    for split, per_class, split_seed in (('train', size.pretrain_train_per_class, seed),
                                         ('val', size.pretrain_val_per_class, seed + 1)):
        images, labels = shapes_classification(per_class, size.image_size, seed=split_seed)
        write_imagenet_split(data.imagenet, split, images, labels)

    splits: Dict[str, tuple] = {}
    for split, per_class, split_seed in (('train', size.finetune_train_per_class, seed + 2),
                                         ('test', size.finetune_test_per_class, seed + 3)):
        images, labels = shapes_classification(per_class, 32, seed=split_seed)
        splits[split] = (images, labels)
    write_cifar_arrays(data.cifar10, splits, variant='cifar10')

    for split, count, split_seed in (('train2017', size.detection_train_images, seed + 4),
                                     ('val2017', size.detection_val_images, seed + 5)):
        samples = shapes_detection(count, size.detection_size, names=DETECTION_SHAPES,
                                   seed=split_seed)
        write_coco_split(data.coco, split, [
            (img, [(DETECTION_CATEGORY_IDS[o.label], o.bbox, o.polygon) for o in objects])
            for img, objects in samples
        ])
    return data


def num_shape_classes() -> int:
    """Classes of the pretraining and fine-tuning sets (one per shape)."""
    return len(SHAPE_NAMES)


__all__ = ['DemoData', 'DemoDataSize', 'write_demo_data', 'num_shape_classes']
