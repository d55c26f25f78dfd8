from .pretrain import pretrain_tiny_checkpoint
from .tiny_datasets import (COCO_CATEGORIES, COCO_OBJECT_CATEGORIES, IMAGENET_WNIDS,
                            sample_photos, write_coco_detection, write_imagenet_folder)

__all__ = [
    'COCO_CATEGORIES', 'COCO_OBJECT_CATEGORIES', 'IMAGENET_WNIDS',
    'pretrain_tiny_checkpoint', 'sample_photos', 'write_coco_detection',
    'write_imagenet_folder'
]
