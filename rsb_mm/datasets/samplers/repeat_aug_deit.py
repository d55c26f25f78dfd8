"""Repeated-augmentation sampler with DeiT / timm semantics.

Matches ``timm.data.distributed_sampler.RepeatAugSampler`` (timm 1.0.x, taken by
timm from DeiT's ``samplers.RASampler``), the sampler behind RSB A1 and A2
(``--aug-repeats 3``), index for index:

1. Per epoch a ``torch.Generator`` is seeded with ``seed + epoch`` (timm seeds it
   with ``epoch`` alone, so ``seed=0`` is timm) and draws
   ``torch.randperm(len(dataset))`` (``arange`` when ``shuffle=False``).
2. Every index is repeated ``num_repeats`` times in place with
   ``repeat_interleave``: ``[a, a, a, b, b, b, ...]``.
3. The list is padded by wrapping around to ``total_size``
   (``ceil(len * num_repeats / world) * world``) and rank ``r`` takes positions
   ``r, r + world, r + 2 * world, ...``: consecutive copies of one image go to
   consecutive ranks, so with ``world_size >= num_repeats`` every copy is seen
   by a different process.
4. Each rank's epoch is cut to ``num_selected_samples``: with
   ``selected_ratio = selected_ratio or world_size``, that is
   ``floor(len // selected_round * selected_round / selected_ratio)`` when
   ``selected_round`` is non-zero and ``len >= selected_round``, else
   ``ceil(len / selected_ratio)``, and never more than
   ``ceil(len * num_repeats / world)``. With the defaults it is
   ``floor(len / 256) * 256 / world``: an epoch has as many samples as without
   repeats, so it sees about ``1 / num_repeats`` of the unique images.

How MMPretrain's ``RepeatAugSampler``
(``mmpretrain/datasets/samplers/repeat_aug.py``, MMPretrain 1.2.0) differs, and
why we wrote our own instead of reusing it or wrapping timm's:

* Epoch length: it keeps ``ceil(len / world_size)`` samples per rank
  (``num_selected_samples``); there is no ``selected_round`` /
  ``selected_ratio``, so it cannot reproduce timm's ``floor(len / 256) * 256``
  rounding (ImageNet-1k on 8 ranks: 8 * ceil(1,281,167 / 8) = 1,281,168
  samples per epoch over all ranks, timm's 1,281,024). The number of
  iterations per epoch, and so the LR schedule's position at each step,
  differ from timm's.
* Seed: it seeds the generator with ``seed + epoch`` where ``seed=None`` means
  ``mmengine.dist.sync_random_seed()``, a random number; timm seeds with the
  epoch alone, so MMPretrain's order matches timm's only if ``seed=0`` is
  passed explicitly.
* One process: rank 0 of 1 takes every position, so the ``num_repeats`` copies
  of an image sit side by side in one batch (timm refuses repeated
  augmentation without distributed training, ``timm/data/loader.py``
  ``create_loader``). Our sampler keeps timm's order there too (the copies are
  also adjacent): use it with at least ``num_repeats`` processes to spread the
  copies over GPUs as DeiT intends.
* timm's class reads rank and world size from ``torch.distributed`` and has no
  MMEngine ``seed`` argument or registry entry, so it cannot be built from a
  config through ``DATA_SAMPLERS``; it also accepts a non-integer
  ``num_repeats``, which RSB never uses and we reject.

``seed``: MMEngine's ``Runner.build_dataloader`` passes the run's seed
(``randomness.seed``) as the sampler's default ``seed`` argument, and ``None``
when ``randomness.diff_rank_seed=True``. ``None`` here means ``0`` (not
``sync_random_seed()`` as in MMEngine's ``DefaultSampler``) because timm's order
never depends on the run's seed: a config that wants timm's exact order must
write ``sampler=dict(type='RepeatAugSamplerDeiT', seed=0)`` (or set
``randomness.diff_rank_seed=True``, which makes the runner pass ``None``); any
other seed ``s`` gives at epoch ``e`` timm's order of epoch ``s + e``, still
identical on all ranks.

Resuming: MMEngine's ``EpochBasedTrainLoop`` (mmengine 0.10.x) saves and
resumes at epoch granularity for the data order: after a resume,
``DistSamplerSeedHook`` calls ``set_epoch(epoch)`` and the loop restarts that
epoch's data from its first batch (it does not skip the batches already seen,
unlike ``IterBasedTrainLoop``, which advances its dataloader iterator). rsb_mm's
``ResumableEpochBasedTrainLoop`` (``rsb_mm/engine/runners/resumable_loop.py``, the loop of
the pretraining configs) resumes mid-epoch: it skips the batches already consumed at the
sampler level, so the order after a resume is timm's order from that batch on; a resume from
an epoch-end checkpoint reproduces timm's order exactly, as timm's own ``--resume`` does.
"""
import logging
import math
import numbers
from typing import Iterator, List, Optional, Sized

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


def _check_args(num_repeats: int, selected_round: int, selected_ratio: float,
                seed: Optional[int]) -> None:
    """Raise a ValueError naming the first bad argument and its value."""
    # bool is an int subclass; True repeats would silently mean 1
    if (isinstance(num_repeats, bool) or not isinstance(num_repeats, int) or num_repeats < 1):
        raise ValueError(f'num_repeats must be an int >= 1, got {num_repeats!r}')
    if (isinstance(selected_round, bool) or not isinstance(selected_round, int)
            or selected_round < 0):
        raise ValueError(f'selected_round must be an int >= 0, got {selected_round!r}')
    if (isinstance(selected_ratio, bool) or not isinstance(selected_ratio, numbers.Real)
            or not math.isfinite(selected_ratio) or selected_ratio < 0):
        raise ValueError('selected_ratio must be a finite number >= 0 '
                         f'(0 means the world size), got {selected_ratio!r}')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f'seed must be an int or None, got {seed!r}')


def deit_num_selected_samples(dataset_len: int,
                              world_size: int,
                              num_repeats: int = 3,
                              selected_round: int = 256,
                              selected_ratio: float = 0.) -> int:
    """Samples one rank yields per epoch, as timm's ``RepeatAugSampler``.

    Args:
        dataset_len (int): Length of the dataset.
        world_size (int): Number of processes.
        num_repeats (int): Copies of each index. Defaults to 3.
        selected_round (int): Round the dataset length down to a multiple of
            this before dividing; 0 disables it. Defaults to 256.
        selected_ratio (float): Divisor of the (rounded) dataset length;
            0 means ``world_size``. Defaults to 0.

    Returns:
        int: The per-rank epoch length.
    """
    num_samples = math.ceil(dataset_len * num_repeats / world_size)
    ratio = selected_ratio or world_size
    if selected_round and dataset_len >= selected_round:
        # timm's exact expression: true division after the integer rounding
        num_selected = int(math.floor(dataset_len // selected_round * selected_round / ratio))
    else:
        num_selected = int(math.ceil(dataset_len / ratio))
    return min(num_selected, num_samples)


def deit_repeat_aug_indices(dataset_len: int,
                            epoch: int,
                            rank: int,
                            world_size: int,
                            num_selected: int,
                            shuffle: bool = True,
                            num_repeats: int = 3,
                            seed: int = 0) -> List[int]:
    """One rank's indices for one epoch, as timm's ``RepeatAugSampler``.

    Args:
        dataset_len (int): Length of the dataset.
        epoch (int): The epoch; the generator is seeded with ``seed + epoch``.
        rank (int): This process's rank.
        world_size (int): Number of processes.
        num_selected (int): Samples to keep, from
            :func:`deit_num_selected_samples`.
        shuffle (bool): Permute the dataset each epoch. Defaults to True.
        num_repeats (int): Copies of each index. Defaults to 3.
        seed (int): Added to the epoch to seed the generator; 0 is timm.
            Defaults to 0.

    Returns:
        list[int]: ``num_selected`` dataset indices.
    """
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    if shuffle:
        indices = torch.randperm(dataset_len, generator=g)
    else:
        indices = torch.arange(start=0, end=dataset_len)
    indices = torch.repeat_interleave(indices, repeats=num_repeats, dim=0)
    # a list, not a tensor: a tensor held by the sampler thrashes the
    # dataloader workers' memory (timm's note)
    indices = indices.tolist()
    n = len(indices)
    total_size = math.ceil(dataset_len * num_repeats / world_size) * world_size
    # wrap around to pad so every rank gets the same count
    rank_range = range(rank, total_size, world_size)[:num_selected]
    return [indices[i % n] for i in rank_range]


@DATA_SAMPLERS.register_module()
class RepeatAugSamplerDeiT(Sampler):
    """Repeated-augmentation sampler that yields timm's (DeiT's) exact order.

    Each index is repeated ``num_repeats`` times, the copies go to consecutive
    ranks, and each rank's epoch is cut to
    ``floor(len / selected_round) * selected_round / world_size`` samples
    (see the module docstring for the full formula and for how this differs
    from MMPretrain's ``RepeatAugSampler``). Rank and world size come from
    :func:`mmengine.dist.get_dist_info`; MMEngine's ``DistSamplerSeedHook``
    calls :meth:`set_epoch` before every epoch.

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Permute the dataset every epoch. Defaults to True.
        seed (int, optional): Added to the epoch to seed the permutation; must
            be the same on all ranks. ``None`` and ``0`` give timm's order
            (timm seeds with the epoch alone). Defaults to None.
        num_repeats (int): Copies of each index per epoch. Defaults to 3.
        selected_round (int): Round the dataset length down to a multiple of
            this before splitting it over ranks; 0 disables the rounding.
            Defaults to 256.
        selected_ratio (float): Divide the rounded dataset length by this
            instead of the world size (timm's meaning: a divisor, not a
            fraction); 0 means the world size. Defaults to 0.
    """

    def __init__(self,
                 dataset: Sized,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 num_repeats: int = 3,
                 selected_round: int = 256,
                 selected_ratio: float = 0.) -> None:
        _check_args(num_repeats, selected_round, selected_ratio, seed)
        rank, world_size = get_dist_info()
        self.rank = rank
        self.world_size = world_size
        self.dataset = dataset
        self.shuffle = shuffle
        # timm seeds with the epoch alone: None must give its order, and is
        # identical on every rank without a broadcast
        self.seed = 0 if seed is None else seed
        self.num_repeats = num_repeats
        self.selected_round = selected_round
        self.selected_ratio = selected_ratio
        self.epoch = 0

        dataset_len = len(dataset)
        self.num_samples = deit_num_selected_samples(dataset_len, world_size, num_repeats,
                                                     selected_round, selected_ratio)
        if self.num_samples == 0:
            if dataset_len == 0:
                raise ValueError('RepeatAugSamplerDeiT got an empty dataset (length 0, '
                                 f'world size {world_size})')
            raise ValueError('RepeatAugSamplerDeiT would yield 0 samples per rank: dataset '
                             f'length {dataset_len}, world size {world_size}, '
                             f'selected_round {selected_round}, selected_ratio '
                             f'{selected_ratio}; the dataset is too small for '
                             'selected_round, set selected_round=0')
        if not shuffle:
            print_log(
                'RepeatAugSamplerDeiT with shuffle=False yields the same '
                f'first {self.num_samples} positions of the repeated list '
                'every epoch, about 1/num_repeats of the dataset.',
                logger='current',
                level=logging.WARNING)

    def __iter__(self) -> Iterator[int]:
        """Iterate this rank's indices for the current epoch."""
        return iter(
            deit_repeat_aug_indices(
                len(self.dataset),
                self.epoch,
                self.rank,
                self.world_size,
                self.num_samples,
                shuffle=self.shuffle,
                num_repeats=self.num_repeats,
                seed=self.seed))

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the permutation.

        Args:
            epoch (int): The epoch number.
        """
        self.epoch = epoch
