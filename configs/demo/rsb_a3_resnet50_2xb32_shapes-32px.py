# The demo's pretraining (tools/demo.py): the RSB A3 recipe (configs/rsb_a3_resnet50.py:
# ResNet-50, timm's RandomResizedCrop + RandAugment m6, Mixup 0.1 / CutMix 1.0, BCE, LAMB,
# cosine with warm-up) scaled down to 32 px images of 8 shape classes, 2 processes x 32.
# What changes and why: image size (CPU time), class count (the data), batch and epochs
# (tiny data), lr (a global batch of 64, not 2048, trained for a few hundred steps), no
# ReaL / V2 sets (there are none).
_base_ = ['../rsb_a3_resnet50.py']

data_root = 'data/demo/shapes_imagenet'
img_size = 32
num_classes = 8

train_pipeline = [
    dict(type='LoadImageFromFileChecked', color_type='color_ignore_orientation',
         on_error='raise'),
    dict(type='TimmRandomResizedCrop', scale=img_size, interpolation='random'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m6-mstd0.5-inc1', img_size=img_size),
    dict(type='PackInputs'),
]
# The images are written at 32 px: nothing to resize for testing.
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='PackInputs'),
]

data_preprocessor = dict(num_classes=num_classes)
model = dict(head=dict(num_classes=num_classes))

loader = dict(num_workers=0, persistent_workers=False, pin_memory=False)
train_dataloader = dict(
    batch_size=32, **loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100, **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_cfg = dict(_delete_=True)
test_cfg = dict(_delete_=True)

optim_wrapper = dict(optimizer=dict(lr=5e-3))
auto_scale_lr = dict(base_batch_size=64)  # the lr above is set for 2 x 32
param_scheduler = dict(t_initial=12, warmup_t=1)
train_cfg = dict(max_epochs=12)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=1))
