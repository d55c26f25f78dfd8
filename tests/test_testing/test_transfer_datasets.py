"""The tiny transfer data sets are in the official formats: real readers (MMPretrain's classes,
torchvision's StanfordCars, scipy, pickle) read back what the writers put in."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100, Flowers102, ImageNet, StanfordCars
from PIL import Image

from rsb_mm.testing import (SIGNAL_PATTERNS, plant_class_signal, write_cifar, write_flowers102,
                            write_inat2019, write_signal_imagenet_folder, write_stanford_cars)


def _without_md5(cls):
    # MMPretrain's CIFAR readers insist on the official archive's MD5s; everything else in
    # them (folder, file names, pickle keys, array layout) is what we check against.
    return type(f'{cls.__name__}AnyMd5', (cls, ), dict(
        train_list=[[name, None] for name, _ in cls.train_list],
        test_list=[[name, None] for name, _ in cls.test_list],
        meta=dict(cls.meta, md5=None)))


@pytest.mark.parametrize('variant,reader', [('cifar10', CIFAR10), ('cifar100', CIFAR100)])
def test_cifar_pickles_read_by_mmpretrain(tmp_path, variant, reader):
    counts = write_cifar(str(tmp_path), variant, num_classes=3,
                         images_per_class={'train': 2, 'test': 1})
    assert counts == {'train': 6, 'test': 3}
    for split in ('train', 'test'):
        dataset = _without_md5(reader)(data_root=str(tmp_path), split=split, download=False)
        assert len(dataset) == counts[split]
        labels = sorted(dataset.get_data_info(i)['gt_label'] for i in range(len(dataset)))
        assert labels == sorted(list(range(3)) * (counts[split] // 3))
        img = dataset.get_data_info(0)['img']
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    # The meta file lists every class name of the official data set.
    folder = 'cifar-10-batches-py' if variant == 'cifar10' else 'cifar-100-python'
    meta = 'batches.meta' if variant == 'cifar10' else 'meta'
    with open(tmp_path / folder / meta, 'rb') as f:
        names = pickle.load(f, encoding='latin1')
    key = 'label_names' if variant == 'cifar10' else 'fine_label_names'
    assert len(names[key]) == {'cifar10': 10, 'cifar100': 100}[variant]


def test_cifar_pixels_are_the_image_rows(tmp_path):
    # A row is the R plane, then G, then B, each 32 x 32 row-major: the reader's RGB image.
    write_cifar(str(tmp_path), 'cifar10', num_classes=1, images_per_class={'train': 1})
    with open(tmp_path / 'cifar-10-batches-py' / 'data_batch_1', 'rb') as f:
        row = pickle.load(f, encoding='latin1')['data'][0]
    img = _without_md5(CIFAR10)(data_root=str(tmp_path), split='train',
                                download=False).get_data_info(0)['img']
    np.testing.assert_array_equal(img[..., 0].reshape(-1), row[:1024])
    np.testing.assert_array_equal(img[..., 2].reshape(-1), row[2048:])


def test_flowers102_read_by_mmpretrain(tmp_path):
    counts = write_flowers102(str(tmp_path), num_classes=3, images_per_split=2, size=40)
    from scipy.io import loadmat
    ids = loadmat(tmp_path / 'setid.mat')
    # Integer 1 x N rows, 1-based image numbers, disjoint splits.
    assert ids['trnid'].shape == (1, 6) and ids['trnid'].dtype.kind == 'u'
    assert not set(ids['trnid'][0]) & set(ids['tstid'][0])
    for split in ('train', 'val', 'trainval', 'test'):
        dataset = Flowers102(data_root=str(tmp_path), split=split)
        assert len(dataset) == counts[split]
        info = dataset.get_data_info(0)
        assert osp.isfile(info['img_path'])
        assert Image.open(info['img_path']).size == (40, 40)
    labels = [Flowers102(data_root=str(tmp_path), split='test').get_data_info(i)['gt_label']
              for i in range(6)]
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize('test_labels_in', ['root', 'devkit'])
def test_stanford_cars_read_by_torchvision_and_mmpretrain(tmp_path, test_labels_in):
    from torchvision.datasets import StanfordCars as TorchvisionStanfordCars
    root = tmp_path / 'stanford_cars'  # torchvision's folder name under its root
    counts = write_stanford_cars(str(root), num_classes=3, images_per_class=2,
                                 test_labels_in=test_labels_in)
    assert counts == {'train': 6, 'test': 6}
    if test_labels_in == 'root':
        # torchvision reads the labelled test file from the root, next to devkit/.
        for split in ('train', 'test'):
            tv = TorchvisionStanfordCars(str(tmp_path), split=split, download=False)
            assert len(tv) == 6 and len(tv.classes) == 196
            assert sorted(label for _, label in tv._samples) == [0, 0, 1, 1, 2, 2]
    else:
        # MMPretrain reads it from devkit/ (see rsb_mm/datasets/stanford_cars.py).
        for split in ('train', 'test'):
            mm = StanfordCars(data_root=str(root), split=split)
            assert sorted(mm.get_data_info(i)['gt_label'] for i in range(6)) == [0, 0, 1, 1, 2, 2]
    from scipy.io import loadmat
    unlabelled = loadmat(root / 'devkit' / 'cars_test_annos.mat')['annotations']
    assert 'class' not in unlabelled.dtype.names and 'fname' in unlabelled.dtype.names


def test_inat2019_json_is_official_shape(tmp_path):
    paths = write_inat2019(str(tmp_path), num_classes=3, images_per_class={'train': 2, 'val': 1})
    with open(paths['val']) as f:
        data = json.load(f)
    assert len(data['categories']) == 1010
    assert [c['id'] for c in data['categories']] == list(range(1010))
    assert len(data['images']) == len(data['annotations']) == 3
    for image, ann in zip(data['images'], data['annotations']):
        assert ann['image_id'] == image['id']
        # train_val2019/<supercategory>/<category id>/<name>.jpg
        parts = image['file_name'].split('/')
        assert parts[0] == 'train_val2019' and parts[2] == str(ann['category_id'])
        assert osp.isfile(tmp_path / image['file_name'])
    with open(paths['train']) as f:
        train_ids = {i['id'] for i in json.load(f)['images']}
    assert not train_ids & {i['id'] for i in data['images']}


def test_signal_textures_differ_by_class():
    rng = np.random.default_rng(0)
    grey = np.full((32, 32, 3), 128, np.uint8)
    textures = [plant_class_signal(grey, k, rng).astype(float)[..., 0] - 128
                for k in range(len(SIGNAL_PATTERNS))]
    assert all(t.std() > 20 for t in textures)
    # Horizontal stripes vary along y only, vertical stripes along x only.
    assert textures[0].std(axis=1).max() < 1 and textures[0].std(axis=0).max() > 20
    assert textures[1].std(axis=0).max() < 1 and textures[1].std(axis=1).max() > 20
    # Classes k and k + 4 share a texture; the writer uses 4 classes.
    same = plant_class_signal(grey, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(same, plant_class_signal(grey, 0, np.random.default_rng(0)))


def test_signal_imagenet_folder_read_by_mmpretrain(tmp_path):
    counts = write_signal_imagenet_folder(str(tmp_path), num_classes=4,
                                          images_per_class={'train': 2, 'val': 1}, size=32)
    assert counts == {'train': 8, 'val': 4}
    dataset = ImageNet(data_root=str(tmp_path), split='train',
                       ann_file='meta/train.txt', data_prefix='train')
    labels = sorted(dataset.get_data_info(i)['gt_label'] for i in range(8))
    assert labels == [0, 0, 1, 1, 2, 2, 3, 3]
