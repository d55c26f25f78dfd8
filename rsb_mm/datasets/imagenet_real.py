"""ImageNet-ReaL: the ImageNet-1k val images with the "Reassessed Labels" of Beyer et al.

Paper: "Are we done with ImageNet?" (arXiv 2006.07159); labels: ``real.json`` of
google-research/reassessed-imagenet, a JSON list of 50,000 lists of class indices, entry ``i``
belonging to ``ILSVRC2012_val_{i + 1:08d}.JPEG``. Some lists are empty (no ReaL label: the
image is left out of ReaL accuracy), some hold several classes (any of them is right).

timm reference: ``timm/data/real_labels.py`` ``RealLabelsImagenet`` (timm 1.0.x) keys the
lists by file name ``f'ILSVRC2012_val_{i + 1:08d}.JPEG'`` and looks each image up by its base
name, so the order in which the images are read never matters. We do the same (by the number in
the file name, never by enumeration order) inside an MMPretrain dataset, because timm's class is
a stateful evaluator fed with raw logits in loader order, not something an MMEngine dataloader,
pipeline or metric can use. The matching metric is
:class:`rsb_mm.evaluation.metrics.ReaLAccuracy`.

Each sample's ``gt_label`` is its ReaL label set (a possibly empty list), the multi-label form
MMPretrain's ``PackInputs`` and ``ClsDataPreprocessor`` already carry, so the usual test
pipeline works unchanged. MMPretrain's single-label ``Accuracy`` cannot read such labels: pair
this dataset with ``ReaLAccuracy``.
"""
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

from mmengine import fileio
from mmengine.fileio import get_file_backend, list_from_file
from mmpretrain.datasets import ImageNet
from mmpretrain.registry import DATASETS

__all__ = ['ImageNetReaL', 'load_real_labels', 'val_image_number']

# ILSVRC2012 val images are numbered 1..50000 in their file names.
_VAL_NAME = re.compile(r'ILSVRC2012_val_(\d+)\.[A-Za-z]+$')


def val_image_number(path: str) -> int:
    """The 1-based number of an ImageNet val image, read from its file name.

    Args:
        path (str): Path or name ending in ``ILSVRC2012_val_<number>.<ext>``.

    Returns:
        int: The number (``ILSVRC2012_val_00000001.JPEG`` -> 1).

    Raises:
        ValueError: If the base name is not an ILSVRC2012 val file name.
    """
    base = path.replace('\\', '/').rsplit('/', 1)[-1]
    match = _VAL_NAME.fullmatch(base)
    if match is None:
        raise ValueError(f'path must name an ImageNet val image '
                         f'(ILSVRC2012_val_<number>.JPEG), got {path!r}')
    return int(match.group(1))


def _missing_real_json(path: str) -> str:
    return (f'ImageNet-ReaL labels not found: {path} (expected real.json from '
            'https://github.com/google-research/reassessed-imagenet)')


def load_real_labels(real_json: str) -> List[List[int]]:
    """Read ``real.json``: entry ``i`` is the ReaL label list of val image ``i + 1``.

    Args:
        real_json (str): Path (or URI of an MMEngine file backend) of ``real.json``.

    Returns:
        list[list[int]]: One (possibly empty) list of class indices per val image.

    Raises:
        FileNotFoundError: If ``real_json`` does not exist; the message names the path.
        ValueError: If the file is not a JSON list of lists of integers.
    """
    if not fileio.exists(real_json):
        raise FileNotFoundError(_missing_real_json(real_json))
    labels = fileio.load(real_json, file_format='json')
    if not isinstance(labels, list) or not all(
            isinstance(entry, list) and all(
                isinstance(c, int) and not isinstance(c, bool) for c in entry)
            for entry in labels):
        raise ValueError(f'real_json must be a JSON list of lists of class indices, '
                         f'got another structure in {real_json}')
    return labels


@DATASETS.register_module()
class ImageNetReaL(ImageNet):
    """ImageNet val images labelled with their ReaL label sets.

    Both val layouts MMPretrain users have are read::

        data/imagenet/                          data/imagenet/
        ├── val/                                ├── val/
        │   ├── ILSVRC2012_val_00000001.JPEG    │   ├── n01440764/
        │   └── ...                             │   │   ├── ILSVRC2012_val_00000293.JPEG
        ├── meta/val.txt  (optional)            │   │   └── ...
        └── real.json                           │   └── ...
                                                └── real.json

    The images are those listed in ``meta/val.txt`` when it exists (MMPretrain's
    ``ImageNet`` convention; only the file-name column is used), else every image file under
    the val folder. Each image gets ``real_labels[number - 1]`` as ``gt_label``, where
    ``number`` is read from its file name.

    Args:
        data_root (str): The ImageNet root. Defaults to ''.
        split (str): Only ``'val'`` has ReaL labels. Defaults to 'val'.
        real_json (str): ``real.json``, relative to ``data_root`` unless absolute.
            Defaults to 'real.json'.
        data_prefix (str | dict): Image folder, relative to ``data_root``. Defaults to ''
            (the split's folder).
        ann_file (str): Image list, relative to ``data_root``. Defaults to '' (``meta/val.txt``
            when it exists).
        metainfo (dict, optional): Meta information. Defaults to None (ImageNet's classes).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.ImageNet`.

    Raises:
        FileNotFoundError: If ``real_json`` or the image folder is missing (names the path).
        ValueError: If ``split`` is not 'val', or an image's name carries no val number that
            ``real_json`` covers.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'val',
                 real_json: str = 'real.json',
                 data_prefix: Union[str, dict] = '',
                 ann_file: str = '',
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if split not in ('', 'val'):
            raise ValueError(f"split must be 'val' (ReaL labels cover only the val set), "
                             f'got {split!r}')
        self.real_json = self._resolve(data_root, real_json)
        # Fail at construction, not at the first epoch: a missing real.json must be seen
        # while the loop decides which test sets exist.
        if not fileio.exists(self.real_json):
            raise FileNotFoundError(_missing_real_json(self.real_json))
        super().__init__(
            data_root=data_root,
            split=split,
            data_prefix=data_prefix,
            ann_file=ann_file,
            metainfo=metainfo,
            **kwargs)

    @staticmethod
    def _resolve(data_root: str, path: str) -> str:
        # Same rule as BaseDataset's prefixes: absolute paths and URIs are kept.
        if not data_root or osp.isabs(path) or '://' in path:
            return path
        return fileio.join_path(data_root, path)

    def _image_names(self) -> List[str]:
        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        if not backend.exists(self.img_prefix):
            raise FileNotFoundError(f'ImageNet val folder not found: {self.img_prefix}')
        if self.ann_file:
            names = []
            for line in list_from_file(self.ann_file):
                line = line.strip()
                if not line:
                    continue
                # "name label" (MMPretrain's val.txt) or "name" alone.
                parts = line.rsplit(' ', 1)
                names.append(parts[0] if len(parts) == 2 and parts[1].lstrip('-').isdigit()
                             else line)
            return names
        files = backend.list_dir_or_file(
            self.img_prefix, list_dir=False, list_file=True, recursive=True)
        return sorted(f for f in files if self.is_valid_file(f))

    def load_data_list(self) -> List[dict]:
        """Load image paths and their ReaL label lists.

        Returns:
            list[dict]: ``img_path`` and ``gt_label`` (list of int, possibly empty) per image.
        """
        real_labels = load_real_labels(self.real_json)
        names = self._image_names()
        if not names:
            raise FileNotFoundError(f'No ImageNet val images found in {self.img_prefix}')
        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        data_list = []
        for name in names:
            number = val_image_number(name)
            if not 1 <= number <= len(real_labels):
                raise ValueError(f'{name} is val image {number}, but {self.real_json} '
                                 f'holds labels for images 1..{len(real_labels)}')
            data_list.append(
                dict(img_path=backend.join_path(self.img_prefix, name),
                     gt_label=list(real_labels[number - 1])))
        return data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        """The ReaL label set of sample ``idx`` (may be empty).

        Args:
            idx (int): Sample index.

        Returns:
            list[int]: Its ReaL class indices.
        """
        return list(self.get_data_info(idx)['gt_label'])

    def extra_repr(self) -> Sequence[str]:
        """Lines for ``repr``: the root and the labels file."""
        return [f'Root of dataset: \t{self.data_root}', f'ReaL labels: \t{self.real_json}']
