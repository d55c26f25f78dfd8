"""ImageNetV2 (Recht et al., 2019): 10,000 new test images for ImageNet-1k classifiers.

Official layout (``imagenetv2-matched-frequency.tar.gz`` of modestyachts/ImageNetV2, the
variant the RSB paper reports as "V2")::

    data/imagenetv2/
    └── imagenetv2-matched-frequency-format-val/
        ├── 0/     <hash>.jpeg ...
        ├── 1/
        ├── ...
        └── 999/

Each folder name is the ImageNet-1k class index of the images in it. Why our own class:
MMPretrain's ``CustomDataset`` folder mode (``mmpretrain/datasets/custom.py``
``find_folders``, MMPretrain 1.2.0) sorts folder names as strings and numbers them in that
order, so folder ``'10'`` gets label 2 (``'0' < '1' < '10' < '100' < ...``) and almost every
label is wrong. timm reads the same tree with ``timm/data/readers/reader_image_folder.py``
``find_images_and_targets``, which sorts with ``natural_key`` and then numbers the folders;
that equals the integer name only while all folders ``0..999`` are present. Here the label
is ``int(folder name)`` always, which is what the folder names mean.
"""
from typing import List, Optional, Sequence

from mmengine import fileio
from mmengine.fileio import get_file_backend
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
from mmpretrain.registry import DATASETS

__all__ = ['ImageNetV2']

_VARIANTS = ('matched-frequency', 'threshold0.7', 'top-images')


@DATASETS.register_module()
class ImageNetV2(BaseDataset):
    """ImageNetV2 test images, labelled by their class-index folder names.

    The image folder is ``data_root/data_prefix`` when ``data_prefix`` is given; otherwise
    ``data_root/imagenetv2-<variant>-format-val`` when that folder exists (the tarball
    extracted into ``data_root``), else ``data_root`` itself (``data_root`` already holds the
    class-index folders ``0 .. 999``).

    Args:
        data_root (str): Root of ImageNetV2. Defaults to ''.
        variant (str): Which ImageNetV2 set, used to find the extracted folder:
            'matched-frequency', 'threshold0.7' or 'top-images'.
            Defaults to 'matched-frequency'.
        data_prefix (str | dict): Folder of the class-index folders, relative to
            ``data_root``. Defaults to '' (found as described above).
        extensions (Sequence[str]): Image file extensions, case-insensitive.
            Defaults to ('.jpeg', '.jpg', '.png').
        metainfo (dict, optional): Meta information. Defaults to None (ImageNet's classes).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.

    Raises:
        FileNotFoundError: If the image folder is missing or holds no class-index folder
            (names the path).
        ValueError: If ``variant`` is unknown, or a sub-folder is not a class index in
            ``[0, number of classes)``.
    """

    METAINFO = {'classes': IMAGENET_CATEGORIES}

    def __init__(self,
                 data_root: str = '',
                 variant: str = 'matched-frequency',
                 data_prefix: str = '',
                 extensions: Sequence[str] = ('.jpeg', '.jpg', '.png'),
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if variant not in _VARIANTS:
            raise ValueError(f'variant must be one of {_VARIANTS}, got {variant!r}')
        self.variant = variant
        self.extensions = tuple(ext.lower() for ext in extensions)
        if not data_prefix:
            extracted = f'imagenetv2-{variant}-format-val'
            if data_root and fileio.isdir(fileio.join_path(data_root, extracted)):
                data_prefix = extracted
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """List the images with ``gt_label = int(folder name)``, in class then name order.

        Returns:
            list[dict]: ``img_path`` and ``gt_label`` per image.
        """
        root = self.img_prefix
        backend = get_file_backend(root, enable_singleton=True)
        if not root or not backend.isdir(root):
            raise FileNotFoundError(
                f'ImageNetV2 folder not found: {root!r} (expected the class-index folders '
                f'0..999 of imagenetv2-{self.variant}-format-val)')
        folders = list(backend.list_dir_or_file(root, list_dir=True, list_file=False))
        if not folders:
            raise FileNotFoundError(f'ImageNetV2 folder {root} holds no class-index folders')
        num_classes = len(self.CLASSES) if self.CLASSES is not None else None
        labels = {}
        for folder in folders:
            if not folder.isdigit() or (num_classes is not None
                                        and int(folder) >= num_classes):
                raise ValueError(f'ImageNetV2 sub-folders must be class indices in '
                                 f'[0, {num_classes}), got {folder!r} in {root}')
            labels[folder] = int(folder)
        data_list = []
        for folder in sorted(labels, key=labels.get):
            folder_path = backend.join_path(root, folder)
            files = backend.list_dir_or_file(folder_path, list_dir=False, list_file=True)
            for name in sorted(f for f in files if f.lower().endswith(self.extensions)):
                data_list.append(
                    dict(img_path=backend.join_path(folder_path, name),
                         gt_label=labels[folder]))
        if not data_list:
            raise FileNotFoundError(f'ImageNetV2 folder {root} holds no images with '
                                    f'extensions {self.extensions}')
        return data_list

    def extra_repr(self) -> List[str]:
        """Lines for ``repr``: the image folder."""
        return [f'Prefix of images: \t{self.img_prefix}']
