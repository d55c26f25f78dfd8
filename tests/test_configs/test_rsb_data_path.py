"""The RSB configs' data path is timm's prefetcher's: the loaders stack equal-size uint8 images
into one pinned batch (``default_collate``, data samples kept), the preprocessor copies it
without blocking and normalises and mixes the whole batch; the same pixels and targets as the
per-image path (``pseudo_collate`` + MMPretrain's ``ClsDataPreprocessor``) on the same batch."""
import copy
import os.path as osp
import random

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401
from rsb_mm.testing.tiny_datasets import write_imagenet_folder

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
LEAVES = ['rsb_a1_resnet50.py', 'rsb_a2_resnet50.py', 'rsb_a3_resnet50.py',
          'demo/rsb_a3_resnet50_2xb32_shapes-32px.py']


def _loaders(cfg):
    yield 'train_dataloader', cfg.train_dataloader
    yield 'val_dataloader', cfg.val_dataloader
    yield 'test_dataloader', cfg.test_dataloader
    for loop in ('val_cfg', 'test_cfg'):
        for extra in cfg.get(loop, {}).get('extra_sets', []):
            yield f'{loop} {extra.prefix}', extra.dataloader


@pytest.mark.parametrize('leaf', LEAVES)
def test_loaders_stack_pinned_batches_for_the_batched_preprocessor(leaf):
    cfg = Config.fromfile(osp.join(CONFIGS, leaf))
    pre = cfg.data_preprocessor
    assert pre.type == 'BatchedClsDataPreprocessor' and pre.non_blocking is True
    for name, loader in _loaders(cfg):
        assert loader.collate_fn == dict(type='default_collate'), name
        # the demo runs on CPUs, where pinning has nothing to do
        assert loader.pin_memory is (not leaf.startswith('demo/')), name
    # the sampler is the recipe's (repeated augmentation for A1/A2), untouched by the collate
    repeated = cfg.train_dataloader.sampler.type == 'RepeatAugSamplerDeiT'
    assert repeated == (leaf in LEAVES[:2])


def _seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _first_batch(loader_cfg, collate, seed=0):
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(loader_cfg)
    loader_cfg.collate_fn = dict(type=collate)
    _seed(seed)  # the pipeline's random crops, flips and RandAugment draws
    return next(iter(Runner.build_dataloader(loader_cfg, seed=seed)))


def _tiny_config(root):
    data_root = osp.join(root, 'imagenet')
    write_imagenet_folder(data_root, num_classes=2, images_per_class=3, size=64)
    # test images of several sizes and aspect ratios: resize + centre crop makes them equal
    for i, (h, w) in enumerate([(50, 80), (97, 61), (64, 64)]):
        path = osp.join(data_root, 'val', 'n01440764', f'n01440764_{i:04d}.JPEG')
        assert cv2.imwrite(path, cv2.resize(cv2.imread(path), (w, h))), path
    cfg = Config.fromfile(osp.join(CONFIGS, 'rsb_a1_resnet50.py'))
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].dataset.data_root = data_root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
        cfg[key].batch_size = 6
    cfg.train_dataloader.sampler.selected_round = 0  # 6 images: no rounding to 256
    return cfg


def test_real_batches_equal_the_per_image_path(tmp_path):
    """The A1 config's loaders on a tiny folder: each batch is one uint8 tensor plus the data
    samples; the config's preprocessor gives, on it, the per-image path's inputs and targets."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = _tiny_config(str(tmp_path))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.data_preprocessor = copy.deepcopy(cfg.data_preprocessor)
    ours = MODELS.build(model_cfg).data_preprocessor
    model_cfg.data_preprocessor.type = 'ClsDataPreprocessor'
    model_cfg.data_preprocessor.pop('non_blocking')
    ref = MODELS.build(model_cfg).data_preprocessor
    assert type(ours).__name__ == 'BatchedClsDataPreprocessor'

    for key, training, size in (('train_dataloader', True, cfg.train_size),
                                ('val_dataloader', False, cfg.test_size)):
        stacked = _first_batch(cfg[key], 'default_collate')
        listed = _first_batch(cfg[key], 'pseudo_collate')
        assert isinstance(stacked['inputs'], torch.Tensor), key
        assert stacked['inputs'].dtype == torch.uint8
        assert stacked['inputs'].shape == (6, 3, size, size), key
        assert isinstance(stacked['data_samples'], list) and len(stacked['data_samples']) == 6
        # the same images through both collates (same seeds, same sampler order)
        assert torch.equal(stacked['inputs'], torch.stack(listed['inputs'])), key
        np.random.seed(3)
        out = ours(stacked, training=training)
        np.random.seed(3)
        expected = ref(listed, training=training)
        assert torch.equal(out['inputs'], expected['inputs']), key
        for a, b in zip(out['data_samples'], expected['data_samples']):
            assert torch.equal(a.gt_label, b.gt_label)
            assert torch.equal(a.gt_score, b.gt_score)
