"""LoadImageFromFileChecked: the pixels of LoadImageFromFile; a truncated JPEG, a zero-byte file
and a missing file are each an error naming the file and its index in the data set (also from
a DataLoader worker), or with on_error='skip' are skipped, replaced and counted across the
worker processes. With lazy_decode, JPEGs reach TimmRandomResizedCrop undecoded and give the
same crops (CMYK JPEGs and PNGs are decoded whole), and a decoding error is reported by the crop
as by the loader."""
import io
import os.path as osp
import random

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmengine.registry import DefaultScope
from PIL import Image
from torch.utils.data import DataLoader

import rsb_mm  # noqa: F401
from rsb_mm.datasets.transforms import (DeferredJpeg, LoadImageFromFileChecked,
                                        UnreadableImageError, jpeg_is_truncated, jpeg_region)
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


# lazy_decode: the loader defers JPEG decoding to TimmRandomResizedCrop, which decodes only
# its crop (rsb_mm.datasets.transforms.jpeg_region).
needs_region_decoder = pytest.mark.skipif(
    not jpeg_region.available(),
    reason='no C compiler or libjpeg-turbo headers: lazy_decode decodes whole images here')


def _files(tmp_path):
    """JPEGs in several layouts, a CMYK JPEG and a PNG of one photo: (path, deferred?)."""
    rgb = np.asarray(Image.fromarray(sample_photos(1)[0]).resize((333, 231)))
    files = []
    for name, kwargs, deferred in [('420.jpg', dict(subsampling=2), True),
                                   ('444.jpg', dict(subsampling=0), True),
                                   ('progressive.jpg', dict(progressive=True), True),
                                   ('png.png', dict(), False)]:
        path = str(tmp_path / name)
        Image.fromarray(rgb).save(path, quality=90, **kwargs)
        files.append((path, deferred))
    path = str(tmp_path / 'gray.jpg')
    Image.fromarray(rgb).convert('L').save(path, quality=90)
    files.append((path, True))
    path = str(tmp_path / 'cmyk.jpg')
    Image.fromarray(rgb).convert('CMYK').save(path, quality=90)
    files.append((path, False))
    return files


def _crop_pipeline(lazy, **loader_kwargs):
    from mmcv.transforms import Compose
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([
            dict(type='LoadImageFromFileChecked', color_type='color_ignore_orientation',
                 lazy_decode=lazy, **loader_kwargs),
            dict(type='TimmRandomResizedCrop', scale=64, interpolation='random'),
        ])


@needs_region_decoder
def test_lazy_decode_gives_the_same_crops(tmp_path):
    lazy, whole = _crop_pipeline(True), _crop_pipeline(False)
    assert lazy.transforms[0].lazy_decode and not whole.transforms[0].lazy_decode
    for path, deferred in _files(tmp_path):
        loaded = lazy.transforms[0](dict(img_path=path))
        assert ('img_deferred' in loaded) == deferred and ('img' in loaded) != deferred, path
        assert loaded['img_shape'] == loaded['ori_shape'] == (231, 333)
        for seed in range(6):
            random.seed(seed)
            ours = lazy(dict(img_path=path))
            random.seed(seed)
            theirs = whole(dict(img_path=path))
            assert 'img_deferred' not in ours
            assert ours['img_shape'] == theirs['img_shape'] == (64, 64)
            np.testing.assert_array_equal(ours['img'], theirs['img'], err_msg=path)


def _note_deferred(results):
    results['deferred'] = 'img_deferred' in results
    return results


def _as_list(batch):
    return batch  # a module-level function: spawned workers must unpickle the collate_fn


@needs_region_decoder
def test_deferred_jpeg_decodes_any_jpeg(tmp_path):
    """A DeferredJpeg of a colour space the region decoder declines (CMYK; the loader itself
    decodes those whole) still decodes, through OpenCV, to the loader's pixels."""
    path = dict((osp.basename(p), p) for p, _ in _files(tmp_path))['cmyk.jpg']
    loader = LoadImageFromFileChecked(lazy_decode=True, color_type='color_ignore_orientation')
    whole = loader(dict(img_path=path))['img']
    deferred = DeferredJpeg(open(path, 'rb').read(), *whole.shape[:2], path, 0, loader)
    np.testing.assert_array_equal(deferred.decode(), whole)
    np.testing.assert_array_equal(deferred.decode((10, 20, 30, 40)), whole[10:40, 20:60])


def _bad_progressive(path):
    """A progressive JPEG whose header reads but whose second scan stops libjpeg."""
    data = bytearray(_jpeg(progressive=True))
    first = data.find(b'\xff\xda')
    second = data.find(b'\xff\xda', first + 2)
    data[second + 5 + 2 * data[second + 4] + 1] = 70  # Se > 63
    with open(path, 'wb') as f:
        f.write(bytes(data))


@needs_region_decoder
def test_lazy_decode_error_is_reported_by_the_crop(tmp_path):
    path = str(tmp_path / 'bad.jpg')
    _bad_progressive(path)
    raising = _crop_pipeline(True)
    assert 'img_deferred' in raising.transforms[0](dict(img_path=path, sample_idx=7))
    with pytest.raises(UnreadableImageError,
                       match=f'cannot read image 7 of the data set, {path}: Invalid progressive'):
        raising(dict(img_path=path, sample_idx=7))
    skipping = _crop_pipeline(True, on_error='skip')
    assert skipping(dict(img_path=path, sample_idx=7)) is None
    assert skipping.transforms[0].num_skipped == 1
    # decoding it whole fails the same way
    with pytest.raises(UnreadableImageError, match=f'cannot read image 7 of the data set, {path}'):
        _crop_pipeline(False)(dict(img_path=path, sample_idx=7))


@needs_region_decoder
@pytest.mark.parametrize('start_method', ['fork', 'spawn'])
def test_lazy_decode_in_dataloader_workers(tmp_path, start_method, monkeypatch):
    """Workers decode regions too (forked ones inherit the loaded library, spawned ones build
    and check it from the cache) and give the batches that whole-image decoding gives with the
    same worker seeds."""
    import multiprocessing

    import torch
    from mmpretrain.datasets import ImageNet
    if start_method == 'spawn':
        # as under MMEngine's env_cfg mp_start_method='spawn', which makes spawn the default
        # context before the data sets (and the loader's skip counter) are built
        monkeypatch.setattr(multiprocessing, 'Value', multiprocessing.get_context('spawn').Value)
    root = str(tmp_path)
    write_imagenet_folder(root, num_classes=2, images_per_class=4, size=72, splits=('train', ))
    batches = []
    for lazy in (True, False):
        pipeline = [dict(type='LoadImageFromFileChecked', lazy_decode=lazy,
                         color_type='color_ignore_orientation'), _note_deferred,
                    dict(type='TimmRandomResizedCrop', scale=32),
                    dict(type='PackInputs', meta_keys=('sample_idx', 'deferred'))]
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            dataset = ImageNet(root, split='train', pipeline=pipeline)
        loader = DataLoader(dataset, batch_size=8, num_workers=2, collate_fn=_as_list,
                            generator=torch.Generator().manual_seed(0),
                            multiprocessing_context=start_method if lazy else 'fork')
        samples = next(iter(loader))
        # the worker really decoded lazily (or, for the reference, whole)
        assert [s['data_samples'].deferred for s in samples] == [lazy] * 8
        batches.append(torch.stack([s['inputs'] for s in samples]))
    torch.testing.assert_close(batches[0], batches[1], rtol=0, atol=0)


@pytest.mark.parametrize('kwargs,message', [
    (dict(lazy_decode=True, color_type='color'),
     "lazy_decode=True decodes as color_type='color_ignore_orientation'.*got color_type='color'"),
    (dict(lazy_decode=True, color_type='color_ignore_orientation', imdecode_backend='pillow'),
     "imdecode_backend='pillow'"),
    (dict(lazy_decode='yes'), "lazy_decode must be a bool, got 'yes'"),
])
def test_lazy_decode_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoadImageFromFileChecked(**kwargs)


def test_lazy_decode_without_the_region_decoder_decodes_whole(monkeypatch, tmp_path):
    monkeypatch.setattr(jpeg_region, 'available', lambda: False)
    loader = LoadImageFromFileChecked(lazy_decode=True, color_type='color_ignore_orientation')
    assert not loader.lazy_decode
    path = _files(tmp_path)[0][0]
    assert loader(dict(img_path=path))['img'].shape == (231, 333, 3)
