"""jpeg_region: a region decoded alone equals OpenCV's full decode there (MMCV's
'color_ignore_orientation' loading), on photos in every chroma layout, progressive, with
restart markers, grayscale and odd sizes; the margin is what makes it so; the header's facts;
libjpeg's errors and out-of-image boxes are errors; it turns itself off (and says why) where it
cannot be built or its pixels would differ."""
import io
import random
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

import rsb_mm  # noqa: F401
from rsb_mm.datasets.transforms import jpeg_region
from rsb_mm.testing import sample_photos

pytestmark = pytest.mark.skipif(
    not (shutil.which('cc') or shutil.which('gcc')) or not jpeg_region.available(),
    reason='no C compiler or libjpeg-turbo headers: the region decoder is off here')


def _encodings(rgb):
    """(name, JPEG bytes) of one photo in the layouts ImageNet's files come in."""
    out = []
    for name, kwargs in [('pil-420', dict(subsampling=2)), ('pil-422', dict(subsampling=1)),
                         ('pil-444', dict(subsampling=0)),
                         ('pil-progressive', dict(subsampling=2, progressive=True))]:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, 'JPEG', quality=90, **kwargs)
        out.append((name, buf.getvalue()))
    buf = io.BytesIO()
    Image.fromarray(rgb).convert('L').save(buf, 'JPEG', quality=90)
    out.append(('pil-gray', buf.getvalue()))
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for name, params in [('cv2-restart', [cv2.IMWRITE_JPEG_RST_INTERVAL, 3]),
                         ('cv2-progressive-422', [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])]:
        out.append((name, cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 85,
                                                     *params])[1].tobytes()))
    return out


def _full(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), jpeg_region.CV2_FLAGS)


def _random_boxes(rng, h, w, n):
    boxes = [(0, 0, h, w), (h - 1, w - 1, 1, 1), (16, 16, h - 32, w - 48)]
    for _ in range(n):
        bh, bw = rng.randint(1, h), rng.randint(1, w)
        boxes.append((rng.randint(0, h - bh), rng.randint(0, w - bw), bh, bw))
    return boxes


def test_regions_equal_the_full_decode():
    rng = random.Random(0)
    # photos of odd sizes (not multiples of 8 or 16) and one ImageNet-like
    photos = [np.asarray(Image.fromarray(p).resize(size)) for p, size in zip(
        sample_photos(3), [(500, 375), (231, 333), (97, 61)])]
    checked = 0
    for rgb in photos:
        for name, data in _encodings(rgb):
            full = _full(data)
            header = jpeg_region.read_header(data)
            assert (header.height, header.width) == full.shape[:2], name
            assert header.supported
            assert header.progressive == ('progressive' in name)
            for top, left, bh, bw in _random_boxes(rng, *full.shape[:2], 12):
                out = jpeg_region.decode_region(data, top, left, bh, bw)
                assert out.shape == (bh, bw, 3) and out.flags.c_contiguous
                np.testing.assert_array_equal(out, full[top:top + bh, left:left + bw],
                                              err_msg=f'{name} {(top, left, bh, bw)}')
                checked += 1
    assert checked == 3 * 7 * 15


def test_cropping_columns_or_not_gives_the_same_pixels():
    """With columns skipped (the default) or every column decoded, a full decode's pixels."""
    lib = jpeg_region._get()
    rng = random.Random(1)
    rgb = np.asarray(Image.fromarray(sample_photos(1)[0]).resize((333, 231)))
    for name, data in _encodings(rgb):
        full = _full(data)
        for top, left, bh, bw in _random_boxes(rng, *full.shape[:2], 8):
            expected = full[top:top + bh, left:left + bw]
            for crop_columns in (0, 1):
                np.testing.assert_array_equal(
                    jpeg_region._region(lib, data, top, left, bh, bw, 1, crop_columns), expected,
                    err_msg=f'{name} {(top, left, bh, bw)} crop_columns={crop_columns}')


def test_without_the_margin_crop_edges_differ():
    """The one-iMCU margin is needed: decoded alone, a region's edges are upsampled from
    replicated chroma, so this test (and the self-check) would catch a decoder without it."""
    lib = jpeg_region._get()
    rgb = sample_photos(1)[0]
    data = dict(_encodings(rgb))['pil-420']
    full = _full(data)
    top, left, bh, bw = 16, 32, 64, 96  # edges on iMCU boundaries
    np.testing.assert_array_equal(jpeg_region._region(lib, data, top, left, bh, bw, margin=1),
                                  full[top:top + bh, left:left + bw])
    assert not np.array_equal(jpeg_region._region(lib, data, top, left, bh, bw, margin=0),
                              full[top:top + bh, left:left + bw])
    assert jpeg_region._self_check(lib, margin=1) is None
    assert jpeg_region._self_check(lib, margin=0) is not None


def test_cmyk_is_left_to_a_full_decode():
    buf = io.BytesIO()
    Image.fromarray(sample_photos(1)[0]).convert('CMYK').save(buf, 'JPEG', quality=90)
    header = jpeg_region.read_header(buf.getvalue())
    assert header.components == 4 and not header.supported
    assert jpeg_region.decode_region(buf.getvalue(), 0, 0, 8, 8) is None


def test_errors():
    data = dict(_encodings(sample_photos(1)[0]))['pil-420']
    h, w = _full(data).shape[:2]
    with pytest.raises(ValueError, match=r'box \(top=0, left=1, height=8, width=' + str(w)):
        jpeg_region.decode_region(data, 0, 1, 8, w)
    with pytest.raises(ValueError, match='not inside the image'):
        jpeg_region.decode_region(data, h, 0, 1, 1)
    with pytest.raises(jpeg_region.JpegDecodeError, match='JPEG'):
        jpeg_region.read_header(b'\xff\xd8' + b'\x00' * 100)
    with pytest.raises(jpeg_region.JpegDecodeError):
        jpeg_region.decode_region(b'not a jpeg at all', 0, 0, 1, 1)


def test_turns_itself_off_and_says_why(monkeypatch, tmp_path):
    messages = []
    monkeypatch.setattr(jpeg_region, 'print_log', lambda msg, **kw: messages.append(msg))
    monkeypatch.setenv('RSB_MM_CACHE_DIR', str(tmp_path))

    def fresh():
        monkeypatch.setattr(jpeg_region, '_state', {})
        return jpeg_region.available()

    monkeypatch.setenv('RSB_MM_NO_NATIVE', '1')
    assert not fresh() and 'RSB_MM_NO_NATIVE' in messages[-1]
    with pytest.raises(RuntimeError, match='not available'):
        jpeg_region.decode_region(b'', 0, 0, 1, 1)
    monkeypatch.delenv('RSB_MM_NO_NATIVE')
    monkeypatch.setenv('CC', 'false')  # a "compiler" that fails
    assert not fresh() and 'false failed on' in messages[-1]
    monkeypatch.delenv('CC')
    # a build whose pixels differ from OpenCV's is not used
    real = jpeg_region._region
    monkeypatch.setattr(jpeg_region, '_region',
                        lambda lib, data, top, left, bh, bw, margin=1, crop_columns=1: real(
                            lib, data, top, left, bh, bw, 0, crop_columns))
    assert not fresh() and 'pixels differ from OpenCV' in messages[-1]
    monkeypatch.setattr(jpeg_region, '_region', real)
    assert fresh()
    assert len(list(tmp_path.glob('jpeg_region-*.so'))) == 1
