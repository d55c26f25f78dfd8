# The demo's fine-tuning (tools/demo.py): the CIFAR-10 transfer config
# (configs/transfer/resnet50_rsb-pre_8xb96-coslr-1000e_cifar10-224px.py: SGD, cosine,
# Mixup/CutMix, RandAugment m9, the backbone loaded strictly) on a CIFAR-10-format set of
# shapes (20 a class), scaled down: 32 px (no upsampling to 224), one process x 32, a few epochs,
# the default sampler (repeated augmentation cuts an epoch to a multiple of 256 images: the
# demo's set is smaller). The checkpoint comes with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH   (or init_cfg=None: random init)
_base_ = ['../transfer/resnet50_rsb-pre_8xb96-coslr-1000e_cifar10-224px.py']

data_root = 'data/demo/shapes_cifar10'
img_size = 32

train_pipeline = [
    dict(type='TimmRandomResizedCrop', scale=img_size, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m9-mstd0.5-inc1', img_size=img_size,
         interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

loader = dict(num_workers=0, persistent_workers=False, pin_memory=False)
train_dataloader = dict(
    batch_size=32, **loader,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True, seed=0),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100, **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(base_batch_size=32)  # the lr above is set for 1 x 32
param_scheduler = dict(t_initial=10, warmup_t=1)
train_cfg = dict(max_epochs=10, val_interval=1)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=1))
