# RSB A2 applied unchanged to ResNet-34 (paper Table 3: 224 / 224, 75.5 top-1 val).
# MMPretrain's ResNet through `ResNetTimmDropPath`; BasicBlock gives the head 512 channels.
_base_ = ['../rsb_a2_resnet50.py']

model = dict(backbone=dict(depth=34), head=dict(in_channels=512))
