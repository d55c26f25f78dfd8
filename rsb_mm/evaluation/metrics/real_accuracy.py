"""ReaL top-k accuracy: a prediction is right if any of its top k classes is in the label set.

timm reference: ``timm/data/real_labels.py`` ``RealLabelsImagenet`` (timm 1.0.x):
``add_result`` takes ``output.topk(maxk, 1, True, True)`` of a batch and, for every image whose
ReaL list is non-empty, appends ``any(p in real_labels for p in pred[:k])`` for each k;
``get_accuracy`` is ``float(np.mean(is_correct[k])) * 100``. Images with an empty ReaL list are
left out of both numerator and denominator. We compute exactly that, with the same ``topk``
call and the same mean. Why our own: timm's class is a stateful evaluator that matches outputs
to file names by a running counter in loader order, which breaks under a distributed sampler
(each rank sees a strided subset) and cannot be built by MMEngine's ``Evaluator``; an MMEngine
``BaseMetric`` collects per-sample results from all ranks in dataset order instead.

Where the label sets come from (both give the same numbers):

* default: each sample's ``gt_label`` is its ReaL set, as :class:`rsb_mm.datasets.ImageNetReaL`
  provides (a separate pass over the val images, e.g. an extra set of
  :class:`rsb_mm.engine.runners.MultiSetValLoop`);
* ``real_json``: the sets are read from ``real.json`` and looked up by the number in each
  sample's ``img_path`` (``PackInputs`` keeps ``img_path`` by default), like timm's
  ``validate.py --real-labels``: one pass over the ordinary ImageNet val set gives val and ReaL
  accuracy together; give it ``prefix='real/accuracy'`` next to ``Accuracy``.

The default prefix is ``accuracy``, so under the multi-set loop's ``real`` prefix the keys read
``real/accuracy/top1`` and ``real/accuracy/top5``. Values are percentages, like MMPretrain's
``Accuracy`` and timm.
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpretrain.registry import METRICS

from ...datasets.imagenet_real import load_real_labels, val_image_number

__all__ = ['ReaLAccuracy', 'real_topk_correct', 'real_accuracy']


def real_topk_correct(pred_topk: Sequence[int], real_labels: Sequence[int],
                      topk: Sequence[int]) -> Optional[Tuple[bool, ...]]:
    """Whether each top-k of one prediction hits its ReaL label set.

    Args:
        pred_topk (Sequence[int]): Class indices by decreasing score, at least ``max(topk)``.
        real_labels (Sequence[int]): The image's ReaL classes (may be empty).
        topk (Sequence[int]): The k values.

    Returns:
        tuple[bool, ...] | None: One flag per k, or None when ``real_labels`` is empty (timm
        leaves such images out).
    """
    if len(real_labels) == 0:
        return None
    labels = set(int(c) for c in real_labels)
    return tuple(any(int(p) in labels for p in pred_topk[:k]) for k in topk)


def real_accuracy(correct: Sequence[Optional[Tuple[bool, ...]]],
                  topk: Sequence[int]) -> Dict[str, float]:
    """ReaL top-k accuracy in percent over the images that have a ReaL label.

    Args:
        correct (Sequence[tuple[bool, ...] | None]): :func:`real_topk_correct` per image.
        topk (Sequence[int]): The k values, in the order of the flags.

    Returns:
        dict[str, float]: ``top{k}`` -> accuracy; NaN when no image has a ReaL label
        (timm's ``np.mean`` of an empty list).
    """
    kept = [c for c in correct if c is not None]
    if not kept:
        print_log('ReaLAccuracy: no image with a non-empty ReaL label set; accuracy is NaN',
                  logger='current', level=logging.WARNING)
        return {f'top{k}': float('nan') for k in topk}
    # Same expression as timm's get_accuracy, so the floats are identical.
    return {f'top{k}': float(np.mean([c[i] for c in kept])) * 100 for i, k in enumerate(topk)}


@METRICS.register_module()
class ReaLAccuracy(BaseMetric):
    """Top-k accuracy against ImageNet-ReaL label sets (timm's ``RealLabelsImagenet``).

    Args:
        topk (int | Sequence[int]): The k values. Defaults to (1, 5).
        real_json (str, optional): Read the label sets from this ``real.json`` by each
            sample's ``img_path``, instead of from its ``gt_label``. Defaults to None.
        collect_device (str): Device to gather results across ranks, 'cpu' or 'gpu'.
            Defaults to 'cpu'.
        prefix (str, optional): Key prefix. Defaults to None (``default_prefix``,
            'accuracy').

    Raises:
        ValueError: If a k is not a positive integer.
        FileNotFoundError: If ``real_json`` is given and missing (names the path).
    """

    default_prefix: Optional[str] = 'accuracy'

    def __init__(self,
                 topk: Sequence[int] = (1, 5),
                 real_json: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not topk or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in topk):
            raise ValueError(f'topk must be positive integers, got {topk}')
        self.topk = topk
        self.real_json = real_json
        self.real_labels = None if real_json is None else load_real_labels(real_json)

    def _labels_of(self, data_sample: dict) -> List[int]:
        if self.real_labels is None:
            return data_sample['gt_label'].tolist()
        img_path = data_sample.get('img_path')
        if img_path is None:
            raise ValueError('ReaLAccuracy with real_json needs img_path in each data sample '
                             "(keep 'img_path' in PackInputs' meta_keys)")
        number = val_image_number(img_path)
        if not 1 <= number <= len(self.real_labels):
            raise ValueError(f'{img_path} is val image {number}, but {self.real_json} holds '
                             f'labels for images 1..{len(self.real_labels)}')
        return self.real_labels[number - 1]

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store, per image, whether each top-k hits its ReaL set (None if the set is empty).

        Each result is ``dict(correct=flags_or_None)``, one per sample in loader order.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_score``.
        """
        if not data_samples:
            return
        if any('pred_score' not in ds for ds in data_samples):
            raise ValueError('ReaLAccuracy needs pred_score in the data samples (class '
                             'scores, to rank the top k)')
        scores = torch.stack([ds['pred_score'] for ds in data_samples]).cpu()
        maxk = max(self.topk)
        if maxk > scores.size(1):
            raise ValueError(f'topk must not exceed the number of classes '
                             f'({scores.size(1)}), got {self.topk}')
        # The same call as timm's add_result, so ties rank the same way.
        _, pred = scores.topk(maxk, 1, True, True)
        for data_sample, pred_topk in zip(data_samples, pred.tolist()):
            # Wrapped in a dict: MMEngine's collect_results drops None entries when it
            # interleaves the ranks' parts, which would let padded samples take their place.
            self.results.append(
                dict(correct=real_topk_correct(pred_topk, self._labels_of(data_sample),
                                               self.topk)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """ReaL top-k accuracies over all images (all ranks).

        Args:
            results (list[dict]): What :meth:`process` stored, in dataset order.

        Returns:
            dict[str, float]: ``top{k}`` -> accuracy in percent.
        """
        return real_accuracy([r['correct'] for r in results], self.topk)
