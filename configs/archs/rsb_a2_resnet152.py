# RSB A2 applied unchanged to ResNet-152 (paper Table 3: 224 / 224, 81.8 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`.
_base_ = ['../rsb_a2_resnet50.py']

model = dict(backbone=dict(depth=152))
