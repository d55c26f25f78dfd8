from .repeat_aug_deit import RepeatAugSamplerDeiT

__all__ = ['RepeatAugSamplerDeiT']
