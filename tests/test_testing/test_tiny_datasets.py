"""rsb_mm.testing writes data the real loaders read: MMPretrain's ImageNet, pycocotools and
MMDetection's CocoDataset."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from rsb_mm.testing import COCO_CATEGORIES, write_coco_detection, write_imagenet_folder


def test_imagenet_folder_reads_with_mmpretrain(tmp_path):
    from mmpretrain.datasets import ImageNet
    counts = write_imagenet_folder(str(tmp_path), num_classes=3, images_per_class=2, size=24)
    assert counts == {'train': 6, 'val': 6}
    dataset = ImageNet(data_root=str(tmp_path), split='train', pipeline=[])
    assert len(dataset) == 6
    labels = [dataset.get_data_info(i)['gt_label'] for i in range(6)]
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]
    for i in range(6):
        info = dataset.get_data_info(i)
        # the label matches the class folder the file sits in
        wnid = osp.basename(osp.dirname(info['img_path']))
        assert sorted(set(osp.basename(p) for p in
                          (tmp_path / 'train').iterdir()))[info['gt_label']] == wnid
        img = Image.open(info['img_path'])
        assert img.format == 'JPEG' and img.size == (24, 24)


def test_coco_set_reads_with_pycocotools_and_mmdet(tmp_path):
    from mmdet.datasets import CocoDataset
    from pycocotools.coco import COCO
    ann_files = write_coco_detection(str(tmp_path), num_images=3, size=64)
    coco = COCO(ann_files['val2017'])
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) >= 3
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == \
        [name for _, name in COCO_CATEGORIES]
    for ann in coco.loadAnns(coco.getAnnIds()):
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64 and w > 0 and h > 0
        assert coco.annToMask(ann).sum() > 0  # the polygon is a real mask
    assert tuple(name for _, name in COCO_CATEGORIES) == CocoDataset.METAINFO['classes']
    dataset = CocoDataset(data_root=str(tmp_path), ann_file='annotations/instances_val2017.json',
                          data_prefix=dict(img='val2017/'), pipeline=[])
    info = dataset.get_data_info(0)
    assert osp.isfile(info['img_path']) and len(info['instances']) >= 1
    img = np.asarray(Image.open(info['img_path']))
    assert img.shape == (64, 64, 3)


def test_array_writers_name_bad_input(tmp_path):
    from rsb_mm.testing.tiny_datasets import write_coco_split, write_imagenet_split
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match='2 images but 1 labels'):
        write_imagenet_split(str(tmp_path), 'train', np.stack([img, img]), [0])
    with pytest.raises(ValueError, match='labels must be in'):
        write_imagenet_split(str(tmp_path), 'train', img[None], [99])
    with pytest.raises(ValueError, match='category_id 12 '):  # 12 is a gap in COCO's ids
        write_coco_split(str(tmp_path), 'val2017',
                         [(img, [(12, [0, 0, 2, 2], [0, 0, 2, 0, 2, 2])])])


@pytest.mark.parametrize('variant', ['cifar10', 'cifar100'])
def test_cifar_arrays_read_back_with_rsb_mm_cifar(tmp_path, variant):
    import rsb_mm  # noqa: F401
    from rsb_mm.datasets import CIFAR10Offline, CIFAR100Offline
    from rsb_mm.testing.tiny_datasets import write_cifar_arrays
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5, 9, 2]
    counts = write_cifar_arrays(str(tmp_path), {'train': (images, labels),
                                                'test': (images[:2], labels[:2])}, variant)
    assert counts == {'train': 7, 'test': 2}
    cls = CIFAR10Offline if variant == 'cifar10' else CIFAR100Offline
    dataset = cls(data_root=str(tmp_path), split='train', pipeline=[])
    assert len(dataset) == 7
    found = set()
    for i in range(7):
        info = dataset.get_data_info(i)
        # the reader gives BGR (like a loaded file); find the RGB image it came from
        j = next(j for j in range(7) if np.array_equal(info['img'][..., ::-1], images[j]))
        assert info['gt_label'] == labels[j]
        found.add(j)
    assert found == set(range(7))
    with pytest.raises(ValueError, match='labels in'):
        write_cifar_arrays(str(tmp_path), {'train': (images, [10] * 7)}, 'cifar10')
