# RSB A3: 100 epochs, trains at 160 and tests at 224, LAMB lr 8e-3 wd 0.02, no label
# smoothing, no drop path, no repeated augmentation, RandAugment m6 std 0.5,
# Mixup 0.1 / CutMix 1.0, BCE. Paper: 78.1 top-1 (val) / 84.5 (ReaL) / 66.1 (V2);
# timm's weights 78.05.
_base_ = [
    '_base_/models/resnet50_rsb.py',
    '_base_/datasets/imagenet_bs512_rsb.py',
    '_base_/schedules/imagenet_bs2048_rsb_lamb.py',
    '_base_/default_runtime.py',
]

train_size = 160
train_pipeline = [
    dict(type='LoadImageFromFileChecked', color_type='color_ignore_orientation',
         on_error='raise'),
    dict(type='TimmRandomResizedCrop', scale=train_size, interpolation='random'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m6-mstd0.5-inc1', img_size=train_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    # timm's DistributedSampler order: seeded with the epoch alone (seed 0), whatever the run's seed
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True, seed=0),
    dataset=dict(pipeline=train_pipeline))

model = dict(
    backbone=dict(drop_path_rate=0.0),
    train_cfg=dict(augments=[
        dict(type='MixupCutMix', mixup_alpha=0.1, cutmix_alpha=1.0, label_smoothing=0.0)
    ]))

optim_wrapper = dict(optimizer=dict(lr=8e-3, weight_decay=0.02))
param_scheduler = dict(t_initial=100)
train_cfg = dict(max_epochs=100)
