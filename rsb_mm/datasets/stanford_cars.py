"""Stanford Cars (Krause et al., 2013) from the official devkit, finding the labelled test file.

Official files (ai.stanford.edu/~jkrause/cars/car_dataset.html)::

    data/stanfordcars/
    ├── cars_train/        00001.jpg ... 08144.jpg            (cars_train.tgz)
    ├── cars_test/         00001.jpg ... 08041.jpg            (cars_test.tgz)
    ├── devkit/            cars_meta.mat, cars_train_annos.mat,
    │                      cars_test_annos.mat (no labels), eval_train.m, ... (car_devkit.tgz)
    └── cars_test_annos_withlabels.mat                        (a separate download)

Why a subclass of MMPretrain's ``StanfordCars`` (``mmpretrain/datasets/stanfordcars.py``,
MMPretrain 1.2.0), and what exactly is wrong there:

- **The labelled test annotations.** The devkit's ``cars_test_annos.mat`` has no ``class``
  field; the labels come in ``cars_test_annos_withlabels.mat``, published separately from the
  devkit archive. MMPretrain's docstring lists it as ``devkit/cars_test_annoswithlabels.mat``
  (no underscore before "with"), while its code opens ``devkit/cars_test_annos_withlabels.mat``:
  the code has the official file name, the docstring does not, and neither says the file is
  not part of the devkit. torchvision's ``StanfordCars`` reads the same file from the data
  root instead (``<root>/cars_test_annos_withlabels.mat``), so a tree prepared for torchvision
  fails in MMPretrain. Here the file is looked for in ``devkit/`` first, then in the root.
- **The error.** A missing file gives ``RuntimeError('The dataset is incorrectly organized,
  please refer to <docs URL> ...')`` naming no path (and with the source's indentation
  inside the message). Here it is a ``FileNotFoundError`` naming every path tried; a missing
  image folder (``cars_train/``, ``cars_test/``) is reported at construction too, not at the
  first image load.

The all-in-one release (``car_ims/`` + ``cars_annos.mat``) is read correctly by MMPretrain's
``StanfordCars`` itself; this class is for the devkit layout.

Reading the annotations is MMPretrain's own ``load_data_list`` (mat4py; labels are the
1-based ``class`` field minus one; class names in ``cars_meta.mat`` order, which equals
MMPretrain's ``STANFORDCARS_CATEGORIES``).
"""
import os.path as osp
from typing import List

from mmengine import get_file_backend
from mmpretrain.datasets import BaseDataset, StanfordCars
from mmpretrain.registry import DATASETS

__all__ = ['StanfordCarsDevkit']

LABELLED_TEST = 'cars_test_annos_withlabels.mat'


@DATASETS.register_module()
class StanfordCarsDevkit(StanfordCars):
    """Stanford Cars in the devkit layout, with errors that name the paths expected.

    Args:
        data_root (str): Root of the data set (e.g. ``data/stanfordcars``).
        split (str): 'train' (8,144 images) or 'test' (8,041). Defaults to 'train'.
        ann_file (str): Annotation file relative to ``data_root``. Defaults to '' (train:
            ``devkit/cars_train_annos.mat``; test: ``devkit/cars_test_annos_withlabels.mat``,
            else ``cars_test_annos_withlabels.mat``).
        data_prefix (str): Image folder relative to ``data_root``. Defaults to ''
            (``cars_train`` or ``cars_test``).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.

    Raises:
        FileNotFoundError: If the data root, the annotation file or the image folder of the
            split is missing (names every path tried).
        ValueError: If ``split`` is unknown.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 data_prefix: str = '',
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not data_root or not osp.isdir(data_root):
            raise FileNotFoundError(f'Stanford Cars data root not found: {data_root!r}')
        self.split = split
        self.backend = get_file_backend(data_root, enable_singleton=True)
        ann_file = ann_file or self.find_ann_file(data_root, split)
        data_prefix = data_prefix or f'cars_{split}'
        for path, what in ((ann_file, 'annotations'), (data_prefix, 'images')):
            full = path if osp.isabs(path) else osp.join(data_root, path)
            if not osp.exists(full):
                raise FileNotFoundError(f'Stanford Cars {split} {what} not found: {full}')
        # MMPretrain's __init__ would look for the files its own way: go to BaseDataset.
        BaseDataset.__init__(
            self,
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            test_mode=split == 'test',
            **kwargs)

    @staticmethod
    def find_ann_file(data_root: str, split: str) -> str:
        """The official annotation file of ``split``, relative to ``data_root``.

        Args:
            data_root (str): Root of the data set.
            split (str): 'train' or 'test'.

        Returns:
            str: ``devkit/cars_train_annos.mat`` for train; for test the labelled file in
            ``devkit/`` or, failing that, in the root.

        Raises:
            FileNotFoundError: for the test split when neither labelled file exists, naming
                both paths.
        """
        if split == 'train':
            return osp.join('devkit', 'cars_train_annos.mat')
        tried = [osp.join('devkit', LABELLED_TEST), LABELLED_TEST]
        for path in tried:
            if osp.isfile(osp.join(data_root, path)):
                return path
        paths = ', '.join(osp.join(data_root, p) for p in tried)
        raise FileNotFoundError(
            f'Stanford Cars test labels not found: tried {paths} ({LABELLED_TEST} is a '
            'separate download from the devkit; devkit/cars_test_annos.mat has no labels)')

    def extra_repr(self) -> List[str]:
        """Lines for ``repr``: root and annotation file."""
        return [f'Root of dataset: \t{self.data_root}', f'Annotation file: \t{self.ann_file}']
