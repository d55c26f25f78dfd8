"""Report, at every epoch end, how many unreadable training images were skipped.

With ``LoadImageFromFileChecked(on_error='skip')`` in the train pipeline, each unreadable image
is logged where it is met (in a DataLoader worker, among the progress lines) and replaced by a
random other one. This hook turns that into one line per epoch: the images skipped in the epoch
and since the start of the run, summed over all ranks. It is silent when no transform of the
train data set skips (the default ``on_error='raise'`` stops at the first unreadable image).
"""
from typing import Iterator, List

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from rsb_mm.datasets.transforms.load_image_checked import LoadImageFromFileChecked

__all__ = ['UnreadableImageCountHook']

_TOTAL_KEY = 'unreadable_images_skipped'


def _datasets(dataset) -> Iterator:
    """A data set and the ones it wraps (``dataset`` / ``datasets`` attributes)."""
    yield dataset
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        yield from _datasets(inner)
    for inner in getattr(dataset, 'datasets', None) or []:
        yield from _datasets(inner)


def skipping_loaders(dataset) -> List[LoadImageFromFileChecked]:
    """The ``LoadImageFromFileChecked(on_error='skip')`` transforms in a data set's pipelines.

    Args:
        dataset: A data set (wrappers are searched through).

    Returns:
        list: The skipping loaders found.
    """
    found = []
    for ds in _datasets(dataset):
        pipeline = getattr(ds, 'pipeline', None)
        for transform in getattr(pipeline, 'transforms', None) or []:
            if isinstance(transform, LoadImageFromFileChecked) and transform.on_error == 'skip':
                found.append(transform)
    return found


@HOOKS.register_module()
class UnreadableImageCountHook(Hook):
    """Log the number of unreadable training images skipped in each epoch, over all ranks."""

    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        self._loaders: List[LoadImageFromFileChecked] = []
        self._seen = 0
        self.total = 0

    def before_train(self, runner) -> None:
        """Find the skipping loaders of the train data set; restore the run's total."""
        self._loaders = skipping_loaders(runner.train_dataloader.dataset)
        self._seen = sum(t.num_skipped for t in self._loaders)
        self.total = runner.message_hub.get_info(_TOTAL_KEY, 0)

    def after_train_epoch(self, runner) -> None:
        """Sum the epoch's skips over ranks and log them."""
        if not self._loaders:
            return
        now = sum(t.num_skipped for t in self._loaders)
        count = torch.tensor([now - self._seen], dtype=torch.float64)
        self._seen = now
        if get_dist_info()[1] > 1:
            all_reduce(count, op='sum')
        in_epoch = int(count.item())
        self.total += in_epoch
        runner.message_hub.update_info(_TOTAL_KEY, self.total)
        message = (f'Epoch {runner.epoch + 1}: {in_epoch} unreadable training image(s) skipped '
                   f'and replaced by random others ({self.total} in the run); their files are '
                   'named in the warnings above')
        if in_epoch:
            runner.logger.warning(message)
        else:
            runner.logger.info(message)
