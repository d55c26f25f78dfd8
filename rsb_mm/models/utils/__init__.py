from .batched_cls_data_preprocessor import BatchedClsDataPreprocessor
from .mixup_cutmix import (MixupCutMix, batch_mix_params, cutmix_bbox_and_lam,
                           elem_mix_params, mix_batch, mix_elem, mix_pair, mix_target,
                           rand_bbox, rand_bbox_minmax, smooth_target)

__all__ = [
    'BatchedClsDataPreprocessor', 'MixupCutMix', 'batch_mix_params', 'cutmix_bbox_and_lam',
    'elem_mix_params', 'mix_batch', 'mix_elem', 'mix_pair', 'mix_target', 'rand_bbox',
    'rand_bbox_minmax', 'smooth_target'
]
