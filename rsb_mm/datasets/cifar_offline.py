"""CIFAR-10 / CIFAR-100 read from the official python pickles, offline, as BGR images.

Official layout (``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` extracted into the
data root, the layout MMPretrain's docs teach)::

    data/cifar10/cifar-10-batches-py/    data_batch_1 .. data_batch_5, test_batch, batches.meta
    data/cifar100/cifar-100-python/      train, test, meta

Each pickle holds ``data`` (N x 3072 uint8: the red, green and blue 32 x 32 planes of each
image) and ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100).

Why our own classes, not MMPretrain's ``CIFAR10``/``CIFAR100`` (``mmpretrain/datasets/cifar.py``,
MMPretrain 1.2.0):

- **Downloads by default.** ``download=True`` is its default: a missing folder on a machine
  without internet (a compute node) starts a download instead of saying where the data should
  be; with ``download=False`` the message names the data root only, not the folder and files
  expected in it.
- **Every split needs every file, with the official MD5s.** ``_check_integrity`` hashes all six
  (CIFAR-10) files, train and test, before reading either split, so the test split cannot be
  read without the train pickles, a copy with fewer images (a subset, a smoke-test copy in the
  official format) is refused, and about 180 MB are hashed every time a split is built.
  Here a split needs only its own files; their structure is checked instead (rows of 3072
  bytes, as many labels as rows, labels in range), which catches a truncated file. The MD5
  check stays one argument away (``check_md5=True``).
- **RGB arrays.** It puts RGB arrays into ``img`` while every other data set (through
  ``LoadImageFromFile``) gives BGR, so the same pipeline (timm's RandomResizedCrop and
  RandAugment, which convert BGR to RGB for PIL; RandAugment fills uncovered pixels with the
  mean colour and its Color op weighs R, G and B differently) and the same
  ``data_preprocessor(to_rgb=True)`` could not serve both. Here ``img`` is BGR, like a loaded
  file.
"""
import os.path as osp
import pickle
from typing import Dict, List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import CIFAR10_CATEGORIES, CIFAR100_CATEGORIES
from mmpretrain.datasets.utils import check_md5 as md5_matches
from mmpretrain.registry import DATASETS

__all__ = ['CIFAR10Offline', 'CIFAR100Offline']

_IMAGE_BYTES = 3 * 32 * 32


@DATASETS.register_module()
class CIFAR10Offline(BaseDataset):
    """CIFAR-10 from its official python pickles on disk; never downloads.

    Args:
        data_root (str): Folder holding ``cifar-10-batches-py/`` (e.g. ``data/cifar10``).
        split (str): 'train' (50,000 images) or 'test' (10,000). Defaults to 'train'.
        data_prefix (str): The pickle folder, relative to ``data_root``. Defaults to ''
            (``cifar-10-batches-py``, as the archive extracts).
        check_md5 (bool): Also compare each pickle's MD5 with the official archive's. Defaults
            to False (the structure is checked either way).
        metainfo (dict, optional): Meta information. Defaults to None (the 10 class names).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset` (``pipeline``,
            ``test_mode``, ...).

    Raises:
        FileNotFoundError: If the pickle folder or one of the split's pickles is missing
            (names the path expected).
        ValueError: If ``split`` is unknown, a pickle is malformed or its MD5 differs (names
            the file).
    """

    base_folder = 'cifar-10-batches-py'
    archive = 'cifar-10-python.tar.gz'
    split_files = {
        'train': ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4',
                  'data_batch_5'],
        'test': ['test_batch'],
    }
    # The official MD5s, as MMPretrain and torchvision list them.
    md5s = {
        'data_batch_1': 'c99cafc152244af753f735de768cd75f',
        'data_batch_2': 'd4bba439e000b95fd0a9bffe97cbabec',
        'data_batch_3': '54ebc095f3ab1f0389bbae665268c751',
        'data_batch_4': '634d18415352ddfa80567beed471001a',
        'data_batch_5': '482c414d41f54cd18b22e5b47cb7c3cb',
        'test_batch': '40351d587109b95175f43aff81a1287e',
    }
    label_key = 'labels'
    METAINFO = {'classes': CIFAR10_CATEGORIES}

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 data_prefix: str = '',
                 check_md5: bool = False,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if split not in self.split_files:
            raise ValueError(f'split must be one of {sorted(self.split_files)}, got {split!r}')
        if not data_root:
            raise ValueError(f'{type(self).__name__} needs data_root, the folder holding '
                             f'{self.base_folder}/')
        self.split = split
        self.check_md5 = check_md5
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix or self.base_folder,
            **kwargs)

    @property
    def folder(self) -> str:
        """The pickle folder (``data_root/cifar-10-batches-py`` by default)."""
        return self.img_prefix

    def split_paths(self) -> List[str]:
        """The pickles of this split, checked to exist.

        Returns:
            list[str]: Their paths, in the official order.

        Raises:
            FileNotFoundError: naming the missing folder or file.
        """
        if not osp.isdir(self.folder):
            raise FileNotFoundError(
                f'{type(self).__name__}: folder not found: {self.folder} (expected the '
                f'extracted {self.archive}: {self.base_folder}/ with '
                f'{", ".join(sum(self.split_files.values(), []))})')
        paths = [osp.join(self.folder, name) for name in self.split_files[self.split]]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'{type(self).__name__}: {self.split} split file(s) not '
                                    f'found: {", ".join(missing)}')
        return paths

    def _read(self, path: str) -> Dict:
        if self.check_md5:
            name = osp.basename(path)
            if not md5_matches(path, self.md5s[name]):
                raise ValueError(f'{path}: MD5 differs from the official {self.archive}')
        with open(path, 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
        if not isinstance(entry, dict) or 'data' not in entry or self.label_key not in entry:
            raise ValueError(f'{path} is not a CIFAR pickle: expected a dict with \'data\' and '
                             f'{self.label_key!r}')
        return entry

    def load_data_list(self) -> List[dict]:
        """Read the split's pickles into ``img`` (32 x 32 x 3 BGR uint8) and ``gt_label``.

        Returns:
            list[dict]: One dict per image, in the pickles' order.
        """
        num_classes = len(self.CLASSES) if self.CLASSES is not None else None
        data_list = []
        for path in self.split_paths():
            entry = self._read(path)
            data = np.asarray(entry['data'], dtype=np.uint8)
            labels = list(entry[self.label_key])
            if data.ndim != 2 or data.shape[1] != _IMAGE_BYTES or len(labels) != len(data):
                raise ValueError(
                    f'{path}: expected data of shape (N, {_IMAGE_BYTES}) and N labels, got '
                    f'data {data.shape} and {len(labels)} labels (truncated file?)')
            bad = [int(v) for v in labels if int(v) < 0
                   or num_classes is not None and int(v) >= num_classes]
            if bad:
                raise ValueError(f'{path}: labels outside [0, {num_classes}): {bad[:10]}')
            # Planes R, G, B -> HWC, then reversed to BGR as LoadImageFromFile gives.
            images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)[..., ::-1]
            for img, label in zip(images, labels):
                data_list.append(dict(img=np.ascontiguousarray(img), gt_label=int(label)))
        return data_list

    def extra_repr(self) -> List[str]:
        """Lines for ``repr``: the pickle folder and split."""
        return [f'Folder of pickles: \t{self.folder}', f'Split: \t{self.split}']


@DATASETS.register_module()
class CIFAR100Offline(CIFAR10Offline):
    """CIFAR-100 (fine labels) from its official python pickles on disk; never downloads.

    Args:
        data_root (str): Folder holding ``cifar-100-python/`` (e.g. ``data/cifar100``).
        split (str): 'train' (50,000 images) or 'test' (10,000). Defaults to 'train'.
        data_prefix (str): The pickle folder, relative to ``data_root``. Defaults to ''
            (``cifar-100-python``).
        check_md5 (bool): Also compare each pickle's MD5 with the official archive's. Defaults
            to False.
        metainfo (dict, optional): Meta information. Defaults to None (the 100 class names).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    base_folder = 'cifar-100-python'
    archive = 'cifar-100-python.tar.gz'
    split_files = {'train': ['train'], 'test': ['test']}
    md5s = {
        'train': '16019d7e3df5f24257cddd939b257f8d',
        'test': 'f0ef6b0ae62326f3e7ffdfab6717acfc',
    }
    label_key = 'fine_labels'
    METAINFO = {'classes': CIFAR100_CATEGORIES}
