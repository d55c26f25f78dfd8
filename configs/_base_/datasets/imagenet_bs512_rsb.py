# ImageNet-1k with RSB's data pipeline, 512 images per GPU (4 GPUs = RSB's batch of 2048).
# Layout: data/imagenet/{train,val}/ (+ meta/{train,val}.txt), as MMPretrain's docs teach.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
train_size = 224
test_size = 224
test_crop_pct = 0.95  # timm: resize the short side to floor(224 / 0.95) = 235

# The device side of timm's prefetcher: each loader stacks its equal-size uint8 images into
# one pinned tensor (`default_collate`; the data samples stay a list) and this preprocessor
# copies it without blocking, then flips BGR to RGB, normalises and mixes (Mixup/CutMix) the
# whole batch on the device, the one-hot targets built batch-wide too. Same pixels and targets
# as MMPretrain's ClsDataPreprocessor after `pseudo_collate`
# (tests/test_models/test_utils/test_batched_cls_data_preprocessor.py).
data_preprocessor = dict(
    type='BatchedClsDataPreprocessor',
    non_blocking=True,
    num_classes=1000,
    # timm's IMAGENET_DEFAULT_MEAN/STD x 255, in RGB
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# timm's loader ignores EXIF orientation (PIL open + convert('RGB')); mmcv applies it unless
# told not to. Same pixels as timm, as tests/test_datasets/test_transforms check.
train_pipeline = [
    # LoadImageFromFile's pixels; an unreadable file stops the run naming the file and its
    # index, or with on_error='skip' is replaced by another image and counted per epoch.
    dict(type='LoadImageFromFileChecked', color_type='color_ignore_orientation',
         on_error='raise'),
    # timm's RandomResizedCropAndInterpolation, interpolation drawn per image
    dict(type='TimmRandomResizedCrop', scale=train_size, interpolation='random'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # timm's own RandAugment ops: 2 ops, p=0.5 each, magnitude ~ N(7, 0.5)
    dict(type='TimmRandAugment', config_str='rand-m7-mstd0.5-inc1', img_size=train_size),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(
        type='ResizeEdge',
        scale=int(test_size / test_crop_pct),
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=test_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),  # every crop is train_size x train_size
    # timm drops the last incomplete batch (and Mixup needs an even batch)
    drop_last=True,
    # DeiT/timm repeated augmentation: 3 repeats, epoch cut to floor(N/256)*256 samples;
    # seed=0 gives timm's exact order (timm seeds with the epoch only).
    sampler=dict(type='RepeatAugSamplerDeiT', num_repeats=3, seed=0),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)

val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),  # every centre crop is test_size x test_size
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator

# The paper reports every test set. ImageNet-ReaL and ImageNet-V2 are evaluated in the same
# val/test run as ImageNet-val, each under its own prefix:
#   accuracy/top1|top5 (val), real/accuracy/top1|top5, v2/accuracy/top1|top5.
# A set whose files are missing is skipped with one warning naming the path:
#   data/imagenet/real.json  (google-research/reassessed-imagenet)
#   data/imagenetv2/imagenetv2-matched-frequency-format-val/{0..999}/*.jpeg
# Extra sets run once per evaluation: no persistent workers held for them between epochs.
extra_loader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=False,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False))
extra_test_sets = [
    dict(
        prefix='real',
        dataloader=dict(
            **extra_loader,
            dataset=dict(
                type='ImageNetReaL',
                data_root=data_root,
                split='val',
                real_json='real.json',
                pipeline=test_pipeline)),
        evaluator=dict(type='ReaLAccuracy', topk=(1, 5))),
    dict(
        prefix='v2',
        dataloader=dict(
            **extra_loader,
            dataset=dict(
                type='ImageNetV2',
                data_root='data/imagenetv2',
                variant='matched-frequency',
                pipeline=test_pipeline)),
        evaluator=dict(type='Accuracy', topk=(1, 5))),
]
val_cfg = dict(type='MultiSetValLoop', extra_sets=extra_test_sets, skip_missing=True)
test_cfg = dict(type='MultiSetTestLoop', extra_sets=extra_test_sets, skip_missing=True)
