# Faster R-CNN R50-FPN 1x on COCO from an RSB-A1 backbone pretrained with rsb_mm, with
# MMDetection's RSB settings (mmdet/.mim/configs/resnet_strikes_back/): AdamW lr 2e-4, weight
# decay 0.05, no decay on norm layers. The stock base keeps the rest: frozen_stages=1,
# norm_eval=True, batch 16 (8 GPUs x 2, `auto_scale_lr.base_batch_size=16`), 12 epochs.
# MMDetection's result with MMPretrain's A1 checkpoint: 40.8 box AP (37.4 with torchvision's).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

# Registers StrictPretrained and the checkpoint allow-list in every process that builds this.
custom_imports = dict(imports=['rsb_mm'], allow_failed_imports=False)

# What `tools/dist_train.sh configs/rsb_a1_resnet50.py 4` saves last; any rsb_mm/MMPretrain
# classifier checkpoint, or a timm/torchvision one converted with tools/convert_weights.py,
# goes here (or `--cfg-options model.backbone.init_cfg.checkpoint=PATH`).
checkpoint = 'work_dirs/rsb_a1_resnet50/epoch_600.pth'
model = dict(
    backbone=dict(
        # Strict: a backbone key missing from the checkpoint, an unexpected one or a shape
        # mismatch stops the run (MMEngine's Pretrained only logs them); the head is dropped.
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
