# RSB A3 applied unchanged to ResNet-50-D (paper Table 3: 160 / 224, 78.7 top-1 val).
# MMPretrain's `ResNetV1d` (deep stem, average-pool shortcut). Its stochastic
# depth is MMPretrain's own: the same per-block rates (linear from 0 over all blocks) and
# placement as timm, drawn by mmcv's DropPath (same distribution, other random draws);
# `ResNetTimmDropPath` builds the plain ResNet only.
_base_ = ['../rsb_a3_resnet50.py']

model = dict(backbone=dict(type='ResNetV1d'))
