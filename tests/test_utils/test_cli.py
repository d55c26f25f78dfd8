import pytest
from mmengine.config import Config

from rsb_mm.utils import cli


def _cfg():
    return Config(dict(
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
        auto_scale_lr=dict(base_batch_size=2048),
        train_dataloader=dict(batch_size=4, num_workers=2, persistent_workers=True),
        val_dataloader=dict(batch_size=4, num_workers=0, persistent_workers=True),
        val_cfg=dict(), val_evaluator=dict(type='Accuracy'),
        default_hooks=dict(visualization=dict(type='VisualizationHook', enable=False))))


def test_train_args_merge_like_mmpretrain(tmp_path):
    args = cli.parse_args(cli.train_parser(), [
        'configs/some_cfg.py', '--resume', '--auto-scale-lr', '--no-pin-memory',
        '--cfg-options', 'train_dataloader.batch_size=8', 'optim_wrapper.optimizer.lr=0.5'])
    cfg = cli.merge_train_args(_cfg(), args)
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.auto_scale_lr.enable is True
    assert cfg.work_dir == './work_dirs/some_cfg'
    assert cfg.train_dataloader.batch_size == 8 and cfg.optim_wrapper.optimizer.lr == 0.5
    assert cfg.train_dataloader.pin_memory is False
    # persistent workers are meaningless (and rejected by MMEngine) without workers
    assert cfg.train_dataloader.persistent_workers is True
    assert cfg.val_dataloader.persistent_workers is False


def test_resume_from_file_and_no_validate():
    args = cli.parse_args(cli.train_parser(),
                          ['c.py', '--resume', 'w/epoch_3.pth', '--no-validate',
                           '--work-dir', 'w', '--launcher', 'pytorch'])
    cfg = cli.merge_train_args(_cfg(), args)
    assert cfg.resume is True and cfg.load_from == 'w/epoch_3.pth'
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.work_dir == 'w' and cfg.launcher == 'pytorch'


def test_auto_scale_lr_needs_base_batch_size():
    args = cli.parse_args(cli.train_parser(), ['c.py', '--auto-scale-lr'])
    cfg = _cfg()
    cfg.pop('auto_scale_lr')
    with pytest.raises(KeyError, match='auto_scale_lr.base_batch_size'):
        cli.merge_train_args(cfg, args)


def test_test_args():
    args = cli.parse_args(cli.test_parser(), ['c.py', 'ckpt.pth', '--out', 'preds.pkl'])
    cfg = _cfg()
    cfg.test_evaluator = dict(type='Accuracy', topk=(1, 5))
    cfg = cli.merge_test_args(cfg, args)
    assert cfg.load_from == 'ckpt.pth'
    assert [e['type'] for e in cfg.test_evaluator] == ['Accuracy', 'DumpResults']
    assert cfg.test_evaluator[1]['out_file_path'] == 'preds.pkl'
