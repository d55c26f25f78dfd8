from .cifar_offline import CIFAR10Offline, CIFAR100Offline
from .imagenet_real import ImageNetReaL, load_real_labels, val_image_number
from .imagenet_v2 import ImageNetV2
from .inaturalist2019 import INaturalist2019
from .samplers import *  # noqa: F401,F403
from .stanford_cars import StanfordCarsDevkit
from .transforms import *  # noqa: F401,F403
from .samplers import __all__ as _samplers_all
from .transforms import __all__ as _transforms_all

__all__ = [
    'CIFAR10Offline', 'CIFAR100Offline', 'ImageNetReaL', 'ImageNetV2', 'INaturalist2019',
    'StanfordCarsDevkit', 'load_real_labels', 'val_image_number', *_samplers_all,
    *_transforms_all
]
