import pytest
from mmengine.config import Config

from rsb_mm.utils import launcher


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(launcher.torch.cuda, 'is_available', lambda: False)


def test_no_launcher_is_untouched(no_gpu):
    cfg = Config(dict(launcher='none'))
    launcher.prepare_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg


def test_gpu_node_is_untouched(monkeypatch):
    monkeypatch.setattr(launcher.torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    launcher.prepare_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


def test_cpu_pytorch_launcher_uses_gloo_and_no_device_ids(no_gpu, monkeypatch):
    calls = []
    monkeypatch.setattr(launcher.torch_dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(launcher.torch_dist, 'init_process_group',
                        lambda **kw: calls.append(kw))
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='29500').items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(launcher='pytorch', find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    launcher.prepare_distributed(cfg)
    assert calls[0]['backend'] == 'gloo' and calls[0]['timeout'].total_seconds() == 60
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


def test_cpu_launcher_errors_are_actionable(no_gpu, monkeypatch):
    monkeypatch.delenv('MASTER_PORT', raising=False)
    with pytest.raises(RuntimeError, match='MASTER_PORT'):
        launcher.prepare_distributed(Config(dict(launcher='pytorch')))
    with pytest.raises(RuntimeError, match="launcher 'slurm' needs GPUs"):
        launcher.prepare_distributed(Config(dict(launcher='slurm')))


def test_shutdown_distributed_destroys_the_group_and_is_a_no_op_without_one(tmp_path):
    import torch.distributed as dist
    assert not dist.is_initialized()
    launcher.shutdown_distributed()  # nothing to destroy: no error
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    try:
        assert dist.is_initialized()
        launcher.shutdown_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_tools_shut_the_group_down_after_a_normal_run():
    """tools/train.py and tools/test.py call it after the run (pytorch/pytorch#190489)."""
    import os.path as osp
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    for tool, call in (('train.py', 'build_runner(cfg).train()'),
                       ('test.py', 'metrics = build_runner(cfg).test()')):
        with open(osp.join(repo, 'tools', tool)) as f:
            lines = [line.strip() for line in f]
        assert lines[lines.index(call) + 1] == 'shutdown_distributed()', tool
