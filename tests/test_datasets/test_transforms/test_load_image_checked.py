"""LoadImageFromFileChecked: the pixels of LoadImageFromFile; a truncated JPEG, a zero-byte file
and a missing file are each an error naming the file and its index in the data set (also from
a DataLoader worker), or with on_error='skip' are skipped, replaced and counted across the
worker processes."""
import io

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmengine.registry import DefaultScope
from PIL import Image
from torch.utils.data import DataLoader

import rsb_mm  # noqa: F401
from rsb_mm.datasets.transforms import (LoadImageFromFileChecked, UnreadableImageError,
                                        jpeg_is_truncated)
from rsb_mm.testing import sample_photos, write_imagenet_folder


def _jpeg(progressive=False):
    buf = io.BytesIO()
    Image.fromarray(sample_photos(1)[0]).save(buf, format='JPEG', quality=90,
                                              progressive=progressive)
    return buf.getvalue()


@pytest.fixture(scope='module')
def broken_folder(tmp_path_factory):
    """An ImageNet folder (2 classes x 3 images) with one truncated JPEG and one empty file."""
    root = str(tmp_path_factory.mktemp('imagenet'))
    write_imagenet_folder(root, num_classes=2, images_per_class=3, size=40, splits=('train', ))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        from mmpretrain.datasets import ImageNet
        paths = [d['img_path'] for d in ImageNet(root, split='train').load_data_list()]
    truncated, empty = paths[1], paths[4]
    data = open(truncated, 'rb').read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    open(empty, 'wb').close()
    return root, paths


def _dataset(root, on_error):
    from mmpretrain.datasets import ImageNet
    pipeline = [dict(type='LoadImageFromFileChecked', on_error=on_error,
                     color_type='color_ignore_orientation'), dict(type='PackInputs')]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return ImageNet(root, split='train', pipeline=pipeline)


def test_same_pixels_as_load_image_from_file(tmp_path):
    path = str(tmp_path / 'photo.jpg')
    with open(path, 'wb') as f:
        f.write(_jpeg())
    for kwargs in (dict(), dict(color_type='color_ignore_orientation'),
                   dict(imdecode_backend='pillow')):
        ours = LoadImageFromFileChecked(**kwargs)(dict(img_path=path))
        theirs = LoadImageFromFile(**kwargs)(dict(img_path=path))
        np.testing.assert_array_equal(ours['img'], theirs['img'])
        assert ours['img_shape'] == ours['ori_shape'] == theirs['img_shape']


def test_truncated_detection():
    for progressive in (False, True):
        data = _jpeg(progressive)
        assert not jpeg_is_truncated(data)
        for frac in (0.3, 0.9, 0.999):
            assert jpeg_is_truncated(data[:int(len(data) * frac)])
    assert not jpeg_is_truncated(b'\x89PNG\r\n\x1a\n')


def test_truncated_detection_is_its_definition_at_every_cut():
    """jpeg_is_truncated searches from the end; the definition (no EOI after the last SOS)
    must hold at every cut of files with a thumbnail-like embedded JPEG and trailing bytes."""
    def definition(data):
        last_scan = data.rfind(b'\xff\xda')
        return last_scan < 0 or data.find(b'\xff\xd9', last_scan + 2) < 0

    buf = io.BytesIO()
    Image.fromarray(sample_photos(1)[0][:40, :40]).save(buf, 'JPEG', quality=50,
                                                        progressive=True)
    small = buf.getvalue()
    # an APP1 segment carrying a whole JPEG (as an EXIF thumbnail does), then the image
    app1 = b'\xff\xe1' + (len(small) + 2).to_bytes(2, 'big') + small
    with_thumbnail = small[:2] + app1 + small[2:]
    for data in (small, with_thumbnail, small + b'\x00' * 7):
        assert not jpeg_is_truncated(data)
        for cut in range(2, len(data) + 1):
            assert jpeg_is_truncated(data[:cut]) == definition(data[:cut]), cut


@pytest.mark.parametrize('index,reason', [(1, 'truncated JPEG'),
                                          (4, 'the file is empty (0 bytes)')])
def test_unreadable_image_is_an_error_naming_file_and_index(broken_folder, index, reason):
    root, paths = broken_folder
    dataset = _dataset(root, 'raise')
    with pytest.raises(UnreadableImageError) as err:
        dataset[index]
    expected = f'cannot read image {index} of the data set, {paths[index]}: {reason}'
    assert str(err.value).startswith(expected)
    assert "on_error='skip'" in str(err.value)


def test_missing_file_is_named():
    with pytest.raises(UnreadableImageError, match=r'image 7 of the data set, /no/such\.jpg: '
                       r'.*No such file'):
        LoadImageFromFileChecked()(dict(img_path='/no/such.jpg', sample_idx=7))


def test_error_from_a_dataloader_worker_keeps_the_message(broken_folder):
    root, paths = broken_folder
    loader = DataLoader(_dataset(root, 'raise'), batch_size=6, num_workers=1,
                        collate_fn=lambda batch: batch)
    with pytest.raises(UnreadableImageError, match=f'cannot read image 1 of the data set, '
                       f'{paths[1]}: truncated JPEG'):
        next(iter(loader))


def test_skip_replaces_and_counts_across_worker_processes(broken_folder):
    root, _ = broken_folder
    dataset = _dataset(root, 'skip')
    loader = DataLoader(dataset, batch_size=6, num_workers=2, collate_fn=lambda batch: batch)
    batch = next(iter(loader))
    assert len(batch) == 6  # the two broken images were replaced by readable ones
    assert {s['data_samples'].sample_idx for s in batch} <= {0, 2, 3, 5}
    loader_transform = dataset.pipeline.transforms[0]
    # counted in the workers, read in this process (a replacement may be broken too)
    assert loader_transform.num_skipped >= 2


@pytest.mark.parametrize('kwargs,message', [
    (dict(on_error='ignore'), "on_error must be one of \\('raise', 'skip'\\), got 'ignore'"),
    (dict(ignore_empty=True), "use on_error='skip'"),
])
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoadImageFromFileChecked(**kwargs)


def test_repr_names_the_switch():
    assert "on_error='skip'" in repr(LoadImageFromFileChecked(on_error='skip'))
