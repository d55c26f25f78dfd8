from .timm_drop_path_resnet import ResNetTimmDropPath, timm_drop_path_rates

__all__ = ['ResNetTimmDropPath', 'timm_drop_path_rates']
