# RSB A3 applied unchanged to ResNeXt-50-32x4d (paper Table 3: 160 / 224, 79.2 top-1 val).
# MMPretrain's `ResNeXt`. Its stochastic depth is MMPretrain's own: the same
# per-block rates (linear from 0 over all blocks) and placement as timm, drawn by mmcv's
# DropPath (same distribution, other random draws); `ResNetTimmDropPath` builds the
# plain ResNet only.
_base_ = ['../rsb_a3_resnet50.py']

model = dict(backbone=dict(type='ResNeXt', groups=32, width_per_group=4))
