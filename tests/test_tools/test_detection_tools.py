"""The same tools drive detection configs: ``tools/dist_train.sh`` (so ``tools/train.py``) trains
a shipped ``configs/detection/`` config from a checkpoint of rsb_mm's pretraining, given with one
``--cfg-options`` setting, and ``tools/test.py`` evaluates what it saved with COCO metrics.

Two CPU processes (torchrun, gloo, DDP), one tiny image each: one iteration, then validation;
the tiny data, image size and score threshold come in through ``--cfg-options`` only, the way a
user overrides a config.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from rsb_mm.testing import write_coco_detection
from rsb_mm.utils import free_port
from rsb_mm.weights.checkpoint import extract_state_dict, read_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'detection', 'faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py')



def _tiny_options(data_root: str) -> list:
    val_ann = osp.join(data_root, 'annotations', 'instances_val2017.json')
    opts = [f'val_evaluator.ann_file={val_ann}', f'test_evaluator.ann_file={val_ann}',
            'model.test_cfg.rcnn.score_thr=0',  # an untrained detector scores below 0.05
            'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']
    # The stock pipelines: Resize is transform 2 in training, 1 in testing.
    for loader, resize in (('train_dataloader', 2), ('val_dataloader', 1),
                           ('test_dataloader', 1)):
        opts += [f'{loader}.dataset.data_root={data_root}', f'{loader}.batch_size=1',
                 f'{loader}.num_workers=0', f'{loader}.dataset.pipeline.{resize}.scale=(128,128)']
    return opts


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')
def test_dist_train_and_test_a_detection_config(tmp_path, rsb_checkpoint):
    data_root = str(tmp_path / 'coco') + '/'
    write_coco_detection(data_root, num_images=2, size=128)
    work_dir = str(tmp_path / 'work')
    opts = _tiny_options(data_root)
    # rsb_mm importable from this checkout also where the installed one is elsewhere
    # (dist_train.sh does the same for its processes).
    path = os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1', PYTHONPATH=path)
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), CONFIG, '2', '--work-dir', work_dir,
         '--cfg-options', f'model.backbone.init_cfg.checkpoint={rsb_checkpoint}', *opts],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log and "dist_cfg: {'backend': 'gloo'}" in log
    assert f'StrictPretrained: load backbone. of {rsb_checkpoint}' in log, log[-4000:]
    assert 'Epoch(train)  [1][1/1]' in log or 'Epoch(train) [1][1/1]' in log, log[-4000:]
    assert 'coco/bbox_mAP' in log  # validation after the epoch, with CocoMetric

    # The run started from the pretraining checkpoint: the frozen stem is still its stem.
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    saved = extract_state_dict(read_checkpoint(ckpt))
    pretrained = extract_state_dict(read_checkpoint(rsb_checkpoint))
    for key in ('backbone.conv1.weight', 'backbone.layer1.0.conv1.weight'):
        assert torch.equal(saved[key], pretrained[key]), key
    assert not torch.equal(saved['backbone.layer4.0.conv1.weight'],
                           pretrained['backbone.layer4.0.conv1.weight'])

    out = tmp_path / 'metrics.json'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt, '--work-dir',
         work_dir, '--out', str(out), '--out-item', 'metrics', '--cfg-options', *opts],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    metrics = json.loads(out.read_text())
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
