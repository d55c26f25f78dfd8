"""ImageNetV2: label = int(class-index folder name), where MMPretrain's lexicographic folder
numbering (and timm's natural-sort numbering with folders missing) give other labels."""
import os
import os.path as osp

import pytest
from PIL import Image

from rsb_mm.datasets import ImageNetV2
from rsb_mm.testing import sample_photos

FOLDERS = ('0', '1', '2', '10', '100')


def write_v2(folder, classes=FOLDERS, per_class=2, size=16):
    """Write ``folder/<class index>/<hash>.jpeg`` as the official tarball has it."""
    photos = sample_photos(len(classes))
    for k, cls in enumerate(classes):
        os.makedirs(osp.join(folder, cls), exist_ok=True)
        for i in range(per_class):
            img = Image.fromarray(photos[k]).resize((size + i, size))
            img.save(osp.join(folder, cls, f'{k:02x}{i}f3a9c.jpeg'), format='JPEG')


def _labels_by_folder(dataset):
    return {osp.basename(osp.dirname(d['img_path'])): d['gt_label']
            for d in (dataset.get_data_info(i) for i in range(len(dataset)))}


@pytest.mark.parametrize('extracted', [True, False])
def test_label_is_folder_integer(tmp_path, extracted):
    root = tmp_path / 'imagenetv2'
    folder = root / 'imagenetv2-matched-frequency-format-val' if extracted else root
    write_v2(str(folder))
    dataset = ImageNetV2(data_root=str(root))
    assert len(dataset) == 2 * len(FOLDERS)
    assert _labels_by_folder(dataset) == {f: int(f) for f in FOLDERS}
    assert [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))] == \
        [0, 0, 1, 1, 2, 2, 10, 10, 100, 100]
    assert all(osp.isfile(dataset.get_data_info(i)['img_path']) for i in range(len(dataset)))
    assert len(dataset.CLASSES) == 1000


def test_mmpretrain_and_timm_folder_readers_would_be_wrong(tmp_path):
    # Why the class exists: the generic folder readers number folders by sort order.
    from mmpretrain.datasets import CustomDataset
    from timm.data.readers.reader_image_folder import find_images_and_targets
    folder = str(tmp_path / 'v2')
    write_v2(folder)
    custom = CustomDataset(data_prefix=folder)
    assert _labels_by_folder(custom)['10'] == 2  # '0' < '1' < '10' < '100' < '2'
    _, class_to_idx = find_images_and_targets(folder)
    assert class_to_idx['10'] == 3  # natural order, but only 5 of the 1000 folders exist
    assert _labels_by_folder(ImageNetV2(data_root=folder))['10'] == 10


def test_data_prefix_and_other_variant(tmp_path):
    root = tmp_path / 'imagenetv2'
    write_v2(str(root / 'imagenetv2-threshold0.7-format-val'), classes=('3', '999'))
    # The matched-frequency folder is absent, so data_root itself is searched: it holds a
    # non-index folder.
    with pytest.raises(ValueError, match="class indices in \\[0, 1000\\), got 'imagenetv2-"):
        ImageNetV2(data_root=str(root))
    dataset = ImageNetV2(data_root=str(root), variant='threshold0.7')
    assert sorted(_labels_by_folder(dataset).values()) == [3, 999]
    dataset = ImageNetV2(data_root=str(root), data_prefix='imagenetv2-threshold0.7-format-val')
    assert sorted(_labels_by_folder(dataset).values()) == [3, 999]


def test_missing_folder_names_path(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'imagenetv2')
    with pytest.raises(FileNotFoundError, match=missing):
        ImageNetV2(data_root=missing)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty)):
        ImageNetV2(data_root=str(empty))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="variant must be one of .*got 'matched'"):
        ImageNetV2(data_root=str(tmp_path), variant='matched')
    write_v2(str(tmp_path / 'v2'), classes=('0', '1000'))
    with pytest.raises(ValueError, match="got '1000'"):
        ImageNetV2(data_root=str(tmp_path / 'v2'))
