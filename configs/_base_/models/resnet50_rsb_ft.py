# ResNet-50 fine-tuned from an RSB (or any ResNet-50) checkpoint: the backbone is loaded
# strictly from `checkpoint` (every backbone key must be there, with its shape), the linear
# head is new (random init, the data set's classes: each leaf sets head.num_classes).
# DeiT's fine-tuning (facebookresearch/deit issue #45): no stochastic depth; Mixup 0.8 /
# CutMix 1.0 (timm's, one lambda per batch) with label smoothing 0.1 inside the target mixing,
# and the soft-target cross-entropy (timm's SoftTargetCrossEntropy).
_base_ = ['./resnet50_rsb.py']

# The pretrained weights: an MMPretrain-layout classifier (`backbone.` keys). rsb_mm's own
# pretraining writes one (work_dirs/rsb_a1_resnet50/epoch_600.pth); tools/convert_weights.py
# makes one from timm's resnet50.a1_in1k / a2_in1k / a3_in1k. Per run:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint = 'checkpoints/resnet50_a1_in1k_mmpretrain.pth'

model = dict(
    backbone=dict(
        drop_path_rate=0.0,
        init_cfg=dict(type='StrictPretrained', checkpoint=checkpoint, prefix='backbone.')),
    head=dict(
        loss=dict(_delete_=True, type='CrossEntropyLoss', use_soft=True),
        topk=(1, 5)),
    train_cfg=dict(augments=[
        dict(type='MixupCutMix', mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
    ]),
)
