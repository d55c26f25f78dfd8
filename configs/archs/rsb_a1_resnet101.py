# RSB A1 applied unchanged to ResNet-101 (paper Table 3: 224 / 224, 81.5 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`.
_base_ = ['../rsb_a1_resnet50.py']

model = dict(backbone=dict(depth=101))
