"""The shapes data: deterministic, labelled by shape (not by colour), boxes that hold the shape."""
import numpy as np
import pytest

from rsb_mm.testing.shapes import (SHAPE_NAMES, class_signal_check, shape_polygon,
                                   shapes_classification, shapes_detection)


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, la = shapes_classification(2, 24, seed=3)
    b, lb = shapes_classification(2, 24, seed=3)
    c, _ = shapes_classification(2, 24, seed=4)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert a.shape == (2 * len(SHAPE_NAMES), 24, 24, 3) and a.dtype == np.uint8
    assert np.bincount(la).tolist() == [2] * len(SHAPE_NAMES)


def test_the_class_is_in_the_shape_not_in_the_mean_picture():
    images, labels = shapes_classification(30, 24, seed=0)
    acc = class_signal_check(images, labels)
    chance = 1 / len(SHAPE_NAMES)
    # raw-pixel class means do separate a little (shapes differ in area), far from solved
    assert chance <= acc < 0.6


def test_outline_differs_from_fill():
    filled, _ = shapes_classification(1, 32, names=('square', ), seed=0)
    outlined, _ = shapes_classification(1, 32, names=('square', ), outline=True, seed=0)
    assert not np.array_equal(filled, outlined)


def test_detection_boxes_are_inside_and_tight():
    samples = shapes_detection(4, 64, max_objects=3, seed=1)
    assert len(samples) == 4
    for img, objects in samples:
        assert img.shape == (64, 64, 3) and 1 <= len(objects) <= 3
        for obj in objects:
            x, y, w, h = obj.bbox
            assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64 and w > 4 and h > 4
            xs, ys = obj.polygon[0::2], obj.polygon[1::2]
            assert min(xs) == pytest.approx(x, abs=0.02)
            assert max(ys) == pytest.approx(y + h, abs=0.02)


def test_unknown_shape_is_named():
    with pytest.raises(ValueError, match="'blob'"):
        shape_polygon('blob', 0, 0, 1, 0)
    with pytest.raises(ValueError, match="'blob'"):
        shapes_classification(1, 8, names=('circle', 'blob'))
