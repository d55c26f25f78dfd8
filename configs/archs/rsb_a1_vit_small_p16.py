# RSB A1 applied unchanged to ViT-S/16 (paper Table 3: 224 / 224, 80.6 top-1 val).
# timm's `vit_small_patch16_224`, whole (stem to classifier, timm's init), through MMPretrain's
# `TimmClassifier`, as the paper trained it; the recipe's BCE, Mixup/CutMix and drop path
# come from the ResNet-50 config.
_base_ = ['../rsb_a1_resnet50.py']

model = dict(
    _delete_=True,
    type='TimmClassifier',
    model_name='vit_small_patch16_224',
    num_classes=_base_.num_classes,
    drop_path_rate=_base_.model.backbone.drop_path_rate,
    loss=_base_.model.head.loss,
    train_cfg=_base_.model.train_cfg)

# timm's `VisionTransformer.no_weight_decay()`: no decay on the position embedding and the
# class token (TimmClassifier does not forward it, so it is named here).
optim_wrapper = dict(
    paramwise_cfg=dict(no_weight_decay=['model.pos_embed', 'model.cls_token']))
