"""CIFAR10Offline / CIFAR100Offline read the official pickles like MMPretrain's classes do, but
give BGR images, need only the split's own files, never download, and name missing paths."""
import os
import pickle

import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

import rsb_mm  # noqa: F401
from rsb_mm.datasets import CIFAR10Offline, CIFAR100Offline
from rsb_mm.testing import write_cifar


def _mmpretrain_reader(cls, root, split):
    # MMPretrain's own reader with the MD5 pins removed (the copy is not the official archive).
    reader = type('AnyMd5', (cls, ), dict(
        train_list=[[n, None] for n, _ in cls.train_list],
        test_list=[[n, None] for n, _ in cls.test_list],
        meta=dict(cls.meta, md5=None)))
    return reader(data_root=root, split=split, download=False)


@pytest.mark.parametrize('variant,ours,theirs', [('cifar10', CIFAR10Offline, CIFAR10),
                                                 ('cifar100', CIFAR100Offline, CIFAR100)])
@pytest.mark.parametrize('split', ['train', 'test'])
def test_same_images_as_mmpretrain_in_bgr(tmp_path, variant, ours, theirs, split):
    write_cifar(str(tmp_path), variant, num_classes=3, images_per_class={'train': 3, 'test': 2})
    mine = DATASETS.build(dict(type=ours.__name__, data_root=str(tmp_path), split=split))
    ref = _mmpretrain_reader(theirs, str(tmp_path), split)
    assert len(mine) == len(ref) == {'train': 9, 'test': 6}[split]
    assert mine.CLASSES == ref.CLASSES
    for i in range(len(ref)):
        a, b = mine.get_data_info(i), ref.get_data_info(i)
        assert a['gt_label'] == b['gt_label']
        # MMPretrain's arrays are RGB; ours are BGR like LoadImageFromFile's.
        np.testing.assert_array_equal(a['img'], b['img'][..., ::-1])
        assert a['img'].flags['C_CONTIGUOUS']


def test_test_split_needs_only_its_own_file(tmp_path):
    write_cifar(str(tmp_path), 'cifar10', num_classes=2)
    for name in ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4',
                 'data_batch_5', 'batches.meta'):
        os.remove(tmp_path / 'cifar-10-batches-py' / name)
    assert len(CIFAR10Offline(str(tmp_path), split='test')) == 2
    # MMPretrain's reader refuses the same folder (it checks every file of both splits).
    with pytest.raises(RuntimeError, match='download'):
        CIFAR10(data_root=str(tmp_path), split='test', download=False)


def test_missing_folder_and_file_are_named(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        CIFAR10Offline(str(tmp_path), split='train')
    assert str(tmp_path / 'cifar-10-batches-py') in str(err.value)
    write_cifar(str(tmp_path), 'cifar100', num_classes=2)
    os.remove(tmp_path / 'cifar-100-python' / 'test')
    with pytest.raises(FileNotFoundError) as err:
        CIFAR100Offline(str(tmp_path), split='test')
    assert str(tmp_path / 'cifar-100-python' / 'test') in str(err.value)
    assert len(CIFAR100Offline(str(tmp_path), split='train')) == 4


def test_data_prefix_names_the_pickle_folder(tmp_path):
    write_cifar(str(tmp_path / 'elsewhere'), 'cifar10', num_classes=2)
    dataset = CIFAR10Offline(str(tmp_path), data_prefix='elsewhere/cifar-10-batches-py')
    assert len(dataset) == 4


def test_bad_pickles_are_refused(tmp_path):
    write_cifar(str(tmp_path), 'cifar10', num_classes=2)
    path = tmp_path / 'cifar-10-batches-py' / 'test_batch'
    with open(path, 'rb') as f:
        entry = pickle.load(f, encoding='latin1')
    # a truncated row
    with open(path, 'wb') as f:
        pickle.dump(dict(entry, data=entry['data'][:, :3000]), f)
    with pytest.raises(ValueError, match='test_batch'):
        CIFAR10Offline(str(tmp_path), split='test')
    # a label outside the 10 classes
    with open(path, 'wb') as f:
        pickle.dump(dict(entry, labels=[0, 10]), f)
    with pytest.raises(ValueError, match=r'outside \[0, 10\)'):
        CIFAR10Offline(str(tmp_path), split='test')
    # not the official archive: the MD5 check, when asked for, names the file
    with open(path, 'wb') as f:
        pickle.dump(entry, f)
    with pytest.raises(ValueError, match='MD5'):
        CIFAR10Offline(str(tmp_path), split='test', check_md5=True)
    with pytest.raises(ValueError, match='split'):
        CIFAR10Offline(str(tmp_path), split='val')
