"""Distributed launch that works with and without a GPU.

MMEngine 0.10.7 assumes a GPU once a launcher is set: ``init_dist`` calls
``torch.cuda.set_device`` (which fails on a machine without CUDA), and the Runner wraps the model
in DDP with ``device_ids=[LOCAL_RANK]`` (which DDP rejects for CPU parameters). On a machine
without a GPU, :func:`prepare_distributed` starts the process group itself with the gloo backend
(the Runner then sees an initialised group and skips ``init_dist``) and sets the DDP wrapper's
``device_ids`` to ``None``. On a GPU node it changes nothing, so ``tools/dist_train.sh CONFIG N``
is the same command on a laptop, in CI and on a cluster.
"""
import datetime
import os
import socket

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

# Environment torchrun sets for each process; without it 'pytorch' cannot start.
_TORCHRUN_ENV = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def _cpu_wrapper_cfg(cfg: Config) -> dict:
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        # The same arguments MMEngine's Runner uses for its default wrapper.
        return dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                    find_unused_parameters=cfg.get('find_unused_parameters', False),
                    device_ids=None)
    wrapper = dict(wrapper)
    wrapper_type = MODEL_WRAPPERS.get(wrapper.get('type', 'MMDistributedDataParallel'))
    if isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel):
        wrapper['device_ids'] = None
    return wrapper


def prepare_distributed(cfg: Config) -> None:
    """Make ``cfg.launcher`` work on this machine; a no-op without a launcher or with a GPU.

    Args:
        cfg (Config): The config, changed in place (``model_wrapper_cfg``, ``env_cfg``).

    Raises:
        RuntimeError: if ``launcher='pytorch'`` but the process was not started by torchrun
            (its environment variables are missing), or a launcher other than 'pytorch' is
            asked for without a GPU.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f"launcher '{launcher}' needs GPUs in MMEngine, and torch sees none here; on a "
            "machine without a GPU use tools/dist_train.sh (torchrun, launcher 'pytorch')")
    missing = [k for k in _TORCHRUN_ENV if k not in os.environ]
    if missing:
        raise RuntimeError(f"launcher 'pytorch' expects the environment torchrun sets, and "
                           f"{', '.join(missing)} are unset: start it with "
                           f'tools/dist_train.sh CONFIG NUM_PROCESSES')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    dist_cfg['backend'] = 'gloo'
    cfg.setdefault('env_cfg', {})['dist_cfg'] = dist_cfg
    if not torch_dist.is_initialized():
        timeout = dist_cfg.get('timeout', None)
        kwargs = {} if timeout is None else dict(timeout=datetime.timedelta(seconds=timeout))
        torch_dist.init_process_group(backend='gloo', init_method='env://', **kwargs)
    cfg.model_wrapper_cfg = _cpu_wrapper_cfg(cfg)


def free_port() -> int:
    """A TCP port free on this machine now, for a local ``MASTER_PORT``."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def shutdown_distributed() -> None:
    """Destroy the default process group at the end of a run; a no-op without one.

    Called by ``tools/train.py`` and ``tools/test.py`` after the run has finished normally
    (after an exception the other ranks may still wait in a collective, and tearing the group
    down then can hang). Without it, gloo's worker threads are destroyed during interpreter
    finalisation, which now and then aborts a rank with "terminate called without an active
    exception" (SIGABRT) after a successful run (pytorch/pytorch#190489); it happened once in
    rsb_mm's 2-process CPU test.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
