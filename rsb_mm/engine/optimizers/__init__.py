from .decay_groups_constructor import DecayGroupsOptimWrapperConstructor
from .multi_tensor_lamb import MultiTensorLamb

__all__ = ['DecayGroupsOptimWrapperConstructor', 'MultiTensorLamb']
