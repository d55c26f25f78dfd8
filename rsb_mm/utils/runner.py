"""Build the Runner of any rsb_mm config, classification or detection."""
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .amp import resolve_amp
from .launcher import prepare_distributed
from .preflight import check_config


def build_runner(cfg: Config) -> Runner:
    """Build the config's Runner after fitting the config to this machine.

    The config's ``default_scope`` (``mmpretrain`` or ``mmdet``) picks the registries, so the
    same entry point drives pretraining, fine-tuning and detection configs. Before building,
    the config is checked (:func:`check_config`: data paths, out-of-range values), AMP falls
    back to fp32 without a GPU (:func:`resolve_amp`) and a distributed launcher gets the gloo
    backend without a GPU (:func:`prepare_distributed`).

    Args:
        cfg (Config): A merged config (see :mod:`rsb_mm.utils.cli`).

    Returns:
        Runner: ``Runner.from_cfg(cfg)``, or the ``runner_type`` the config names.
    """
    check_config(cfg)
    resolve_amp(cfg)
    prepare_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
