"""StanfordCarsDevkit reads the devkit layout wherever the separately published labelled test
file sits (devkit/, where MMPretrain looks, or the root, where torchvision looks) and names the
paths it expected when something is missing."""
import os

import pytest
from mmpretrain.datasets import StanfordCars
from mmpretrain.datasets.categories import STANFORDCARS_CATEGORIES

import rsb_mm  # noqa: F401
from rsb_mm.datasets import StanfordCarsDevkit
from rsb_mm.testing import write_stanford_cars


def _labels(dataset):
    return [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]


@pytest.mark.parametrize('test_labels_in', ['root', 'devkit'])
def test_reads_both_places_of_the_labelled_test_file(tmp_path, test_labels_in):
    write_stanford_cars(str(tmp_path), num_classes=3, images_per_class=2,
                        test_labels_in=test_labels_in)
    train = StanfordCarsDevkit(str(tmp_path), split='train')
    test = StanfordCarsDevkit(str(tmp_path), split='test')
    assert _labels(train) == _labels(test) == [0, 1, 2] * 2
    assert test.get_data_info(0)['img_path'] == str(tmp_path / 'cars_test' / '00001.jpg')
    assert test.CLASSES == STANFORDCARS_CATEGORIES
    if test_labels_in == 'devkit':
        # Where MMPretrain's class finds it too: the same samples.
        ref = StanfordCars(data_root=str(tmp_path), split='test')
        assert [ref.get_data_info(i) for i in range(6)] == [test.get_data_info(i)
                                                            for i in range(6)]
    else:
        # MMPretrain's class fails on a tree laid out for torchvision, naming no path.
        with pytest.raises(RuntimeError, match='incorrectly organized'):
            StanfordCars(data_root=str(tmp_path), split='test')


def test_missing_files_are_named(tmp_path):
    write_stanford_cars(str(tmp_path), test_labels_in='none')
    with pytest.raises(FileNotFoundError) as err:
        StanfordCarsDevkit(str(tmp_path), split='test')
    msg = str(err.value)
    assert str(tmp_path / 'devkit' / 'cars_test_annos_withlabels.mat') in msg
    assert str(tmp_path / 'cars_test_annos_withlabels.mat') in msg
    assert 'separate download' in msg

    os.remove(tmp_path / 'devkit' / 'cars_train_annos.mat')
    with pytest.raises(FileNotFoundError, match='cars_train_annos.mat'):
        StanfordCarsDevkit(str(tmp_path), split='train')

    write_stanford_cars(str(tmp_path / 'ok'))
    os.rename(tmp_path / 'ok' / 'cars_test', tmp_path / 'ok' / 'moved')
    with pytest.raises(FileNotFoundError) as err:
        StanfordCarsDevkit(str(tmp_path / 'ok'), split='test')
    assert str(tmp_path / 'ok' / 'cars_test') in str(err.value)
    # an explicit image folder is used as given
    assert len(StanfordCarsDevkit(str(tmp_path / 'ok'), split='test', data_prefix='moved')) == 4

    with pytest.raises(FileNotFoundError, match='nowhere'):
        StanfordCarsDevkit(str(tmp_path / 'nowhere'))
    with pytest.raises(ValueError, match='split'):
        StanfordCarsDevkit(str(tmp_path / 'ok'), split='val')
