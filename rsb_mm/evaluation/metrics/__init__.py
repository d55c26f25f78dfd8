from .real_accuracy import ReaLAccuracy, real_accuracy, real_topk_correct

__all__ = ['ReaLAccuracy', 'real_accuracy', 'real_topk_correct']
