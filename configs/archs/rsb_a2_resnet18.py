# RSB A2 applied unchanged to ResNet-18 (paper Table 3: 224 / 224, 70.6 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`; BasicBlock gives the head 512 channels.
_base_ = ['../rsb_a2_resnet50.py']

model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
