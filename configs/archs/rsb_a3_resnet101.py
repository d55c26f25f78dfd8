# RSB A3 applied unchanged to ResNet-101 (paper Table 3: 160 / 224, 79.8 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`.
_base_ = ['../rsb_a3_resnet50.py']

model = dict(backbone=dict(depth=101))
