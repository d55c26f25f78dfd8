from .multi_set_loops import ExtraSet, MultiSetTestLoop, MultiSetValLoop, build_extra_sets

__all__ = ['MultiSetValLoop', 'MultiSetTestLoop', 'ExtraSet', 'build_extra_sets']
