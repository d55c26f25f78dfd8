# RSB A1 applied unchanged to ResNet-34 (paper Table 3: 224 / 224, 76.4 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`; BasicBlock gives the head 512 channels.
_base_ = ['../rsb_a1_resnet50.py']

model = dict(backbone=dict(depth=34), head=dict(in_channels=512))
