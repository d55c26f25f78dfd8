# Fine-tune an RSB ResNet-50 at 224 on CIFAR-100 (50,000 train / 10,000 test images, 100 classes).
# The paper's results (Table 5) and the commands: configs/transfer/README.md.
# The backbone checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../_base_/models/resnet50_rsb_ft.py',
    '../_base_/datasets/cifar100_bs96_ft-224px.py',
    '../_base_/schedules/transfer_bs768_sgd_coslr.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=100))
# Save at the schedule's evaluation interval; no "best" checkpoint: the evaluation set is the
# test set, so the run reports its last epoch (choosing an epoch on it would tune on the test).
default_hooks = dict(checkpoint=dict(interval=10, save_best=None))
