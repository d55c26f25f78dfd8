"""MMPretrain's ResNet with timm's stochastic depth: per-block rates and RNG draws.

Reference: ``timm/models/resnet.py`` (timm 1.0.31): ``make_blocks`` gives block ``i`` of
``n`` (counted over the whole network) the rate ``drop_path_rate * i / (n - 1)`` and a
``timm.layers.DropPath`` (none when the rate is 0); ``Bottleneck.forward`` /
``BasicBlock.forward`` apply it after the last BN, before the residual add.

Why not plain ``mmpretrain.models.ResNet(drop_path_rate=...)`` (mmpretrain 1.2.0): its
architecture matches timm's ``resnet*`` (same eval outputs for the same weights, same key
names up to the head), and so do its drop-path rates and placement: ``ResNet.__init__``
ramps them with ``torch.linspace(0, drop_path_rate, total_depth)`` and ``Bottleneck``
applies ``self.drop_path`` after ``norm3``, before ``out += identity``
(mmpretrain/models/backbones/resnet.py). Two things differ:

* the random draws: its ``mmcv.cnn.bricks.DropPath`` keeps a sample when
  ``floor(keep + torch.rand(...))`` is 1 (mmcv/cnn/bricks/drop.py), timm's ``drop_path``
  when ``bernoulli_(keep)`` is 1 (timm/layers/drop.py). Same distribution, different use of
  the random stream, so the same seed drops different samples and train-mode outputs
  differ from timm's;
* the rates are float32 (``linspace(...).item()``), timm's float64: equal to ~2e-9.

This subclass only swaps each block's ``drop_path`` module for ``timm.layers.DropPath`` at
timm's rate. DropPath has no parameters or buffers, so the state dict, its keys and therefore
the checkpoints are exactly MMPretrain's ``ResNet``'s; everything else (``out_indices``,
``frozen_stages``, ``norm_eval``, ``zero_init_residual``, ``with_cp``, ...) is inherited.
"""
from typing import List, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS
from timm.layers import DropPath

__all__ = ['ResNetTimmDropPath', 'timm_drop_path_rates']


def timm_drop_path_rates(drop_path_rate: float, num_blocks: int) -> List[float]:
    """Per-block drop-path rates of timm's ResNet ``make_blocks``.

    The rate rises linearly with the block's index over the whole network, from 0 for the
    first block to ``drop_path_rate`` for the last, written as timm writes it so the floats
    are bit-identical.

    Args:
        drop_path_rate (float): Rate of the last block.
        num_blocks (int): Number of residual blocks in the network (16 for ResNet-50).

    Returns:
        List[float]: One rate per block, in forward order.
    """
    # timm divides by (n - 1); a one-block network (impossible for ResNet) gets rate 0.
    denominator = max(num_blocks - 1, 1)
    return [drop_path_rate * idx / denominator for idx in range(num_blocks)]


@MODELS.register_module()
class ResNetTimmDropPath(ResNet):
    """MMPretrain's ``ResNet`` whose stochastic depth behaves like timm's ``ResNet``.

    Identical to ``mmpretrain.models.ResNet`` (same modules, same state-dict keys, same
    checkpoints) except for drop path: block ``i`` of ``n`` gets ``timm.layers.DropPath``
    with rate ``drop_path_rate * i / (n - 1)``, as in timm's ``make_blocks``, so that for
    the same weights and the same ``torch.manual_seed`` the train-mode outputs equal timm's.

    Args:
        depth (int): Network depth, from {18, 34, 50, 101, 152}.
        drop_path_rate (float): Stochastic-depth rate of the last block; the first block
            gets 0. Must be in [0, 1). Defaults to 0.0.
        channels_last (bool): Keep the weights and run the convolutions in the
            channels-last (NHWC) memory format, as timm's ``train.py --channels-last``: the
            weights are converted when built (before the runner wraps the model in DDP,
            whose gradient buckets follow the parameters' layout) and each input on entry.
            Faster with AMP on tensor-core GPUs; the state dict and the results are the same
            up to convolution rounding. Defaults to False.
        **kwargs: Any other argument of ``mmpretrain.models.ResNet``.

    Raises:
        ValueError: If ``drop_path_rate`` is not in [0, 1).

    Example:
        >>> backbone = ResNetTimmDropPath(depth=50, drop_path_rate=0.05)
        >>> [round(r, 4) for r in backbone.drop_path_rates][:3]
        [0.0, 0.0033, 0.0067]
    """

    def __init__(self,
                 depth: int,
                 drop_path_rate: float = 0.0,
                 channels_last: bool = False,
                 **kwargs) -> None:
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        if not isinstance(channels_last, bool):
            raise ValueError(f'channels_last must be a bool, got {channels_last!r}')
        # The parent's drop path draws its masks with mmcv's DropPath; build it without
        # drop path and install timm's below.
        super().__init__(depth=depth, drop_path_rate=0.0, **kwargs)
        self.drop_path_rate = drop_path_rate
        blocks = [block for name in self.res_layers for block in getattr(self, name)]
        self.drop_path_rates = timm_drop_path_rates(drop_path_rate, len(blocks))
        for block, rate in zip(blocks, self.drop_path_rates):
            # timm builds no DropPath at rate 0, so no random number is drawn there either.
            block.drop_path = DropPath(rate) if rate > 0. else nn.Identity()
        self.channels_last = channels_last
        if channels_last:
            # Module.to keeps the format through later .to(device), in-place initialisation
            # and load_state_dict, all of which write into these tensors.
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Forward as ``ResNet.forward``, the input first made channels-last if asked."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return super().forward(x)
