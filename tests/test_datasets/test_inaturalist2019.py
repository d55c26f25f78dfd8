"""INaturalist2019 reads the official json files: images joined to their annotation, labels in
category-id order, class names from the json, and errors that name the file."""
import json
import os
import shutil

import pytest
from mmpretrain.registry import DATASETS

import rsb_mm  # noqa: F401
from rsb_mm.datasets import INaturalist2019
from rsb_mm.testing import write_inat2019


def test_reads_official_json(tmp_path):
    paths = write_inat2019(str(tmp_path), num_classes=3, images_per_class={'train': 2, 'val': 1})
    with open(paths['train']) as f:
        data = json.load(f)
    category_of = {a['image_id']: a['category_id'] for a in data['annotations']}

    train = DATASETS.build(dict(type='INaturalist2019', data_root=str(tmp_path),
                                ann_file='train2019.json'))
    assert len(train) == 6 and len(train.CLASSES) == 1010
    assert train.CLASSES[2] == data['categories'][2]['name']
    for i, image in enumerate(data['images']):
        info = train.get_data_info(i)
        assert info['img_path'] == os.path.join(str(tmp_path), image['file_name'])
        assert info['gt_label'] == category_of[image['id']]
    val = INaturalist2019(str(tmp_path), split='val')
    assert sorted(val.get_data_info(i)['gt_label'] for i in range(3)) == [0, 1, 2]


def test_labels_follow_sorted_category_ids(tmp_path):
    paths = write_inat2019(str(tmp_path), num_classes=2)
    with open(paths['val']) as f:
        data = json.load(f)
    # ids 0..1009 listed in reverse: label is the position in id order, i.e. still the id
    data['categories'] = data['categories'][::-1]
    with open(paths['val'], 'w') as f:
        json.dump(data, f)
    val = INaturalist2019(str(tmp_path), ann_file='val2019.json')
    assert [val.get_data_info(i)['gt_label'] for i in range(2)] == [0, 1]
    assert val.CLASSES[0] == 'Species 0000'


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        INaturalist2019(str(tmp_path), split='train')
    assert str(tmp_path / 'train2019.json') in str(err.value)

    paths = write_inat2019(str(tmp_path), num_classes=2)
    shutil.rmtree(tmp_path / 'train_val2019')
    with pytest.raises(FileNotFoundError) as err:
        INaturalist2019(str(tmp_path), split='train')
    assert str(tmp_path / 'train_val2019') in str(err.value)

    with open(paths['val']) as f:
        data = json.load(f)
    with open(tmp_path / 'test2019.json', 'w') as f:  # the test json carries no labels
        json.dump(dict(images=data['images'], categories=data['categories']), f)
    with pytest.raises(ValueError, match='annotations'):
        INaturalist2019(str(tmp_path), ann_file='test2019.json')
    with open(tmp_path / 'bad.json', 'w') as f:
        json.dump(dict(data, annotations=data['annotations'][:1]), f)
    with pytest.raises(ValueError, match='has no annotation'):
        INaturalist2019(str(tmp_path), ann_file='bad.json')
    with pytest.raises(ValueError, match='split'):
        INaturalist2019(str(tmp_path), split='test')
