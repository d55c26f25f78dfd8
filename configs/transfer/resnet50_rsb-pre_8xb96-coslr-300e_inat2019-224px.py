# Fine-tune an RSB ResNet-50 at 224 on iNaturalist 2019 (1,010 classes; evaluated on val2019.json).
# The paper's results (Table 5) and the commands: configs/transfer/README.md.
# The backbone checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../_base_/models/resnet50_rsb_ft.py',
    '../_base_/datasets/inat2019_bs96_ft-224px.py',
    '../_base_/schedules/transfer_bs768_sgd_coslr.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=1010))
# DeiT's fine-tuning length for iNaturalist (300 epochs, facebookresearch/dino issue #171);
# an epoch is ~345 iterations, so evaluate and save every epoch. No "best" checkpoint: the
# evaluation set is the test set, so the run reports its last epoch.
param_scheduler = dict(t_initial=300)
train_cfg = dict(max_epochs=300, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1, save_best=None))
