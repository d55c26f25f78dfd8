"""Training curves: read from real runs they equal the text log's numbers (loss, lr, all three
test sets per epoch), TensorBoard events are written by default with the same losses, resumed
runs keep the later record, runs with fewer sets (the rsb_checkpoint pretraining) or no
validation plot too."""
import glob
import json
import os.path as osp

import pytest
from PIL import Image

from rsb_mm.analysis import load_curves, parse_text_log, plot_curves, split_records

TOP1 = ['accuracy/top1', 'real/accuracy/top1', 'v2/accuracy/top1']


def _text_records(work_dir):
    (log, ) = glob.glob(osp.join(work_dir, '*', '*.log'))
    return split_records(parse_text_log(log))


def test_real_run_curves_equal_the_text_log(seed_work_dirs, tmp_path):
    work_dir = seed_work_dirs[0]
    curves = load_curves(work_dir)
    text = _text_records(work_dir)
    assert list(curves.losses) == ['loss']
    assert curves.losses['loss'].x == [1, 2, 3, 4]
    assert curves.losses['loss'].y == pytest.approx([r['loss'] for r in text['train']],
                                                    abs=5e-5)
    assert curves.lr.x == [1, 2, 3, 4]
    assert curves.lr.y == pytest.approx([r['lr'] for r in text['train']], rel=5e-4)
    # warm-up epoch then the cosine epoch: two different learning rates
    assert curves.lr.y[0] == curves.lr.y[1] != curves.lr.y[2]
    assert curves.val_x == 'epoch'
    assert sorted(curves.metrics) == TOP1
    for key in TOP1:
        assert curves.metrics[key].x == [1, 2]
        assert curves.metrics[key].y == pytest.approx([r[key] for r in text['val']], abs=5e-5)

    path = str(tmp_path / 'curves.png')
    plot_curves(curves, path, title=work_dir)
    with Image.open(path) as img:
        assert img.format == 'PNG' and img.size == (1500, 400)


def test_tensorboard_is_on_by_default(seed_work_dirs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (vis_data, ) = glob.glob(osp.join(seed_work_dirs[1], '*', 'vis_data'))
    assert glob.glob(osp.join(vis_data, 'events.out.tfevents.*'))
    events = EventAccumulator(vis_data)
    events.Reload()
    assert set(TOP1) <= set(events.Tags()['scalars'])
    with open(osp.join(vis_data, 'scalars.json')) as f:
        losses = [r['loss'] for r in map(json.loads, f) if 'loss' in r]
    assert [e.value for e in events.Scalars('loss')] == pytest.approx(losses, rel=1e-6)


def test_resumed_run_keeps_the_later_records(tmp_path, work_dir_writer):
    work_dir = str(tmp_path / 'work')
    work_dir_writer(work_dir, [{'accuracy/top1': 10.0}, {'accuracy/top1': 20.0}])
    # resumed from epoch 1: epoch 2 logged again, then epoch 3
    work_dir_writer(work_dir, [{'accuracy/top1': 25.0}, {'accuracy/top1': 30.0}],
                    timestamp='20260101_010000', first_epoch=2)
    curves = load_curves(work_dir)
    assert curves.metrics['accuracy/top1'].x == [1, 2, 3]
    assert curves.metrics['accuracy/top1'].y == [10.0, 25.0, 30.0]
    assert curves.losses['loss'].x == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match=r"\['v2/accuracy/top1'\] were never logged"):
        load_curves(work_dir, metrics=['v2/accuracy/top1'])
    only = load_curves(work_dir, metrics=['accuracy/top1'])
    assert list(only.metrics) == ['accuracy/top1']


def test_pretraining_run_without_extra_sets(rsb_checkpoint, tmp_path):
    # rsb_mm.testing.pretrain_tiny_checkpoint: one A3 epoch of one iteration; MMEngine
    # validates after the last epoch, on val only (the ReaL and V2 folders are absent).
    curves = load_curves(osp.dirname(rsb_checkpoint))
    assert curves.losses['loss'].x == [1] and curves.losses['loss'].y[0] > 0
    assert list(curves.metrics) == ['accuracy/top1'] and curves.metrics['accuracy/top1'].x == [1]
    path = str(tmp_path / 'pretrain.png')
    plot_curves(curves, path)
    with Image.open(path) as img:
        assert img.size == (1500, 400)


def test_plot_without_validation(tmp_path, work_dir_writer):
    work_dir = str(tmp_path / 'work')
    work_dir_writer(work_dir, [{}])  # one epoch, no metric logged
    curves = load_curves(work_dir)
    assert curves.metrics == {} and curves.losses['loss'].x == [1, 2]
    path = str(tmp_path / 'no_val.png')
    plot_curves(curves, path)
    with Image.open(path) as img:
        assert img.size == (1500, 400)
