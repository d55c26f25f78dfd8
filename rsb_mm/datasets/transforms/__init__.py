from .load_image_checked import LoadImageFromFileChecked, UnreadableImageError, jpeg_is_truncated
from .timm_rand_augment import TimmRandAugment
from .timm_random_resized_crop import TimmRandomResizedCrop

__all__ = [
    'LoadImageFromFileChecked', 'UnreadableImageError', 'jpeg_is_truncated',
    'TimmRandAugment', 'TimmRandomResizedCrop'
]
