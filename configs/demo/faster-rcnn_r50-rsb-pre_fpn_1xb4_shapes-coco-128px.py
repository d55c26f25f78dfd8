# The demo's detection (tools/demo.py): Faster R-CNN R50-FPN with the RSB backbone
# (configs/detection/faster-rcnn_r50-rsb-a3-pre_fpn_1x_coco.py: AdamW, strict backbone
# loading, frozen stem + stage 1, norm_eval) on a COCO-format set of shapes, scaled down:
# 128 px images, one process x 4, a few epochs. The checkpoint comes with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../detection/faster-rcnn_r50-rsb-a3-pre_fpn_1x_coco.py']

data_root = 'data/demo/shapes_coco/'
img_scale = (128, 128)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

# Fewer proposals and sampled RoIs than for COCO's 800 px images (2000 / 512): at 128 px with
# 1-3 objects an image, the stock numbers spend most of a CPU iteration in the box head.
model = dict(
    train_cfg=dict(rpn_proposal=dict(max_per_img=300), rcnn=dict(sampler=dict(num=128))),
    # Score threshold 0.001, not the stock 0.05: a detector trained for a few dozen steps
    # scores below 0.05 and an empty result has no mAP; AP ranks boxes by score, so the
    # low-score extras only lengthen the tail of the precision-recall curve.
    test_cfg=dict(rpn=dict(max_per_img=300), rcnn=dict(score_thr=0.001)))

loader = dict(num_workers=0, persistent_workers=False, pin_memory=False)
train_dataloader = dict(
    batch_size=4, **loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# AdamW at the RSB configs' lr for batch 16, kept for batch 4 (a few dozen steps need it),
# after a short warm-up; no step decay in a few epochs.
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10)]
auto_scale_lr = dict(base_batch_size=4)  # this lr is meant for the demo's batch of 4
train_cfg = dict(max_epochs=4, val_interval=1)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=1))
