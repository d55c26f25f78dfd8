"""A reduced RSB-A1 recipe on a tiny ImageNet folder, for the fault tests."""
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The A1 config with everything the recipe adds (timm's RRC and RandAugment, flip, repeated
# augmentation, Mixup/CutMix with label smoothing, drop path, thresholded BCE, LAMB, the timm
# schedule) but a ResNet-50 of width 8 instead of 64 (stem and base channels; same depth,
# blocks and drop-path rates), 32-pixel crops, batch 2 and one data process, so that a run of
# 2 epochs x 3 iterations takes seconds on a CPU.
CONFIG = """
_base_ = ['{repo}/configs/rsb_a1_resnet50.py']
custom_imports = dict(imports=['rsb_mm', 'fault_injection'], allow_failed_imports=False)
data_root = '{data_root}'
model = dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=256))
train_pipeline = [
    dict(type='LoadImageFromFileChecked', color_type='color_ignore_orientation'),
    dict(type='TimmRandomResizedCrop', scale=32, interpolation='random'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m7-mstd0.5-inc1', img_size=32),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='ResizeEdge', scale=36, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
loader = dict(num_workers=0, persistent_workers=False, pin_memory=False)
train_dataloader = dict(
    batch_size=2, **loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_cfg = dict(_delete_=True, type='MultiSetValLoop', extra_sets=[])
param_scheduler = dict(t_initial=2, warmup_t=1)
train_cfg = dict(max_epochs=2)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(iter_interval=2, max_keep_ckpts=1))
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='UnreadableImageCountHook'),
    dict(type='SyncBuffersHook'),
    dict(type='RobustnessTestFaultHook'),
    dict(type='BatchNormStatsHook'),
]
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
randomness = dict(seed=0, deterministic=True)
"""


def write_tiny_recipe(root, images_per_class=3):
    """Write ``root/imagenet`` (2 classes) and ``root/tiny_a1.py``; return the config path."""
    from rsb_mm.testing import write_imagenet_folder

    data_root = osp.join(str(root), 'imagenet')
    write_imagenet_folder(data_root, num_classes=2, images_per_class=images_per_class, size=40)
    path = osp.join(str(root), 'tiny_a1.py')
    with open(path, 'w') as f:
        f.write(CONFIG.format(repo=REPO, data_root=data_root))
    return path
