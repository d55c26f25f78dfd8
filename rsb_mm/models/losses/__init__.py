from .thresholded_bce import (ThresholdedBCELoss, binarize_targets, smooth_one_hot,
                              thresholded_binary_cross_entropy)

__all__ = [
    'ThresholdedBCELoss', 'binarize_targets', 'smooth_one_hot',
    'thresholded_binary_cross_entropy'
]
