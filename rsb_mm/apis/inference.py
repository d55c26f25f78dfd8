"""Classify one image with a model from :func:`rsb_mm.apis.get_model`: the top-k classes.

The counterpart of MMPretrain's ``inference_model`` (``mmpretrain/apis/model.py``), which runs
``ImageClassificationInferencer`` (``mmpretrain/apis/image_classification.py``). We do not reuse
that inferencer because it does not run the config's test pipeline as written: it drops the
config's ``LoadImageFromFile`` and decodes with ``mmcv.imread``'s defaults, which applies the
EXIF orientation and uses cv2, while RSB's eval pipeline loads with
``color_type='color_ignore_orientation'`` to see the pixels timm sees (timm's loader:
``PIL.Image.open(...).convert('RGB')``, ``timm/data/readers/reader_image_folder.py``). It also
returns the top-1 class only. Here a path goes through the whole test pipeline, loader included.

Scores are what the head's ``predict`` gives: MMPretrain's ``LinearClsHead`` (RSB's head)
applies a **softmax** over the classes (``ClsHead._get_predictions``), even though RSB trains
with per-class BCE (sigmoid); both are monotonic in the logits, so the ranking is the same, and
softmax scores sum to 1. timm's own inference script also ranks by softmax. A multi-label head
(``MultiLabelLinearClsHead``) would give independent sigmoid scores instead.
"""
import os
from typing import Dict, List, Union

import numpy as np
import torch
from mmengine.dataset import Compose, default_collate
from mmengine.registry import DefaultScope
from torch import nn

from .model import config_scope

ImageInput = Union[str, os.PathLike, np.ndarray]


def _pipeline_cfg(model: nn.Module, from_array: bool) -> list:
    cfg = getattr(model, '_config', None)
    if cfg is None:
        raise ValueError('model has no `_config`; build it with rsb_mm.apis.get_model')
    try:
        pipeline = list(cfg.test_dataloader.dataset.pipeline)
    except AttributeError as err:
        raise ValueError('the model\'s config has no test_dataloader.dataset.pipeline') from err
    if from_array:
        # The image is already decoded; the rest of the pipeline runs as written.
        pipeline = [
            t for t in pipeline
            if t.get('type') not in ('LoadImageFromFile', 'LoadImageFromFileChecked')
        ]
    return pipeline


def inference_model(model: nn.Module, image: ImageInput, topk: int = 5) -> List[Dict]:
    """Top-k classes of one image, through the config's test pipeline.

    Args:
        model (nn.Module): A classifier from :func:`rsb_mm.apis.get_model` (not
            ``backbone_only``).
        image (str | os.PathLike | np.ndarray): Image file, or an HxWx3 uint8 array in **BGR**
            order (OpenCV's and MMPretrain's convention for arrays).
        topk (int): How many classes to return. Defaults to 5.

    Returns:
        list[dict]: ``topk`` dicts, best first, with ``pred_label`` (int class index),
        ``pred_score`` (float, the head's softmax score) and, when the model's
        ``_dataset_meta`` has ``classes``, ``pred_class`` (str).

    Raises:
        ValueError: on a bad ``topk`` or image array, or a model without a config.
        TypeError: on a model that is not a classifier (e.g. a backbone).
    """
    if not hasattr(model, 'test_step') or not hasattr(model, 'head'):
        raise TypeError(f'inference_model needs a classifier, got {type(model).__name__}; '
                        'build it with get_model(..., backbone_only=False)')
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f'topk must be a positive int, got {topk!r}')
    from_array = isinstance(image, np.ndarray)
    if from_array:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError('image must be an HxWx3 uint8 BGR array, got shape '
                             f'{image.shape} and dtype {image.dtype}')
        data = dict(img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2])
    elif isinstance(image, (str, os.PathLike)):
        data = dict(img_path=os.fspath(image))
    else:
        raise ValueError(f'image must be a path or an HxWx3 uint8 array, got {type(image)}')

    with DefaultScope.overwrite_default_scope(config_scope(model._config)):
        pipeline = Compose(_pipeline_cfg(model, from_array))
        batch = default_collate([pipeline(data)])
    with torch.no_grad():
        sample = model.test_step(batch)[0]
    scores = sample.pred_score
    if topk > scores.numel():
        raise ValueError(f'topk must be at most the number of classes ({scores.numel()}), '
                         f'got {topk}')
    values, labels = scores.topk(topk)
    classes = (getattr(model, '_dataset_meta', None) or {}).get('classes', None)
    results = []
    for value, label in zip(values.tolist(), labels.tolist()):
        result = dict(pred_label=int(label), pred_score=float(value))
        if classes is not None:
            result['pred_class'] = classes[label]
        results.append(result)
    return results
