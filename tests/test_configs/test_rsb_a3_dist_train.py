"""Issue 3's end-to-end check: ``tools/dist_train.sh configs/rsb_a3_resnet50.py 2`` on CPU with a
tiny ImageNet-format folder given through ``--cfg-options``: logs the loss, saves a checkpoint,
and ``--resume`` continues from it."""
import os
import os.path as osp
import re
import subprocess

import pytest
import torch

from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import free_port

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))



def _run(args, cwd):
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    return log


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo, fp32) path')
def test_rsb_a3_dist_train_logs_saves_and_resumes(tmp_path):
    data_root = str(tmp_path / 'imagenet')
    # 2 classes x 4 images = 8; 2 ranks x batch 2 -> 2 iterations an epoch
    write_imagenet_folder(data_root, num_classes=2, images_per_class=4, size=64)
    work_dir = str(tmp_path / 'work')
    options = ['--cfg-options', 'train_dataloader.batch_size=2', 'val_dataloader.batch_size=4']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    options += ['default_hooks.logger.interval=1', 'param_scheduler.t_initial=2',
                'param_scheduler.warmup_t=1']
    config = osp.join(REPO, 'configs', 'rsb_a3_resnet50.py')

    log = _run([config, '2', '--work-dir', work_dir, *options, 'train_cfg.max_epochs=1'],
               str(tmp_path))
    assert 'Distributed training: True' in log
    assert 'training in fp32 with OptimWrapper instead' in log  # AMP asks for a GPU
    losses = re.findall(r'Epoch\(train\) \[1\]\[2/2\].*?loss: ([0-9.]+)', log)
    assert losses and float(losses[0]) > 0
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'accuracy/top1' in log

    log = _run([config, '2', '--work-dir', work_dir, '--resume', *options,
                'train_cfg.max_epochs=2'], str(tmp_path))
    assert 'resumed epoch: 1, iter: 2' in log.lower() or 'Load checkpoint from' in log, \
        log[-3000:]
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2][2/2]' in log
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
