"""Smoke test (d) of the foundation: ``tools/dist_train.sh CONFIG 2`` on a machine without a
GPU runs 2 processes (torchrun, gloo, DDP without device ids) for 2 iterations and saves a
checkpoint; then ``tools/test.py`` evaluates it."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import free_port

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = """
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py']
data_root = 'set-by-cfg-options'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
"""



@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')
def test_dist_train_two_processes_on_cpu(tmp_path):
    data_root = str(tmp_path / 'imagenet')
    # 2 classes x 2 images = 4 images; 2 ranks x batch 1 -> 2 iterations.
    write_imagenet_folder(data_root, num_classes=2, images_per_class=2, size=72)
    config = tmp_path / 'tiny_resnet50.py'
    config.write_text(CONFIG)
    work_dir = str(tmp_path / 'work')
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    data_opts = [f'{loader}.dataset.data_root={data_root}'
                 for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), str(config), '2',
         '--work-dir', work_dir, '--cfg-options', *data_opts],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'Epoch(train) [1][2/2]' in log, log[-4000:]
    assert 'Distributed training: True' in log and "dist_cfg: {'backend': 'gloo'}" in log
    # Each of the 2 ranks saw half of the 4 images: 2 iterations, not 4.
    assert 'Epoch(train) [1][3/' not in log and 'Epoch(train) [1][1/2]' in log
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), str(config), ckpt,
         '--work-dir', work_dir, '--out', str(tmp_path / 'metrics.json'),
         '--out-item', 'metrics', '--cfg-options', *data_opts],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    import json
    metrics = json.loads((tmp_path / 'metrics.json').read_text())
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
