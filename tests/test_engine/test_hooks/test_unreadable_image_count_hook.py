"""UnreadableImageCountHook: with LoadImageFromFileChecked(on_error='skip'), a training run over
a folder holding a truncated JPEG and an empty file completes and reports, at the end of each
epoch, the images skipped in it (counted in the DataLoader's worker process) and in the run."""
import os
import os.path as osp
import re

from mmengine.config import Config
from mmengine.registry import DefaultScope

import rsb_mm  # noqa: F401
from rsb_mm.engine.hooks import UnreadableImageCountHook, skipping_loaders
from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import build_runner


def _broken_folder(root):
    write_imagenet_folder(root, num_classes=2, images_per_class=3, size=40, splits=('train', ))
    files = sorted(osp.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names if name.endswith('.JPEG'))
    data = open(files[1], 'rb').read()
    with open(files[1], 'wb') as f:
        f.write(data[:len(data) // 2])
    open(files[4], 'wb').close()


def _cfg(root, work_dir, on_error):
    pipeline = [dict(type='LoadImageFromFileChecked', on_error=on_error),
                dict(type='Resize', scale=32), dict(type='PackInputs')]
    return Config(dict(
        default_scope='mmpretrain',
        work_dir=work_dir,
        model=dict(type='ImageClassifier',
                   backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=2, in_channels=64)),
        train_dataloader=dict(
            batch_size=2, num_workers=1, persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(type='ImageNet', data_root=root, split='train', pipeline=pipeline)),
        train_cfg=dict(type='ResumableEpochBasedTrainLoop', max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='UnreadableImageCountHook')],
        randomness=dict(seed=0)))


def test_skipped_images_are_reported_every_epoch(tmp_path):
    root = str(tmp_path / 'imagenet')
    _broken_folder(root)
    runner = build_runner(_cfg(root, str(tmp_path / 'work'), 'skip'))
    runner.train()
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    reports = re.findall(r'Epoch (\d): (\d+) unreadable training image\(s\) skipped and '
                         r'replaced by random others \((\d+) in the run\)', log)
    assert [r[0] for r in reports] == ['1', '2']
    first, second = int(reports[0][1]), int(reports[1][1])
    assert first >= 2 and second >= 2  # both broken files are met in every epoch
    assert int(reports[1][2]) == first + second
    (loader, ) = skipping_loaders(runner.train_dataloader.dataset)
    assert loader.num_skipped == first + second  # counted in the worker, read here
    hook = next(h for h in runner.hooks if isinstance(h, UnreadableImageCountHook))
    assert hook.total == first + second
    assert runner.message_hub.get_info('unreadable_images_skipped') == first + second


def test_silent_without_a_skipping_loader(tmp_path):
    from mmpretrain.datasets import ImageNet
    root = str(tmp_path / 'imagenet')
    write_imagenet_folder(root, num_classes=2, images_per_class=1, size=16, splits=('train', ))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = ImageNet(root, split='train', pipeline=[
            dict(type='LoadImageFromFileChecked', on_error='raise')])
    assert skipping_loaders(dataset) == []
