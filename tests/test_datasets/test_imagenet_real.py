"""ImageNetReaL: ReaL label sets by the number in the file name, for both val layouts, equal
to timm's ``RealLabelsImagenet`` file-name mapping; and they survive MMPretrain's pipeline."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.dataset import pseudo_collate
from PIL import Image

from rsb_mm.datasets import ImageNetReaL, load_real_labels, val_image_number
from rsb_mm.testing import IMAGENET_WNIDS, sample_photos

# Entry i belongs to ILSVRC2012_val_{i+1:08d}.JPEG: empty sets and multi-label sets included.
REAL = [[0], [], [1, 3], [2], [], [5, 6, 7], [4], [0, 1]]


def _name(number):
    return f'ILSVRC2012_val_{number:08d}.JPEG'


def write_val(root, layout, real=REAL, size=16):
    """Write val images 1..len(real) in the 'flat' (+ shuffled meta/val.txt) or 'folders'
    layout, and real.json. Returns the relative image paths."""
    photos = sample_photos(len(real))
    rel_paths = []
    for number in range(1, len(real) + 1):
        if layout == 'flat':
            rel = _name(number)
        else:
            # Folders chosen so that sorted paths are not in number order.
            rel = f'{IMAGENET_WNIDS[(len(real) - number) // 3]}/{_name(number)}'
        path = osp.join(root, 'val', rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        img = Image.fromarray(photos[number - 1]).resize((size, size))
        img.save(path, format='JPEG', quality=90)
        rel_paths.append(rel)
    if layout == 'flat':
        os.makedirs(osp.join(root, 'meta'), exist_ok=True)
        order = np.random.default_rng(0).permutation(len(real))
        with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
            f.writelines(f'{rel_paths[i]} {i % 3}\n' for i in order)
    with open(osp.join(root, 'real.json'), 'w') as f:
        json.dump(real, f)
    return rel_paths


@pytest.mark.parametrize('layout', ['flat', 'folders'])
def test_labels_follow_file_number_and_equal_timm(tmp_path, layout):
    from timm.data.real_labels import RealLabelsImagenet
    root = str(tmp_path / 'imagenet')
    rel_paths = write_val(root, layout)
    dataset = ImageNetReaL(data_root=root, split='val')
    assert len(dataset) == len(REAL)

    names = [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))]
    labels = [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]
    # The data must be able to catch an enumeration-order mapping.
    assert names != sorted(names)
    assert labels != REAL
    # timm's own file-name -> ReaL list mapping, fed the same real.json.
    timm_real = RealLabelsImagenet(names, real_json=osp.join(root, 'real.json'))
    assert labels == [timm_real.real_labels[n] for n in names]
    assert labels == [REAL[val_image_number(n) - 1] for n in names]
    assert sorted(dataset.get_data_info(i)['img_path'] for i in range(len(dataset))) == \
        sorted(osp.join(root, 'val', r) for r in rel_paths)
    assert all(osp.isfile(dataset.get_data_info(i)['img_path']) for i in range(len(dataset)))
    assert dataset.get_cat_ids(names.index(_name(6))) == [5, 6, 7]


def test_flat_layout_without_meta_scans_folder(tmp_path):
    root = str(tmp_path / 'imagenet')
    write_val(root, 'flat')
    os.remove(osp.join(root, 'meta', 'val.txt'))
    dataset = ImageNetReaL(data_root=root)
    names = [osp.basename(d['img_path']) for d in dataset.load_data_list()]
    assert names == [_name(n) for n in range(1, len(REAL) + 1)]
    assert [d['gt_label'] for d in dataset.load_data_list()] == REAL


def test_pipeline_and_preprocessor_keep_label_sets(tmp_path):
    from mmpretrain.models import ClsDataPreprocessor
    root = str(tmp_path / 'imagenet')
    write_val(root, 'folders')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    dataset = ImageNetReaL(data_root=root, pipeline=pipeline)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    # to_onehot is what RSB's batch-augment configs switch on; ragged and empty sets must
    # come back unchanged.
    pre = ClsDataPreprocessor(num_classes=10, to_onehot=True)
    out = pre(batch, training=False)
    for sample in out['data_samples']:
        expected = REAL[val_image_number(sample.img_path) - 1]
        assert sample.gt_label.tolist() == expected
        assert sample.gt_score.nonzero().flatten().tolist() == sorted(expected)


def test_missing_real_json_names_path(tmp_path):
    root = str(tmp_path / 'imagenet')
    write_val(root, 'flat')
    os.remove(osp.join(root, 'real.json'))
    with pytest.raises(FileNotFoundError, match=str(osp.join(root, 'real.json'))):
        ImageNetReaL(data_root=root)
    with pytest.raises(FileNotFoundError, match='elsewhere.json'):
        ImageNetReaL(data_root=root, real_json=str(tmp_path / 'elsewhere.json'))


def test_missing_val_folder_names_path(tmp_path):
    root = str(tmp_path / 'imagenet')
    os.makedirs(root)
    with open(osp.join(root, 'real.json'), 'w') as f:
        json.dump(REAL, f)
    with pytest.raises(FileNotFoundError, match=osp.join(root, 'val')):
        ImageNetReaL(data_root=root)


def test_bad_arguments_and_names(tmp_path):
    root = str(tmp_path / 'imagenet')
    write_val(root, 'folders')
    with pytest.raises(ValueError, match="split must be 'val'.*'train'"):
        ImageNetReaL(data_root=root, split='train')
    # An image numbered beyond real.json.
    with open(osp.join(root, 'real.json'), 'w') as f:
        json.dump(REAL[:5], f)
    with pytest.raises(ValueError, match='images 1..5'):
        ImageNetReaL(data_root=root)
    with open(osp.join(root, 'real.json'), 'w') as f:
        json.dump({'1': [0]}, f)
    with pytest.raises(ValueError, match='real_json must be a JSON list'):
        ImageNetReaL(data_root=root)
    with pytest.raises(ValueError, match='ILSVRC2012_val'):
        val_image_number('n01440764/n01440764_0001.JPEG')
    assert val_image_number('/a/b/ILSVRC2012_val_00049999.JPEG') == 49999


def test_timm_bundled_real_json_reads():
    # timm ships a copy of the official real.json: the format our loader assumes.
    import timm
    path = osp.join(osp.dirname(timm.__file__), 'data', '_info', 'imagenet_real_labels.json')
    if not osp.isfile(path):
        pytest.skip('this timm has no bundled imagenet_real_labels.json')
    labels = load_real_labels(path)
    assert len(labels) == 50000
    sizes = np.array([len(entry) for entry in labels])
    assert (sizes == 0).any() and (sizes > 1).any()
    assert max(max(entry) for entry in labels if entry) <= 999
    # timm's own reading of its bundled file, by file name.
    from timm.data.real_labels import RealLabelsImagenet
    names = [_name(n) for n in range(1, 50001)]
    timm_real = RealLabelsImagenet(names).real_labels
    assert all(timm_real[n] == labels[val_image_number(n) - 1] for n in names)
