from .decay_groups_constructor import DecayGroupsOptimWrapperConstructor
from .lamb import global_clip_factor, lamb
from .multi_tensor_lamb import MultiTensorLamb

__all__ = [
    'DecayGroupsOptimWrapperConstructor', 'MultiTensorLamb',
    'global_clip_factor', 'lamb'
]
