# Mask R-CNN R50-FPN 1x on COCO from an RSB-A1 backbone pretrained with rsb_mm; the backbone and
# optimizer settings of faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py (MMDetection's RSB settings).
# MMDetection's result with MMPretrain's A1 checkpoint: 41.2 box / 38.2 mask AP.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

# Registers StrictPretrained and the checkpoint allow-list in every process that builds this.
custom_imports = dict(imports=['rsb_mm'], allow_failed_imports=False)

# rsb_mm's A1 pretraining output (see faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py); override with
# `--cfg-options model.backbone.init_cfg.checkpoint=PATH`.
checkpoint = 'work_dirs/rsb_a1_resnet50/epoch_600.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True, type='StrictPretrained', checkpoint=checkpoint,
            prefix='backbone.')))

# MMDetection's RSB optimizer. fused=True changes only how torch computes the same AdamW update
# (equal to float rounding): norm_decay_mult=0 puts each tensor in a parameter group of its own,
# where torch's default AdamW loops op by op, a step ~2x the stock SGD's; fused is faster than SGD.
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='AdamW', lr=0.0002, weight_decay=0.05, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0., bypass_duplicate=True))
