"""Smoke test (c) of the foundation: MMDetection's own Faster R-CNN R50-FPN config (loaded
through the installed package) trains 1 iteration, evaluates with COCO metrics and runs
inference on a tiny COCO-format set, using mmcv's compiled RoIAlign and NMS on CPU."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401
from rsb_mm.testing import write_coco_detection
from rsb_mm.utils import build_runner


def _tiny_faster_rcnn_cfg(data_root, work_dir):
    os.makedirs(work_dir, exist_ok=True)
    leaf = osp.join(work_dir, 'leaf_cfg.py')
    with open(leaf, 'w') as f:
        f.write("_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']\n")
    cfg = Config.fromfile(leaf)
    cfg.model.backbone.init_cfg = None  # no download: random init is fine for a smoke run
    # An untrained detector scores everything below the default 0.05; keep its boxes so that
    # COCO evaluation has detections to score.
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    size = (128, 128)
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=size, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=size, keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]
    for split, loader, pipeline in (('train2017', 'train_dataloader', train_pipeline),
                                    ('val2017', 'val_dataloader', test_pipeline)):
        cfg[loader].batch_size = 2 if split == 'train2017' else 1
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].dataset.data_root = data_root
        cfg[loader].dataset.ann_file = f'annotations/instances_{split}.json'
        cfg[loader].dataset.data_prefix = dict(img=f'{split}/')
        cfg[loader].dataset.pipeline = pipeline
    cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=False, min_size=0)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.ann_file = osp.join(data_root, 'annotations/instances_val2017.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = work_dir
    return cfg


def test_faster_rcnn_trains_evaluates_and_infers(tmp_path):
    from mmcv.ops import RoIAlign, nms
    data_root = str(tmp_path / 'coco') + '/'
    write_coco_detection(data_root, num_images=2, size=128)
    cfg = _tiny_faster_rcnn_cfg(data_root, str(tmp_path / 'work'))

    # The detector uses mmcv's compiled ops, not a Python fallback.
    assert cfg.model.roi_head.bbox_roi_extractor.roi_layer.type == 'RoIAlign'
    runner = build_runner(cfg)
    roi_layer = runner.model.roi_head.bbox_roi_extractor.roi_layers[0]
    assert isinstance(roi_layer, RoIAlign) and not roi_layer.use_torchvision

    runner.train()  # 2 images, batch 2: one iteration, then COCO evaluation
    assert runner.iter == 1
    metrics = runner.val_loop.run()
    assert 'coco/bbox_mAP' in metrics and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0

    # Inference the way MMDetection's users do it: config + the checkpoint the run saved.
    from mmdet.apis import inference_detector, init_detector
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    model = init_detector(cfg, ckpt, device='cpu')
    assert torch.equal(model.backbone.conv1.weight, runner.model.backbone.conv1.weight)
    img = osp.join(data_root, 'val2017', '000000000001.jpg')
    result = inference_detector(model, img)
    boxes = result.pred_instances.bboxes
    assert boxes.ndim == 2 and boxes.shape[1] == 4
    assert len(result.pred_instances.scores) == len(boxes)

    # mmcv's compiled NMS on CPU keeps the higher-scored of two overlapping boxes.
    dets, keep = nms(torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]]),
                     torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


@pytest.mark.parametrize('op', ['nms', 'roi_align', 'batched_nms'])
def test_mmcv_ops_have_cpu_kernels(op):
    import mmcv.ops
    from mmcv.utils import ext_loader
    ext = ext_loader.load_ext('_ext', ['nms', 'roi_align_forward'])
    assert hasattr(ext, 'nms') and hasattr(ext, 'roi_align_forward')
    assert callable(getattr(mmcv.ops, op))
