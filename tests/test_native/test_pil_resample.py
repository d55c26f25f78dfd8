"""rsb_mm's compiled resize (pil_resample) against the installed Pillow's Image.resize.

The same bytes for bilinear and bicubic, RGB and grayscale, up- and downscaling, strided crop
views, and the sizes where Pillow 13 changes the order of its two passes; what it does not
handle it declines (None), and when the extension is missing or wrong it turns itself off.
"""
import importlib.util
import sys

import numpy as np
import pytest
from PIL import Image

import rsb_mm._native
from rsb_mm._native import pil_resample

needs_extension = pytest.mark.skipif(
    importlib.util.find_spec('rsb_mm._native._pil_resample') is None,
    reason='the extension is not built (pip install -e . builds it)')
FILTERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)


def _photos():
    from skimage import data
    return [data.astronaut(), data.chelsea(), data.coffee()]


def _pillow(img, out_h, out_w, resample):
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((out_w, out_h),
                                                                        resample))


@needs_extension
def test_same_bytes_as_pillow_on_random_crops():
    assert pil_resample.available()
    rng = np.random.default_rng(0)
    photos = _photos()
    orders = set()
    for trial in range(240):
        if trial % 2:
            img = photos[trial % 3]
        else:
            img = rng.integers(0, 256, (int(rng.integers(1, 420)), int(rng.integers(1, 420)), 3),
                               dtype=np.uint8)
        if trial % 5 == 0:
            img = np.ascontiguousarray(img[:, :, 1])  # grayscale (Pillow mode L)
        height, width = img.shape[:2]
        h, w = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        crop = img[top:top + h, left:left + w]  # a view: rows strided, as the transform's
        if trial % 4 == 0:
            out_h, out_w = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        elif trial % 4 == 1:
            # on the Pillow 13 rule's boundary: h - out_h == 2 (w - out_w) + {-1, 0, 1}
            out_w = int(rng.integers(1, w + 1))
            out_h = min(max(h - 2 * (w - out_w) - int(rng.integers(-1, 2)), 1), 400)
        else:
            out_h = out_w = 224
        orders.add(pil_resample.vertical_first_pillow13(h, w, out_h, out_w))
        resample = FILTERS[trial % 2]
        got = pil_resample.resize(crop, (out_h, out_w), resample)
        expected = _pillow(crop, out_h, out_w, resample)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected, err_msg=f'{crop.shape} -> '
                                      f'{(out_h, out_w)}, {resample!r}')
    assert orders == {True, False}  # both pass orders were exercised


@needs_extension
def test_pass_order_matters_where_pillow_13_changed_it():
    """The order rule is not decoration: on a size where Pillow 13 goes vertical first, the
    other order gives other bytes (so the test above can fail)."""
    fn, rule = pil_resample._get()
    if rule != 'pillow13':
        pytest.skip(f'the installed Pillow {Image.__version__} resizes horizontally first')
    img = _photos()[0][:400, :200]
    assert pil_resample.vertical_first_pillow13(400, 200, 150, 100)
    expected = _pillow(img, 150, 100, Image.Resampling.BICUBIC)
    wrong = pil_resample._call(fn, img, 150, 100, 3, vertical_first=False)
    right = pil_resample._call(fn, img, 150, 100, 3, vertical_first=True)
    np.testing.assert_array_equal(right, expected)
    assert not np.array_equal(wrong, expected)


@needs_extension
@pytest.mark.parametrize('case', ['float', 'pixel-strided', 'nearest', 'lanczos', 'channels-5'])
def test_declines_what_it_does_not_handle(case):
    img = _photos()[1][:64, :80]
    resample = Image.Resampling.BILINEAR
    if case == 'float':
        img = img.astype(np.float32)
    elif case == 'pixel-strided':
        img = img[:, ::2]
    elif case == 'nearest':
        resample = Image.Resampling.NEAREST
    elif case == 'lanczos':
        resample = Image.Resampling.LANCZOS
    else:
        img = np.zeros((8, 8, 5), np.uint8)
    assert pil_resample.resize(img, (32, 32), resample) is None


@needs_extension
def test_channel_reversed_view():
    """mmcv's pillow decoding gives RGB seen as BGR through [..., ::-1]: resized without a
    copy and without falling back to Pillow."""
    rgb = _photos()[0][:300, :280]
    bgr_view = rgb[..., ::-1]
    out = pil_resample.resize(bgr_view, (224, 224), Image.Resampling.BICUBIC)
    assert out is not None
    np.testing.assert_array_equal(out[..., ::-1], _pillow(rgb, 224, 224, Image.Resampling.BICUBIC))


@needs_extension
def test_same_size_is_a_copy():
    img = _photos()[2][10:60, 20:90]
    out = pil_resample.resize(img, img.shape[:2], Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(out, img)
    assert not np.shares_memory(out, img)


def test_turns_itself_off_and_says_why(monkeypatch):
    """RSB_MM_NO_NATIVE, a missing extension, or a library that gives other bytes than Pillow:
    resize returns None (the transform then uses Pillow), logged once."""
    messages = []
    monkeypatch.setattr(pil_resample, 'print_log', lambda msg, **kw: messages.append(msg))
    img = np.zeros((16, 16, 3), np.uint8)

    monkeypatch.setattr(pil_resample, '_state', {})
    monkeypatch.setenv('RSB_MM_NO_NATIVE', '1')
    assert not pil_resample.available()
    assert pil_resample.resize(img, (8, 8), Image.Resampling.BILINEAR) is None
    assert 'RSB_MM_NO_NATIVE is set' in messages[-1]
    assert not pil_resample.available() and len(messages) == 1  # said once
    monkeypatch.delenv('RSB_MM_NO_NATIVE')

    monkeypatch.setattr(pil_resample, '_state', {})
    # as if never built: the import fails (the package keeps no attribute to fall back on)
    monkeypatch.setitem(sys.modules, 'rsb_mm._native._pil_resample', None)
    monkeypatch.delattr(rsb_mm._native, '_pil_resample', raising=False)
    assert not pil_resample.available()
    assert 'the extension is not built' in messages[-1]
    monkeypatch.delitem(sys.modules, 'rsb_mm._native._pil_resample')

    if importlib.util.find_spec('rsb_mm._native._pil_resample'):
        # a library whose bytes are not Pillow's fails the self-check
        monkeypatch.setattr(pil_resample, '_state', {})
        real_call = pil_resample._call
        monkeypatch.setattr(pil_resample, '_call',
                            lambda *a, **k: real_call(*a, **k) // 2)
        assert not pil_resample.available()
        assert 'differs from the installed Pillow' in messages[-1]
        monkeypatch.setattr(pil_resample, '_call', real_call)

        # and with nothing wrong it is used, silently
        monkeypatch.setattr(pil_resample, '_state', {})
        count = len(messages)
        assert pil_resample.available()
        assert len(messages) == count


class _CropDataset:
    """Crops of a photo resized in the loader's worker processes."""

    def __init__(self, photo):
        self.photo = photo

    def __len__(self):
        return 6

    def __getitem__(self, i):
        crop = self.photo[10 * i:10 * i + 200, 5 * i:5 * i + 150]
        out = pil_resample.resize(crop, (64, 48), FILTERS[i % 2])
        return -1 if out is None else out


@needs_extension
@pytest.mark.parametrize('start_method', ['fork', 'spawn'])
def test_works_in_dataloader_workers(start_method):
    """Forked workers inherit the loaded library; spawned ones import the extension again."""
    import torch
    photo = _photos()[0]
    assert pil_resample.available()
    # one spawned worker: each one re-imports torch (~10 s here)
    loader = torch.utils.data.DataLoader(
        _CropDataset(photo), batch_size=None, num_workers=2 if start_method == 'fork' else 1,
        multiprocessing_context=start_method)
    got = list(loader)
    for i, out in enumerate(got):
        assert not isinstance(out, int), f'item {i}: the compiled resize was off in a worker'
        crop = photo[10 * i:10 * i + 200, 5 * i:5 * i + 150]
        np.testing.assert_array_equal(out.numpy(), _pillow(crop, 64, 48, FILTERS[i % 2]))
