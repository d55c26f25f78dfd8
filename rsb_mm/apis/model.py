"""Build a classifier (or only its backbone) from an rsb_mm config, with a local checkpoint.

The counterpart of MMPretrain's ``get_model`` (``mmpretrain/apis/model.py``), with two changes
that are the point of rsb_mm's weights code:

- the checkpoint loads **strictly** (:func:`rsb_mm.weights.load_state_dict_strict`, after
  MMEngine's ``CheckpointLoader`` read it with ``weights_only=True``): MMPretrain
  calls MMEngine's ``load_checkpoint`` with ``strict=False``, so a checkpoint that misses keys
  gives a model with random parts and only a warning;
- the model is built in the config's own ``default_scope`` (MMPretrain forces ``'mmpretrain'``),
  so the same call builds a detection config's backbone in MMDetection's scope.

There is no timm twin: timm's ``create_model(pretrained=...)`` builds from a model name, not an
OpenMMLab config.
"""
import copy
import os
from typing import Any, Dict, Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, DefaultScope
from torch import nn

from ..weights.checkpoint import extract_state_dict, read_checkpoint
from ..weights.strict_load import load_state_dict_strict

BACKBONE_PREFIX = 'backbone.'


def load_config(config: Union[str, os.PathLike, Config]) -> Config:
    """A deep copy of ``config`` (a ``Config``) or the config read from a ``.py`` path.

    Raises:
        ValueError: if ``config`` is neither.
    """
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, (str, os.PathLike)) and str(config).endswith('.py'):
        return Config.fromfile(str(config))
    raise ValueError(f'config must be a path to a .py config file or a Config, got {config!r}')


def config_scope(cfg: Config) -> str:
    """The config's ``default_scope``; ``'mmpretrain'`` when it names none."""
    return cfg.get('default_scope', None) or 'mmpretrain'


def _dataset_meta(cfg: Config, checkpoint: Optional[Dict]) -> Dict:
    # Same sources and order as MMPretrain's get_model: the checkpoint's meta, then the test
    # dataset class's METAINFO.
    meta = (checkpoint or {}).get('meta', {}) or {}
    if 'dataset_meta' in meta:
        return dict(meta['dataset_meta'])
    if 'CLASSES' in meta:  # mmcls 0.x checkpoints
        return {'classes': meta['CLASSES']}
    dataset_type = cfg.get('test_dataloader', {}).get('dataset', {}).get('type', None)
    if isinstance(dataset_type, str):
        with DATASETS.switch_scope_and_registry(config_scope(cfg)) as registry:
            dataset_cls = registry.get(dataset_type)
        return dict(getattr(dataset_cls, 'METAINFO', {}) or {})
    return {}


def get_model(config: Union[str, os.PathLike, Config],
              checkpoint: Optional[str] = None,
              device: Union[str, torch.device] = 'cpu',
              backbone_only: bool = False,
              *,
              ignore_keys: Sequence[str] = (),
              **cfg_options: Any) -> nn.Module:
    """Build the config's model, or just its backbone, and load a checkpoint strictly.

    Args:
        config (str | os.PathLike | Config): Path of an rsb_mm config (``.py``) or a
            ``Config``.
        checkpoint (str, optional): Checkpoint file (or URL). The full model loads all of it;
            with ``backbone_only`` the keys under ``backbone.`` load (all keys when the file has
            none, e.g. an MMDetection-style backbone file). Defaults to None: no weights are
            loaded and ``init_cfg`` is not run, as in MMPretrain's ``get_model``.
        device (str | torch.device): Where to put the model. Defaults to 'cpu'.
        backbone_only (bool): Build ``model.backbone`` alone. Defaults to False.
        ignore_keys (Sequence[str]): Glob patterns of checkpoint keys the model may lack (see
            :class:`rsb_mm.weights.StrictPretrainedInit`). Defaults to ().
        **cfg_options: Overrides merged into the config's ``model``, as MMPretrain's
            ``get_model`` does: ``head=dict(num_classes=10)`` or, with dots,
            ``**{'backbone.drop_path_rate': 0.0}``.

    Returns:
        nn.Module: The model (or backbone) in eval mode, with ``_config`` (the merged config)
        and ``_dataset_meta`` (``classes`` from the checkpoint's meta or the test dataset class)
        set as MMPretrain's ``get_model`` sets them.

    Raises:
        rsb_mm.weights.WeightsMappingError: if the checkpoint does not fit the model exactly.
    """
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict({f'model.{key}': value for key, value in cfg_options.items()})
    if 'model' not in cfg:
        raise ValueError(f'config {config!r} has no `model`')
    # The Runner merges the top-level data_preprocessor into the model the same way.
    if cfg.get('data_preprocessor', None) is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    scope = config_scope(cfg)
    if backbone_only and 'backbone' not in cfg.model:
        raise ValueError(f'backbone_only=True but the model of {config!r} has no `backbone`')
    model_cfg = cfg.model.backbone if backbone_only else cfg.model
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)

    loaded = None
    if checkpoint is not None:
        # Map to CPU first: mapping straight to a GPU can leak memory
        # (open-mmlab/mmdetection#6405, which MMPretrain's get_model cites too).
        loaded = read_checkpoint(checkpoint, map_location='cpu')
        state_dict = extract_state_dict(loaded, source=str(checkpoint))
        prefix = None
        if backbone_only and any(k.startswith(BACKBONE_PREFIX) for k in state_dict):
            prefix = BACKBONE_PREFIX
        load_state_dict_strict(model, state_dict, prefix=prefix, ignore_keys=ignore_keys,
                               source=str(checkpoint))
    model._dataset_meta = _dataset_meta(cfg, loaded)
    model._config = cfg
    model.to(device)
    model.eval()
    return model
