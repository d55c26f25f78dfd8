"""MMPretrain's ``ClsDataPreprocessor`` with its labels, like its images, handled batch-wide.

timm twin: the device side of ``train.py``'s ``PrefetchLoader`` (one non-blocking copy of the
pinned batch, normalisation of the whole batch) with ``Mixup`` on the whole batch. MMPretrain's
preprocessor already treats a stacked image batch (``default_collate``) in whole-batch
operations, and this class leaves the images to it; its label path, however, splits, sums and
re-stacks the labels sample by sample (``cat_batch_labels``, ``batch_label_to_onehot``,
``tensor_split``): about three operators per image, where timm has none. Here, when every
sample has exactly one label, the same one-hot scores come from one ``scatter_`` of the
concatenated labels. Proof: tests/test_models/test_utils/test_batched_cls_data_preprocessor.py
(same images and targets as ``ClsDataPreprocessor``, stacked or not; operator count constant in
the batch size) and benchmarks/bench_op_count.py.
"""
from typing import List, Optional

import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

__all__ = ['BatchedClsDataPreprocessor']


def _one_label_each(samples: Optional[List]) -> bool:
    """Whether ``samples`` are ``DataSample``s each with a one-element ``gt_label`` and no
    ``gt_score`` (the single-label case whose one-hot needs no per-sample work)."""
    if not samples or not isinstance(samples, (list, tuple)):
        return False
    for sample in samples:
        if not isinstance(sample, DataSample) or 'gt_score' in sample \
                or 'gt_label' not in sample or sample.gt_label.shape != (1, ):
            return False
    return True


@MODELS.register_module()
class BatchedClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` whose single-label targets are built in whole-batch operations.

    The images go through ``ClsDataPreprocessor`` unchanged (BGR to RGB, cast, normalise: on
    the whole batch when the loader stacks it with ``default_collate``, image by image for a
    list). When every data sample holds one label and no score, the labels are concatenated,
    moved to the device in one copy and one-hot encoded at once; the batch augments (e.g.
    ``MixupCutMix``) then mix the whole batch; each sample gets a view of its row of the
    labels and scores, as ``ClsDataPreprocessor`` sets them. Any other batch (multi-label,
    e.g. ImageNet-ReaL's label sets, or given scores) takes ``ClsDataPreprocessor``'s path.
    Same outputs as ``ClsDataPreprocessor`` either way.

    Args:
        non_blocking (bool): Copy the inputs to the device without blocking the host (as
            timm's prefetcher: the loader's ``pin_memory=True`` makes the copy asynchronous).
            Defaults to True.
        **kwargs: ``ClsDataPreprocessor``'s arguments (``mean``, ``std``, ``to_rgb``,
            ``num_classes``, ``batch_augments``, ...).
    """

    def __init__(self, non_blocking: bool = True, **kwargs) -> None:
        if not isinstance(non_blocking, bool):
            raise ValueError(f'non_blocking must be a bool, got {non_blocking!r}')
        super().__init__(**kwargs)
        self._non_blocking = non_blocking

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a batch as ``ClsDataPreprocessor.forward``, labels batch-wide.

        Args:
            data (dict): The loader's batch: ``inputs`` (a stacked uint8 tensor or a list of
                images) and ``data_samples``.
            training (bool): Apply the batch augments. Defaults to False.

        Returns:
            dict: ``inputs`` (normalised float batch) and ``data_samples`` (with
            ``gt_label`` and, with one-hot targets, ``gt_score`` set on the device).
        """
        samples = data.get('data_samples')
        num_classes = self.num_classes or (samples[0].get('num_classes') if samples else None)
        if not _one_label_each(samples) or (self.to_onehot and num_classes is None):
            return super().forward(data, training)
        inputs = super().forward({'inputs': data['inputs']}, training)['inputs']
        labels = torch.cat([sample.gt_label for sample in samples])
        labels = labels.to(self.device, non_blocking=self._non_blocking).view(-1, 1)
        scores = None
        if self.to_onehot:
            # F.one_hot's values, without its range check: on a CPU that check reads the
            # labels' min and max (three operators more than on a GPU, where it is skipped);
            # scatter_ refuses an out-of-range label on either device
            scores = labels.new_zeros(len(labels), num_classes).scatter_(1, labels, 1)
        if training and self.batch_augments is not None and scores is not None:
            inputs, scores = self.batch_augments(inputs, scores)
        for sample, label in zip(samples, labels):
            sample.set_gt_label(label)
        if scores is not None:
            for sample, score in zip(samples, scores):
                sample.set_gt_score(score)
        return {'inputs': inputs, 'data_samples': samples}
