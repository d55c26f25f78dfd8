import os.path as osp
import runpy
import shutil
import sys
from unittest import mock

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEEDS = (0, 1)


def write_eval_sets(root: str) -> None:
    """ImageNet val (ILSVRC2012 names + meta/val.txt), real.json and an ImageNetV2 folder with
    the same 4 photos, labelled differently so the three sets need not agree."""
    import json
    import os

    from PIL import Image

    from rsb_mm.testing import sample_photos

    val = osp.join(root, 'imagenet', 'val')
    os.makedirs(val)
    photos = sample_photos(4)
    lines, real = [], []
    v2_labels = (1, 0, 1, 0)
    for i, photo in enumerate(photos):
        name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
        Image.fromarray(photo).resize((48, 48)).save(osp.join(val, name), format='JPEG')
        lines.append(f'{name} {i // 2}\n')
        real.append([[0], [0, 1], [], [1]][i])
        v2 = osp.join(root, 'imagenetv2', 'imagenetv2-matched-frequency-format-val',
                      str(v2_labels[i]))
        os.makedirs(v2, exist_ok=True)
        shutil.copy(osp.join(val, name), osp.join(v2, f'{i:04x}.jpeg'))
    with open(osp.join(root, 'imagenet', 'meta', 'val.txt'), 'w') as f:
        f.writelines(lines)
    with open(osp.join(root, 'imagenet', 'real.json'), 'w') as f:
        json.dump(real, f)


def tiny_run_options(root: str) -> list:
    """--cfg-options that point an RSB config at the tiny sets of ``root``, 2 epochs of 2
    iterations at 32 px, validation (val, ReaL, V2, at 32 px) after each epoch."""
    imagenet, v2 = osp.join(root, 'imagenet'), osp.join(root, 'imagenetv2')
    options = []
    # serialize_data=False: MMEngine's serialisation runs gc.collect() per data set, about a
    # second each on a loaded machine, for nothing with 4 images.
    loaders = [(key, imagenet) for key in ('train_dataloader', 'val_dataloader',
                                           'test_dataloader')]
    loaders += [('val_cfg.extra_sets.0.dataloader', imagenet),
                ('val_cfg.extra_sets.1.dataloader', v2)]
    for loader, data_root in loaders:
        options += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                    f'{loader}.batch_size=2', f'{loader}.pin_memory=False',
                    f'{loader}.dataset.serialize_data=False']
        if loader != 'train_dataloader':  # evaluate at 32 px: short side 36, centre crop 32
            options += [f'{loader}.dataset.pipeline.1.scale=36',
                        f'{loader}.dataset.pipeline.2.crop_size=32']
    options += ['train_dataloader.dataset.pipeline.1.scale=32',
                'train_dataloader.dataset.pipeline.3.img_size=32',
                'train_cfg.max_epochs=2', 'param_scheduler.t_initial=2',
                'param_scheduler.warmup_t=1', 'default_hooks.logger.interval=1',
                'default_hooks.checkpoint.interval=2']
    return options


def run_in_process(argv):
    """Run ``[python, tools/train.py, ...]`` in this process (as ``python tools/train.py``
    would, without a second interpreter start)."""
    from mmengine.config import Config

    assert argv[0] == sys.executable and argv[1].endswith('train.py'), argv
    # The Runner logs and dumps its config through yapf, seconds per call on a shared CPU for
    # these nested configs; the text is not what these tests read.
    with mock.patch.object(sys, 'argv', argv[1:]), mock.patch.object(
            Config, 'pretty_text', property(lambda self: repr(self._cfg_dict))):
        runpy.run_path(argv[1], run_name='__main__')


@pytest.fixture(scope='session')
def seed_work_dirs(tmp_path_factory):
    """Two real trainings of configs/archs/rsb_a3_resnet18.py (seeds 0 and 1) on tiny data,
    started by rsb_mm.analysis.run_seeds through tools/train.py: work dirs as MMEngine writes
    them (scalars.json, text log, TensorBoard events), with val / ReaL / V2 after each of 2
    epochs."""
    from rsb_mm.analysis import run_seeds
    from rsb_mm.testing import write_imagenet_folder

    root = str(tmp_path_factory.mktemp('seed_study'))
    write_imagenet_folder(osp.join(root, 'imagenet'), num_classes=2, images_per_class=2,
                          size=48, splits=('train', ))
    write_eval_sets(root)
    config = osp.join(REPO, 'configs', 'archs', 'rsb_a3_resnet18.py')
    return run_seeds(config, SEEDS, osp.join(root, 'runs'), cfg_options=tiny_run_options(root),
                     run=run_in_process)


def _log_line(second: int, message: str) -> str:
    return f'2026/01/01 00:00:{second:02d} - mmengine - INFO - {message}\n'


def write_work_dir(work_dir: str,
                   val: list,
                   seed: int = 0,
                   timestamp: str = '20260101_000000',
                   iters_per_epoch: int = 2,
                   first_epoch: int = 1,
                   scalars: bool = True) -> str:
    """A work dir written the way MMEngine 0.10.7 writes one (the layout and record keys of
    the real runs of ``seed_work_dirs``): ``<timestamp>/<timestamp>.log`` with the runtime
    block and ``Epoch(train)`` / ``Epoch(val)`` lines, and, unless ``scalars`` is False
    (LocalVisBackend off), ``<timestamp>/vis_data/scalars.json`` (+ its ``<timestamp>.json``
    twin). ``val[k]`` holds the metrics of epoch ``first_epoch + k``; training records carry
    loss ``1 / step`` and lr ``step / 1000``."""
    import json
    import os

    run_dir = osp.join(work_dir, timestamp)
    os.makedirs(osp.join(run_dir, 'vis_data'))
    records = []
    lines = [_log_line(0, ''), 'Runtime environment:\n', '    cudnn_benchmark: True\n',
             f'    seed: {seed}\n', '    deterministic: False\n']
    for k, metrics in enumerate(val):
        epoch = first_epoch + k
        for i in range(1, iters_per_epoch + 1):
            step = (epoch - 1) * iters_per_epoch + i
            record = dict(base_lr=step / 1000, lr=step / 1000, data_time=0.01, loss=1 / step,
                          time=0.5, epoch=epoch, iter=step, step=step)
            records.append(record)
            lines.append(_log_line(step % 60, (
                f'Epoch(train)  [{epoch}][{i}/{iters_per_epoch}]  base_lr: {step / 1000:.4e} '
                f'lr: {step / 1000:.4e}  eta: 0:00:01  time: 0.5000  data_time: 0.0100  '
                f'loss: {1 / step:.4f}')))
        lines.append(_log_line(0, f'Epoch(val) [{epoch}][1/1]    eta: 0:00:00  time: 0.1000  '
                               'data_time: 0.0030  '))
        records.append(dict(metrics, data_time=0.003, time=0.1, step=epoch))
        shown = '  '.join(f'{key}: {value:.4f}' for key, value in metrics.items())
        lines.append(_log_line(0, f'Epoch(val) [{epoch}][1/1]    {shown}  data_time: 0.0030  '
                               'time: 0.1000'))
    with open(osp.join(run_dir, f'{timestamp}.log'), 'w') as f:
        f.writelines(lines)
    if scalars:
        text = ''.join(json.dumps(r) + '\n' for r in records)
        for name in ('scalars.json', f'{timestamp}.json'):
            with open(osp.join(run_dir, 'vis_data', name), 'w') as f:
                f.write(text)
    return work_dir


@pytest.fixture
def work_dir_writer():
    """:func:`write_work_dir`, for tests that need work dirs with known numbers."""
    return write_work_dir
