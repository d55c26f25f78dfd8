"""Tests for rsb_mm.datasets.samplers.repeat_aug_deit against timm's RepeatAugSampler."""
import json
import math
import os.path as osp
from collections import Counter

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from timm.data.distributed_sampler import RepeatAugSampler
from torch.utils.data import Dataset

from rsb_mm.datasets.samplers import RepeatAugSamplerDeiT
from rsb_mm.datasets.samplers import repeat_aug_deit as sampler_module
from rsb_mm.utils import free_port


class _IndexDataset(Dataset):
    """A dataset whose sample is its own index."""

    def __init__(self, length):
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        return dict(idx=idx)


@pytest.fixture
def dist_info(monkeypatch):
    """Mock (rank, world_size) where the sampler module looks it up."""

    def _set(rank, world_size):
        monkeypatch.setattr(sampler_module, 'get_dist_info', lambda: (rank, world_size))

    return _set


def _ours(dist_info, length, rank, world, epoch, **kwargs):
    dist_info(rank, world)
    sampler = RepeatAugSamplerDeiT(_IndexDataset(length), **kwargs)
    sampler.set_epoch(epoch)
    return list(sampler)


def _timm(length, rank, world, epoch, **kwargs):
    sampler = RepeatAugSampler(_IndexDataset(length), num_replicas=world, rank=rank, **kwargs)
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize('world', [1, 2, 4, 8])
@pytest.mark.parametrize('length', [1000, 1281, 2560, 3000])
def test_matches_timm_default(dist_info, world, length):
    for epoch in (0, 1, 5):
        for rank in range(world):
            ref = _timm(length, rank, world, epoch, shuffle=True)
            assert len(ref) > 0
            assert _ours(dist_info, length, rank, world, epoch) == ref, (world, rank, epoch)


@pytest.mark.parametrize(
    'length,world,kwargs',
    [
        (1281, 4, dict(shuffle=False)),
        (1281, 4, dict(num_repeats=1)),
        (1281, 8, dict(num_repeats=2)),
        (1281, 8, dict(selected_round=0)),
        (3000, 2, dict(selected_round=0, num_repeats=2, shuffle=False)),
        (100, 4, dict()),  # shorter than selected_round: timm falls back to ceil(len / world)
        (1000, 4, dict(selected_ratio=2)),
        (1000, 8, dict(selected_round=128, selected_ratio=3.5)),
        # a small ratio reaches the wrap-around padding (39 repeated indices, 40 positions)
        (13, 8, dict(selected_ratio=0.25)),
        (10, 3, dict(selected_round=0, selected_ratio=0.1, num_repeats=2)),
    ])
def test_matches_timm_options(dist_info, length, world, kwargs):
    for epoch in (0, 1, 5):
        for rank in range(world):
            ref = _timm(length, rank, world, epoch, **kwargs)
            assert _ours(dist_info, length, rank, world, epoch, **kwargs) == ref, (rank, epoch)


def test_padding_is_reached(dist_info):
    # the (13, 8, selected_ratio=0.25) case above must really use the padded position
    ours = [_ours(dist_info, 13, r, 8, 0, selected_ratio=0.25) for r in range(8)]
    assert sum(len(x) for x in ours) == 40 > 13 * 3


def test_seed_none_and_zero_are_timm_and_seed_shifts_epochs(dist_info):
    ref = _timm(1281, 1, 4, epoch=3)
    assert _ours(dist_info, 1281, 1, 4, 3, seed=None) == ref
    assert _ours(dist_info, 1281, 1, 4, 3, seed=0) == ref
    # the generator is seeded with seed + epoch, like MMEngine's DefaultSampler
    assert _ours(dist_info, 1281, 1, 4, 1, seed=2) == ref
    assert _ours(dist_info, 1281, 1, 4, 3, seed=7) != ref


@pytest.mark.parametrize('world', [1, 2, 4, 8])
@pytest.mark.parametrize('length', [1000, 1281, 2560, 3000, 1281167])
def test_per_rank_length(dist_info, world, length):
    expected = math.floor(length / 256) * 256 // world
    dist_info(0, world)
    sampler = RepeatAugSamplerDeiT(_IndexDataset(length))
    assert len(sampler) == expected
    assert len(sampler) == len(RepeatAugSampler(_IndexDataset(length), num_replicas=world, rank=0))
    if length < 10000:  # iterating ImageNet's length is not needed to check the count
        for rank in range(world):
            assert len(_ours(dist_info, length, rank, world, 2)) == expected


@pytest.mark.parametrize('world', [1, 2, 4, 8])
@pytest.mark.parametrize('num_repeats', [1, 2, 3])
def test_union_over_ranks(dist_info, world, num_repeats):
    length = 2560
    per_rank = [
        _ours(dist_info, length, r, world, 1, num_repeats=num_repeats) for r in range(world)
    ]
    counts = Counter(i for idx in per_rank for i in idx)
    assert max(counts.values()) <= num_repeats
    assert sum(counts.values()) == length // 256 * 256
    # one epoch sees about 1 / num_repeats of the unique images
    assert len(counts) == pytest.approx(length / num_repeats, abs=num_repeats)
    if world >= num_repeats:
        for i, count in counts.items():
            ranks = {r for r, idx in enumerate(per_rank) if i in idx}
            assert len(ranks) == count, i


def test_copies_share_a_rank_when_world_is_smaller_than_repeats(dist_info):
    # DeiT's layout, kept on purpose: with 2 ranks and 3 copies, one rank gets two of them
    per_rank = [_ours(dist_info, 2560, r, 2, 0) for r in range(2)]
    assert any(Counter(idx).most_common(1)[0][1] > 1 for idx in per_rank)
    # and on one process all copies are adjacent, as timm's order is
    single = _ours(dist_info, 2560, 0, 1, 0)
    assert single[0] == single[1] == single[2] != single[3]


def test_deterministic_per_epoch_and_different_across_epochs(dist_info):
    dist_info(1, 4)
    first = RepeatAugSamplerDeiT(_IndexDataset(2560))
    second = RepeatAugSamplerDeiT(_IndexDataset(2560))
    epochs = {}
    for epoch in (0, 1, 5):
        first.set_epoch(epoch)
        second.set_epoch(epoch)
        epochs[epoch] = list(first)
        assert list(first) == epochs[epoch]  # iterating twice gives the same list
        assert list(second) == epochs[epoch]  # a fresh sampler gives the same list
    assert epochs[0] != epochs[1] != epochs[5] != epochs[0]
    first.set_epoch(0)
    assert list(first) == epochs[0]


def test_shuffle_false_is_the_same_every_epoch(dist_info):
    assert _ours(
        dist_info, 1000, 0, 4, 0, shuffle=False) == _ours(
            dist_info, 1000, 0, 4, 7, shuffle=False)


@pytest.mark.parametrize('kwargs,name,value', [
    (dict(num_repeats=0), 'num_repeats', '0'),
    (dict(num_repeats=2.5), 'num_repeats', '2.5'),
    (dict(num_repeats=True), 'num_repeats', 'True'),
    (dict(selected_round=-1), 'selected_round', '-1'),
    (dict(selected_round=2.5), 'selected_round', '2.5'),
    (dict(selected_ratio=-0.5), 'selected_ratio', '-0.5'),
    (dict(selected_ratio=float('nan')), 'selected_ratio', 'nan'),
    (dict(selected_ratio='1'), 'selected_ratio', "'1'"),
    (dict(seed=1.5), 'seed', '1.5'),
])
def test_invalid_values(dist_info, kwargs, name, value):
    dist_info(0, 1)
    with pytest.raises(ValueError, match=f'{name}.*{value}'):
        RepeatAugSamplerDeiT(_IndexDataset(1000), **kwargs)


def test_zero_samples_per_rank(dist_info):
    # 256 rounded samples over 512 ranks floor to 0 per rank, in timm too
    assert len(RepeatAugSampler(_IndexDataset(300), num_replicas=512, rank=0)) == 0
    dist_info(0, 512)
    with pytest.raises(ValueError, match=r'length 300, world size 512.*selected_round=0'):
        RepeatAugSamplerDeiT(_IndexDataset(300))
    sampler = RepeatAugSamplerDeiT(_IndexDataset(300), selected_round=0)
    assert len(sampler) == 1 == len(list(sampler))
    with pytest.raises(ValueError, match='length 0'):
        RepeatAugSamplerDeiT(_IndexDataset(0))


def test_registered_and_built_from_config():
    from mmengine.registry import DATA_SAMPLERS as ENGINE_SAMPLERS
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATA_SAMPLERS

    assert DATA_SAMPLERS.get('RepeatAugSamplerDeiT') is RepeatAugSamplerDeiT
    # the name is ours alone: MMEngine's root registry does not have it
    assert 'RepeatAugSamplerDeiT' not in ENGINE_SAMPLERS.module_dict
    dataset = _IndexDataset(1000)
    sampler = DATA_SAMPLERS.build(dict(type='RepeatAugSamplerDeiT', dataset=dataset))
    assert isinstance(sampler, RepeatAugSamplerDeiT)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        sampler = ENGINE_SAMPLERS.build(
            dict(type='RepeatAugSamplerDeiT', dataset=dataset, num_repeats=2))
    assert isinstance(sampler, RepeatAugSamplerDeiT) and sampler.num_repeats == 2


def test_runner_build_dataloader():
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    dataset = _IndexDataset(600)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(
            dict(
                batch_size=64,
                num_workers=0,
                sampler=dict(type='RepeatAugSamplerDeiT'),
                dataset=dataset))
    assert isinstance(loader.sampler, RepeatAugSamplerDeiT)
    assert len(loader) == 8  # floor(600 / 256) * 256 = 512 samples in batches of 64
    for epoch in (0, 3):
        loader.sampler.set_epoch(epoch)
        # MMEngine's default pseudo_collate turns the batch of dicts into a dict of lists
        seen = [int(i) for batch in loader for i in batch['idx']]
        assert seen == _timm(600, 0, 1, epoch)



def _dist_worker(rank, world, port, out_dir, length, epochs):
    """One process of the real 2-process run: build through the registry, gather, save."""
    # spawned processes must not fight over the 2 shared cores
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    try:
        import rsb_mm  # noqa: F401  registers the sampler in the fresh process
        from mmpretrain.registry import DATA_SAMPLERS

        dataset = _IndexDataset(length)
        ours = DATA_SAMPLERS.build(dict(type='RepeatAugSamplerDeiT', dataset=dataset))
        # timm's sampler reading rank and world size from torch.distributed itself
        theirs = RepeatAugSampler(dataset)
        result = {}
        for epoch in epochs:
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            gathered = [None] * world
            dist.all_gather_object(gathered, dict(ours=list(ours), timm=list(theirs)))
            result[epoch] = gathered
        if rank == 0:
            with open(osp.join(out_dir, 'result.json'), 'w') as f:
                json.dump(dict(rank_world=[ours.rank, ours.world_size], result=result), f)
    finally:
        dist.destroy_process_group()


def test_real_two_process_gloo(tmp_path):
    length, epochs, world = 1281, [0, 1, 5], 2
    # fork reuses this process's imports (a fresh `import rsb_mm` per spawned process takes
    # most of the run on a loaded machine); spawn where fork does not exist
    start_method = 'fork' if 'fork' in mp.get_all_start_methods() else 'spawn'
    mp.start_processes(
        _dist_worker,
        args=(world, free_port(), str(tmp_path), length, epochs),
        nprocs=world,
        join=True,
        start_method=start_method)
    with open(tmp_path / 'result.json') as f:
        out = json.load(f)
    assert out['rank_world'] == [0, world]
    for epoch in epochs:
        gathered = out['result'][str(epoch)]
        assert len(gathered) == world
        for rank in range(world):
            ref = _timm(length, rank, world, epoch)
            assert gathered[rank]['ours'] == ref
            assert gathered[rank]['timm'] == ref
        assert gathered[0]['ours'] != gathered[1]['ours']
