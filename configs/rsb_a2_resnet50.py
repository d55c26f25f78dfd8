# RSB A2: 300 epochs at 224, LAMB lr 5e-3 wd 0.02, no label smoothing, drop path 0.05,
# repeated augmentation x3, RandAugment m7 std 0.5, Mixup 0.1 / CutMix 1.0, BCE.
# Paper: 79.8 top-1 (val) / 85.4 (ReaL) / 67.9 (V2); timm's weights 79.83.
_base_ = [
    '_base_/models/resnet50_rsb.py',
    '_base_/datasets/imagenet_bs512_rsb.py',
    '_base_/schedules/imagenet_bs2048_rsb_lamb.py',
    '_base_/default_runtime.py',
]

model = dict(
    backbone=dict(drop_path_rate=0.05),
    # timm Mixup(mode='batch', prob=1.0, switch_prob=0.5, correct_lam=True)
    train_cfg=dict(augments=[
        dict(type='MixupCutMix', mixup_alpha=0.1, cutmix_alpha=1.0, label_smoothing=0.0)
    ]))

optim_wrapper = dict(optimizer=dict(lr=5e-3, weight_decay=0.02))
param_scheduler = dict(t_initial=300)
train_cfg = dict(max_epochs=300)
