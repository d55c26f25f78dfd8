# Fine-tune an RSB ResNet-50 at 224 on Flowers-102 (train + val = 2,040 / test 6,149 images,
# 102 classes).
# The paper's results (Table 5) and the commands: configs/transfer/README.md.
# The backbone checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../_base_/models/resnet50_rsb_ft.py',
    '../_base_/datasets/flowers102_bs96_ft-224px.py',
    '../_base_/schedules/transfer_bs768_sgd_coslr.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=102))
# Save at the schedule's evaluation interval; no "best" checkpoint: the evaluation set is the
# test set, so the run reports its last epoch (choosing an epoch on it would tune on the test).
default_hooks = dict(checkpoint=dict(interval=10, save_best=None))
