# RSB A1 applied unchanged to RegNetY-4GF (paper Table 3: 224 / 224, 81.5 top-1 val).
# timm's `regnety_040`, whole (stem to classifier, timm's init), through MMPretrain's
# `TimmClassifier`, as the paper trained it; the recipe's BCE, Mixup/CutMix and drop path
# come from the ResNet-50 config.
_base_ = ['../rsb_a1_resnet50.py']

model = dict(
    _delete_=True,
    type='TimmClassifier',
    model_name='regnety_040',
    num_classes=_base_.num_classes,
    drop_path_rate=_base_.model.backbone.drop_path_rate,
    loss=_base_.model.head.loss,
    train_cfg=_base_.model.train_cfg)
