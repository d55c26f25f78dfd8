# Shared data settings of the transfer (fine-tuning) configs: DeiT's fine-tuning input pipeline
# at 224 (facebookresearch/deit issue #45: "all other elements are the same as for training on
# ImageNet", minus random erasing), in timm's own transforms, 96 images per GPU (8 GPUs = 768).
# Each data set's base (cifar10_bs96_ft-224px.py, ...) sets the data set and its class count.
img_size = 224
# timm's eval transform at crop_pct 0.875 (DeiT's default): short side to int(224 / 0.875)
test_resize = 256

data_preprocessor = dict(
    num_classes=1000,  # each data set's base sets its own (the one-hot size for Mixup/CutMix)
    # ImageNet's mean/std x 255 in RGB: the statistics the pretrained backbone saw
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    # an unreadable file stops the run naming it (on_error='skip': replaced and counted)
    dict(type='LoadImageFromFileChecked', color_type='color_ignore_orientation',
         on_error='raise'),
    # DeiT's --train-interpolation bicubic; RandAugment's geometric ops use it too
    dict(type='TimmRandomResizedCrop', scale=img_size, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m9-mstd0.5-inc1', img_size=img_size,
         interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='ResizeEdge', scale=test_resize, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=96,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,  # Mixup/CutMix pair the batch with its reverse: keep it full and even
    # DeiT's repeated augmentation (3 repeats); spread over GPUs with >= 3 processes
    sampler=dict(type='RepeatAugSamplerDeiT', num_repeats=3, seed=0),
    dataset=dict(pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=96,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
