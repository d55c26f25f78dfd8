# Fine-tuning schedule of the transfer configs: DeiT's published fine-tuning recipe for
# CIFAR-10 and Stanford Cars (facebookresearch/deit issue #45): SGD, lr 0.01 for a global
# batch of 768, weight decay 1e-4, 1000 epochs at 224; the rest as DeiT's ImageNet training:
# cosine per epoch to 1e-5 after 5 warm-up epochs from 1e-6 (DeiT's --min-lr, --warmup-lr,
# --warmup-epochs), mixed precision. As timm's create_optimizer (which DeiT calls) does, biases
# and 1-D parameters (norm layers) get no weight decay. Each leaf sets its epochs.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    constructor='DecayGroupsOptimWrapperConstructor',
)

param_scheduler = dict(
    type='TimmCosineLR',
    t_initial=1000,
    lr_min=1e-5,
    warmup_t=5,
    warmup_lr_init=1e-6,
    cooldown_t=0,  # DeiT's loop stops at --epochs; its 10 cool-down epochs never run
    by_epoch=True)

# Evaluate every 10 epochs (an epoch of Flowers-102 is 2 iterations at batch 768); the leaves
# save checkpoints at the same interval (default_hooks lives in default_runtime.py).
# ResumableEpochBasedTrainLoop: `--resume auto` continues mid-epoch at the exact batch.
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1000, val_interval=10)
val_cfg = dict()
test_cfg = dict()

# lr 0.01 is for 8 GPUs x 96; --auto-scale-lr scales it linearly for another global batch.
auto_scale_lr = dict(base_batch_size=768)
