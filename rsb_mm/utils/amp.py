"""Mixed precision where it exists: on a GPU, never on a CPU.

The recipe trains in mixed precision. MMEngine's ``AmpOptimWrapper`` asserts at construction
that an accelerator is present, so a config that asks for AMP cannot even start a CPU smoke
run. :func:`resolve_amp` keeps the config's choice on a GPU and falls back to fp32 on CPU,
saying so in the log; ``--amp`` on a machine without a GPU is an error, since the user asked
for it explicitly.
"""
import torch
from mmengine.config import Config
from mmengine.logging import print_log

AMP_WRAPPER = 'AmpOptimWrapper'
FP32_WRAPPER = 'OptimWrapper'
# Keys only AmpOptimWrapper accepts; they must go when falling back to OptimWrapper.
_AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def accelerator_available() -> bool:
    """Whether torch sees a CUDA device (AMP's only supported accelerator in rsb_mm)."""
    return torch.cuda.is_available()


def _wrappers(cfg: Config) -> list:
    wrapper = cfg.get('optim_wrapper', None)
    if wrapper is None:
        return []
    # Multi-optimizer configs hold a dict of wrappers (with a constructor) instead of one.
    if 'type' not in wrapper and 'optimizer' not in wrapper:
        return [w for w in wrapper.values() if isinstance(w, dict)]
    return [wrapper]


def enable_amp(cfg: Config, required: bool = False) -> None:
    """Switch the config's optimizer wrapper(s) to ``AmpOptimWrapper`` (``--amp``).

    Args:
        cfg (Config): The config, changed in place.
        required (bool): Raise if no GPU is present instead of leaving fp32. Defaults to False.

    Raises:
        RuntimeError: if ``required`` and no GPU is available.
        KeyError: if the config has no ``optim_wrapper``.
    """
    if required and not accelerator_available():
        raise RuntimeError('--amp needs a CUDA GPU, and torch sees none on this machine; drop '
                           '--amp to train in fp32 on CPU')
    wrappers = _wrappers(cfg)
    if not wrappers:
        raise KeyError('--amp needs an `optim_wrapper` in the config, and it has none')
    for wrapper in wrappers:
        if wrapper.get('type', FP32_WRAPPER) == FP32_WRAPPER:
            wrapper['type'] = AMP_WRAPPER
            wrapper.setdefault('loss_scale', 'dynamic')


def resolve_amp(cfg: Config) -> bool:
    """Fall back from ``AmpOptimWrapper`` to fp32 ``OptimWrapper`` when there is no GPU.

    Args:
        cfg (Config): The config, changed in place.

    Returns:
        bool: Whether the run will use AMP.
    """
    wrappers = [w for w in _wrappers(cfg) if w.get('type') == AMP_WRAPPER]
    if not wrappers:
        return False
    if accelerator_available():
        return True
    for wrapper in wrappers:
        wrapper['type'] = FP32_WRAPPER
        for key in _AMP_ONLY_KEYS:
            wrapper.pop(key, None)
    print_log('No GPU found: the config asks for mixed precision (AmpOptimWrapper), which '
              'needs one; training in fp32 with OptimWrapper instead.', logger='current')
    return False
