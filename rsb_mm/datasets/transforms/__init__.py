from .timm_rand_augment import TimmRandAugment
from .timm_random_resized_crop import TimmRandomResizedCrop

__all__ = ['TimmRandAugment', 'TimmRandomResizedCrop']
