# RSB A3 applied unchanged to ResNet-18 (paper Table 3: 160 / 224, 68.2 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`; BasicBlock gives the head 512 channels.
_base_ = ['../rsb_a3_resnet50.py']

model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
