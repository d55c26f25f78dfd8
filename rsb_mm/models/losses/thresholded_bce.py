"""timm's binary cross-entropy (smoothed one-hot, thresholded targets) as an MMPretrain loss.

Reference: ``timm/loss/binary_cross_entropy.py`` ``BinaryCrossEntropy`` (timm 1.0.31):

* integer labels (a target whose shape differs from the logits') become a smoothed one-hot
  in the logits' dtype: ``off = smoothing / C``, ``on = 1 - smoothing + off``;
* dense (soft) targets, e.g. the Mixup/CutMix scores, are used as given, or moved towards
  0.5 when ``smooth_dense`` is set (multi-label);
* with ``target_threshold`` set, every target is binarised: ``target > threshold`` -> 1;
* ``binary_cross_entropy_with_logits`` with the per-class ``weight`` and ``pos_weight``,
  averaged over all N x C elements (``reduction='mean'``), or summed over the classes and
  averaged over the batch (``sum_classes=True``).

Why not MMPretrain's ``CrossEntropyLoss(use_sigmoid=True)``: it has no target threshold, no
label smoothing for integer labels, and it reduces differently: ``ClsHead._get_loss``
(mmpretrain/models/heads/cls_head.py) passes ``avg_factor=N`` and
``mmpretrain.models.losses.utils.weight_reduce_loss`` then returns ``sum / N``, i.e. the
loss *summed* over the C classes, C times (1000x on ImageNet) timm's mean. With LAMB's
global gradient-norm clip that scale is not harmless, so this loss keeps timm's mean and
ignores ``avg_factor`` (see :meth:`ThresholdedBCELoss.forward`). Why not wrap timm's module:
it takes no ``avg_factor``/``reduction_override``/``loss_weight``, validates with asserts,
and the head's keyword arguments would have to be filtered anyway; the computation below is
op-for-op timm's, so the value and its gradient are bit-identical (the tests check that).
"""
from numbers import Number
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

__all__ = [
    'smooth_one_hot', 'binarize_targets', 'thresholded_binary_cross_entropy',
    'ThresholdedBCELoss'
]

_REDUCTIONS = ('none', 'mean', 'sum')
TensorLike = Union[torch.Tensor, Sequence[float], float]


def _check_smoothing(smoothing: float, name: str = 'smoothing') -> None:
    if not isinstance(smoothing, Number) or not 0. <= smoothing < 1.:
        raise ValueError(f'{name} must be in [0, 1), got {smoothing!r}')


def _check_threshold(threshold: Optional[float]) -> None:
    if threshold is not None and (not isinstance(threshold, Number)
                                  or not 0. <= threshold <= 1.):
        raise ValueError(f'target_threshold must be None or in [0, 1], got {threshold!r}')


def _check_reduction(reduction: str, name: str = 'reduction') -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f'{name} must be one of {_REDUCTIONS}, got {reduction!r}')


def _as_tensor(value: Optional[TensorLike]) -> Optional[torch.Tensor]:
    # Configs give plain lists/floats; timm stores tensors (registered buffers).
    if value is None or isinstance(value, torch.Tensor):
        return value
    return torch.tensor(value, dtype=torch.float32)


def smooth_one_hot(labels: torch.Tensor,
                   num_classes: int,
                   smoothing: float = 0.,
                   dtype: torch.dtype = torch.float32,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """Integer class labels to a label-smoothed one-hot target, as timm builds it.

    Written as ``BinaryCrossEntropy.forward`` writes it (``torch.full`` with the off value,
    then ``scatter_`` of the on value, both computed in Python floats), so the floats are
    bit-identical: ``off = smoothing / num_classes``, ``on = 1 - smoothing + off``.

    Args:
        labels (torch.Tensor): Class indices of any shape with N elements.
        num_classes (int): Number of classes C.
        smoothing (float): Label smoothing in [0, 1). Defaults to 0.
        dtype (torch.dtype): dtype of the target (timm uses the logits'). Defaults to
            ``torch.float32``.
        device (torch.device, optional): Device of the target. Defaults to None (the
            labels' device).

    Returns:
        torch.Tensor: The (N, C) target.
    """
    _check_smoothing(smoothing)
    off_value = smoothing / num_classes
    on_value = 1. - smoothing + off_value
    index = labels.long().view(-1, 1)
    device = labels.device if device is None else device
    return torch.full((index.shape[0], num_classes), off_value, device=device,
                      dtype=dtype).scatter_(1, index.to(device), on_value)


def binarize_targets(target: torch.Tensor, threshold: float) -> torch.Tensor:
    """Binarise soft targets as timm's ``target_threshold`` does.

    Args:
        target (torch.Tensor): Soft targets.
        threshold (float): Targets strictly above it become 1, the others 0.

    Returns:
        torch.Tensor: 0/1 targets in ``target``'s dtype.
    """
    return target.gt(threshold).to(dtype=target.dtype)


def thresholded_binary_cross_entropy(logits: torch.Tensor,
                                     target: torch.Tensor,
                                     smoothing: float = 0.1,
                                     target_threshold: Optional[float] = None,
                                     weight: Optional[torch.Tensor] = None,
                                     pos_weight: Optional[torch.Tensor] = None,
                                     reduction: str = 'mean',
                                     sum_classes: bool = False,
                                     smooth_dense: bool = False) -> torch.Tensor:
    """timm's ``BinaryCrossEntropy.forward`` as a function.

    Args:
        logits (torch.Tensor): (N, C) logits.
        target (torch.Tensor): (N,) integer labels, or (N, C) dense targets (the branch is
            chosen as in timm: dense when the shapes are equal).
        smoothing (float): Label smoothing for integer labels (and dense ones when
            ``smooth_dense``). Defaults to 0.1.
        target_threshold (float, optional): Binarise targets above it. Defaults to None.
        weight (torch.Tensor, optional): Rescaling weight broadcast to (N, C), per class in
            timm's use. Defaults to None.
        pos_weight (torch.Tensor, optional): Weight of the positive term. Defaults to None.
        reduction (str): 'mean' (over N x C), 'sum' or 'none'. Defaults to 'mean'.
        sum_classes (bool): Sum over classes, then average over the batch; overrides
            ``reduction`` as in timm. Defaults to False.
        smooth_dense (bool): Move dense targets towards 0.5 by ``smoothing``. Defaults to
            False.

    Returns:
        torch.Tensor: The reduced loss, or the (N, C) elementwise loss for 'none'.
    """
    batch_size = logits.shape[0]
    if target.shape[0] != batch_size:
        raise ValueError(f'target must have the batch size {batch_size} of the logits, '
                         f'got shape {tuple(target.shape)}')
    if target.shape != logits.shape:
        if target.numel() != batch_size:
            raise ValueError('target must be (N,) class indices or (N, C) scores like the '
                             f'logits {tuple(logits.shape)}, got shape {tuple(target.shape)}')
        target = smooth_one_hot(target, logits.shape[-1], smoothing, dtype=logits.dtype,
                                device=logits.device)
    elif smooth_dense and smoothing:
        target = target * (1. - smoothing) + 0.5 * smoothing

    if target_threshold is not None:
        target = binarize_targets(target, target_threshold)

    loss = F.binary_cross_entropy_with_logits(
        logits, target, weight, pos_weight=pos_weight,
        reduction='none' if sum_classes else reduction)
    if sum_classes:
        loss = loss.sum(-1).mean()
    return loss


@MODELS.register_module()
class ThresholdedBCELoss(nn.Module):
    """timm's ``BinaryCrossEntropy`` with MMPretrain's loss interface.

    Use it in a head as ``loss=dict(type='ThresholdedBCELoss', target_threshold=0.2)``. The
    head passes integer ``gt_label`` (smoothed one-hot here) or, after batch augments such
    as ``MixupCutMix``, the soft ``gt_score`` (used as is: timm smooths those inside the
    Mixup target, not in the loss).

    Args:
        smoothing (float): Label smoothing for integer labels, in [0, 1). Defaults to 0.1
            (timm's default).
        target_threshold (float, optional): Binarise targets: ``target > threshold`` -> 1,
            else 0; None keeps them soft. In [0, 1]. RSB uses 0.2. Defaults to None.
        weight (torch.Tensor | Sequence[float], optional): Per-class rescaling weight given
            to ``binary_cross_entropy_with_logits`` (broadcast to (N, C)). Defaults to None.
        reduction (str): 'mean' (over N x C, timm), 'sum' or 'none'. Defaults to 'mean'.
        sum_classes (bool): Sum the loss over the classes, then average over the batch (as
            timm; needs ``reduction='mean'``). Defaults to False.
        pos_weight (torch.Tensor | Sequence[float] | float, optional): Weight of the
            positive term, per class or scalar. Defaults to None.
        smooth_dense (bool): Also smooth dense targets towards 0.5 (multi-label). Defaults
            to False.
        loss_weight (float): Multiplier of the loss, as in MMPretrain's losses. Defaults to
            1.0.
    """

    def __init__(self,
                 smoothing: float = 0.1,
                 target_threshold: Optional[float] = None,
                 weight: Optional[TensorLike] = None,
                 reduction: str = 'mean',
                 sum_classes: bool = False,
                 pos_weight: Optional[TensorLike] = None,
                 smooth_dense: bool = False,
                 loss_weight: float = 1.0):
        super().__init__()
        _check_smoothing(smoothing)
        _check_threshold(target_threshold)
        _check_reduction(reduction)
        if sum_classes and reduction != 'mean':
            raise ValueError('sum_classes=True sums over classes and averages over the batch; '
                             f"reduction must be 'mean', got {reduction!r}")
        if not isinstance(loss_weight, Number):
            raise ValueError(f'loss_weight must be a number, got {loss_weight!r}')
        self.smoothing = smoothing
        self.target_threshold = target_threshold
        self.reduction = reduction
        self.sum_classes = sum_classes
        self.smooth_dense = smooth_dense
        self.loss_weight = loss_weight
        # Buffers, as in timm, so that they follow the module to the logits' device.
        self.register_buffer('weight', _as_tensor(weight))
        self.register_buffer('pos_weight', _as_tensor(pos_weight))

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score (torch.Tensor): (N, C) logits.
            label (torch.Tensor): (N,) class indices or (N, C) soft scores.
            weight (torch.Tensor, optional): Per-sample weight of MMPretrain's loss
                interface, (N,) or broadcastable to (N, C), applied before the reduction
                (the denominator of the mean stays N x C). Defaults to None.
            avg_factor (float, optional): Accepted for ``ClsHead`` and ignored:
                ``ClsHead._get_loss`` always passes ``avg_factor=N``, and dividing the sum
                by it would sum over the classes instead of timm's mean over N x C.
                Defaults to None.
            reduction_override (str, optional): 'none', 'mean' or 'sum' for this call.
                Defaults to None.
            **kwargs: Other keyword arguments a head may forward; unused.

        Returns:
            torch.Tensor: The loss, times ``loss_weight``.
        """
        reduction = self.reduction
        if reduction_override is not None:
            _check_reduction(reduction_override, 'reduction_override')
            reduction = reduction_override
        if weight is None:
            loss = thresholded_binary_cross_entropy(
                cls_score, label, self.smoothing, self.target_threshold, self.weight,
                self.pos_weight, reduction, self.sum_classes and reduction == 'mean',
                self.smooth_dense)
        else:
            loss = thresholded_binary_cross_entropy(
                cls_score, label, self.smoothing, self.target_threshold, self.weight,
                self.pos_weight, 'none', False, self.smooth_dense)
            loss = loss * (weight.view(-1, 1) if weight.dim() == 1 else weight)
            if self.sum_classes and reduction == 'mean':
                loss = loss.sum(-1).mean()
            elif reduction == 'mean':
                loss = loss.mean()
            elif reduction == 'sum':
                loss = loss.sum()
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'smoothing={self.smoothing}, target_threshold={self.target_threshold}, '
                f'reduction={self.reduction!r}, sum_classes={self.sum_classes}, '
                f'loss_weight={self.loss_weight}')
