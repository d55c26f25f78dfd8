"""mmcv's compiled ops on the GPU: one Faster R-CNN training iteration of the RSB detection
demo config (RoIAlign, NMS on CUDA tensors). Skipped when the installed mmcv has no CUDA
ops (mmcv-lite, or mmcv built without a GPU: tools/install.sh says how to build them); on the
CPU (dry run) it runs the same iteration with mmcv's CPU ops."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401

CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                  'demo', 'faster-rcnn_r50-rsb-pre_fpn_1xb4_shapes-coco-128px.py')


def _mmcv_ops_on(device):
    """None if mmcv's NMS runs on ``device``, else the reason it does not."""
    try:
        from mmcv.ops import nms
    except (ImportError, OSError) as exc:
        return f'mmcv has no compiled ops ({exc})'
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]], device=device)
    try:
        nms(boxes, torch.tensor([0.9, 0.8], device=device), 0.5)
    except (RuntimeError, NotImplementedError) as exc:
        return f'mmcv ops not compiled for {device.type}: {str(exc).splitlines()[0]}'
    return None


@pytest.mark.cuda
def test_faster_rcnn_iteration_with_mmcv_ops(device, tmp_path):
    reason = _mmcv_ops_on(device)
    if reason:
        pytest.skip(reason)
    from mmcv.ops import RoIAlign

    from rsb_mm.testing import write_coco_detection
    from rsb_mm.utils import build_runner
    data_root = str(tmp_path / 'coco') + '/'
    write_coco_detection(data_root, num_images=2, size=128)
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None  # random backbone: the ops are under test
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=False, min_size=0)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=2)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2)
    cfg.default_hooks.logger.interval = 1
    runner = build_runner(cfg)
    roi_layer = runner.model.roi_head.bbox_roi_extractor.roi_layers[0]
    assert isinstance(roi_layer, RoIAlign) and not roi_layer.use_torchvision
    runner.train()
    assert runner.iter == 1
    assert next(runner.model.parameters()).device.type == device.type
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
