"""Learnable synthetic images: polygons (the class) pasted on photo crops (the clutter).

The demo and the "pretrained beats random init" checks need data with a real, learnable signal
that a tiny pretraining run can pick up and that transfers: a network that learned to tell a star
from a triangle on ImageNet-format data should fine-tune faster on outlined shapes in CIFAR
format and find filled shapes in COCO format. Each image is a crop of one of scikit-image's
photos (real image statistics, so the class is not the background) with one polygon, or several
for detection, in a random colour, position, size and rotation.

Everything is drawn with PIL from a seeded ``numpy.random.Generator``: the same seed gives the
same pixels.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .tiny_datasets import sample_photos

# name -> (vertices, inner/outer radius ratio for stars, 1.0 for convex polygons)
SHAPES: Dict[str, Tuple[int, float]] = {
    'circle': (24, 1.0),
    'triangle': (3, 1.0),
    'square': (4, 1.0),
    'pentagon': (5, 1.0),
    'hexagon': (6, 1.0),
    'star': (5, 0.45),
    'cross': (4, 0.35),
    'spike': (3, 0.3),
}
SHAPE_NAMES: Tuple[str, ...] = tuple(SHAPES)


class ShapeObject(NamedTuple):
    """One pasted polygon: its class index, COCO ``[x, y, w, h]`` box and polygon."""
    label: int
    bbox: Tuple[float, float, float, float]
    polygon: List[float]


def shape_polygon(name: str, cx: float, cy: float, radius: float,
                  angle: float) -> List[Tuple[float, float]]:
    """Vertices of a named shape centred at ``(cx, cy)``.

    Args:
        name (str): One of :data:`SHAPE_NAMES`.
        cx (float): Centre x in pixels.
        cy (float): Centre y in pixels.
        radius (float): Outer radius in pixels.
        angle (float): Rotation in radians.

    Returns:
        list[tuple[float, float]]: Polygon vertices (stars alternate outer/inner radius).
    """
    if name not in SHAPES:
        raise ValueError(f'unknown shape {name!r}; known: {", ".join(SHAPE_NAMES)}')
    points, inner = SHAPES[name]
    if inner == 1.0:
        radii = [radius] * points
    else:
        radii = [radius, radius * inner] * points
    step = 2 * math.pi / len(radii)
    return [(cx + r * math.cos(angle + i * step), cy + r * math.sin(angle + i * step))
            for i, r in enumerate(radii)]


def _background(photos: Sequence[np.ndarray], size: int,
                rng: np.random.Generator) -> np.ndarray:
    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.3, 1.0))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    from PIL import Image
    crop = Image.fromarray(photo[y0:y0 + side, x0:x0 + side])
    crop = crop.resize((size, size), Image.BILINEAR)
    # Dimmed so that a shape in any colour stands out from the clutter.
    return (np.asarray(crop, dtype=np.float32) * 0.6).astype(np.uint8)


def _draw(img, names: Sequence[str], labels: Sequence[int], size: int,
          rng: np.random.Generator, outline: bool, scale: Tuple[float, float]
          ) -> List[ShapeObject]:
    from PIL import ImageDraw
    draw = ImageDraw.Draw(img)
    objects = []
    for label in labels:
        radius = size * rng.uniform(*scale) / 2
        cx = rng.uniform(radius, size - radius)
        cy = rng.uniform(radius, size - radius)
        poly = shape_polygon(names[label], cx, cy, radius, rng.uniform(0, 2 * math.pi))
        colour = tuple(int(c) for c in rng.integers(110, 256, size=3))
        if outline:
            draw.polygon(poly, outline=colour, width=max(1, size // 16))
        else:
            draw.polygon(poly, fill=colour)
        xs = [min(max(x, 0.0), size) for x, _ in poly]
        ys = [min(max(y, 0.0), size) for _, y in poly]
        bbox = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        flat = [round(v, 2) for xy in zip(xs, ys) for v in xy]
        objects.append(ShapeObject(int(label), tuple(round(v, 2) for v in bbox), flat))
    return objects


def shapes_classification(num_per_class: int,
                          size: int,
                          names: Sequence[str] = SHAPE_NAMES,
                          outline: bool = False,
                          seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Images of one shape each; the label is the shape.

    Args:
        num_per_class (int): Images per class.
        size (int): Square image side in pixels.
        names (Sequence[str]): The classes, in label order. Defaults to all :data:`SHAPE_NAMES`.
        outline (bool): Draw outlines instead of filled shapes (a shifted domain for
            fine-tuning). Defaults to False.
        seed (int): Seed. Defaults to 0.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(N, size, size, 3)`` uint8 images and ``(N, )`` int64
        labels, classes interleaved.
    """
    from PIL import Image
    for name in names:
        shape_polygon(name, 0, 0, 1, 0)  # validates the name
    rng = np.random.default_rng(seed)
    photos = sample_photos(8)
    labels = np.tile(np.arange(len(names)), num_per_class)
    images = np.empty((len(labels), size, size, 3), np.uint8)
    for i, label in enumerate(labels):
        img = Image.fromarray(_background(photos, size, rng))
        _draw(img, names, [label], size, rng, outline, scale=(0.45, 0.9))
        images[i] = np.asarray(img)
    return images, labels.astype(np.int64)


def shapes_detection(num_images: int,
                     size: int,
                     names: Sequence[str] = ('triangle', 'square', 'star'),
                     max_objects: int = 3,
                     seed: int = 0) -> List[Tuple[np.ndarray, List[ShapeObject]]]:
    """Images with 1..``max_objects`` filled shapes each, with boxes and polygons.

    Args:
        num_images (int): Number of images.
        size (int): Square image side in pixels.
        names (Sequence[str]): The object classes. Defaults to ('triangle', 'square', 'star').
        max_objects (int): Most objects in one image. Defaults to 3.
        seed (int): Seed. Defaults to 0.

    Returns:
        list[tuple[np.ndarray, list[ShapeObject]]]: Each image with its objects.
    """
    from PIL import Image
    rng = np.random.default_rng(seed)
    photos = sample_photos(8)
    samples = []
    for _ in range(num_images):
        img = Image.fromarray(_background(photos, size, rng))
        labels = rng.integers(0, len(names), size=int(rng.integers(1, max_objects + 1)))
        objects = _draw(img, names, labels, size, rng, outline=False, scale=(0.2, 0.45))
        samples.append((np.asarray(img).copy(), objects))
    return samples


def class_signal_check(images: np.ndarray, labels: np.ndarray,
                       num_classes: Optional[int] = None) -> float:
    """Accuracy of a nearest-class-mean classifier on raw pixels (leave nothing out).

    A sanity number for the demo's data: close to chance means the class is not in the mean
    colour or position (it must be learned from shape), which is what makes pretraining matter.

    Args:
        images (np.ndarray): ``(N, H, W, 3)`` images.
        labels (np.ndarray): ``(N, )`` labels.
        num_classes (int, optional): Defaults to ``labels.max() + 1``.

    Returns:
        float: Accuracy in [0, 1].
    """
    num_classes = num_classes or int(labels.max()) + 1
    x = images.reshape(len(images), -1).astype(np.float64)
    means = np.stack([x[labels == k].mean(0) for k in range(num_classes)])
    dist = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    return float((dist.argmin(1) == labels).mean())
