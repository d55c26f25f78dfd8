# Faster R-CNN R50-FPN 1x on COCO from rsb_mm's RSB-A2 backbone (300 epochs); everything else as
# in the A1 config.
_base_ = './faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py'

checkpoint = 'work_dirs/rsb_a2_resnet50/epoch_300.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint)))
