# RSB A1: 600 epochs at 224, LAMB lr 5e-3 wd 0.01, label smoothing 0.1, drop path 0.05,
# repeated augmentation x3, RandAugment m7 std 0.5, Mixup 0.2 / CutMix 1.0, BCE.
# Paper: 80.4 top-1 (val) / 85.7 (ReaL) / 68.7 (V2); timm's weights 80.38.
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
        dict(type='MixupCutMix', mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1)
    ]))

optim_wrapper = dict(optimizer=dict(lr=5e-3, weight_decay=0.01))
param_scheduler = dict(t_initial=600)
train_cfg = dict(max_epochs=600)
