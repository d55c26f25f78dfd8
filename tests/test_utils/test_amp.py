import pytest
from mmengine.config import Config

from rsb_mm.utils import amp


def _cfg(wrapper_type='AmpOptimWrapper'):
    return Config(dict(optim_wrapper=dict(type=wrapper_type, loss_scale='dynamic',
                                          optimizer=dict(type='SGD', lr=0.1))))


def test_amp_falls_back_to_fp32_without_gpu(monkeypatch):
    monkeypatch.setattr(amp, 'accelerator_available', lambda: False)
    cfg = _cfg()
    assert amp.resolve_amp(cfg) is False
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper


def test_amp_kept_with_gpu(monkeypatch):
    monkeypatch.setattr(amp, 'accelerator_available', lambda: True)
    cfg = _cfg()
    assert amp.resolve_amp(cfg) is True
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_amp_flag(monkeypatch):
    monkeypatch.setattr(amp, 'accelerator_available', lambda: True)
    cfg = _cfg('OptimWrapper')
    amp.enable_amp(cfg, required=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    monkeypatch.setattr(amp, 'accelerator_available', lambda: False)
    with pytest.raises(RuntimeError, match='--amp needs a CUDA GPU'):
        amp.enable_amp(_cfg('OptimWrapper'), required=True)
