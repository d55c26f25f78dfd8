"""The demo end to end in CI size (QUICK): every stage runs through the shipped entry points
(dist_train.sh with 2 gloo processes, train.py) on the written data, and the summary holds the
metrics those runs logged."""
import os.path as osp

import pytest
import torch
from PIL import Image

from rsb_mm.analysis.curves import load_curves
from rsb_mm.demo import QUICK, format_summary, run_demo


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo, fp32) path')
def test_quick_demo_runs_every_stage_and_reports_what_they_logged(tmp_path):
    lines = []
    summary = run_demo(str(tmp_path / 'demo'), QUICK, gpus=2, say=lines.append,
                       progress_every=0.0)
    names = [s.name for s in summary.stages]
    assert names == ['pretrain', 'finetune', 'finetune_random_init', 'detection']
    for stage in summary.stages:
        assert osp.isfile(stage.log_file) and isinstance(stage.seconds, float)
        assert stage.checkpoint and osp.isfile(stage.checkpoint), stage
    pretrain_log = open(summary.stages[0].log_file).read()
    assert 'Distributed training: True' in pretrain_log
    # the summary's numbers are the last values the runs logged
    assert summary.pretrain_top1 == load_curves(
        summary.stages[0].work_dir).metrics['accuracy/top1'].y[-1]
    assert 0 <= summary.finetune_top1 <= 100 and 0 <= summary.finetune_random_init_top1 <= 100
    assert 0 <= summary.detection_bbox_map <= 1
    # the fine-tune from the checkpoint loaded it; the random-init one did not
    assert 'StrictPretrained' in open(summary.stages[1].log_file).read()
    assert 'StrictPretrained' not in open(summary.stages[2].log_file).read()
    for path in summary.plots:
        with Image.open(path) as img:
            assert img.format == 'PNG' and img.size[0] > 100
    assert any('demo done in about' in line for line in lines)
    table = format_summary(summary)
    assert f'{summary.pretrain_top1:.2f}' in table and 'bbox mAP' in table
