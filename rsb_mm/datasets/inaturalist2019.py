"""iNaturalist 2019 (FGVC6): 1,010 species, read from the official json files.

Official layout (github.com/visipedia/inat_comp/tree/master/2019; ``train_val2019.tar.gz``,
``train2019.json.tar.gz``, ``val2019.json.tar.gz`` extracted into the data root)::

    data/inat2019/
    ├── train2019.json
    ├── val2019.json
    └── train_val2019/<supercategory>/<category id>/<hash>.jpg

Each json is COCO-like: ``images`` (``id``, ``file_name`` relative to the root, e.g.
``train_val2019/Plants/644/716a...jpg``, ``width``, ``height``), ``annotations`` (``image_id``,
``category_id``, one per image) and ``categories`` (``id`` 0..1009, ``name`` and the taxonomy
levels). The test json has no annotations (its labels are not public), so the fine-tuning
configs evaluate on ``val2019.json``, as published iNat 2019 results do.

Why our own class: MMPretrain 1.2.0 has no iNaturalist data set class (its ``CustomDataset``
reads folders or ``<file> <label>`` lists, not these json files), and the folder names are
category ids under supercategory folders, so a folder-based reader would need the json anyway.
"""
import json
import os.path as osp
from typing import Dict, List, Optional

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

__all__ = ['INaturalist2019']

_SPLITS = {'train': 'train2019.json', 'val': 'val2019.json'}


@DATASETS.register_module()
class INaturalist2019(BaseDataset):
    """iNaturalist 2019 images labelled by their annotation's category.

    Labels are positions in the categories sorted by ``id``; with the official ids
    (0..1009) the label equals the id. Class names (``metainfo['classes']``) are the
    categories' ``name`` fields in that order.

    Args:
        data_root (str): Root holding the json files and ``train_val2019/``.
        ann_file (str): Annotation json relative to ``data_root`` (e.g. ``'val2019.json'``).
            Defaults to '' (the official file of ``split``).
        split (str, optional): 'train' (``train2019.json``) or 'val' (``val2019.json``), used
            when ``ann_file`` is not given. Defaults to None.
        data_prefix (str): Folder the ``file_name`` entries are relative to, relative to
            ``data_root``. Defaults to '' (the root, as in the official layout).
        metainfo (dict, optional): Meta information. Defaults to None (names from the json).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.

    Raises:
        FileNotFoundError: If the json file or the image folder its first image lies in is
            missing (names the path).
        ValueError: If neither ``ann_file`` nor a known ``split`` is given, or the json lacks
            a key, has an image without exactly one annotation, or an annotation with an
            unknown category (names the file and the entry).
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str = '',
                 split: Optional[str] = None,
                 data_prefix: str = '',
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if not ann_file:
            if split not in _SPLITS:
                raise ValueError(f'give ann_file, or split as one of {sorted(_SPLITS)}; got '
                                 f'ann_file={ann_file!r}, split={split!r}')
            ann_file = _SPLITS[split]
        self.split = split
        path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
        if not osp.isfile(path):
            raise FileNotFoundError(f'iNaturalist 2019 annotations not found: {path}')
        with open(path) as f:
            self._annotations = self._check_json(json.load(f), path)
        categories = sorted(self._annotations['categories'], key=lambda c: c['id'])
        if metainfo is None:
            metainfo = dict(classes=tuple(c['name'] for c in categories))
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    @staticmethod
    def _check_json(data: Dict, path: str) -> Dict:
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected a json object, got {type(data).__name__}')
        missing = [k for k in ('images', 'annotations', 'categories') if k not in data]
        if missing:
            raise ValueError(f'{path}: missing key(s) {missing} (is it the test json, which has '
                             'no labels?)')
        return data

    def load_data_list(self) -> List[dict]:
        """Join images, annotations and categories into ``img_path`` and ``gt_label``.

        Returns:
            list[dict]: One dict per image, in the json's image order.
        """
        data, path = self._annotations, self.ann_file
        label_of = {
            c['id']: i for i, c in enumerate(sorted(data['categories'], key=lambda c: c['id']))
        }
        category_of: Dict[int, int] = {}
        for ann in data['annotations']:
            image_id = ann['image_id']
            if image_id in category_of:
                raise ValueError(f'{path}: image id {image_id} has more than one annotation')
            if ann['category_id'] not in label_of:
                raise ValueError(f'{path}: annotation {ann.get("id")} has category_id '
                                 f'{ann["category_id"]}, not among the categories')
            category_of[image_id] = ann['category_id']
        data_list = []
        for image in data['images']:
            if image['id'] not in category_of:
                raise ValueError(f'{path}: image id {image["id"]} ({image["file_name"]}) has no '
                                 'annotation')
            data_list.append(
                dict(img_path=osp.join(self.img_prefix, image['file_name']),
                     gt_label=label_of[category_of[image['id']]]))
        if data_list:
            first = data['images'][0]['file_name']
            top = osp.join(self.img_prefix, first.split('/')[0])
            if '/' in first and not osp.isdir(top):
                raise FileNotFoundError(f'iNaturalist 2019 image folder not found: {top} '
                                        f'(from file_name {first!r} in {path})')
        # Free the parsed json; the data list holds what is needed.
        self._annotations = None
        return data_list

    def extra_repr(self) -> List[str]:
        """Lines for ``repr``: annotation file and image prefix."""
        return [f'Annotation file: \t{self.ann_file}', f'Prefix of images: \t{self.img_prefix}']
