# ResNet-50 as timm trains it in RSB: MMPretrain's ResNet with timm's drop path, a linear head
# and timm's BCE (soft targets binarised at 0.2). Each leaf config sets its Mixup/CutMix
# (`model.train_cfg.augments`, a list, so it is stated whole there).
num_classes = 1000
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNetTimmDropPath',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        drop_path_rate=0.05),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=2048,
        # Training targets are always the mixed soft targets (smoothing is applied inside
        # the mixing), so the loss's own smoothing only touches integer labels.
        loss=dict(type='ThresholdedBCELoss', smoothing=0.0, target_threshold=0.2),
        topk=(1, 5),
        # timm's ResNet leaves `fc` at PyTorch's default Linear init (weight and bias uniform
        # in +-1/sqrt(in_channels)); MMPretrain's head default is Normal(std=0.01), bias 0.
        init_cfg=None),
)
