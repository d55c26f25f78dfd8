from .pretrain import pretrain_tiny_checkpoint
from .tiny_datasets import (COCO_CATEGORIES, COCO_OBJECT_CATEGORIES, IMAGENET_WNIDS,
                            sample_photos, write_coco_detection, write_imagenet_folder)
from .transfer_datasets import (CIFAR_NUM_CLASSES, FLOWERS102_NUM_CLASSES,
                                INAT2019_NUM_CLASSES, SIGNAL_PATTERNS, STANFORDCARS_NUM_CLASSES,
                                plant_class_signal, write_cifar, write_flowers102,
                                write_inat2019, write_signal_imagenet_folder,
                                write_stanford_cars)

__all__ = [
    'COCO_CATEGORIES', 'COCO_OBJECT_CATEGORIES', 'IMAGENET_WNIDS',
    'pretrain_tiny_checkpoint', 'sample_photos', 'write_coco_detection',
    'write_imagenet_folder', 'CIFAR_NUM_CLASSES', 'FLOWERS102_NUM_CLASSES',
    'INAT2019_NUM_CLASSES', 'SIGNAL_PATTERNS', 'STANFORDCARS_NUM_CLASSES', 'plant_class_signal',
    'write_cifar', 'write_flowers102', 'write_inat2019', 'write_signal_imagenet_folder',
    'write_stanford_cars'
]
