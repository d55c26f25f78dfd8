# RSB A2 applied unchanged to RegNetY-8GF (paper Table 3: 224 / 224, 82.1 top-1 val).
# timm's `regnety_080`, whole (stem to classifier, timm's init), through MMPretrain's
# `TimmClassifier`, as the paper trained it; the recipe's BCE, Mixup/CutMix and drop path
# come from the ResNet-50 config.
_base_ = ['../rsb_a2_resnet50.py']

model = dict(
    _delete_=True,
    type='TimmClassifier',
    model_name='regnety_080',
    num_classes=_base_.num_classes,
    drop_path_rate=_base_.model.backbone.drop_path_rate,
    loss=_base_.model.head.loss,
    train_cfg=_base_.model.train_cfg)
