"""State-dict key names of a ResNet in timm, torchvision, MMPretrain and MMDetection.

References (the installed sources, read and checked by building every model):

- timm 1.0.31 ``timm/models/resnet.py``: ``ResNet`` with ``BasicBlock``/``Bottleneck``;
  ``create_stem`` names the 7x7 stem ``conv1``/``bn1`` and the deep stem of the ``*d`` models
  ``conv1 = Sequential(conv, bn, act, conv, bn, act, conv)`` (keys ``conv1.{0,1,3,4,6}``) plus
  ``bn1``; ``downsample_conv`` gives ``downsample.{0,1}`` (conv, bn) and ``downsample_avg``
  gives ``downsample.{1,2}`` after a pool at index 0 (``nn.Identity`` in the first stage, where
  the stride is 1); the classifier is ``fc``.
- torchvision 0.28 ``torchvision/models/resnet.py``: the same names as timm's ``resnet{18..152}``
  (no ``*d`` models).
- MMPretrain 1.2.0 ``mmpretrain/models/backbones/resnet.py``: ``ResNet`` keeps timm's names
  (``norm1`` is registered under ``bn1`` by ``build_norm_layer``); ``ResNetV1d`` builds its
  deep stem from ``ConvModule`` (``stem.{0,1,2}.{conv,bn}``) and has no ``bn1``; its
  ``ResLayer`` adds the average pool only when ``stride != 1``, so the first stage's
  downsample is ``downsample.{0,1}`` while later stages have ``downsample.{1,2}``. In an
  ``ImageClassifier`` everything sits under ``backbone.``; ``LinearClsHead`` is ``head.fc``.
- MMDetection 3.3.0 ``mmdet/models/backbones/resnet.py``: ``ResNet`` keeps timm's names;
  ``ResNetV1d``'s deep stem is a plain ``nn.Sequential`` (``stem.{0,1,3,4,6,7}``) and its
  ``ResLayer`` (``mmdet/models/layers/res_layer.py``) always adds the pool, so every stage's
  downsample is ``downsample.{1,2}``. Detectors hold it under ``backbone.``; there is no
  classifier.

Why our own tables: none of the libraries maps another's keys for the deep-stem models
(MMPretrain's ``tools/model_converters`` scripts cover torchvision only, one direction, with
no completeness check). The names are generated from the architecture (block type, blocks per
stage, stem) instead of read from built models, so that mapping is pure and fast; the tests
check them against the real models of all four libraries.

The canonical key of a tensor is its timm name; :func:`key_map` maps every canonical key of
an architecture to its name in one format.
"""
from typing import Dict, NamedTuple, Optional, Tuple

__all__ = [
    'ARCHS', 'FORMATS', 'ResNetArch', 'arch_settings', 'timm_key_shapes', 'timm_head_shapes',
    'key_map', 'head_key_map', 'BN_BUFFER_OPTIONAL'
]

#: The four layouts: timm and torchvision share their names, MMPretrain is a full classifier
#: (``backbone.`` + ``head.fc.``), MMDetection a backbone only (``backbone.``).
FORMATS = ('timm', 'torchvision', 'mmpretrain', 'mmdet')

#: The BatchNorm buffer that old checkpoints (torchvision's published ResNets) lack; PyTorch's
#: ``_NormBase._load_from_state_dict`` fills it with 0 when it is absent, so it is optional.
BN_BUFFER_OPTIONAL = 'num_batches_tracked'

_BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


class ResNetArch(NamedTuple):
    """What determines a ResNet's state-dict keys and shapes.

    Attributes:
        bottleneck (bool): ``Bottleneck`` blocks (expansion 4) or ``BasicBlock`` (1).
        layers (Tuple[int, int, int, int]): Blocks per stage.
        deep_stem (bool): The "D" variant: three 3x3 convs as stem and average-pool
            downsampling (timm ``stem_type='deep', avg_down=True``; MMPretrain/MMDetection
            ``ResNetV1d``).
    """
    bottleneck: bool
    layers: Tuple[int, int, int, int]
    deep_stem: bool


_DEPTHS = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}

#: Supported architectures, by timm's model name.
ARCHS: Dict[str, ResNetArch] = {}
for _depth, (_bottleneck, _layers) in _DEPTHS.items():
    ARCHS[f'resnet{_depth}'] = ResNetArch(_bottleneck, _layers, False)
    ARCHS[f'resnet{_depth}d'] = ResNetArch(_bottleneck, _layers, True)

# timm's deep stem is one Sequential (conv, bn, act, conv, bn, act, conv) plus ``bn1``;
# MMPretrain groups each conv with its norm in a ConvModule, MMDetection keeps the Sequential
# and puts the last norm in it.
_STEM_MMPRETRAIN = {
    'conv1.0': 'stem.0.conv', 'conv1.1': 'stem.0.bn', 'conv1.3': 'stem.1.conv',
    'conv1.4': 'stem.1.bn', 'conv1.6': 'stem.2.conv', 'bn1': 'stem.2.bn'
}
_STEM_MMDET = {
    'conv1.0': 'stem.0', 'conv1.1': 'stem.1', 'conv1.3': 'stem.3', 'conv1.4': 'stem.4',
    'conv1.6': 'stem.6', 'bn1': 'stem.7'
}
# MMPretrain's ResLayer adds no pool at stride 1, so in the first stage the downsample conv
# and norm sit one index lower than in timm (whose pool there is an nn.Identity).
_FIRST_STAGE_DOWNSAMPLE_MMPRETRAIN = {
    'layer1.0.downsample.1': 'layer1.0.downsample.0',
    'layer1.0.downsample.2': 'layer1.0.downsample.1'
}


def arch_settings(arch: str) -> ResNetArch:
    """The :class:`ResNetArch` of a timm model name.

    Args:
        arch (str): One of :data:`ARCHS` (``'resnet18'`` ... ``'resnet152'``,
            ``'resnet18d'`` ... ``'resnet152d'``).

    Returns:
        ResNetArch: Block type, blocks per stage and stem.

    Raises:
        ValueError: If ``arch`` is not supported.
    """
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {sorted(ARCHS)}, got {arch!r}')
    return ARCHS[arch]


def _bn(prefix: str, channels: int) -> Dict[str, Tuple[int, ...]]:
    return {
        f'{prefix}.{name}': (() if name == 'num_batches_tracked' else (channels, ))
        for name in _BN_KEYS
    }


def timm_key_shapes(arch: str) -> Dict[str, Tuple[int, ...]]:
    """Every backbone key of timm's ``arch`` (no classifier), in timm's order, with its shape.

    Args:
        arch (str): One of :data:`ARCHS`.

    Returns:
        Dict[str, Tuple[int, ...]]: Canonical key to tensor shape.
    """
    spec = arch_settings(arch)
    shapes: Dict[str, Tuple[int, ...]] = {}
    if spec.deep_stem:
        # timm's resnet*d use stem_width=32: 3 -> 32 -> 32 -> 64.
        shapes['conv1.0.weight'] = (32, 3, 3, 3)
        shapes.update(_bn('conv1.1', 32))
        shapes['conv1.3.weight'] = (32, 32, 3, 3)
        shapes.update(_bn('conv1.4', 32))
        shapes['conv1.6.weight'] = (64, 32, 3, 3)
    else:
        shapes['conv1.weight'] = (64, 3, 7, 7)
    shapes.update(_bn('bn1', 64))

    expansion = 4 if spec.bottleneck else 1
    inplanes = 64
    for stage, num_blocks in enumerate(spec.layers):
        planes = 64 * 2**stage
        stride = 1 if stage == 0 else 2
        for idx in range(num_blocks):
            block = f'layer{stage + 1}.{idx}'
            if spec.bottleneck:
                convs = [(planes, inplanes, 1, 1), (planes, planes, 3, 3),
                         (planes * expansion, planes, 1, 1)]
            else:
                convs = [(planes, inplanes, 3, 3), (planes, planes, 3, 3)]
            for j, shape in enumerate(convs, start=1):
                shapes[f'{block}.conv{j}.weight'] = shape
                shapes.update(_bn(f'{block}.bn{j}', shape[0]))
            if idx == 0 and (stride != 1 or inplanes != planes * expansion):
                first = 1 if spec.deep_stem else 0  # index 0 is the pool in downsample_avg
                shapes[f'{block}.downsample.{first}.weight'] = (planes * expansion, inplanes,
                                                                1, 1)
                shapes.update(_bn(f'{block}.downsample.{first + 1}', planes * expansion))
            inplanes = planes * expansion
    return shapes


def timm_head_shapes(arch: str, num_classes: int) -> Dict[str, Tuple[int, ...]]:
    """The classifier keys of timm's ``arch`` (``fc.weight``, ``fc.bias``) and their shapes.

    Args:
        arch (str): One of :data:`ARCHS`.
        num_classes (int): Number of classes.

    Returns:
        Dict[str, Tuple[int, ...]]: Canonical key to tensor shape.
    """
    features = 2048 if arch_settings(arch).bottleneck else 512
    return {'fc.weight': (num_classes, features), 'fc.bias': (num_classes, )}


def _rename_module(module: str, fmt: str, deep_stem: bool) -> str:
    if not deep_stem or fmt in ('timm', 'torchvision'):
        return module
    if fmt == 'mmpretrain':
        module = _STEM_MMPRETRAIN.get(module, module)
        return _FIRST_STAGE_DOWNSAMPLE_MMPRETRAIN.get(module, module)
    return _STEM_MMDET.get(module, module)


def _check_format(fmt: str, arch: str, name: str = 'fmt') -> None:
    if fmt not in FORMATS:
        raise ValueError(f'{name} must be one of {FORMATS}, got {fmt!r}')
    if fmt == 'torchvision' and arch_settings(arch).deep_stem:
        raise ValueError(f'{name}={fmt!r} has no {arch!r}: torchvision ships no ResNet-D')


def key_map(arch: str, fmt: str) -> Dict[str, str]:
    """Name of every backbone key of ``arch`` in ``fmt``, by canonical (timm) key.

    Args:
        arch (str): One of :data:`ARCHS`.
        fmt (str): One of :data:`FORMATS`.

    Returns:
        Dict[str, str]: Canonical key to the key in ``fmt``, one-to-one, in timm's order.

    Raises:
        ValueError: If ``arch`` or ``fmt`` is unknown, or ``fmt`` is ``'torchvision'`` with a
            ResNet-D.

    Example:
        >>> key_map('resnet50d', 'mmpretrain')['conv1.0.weight']
        'backbone.stem.0.conv.weight'
        >>> key_map('resnet50d', 'mmdet')['bn1.weight']
        'backbone.stem.7.weight'
    """
    _check_format(fmt, arch)
    deep_stem = arch_settings(arch).deep_stem
    prefix = 'backbone.' if fmt in ('mmpretrain', 'mmdet') else ''
    mapping = {}
    for key in timm_key_shapes(arch):
        module, tensor = key.rsplit('.', 1)
        mapping[key] = f'{prefix}{_rename_module(module, fmt, deep_stem)}.{tensor}'
    return mapping


def head_key_map(fmt: str) -> Optional[Dict[str, str]]:
    """Name of the classifier keys in ``fmt``, by canonical key; None where there is no head.

    Args:
        fmt (str): One of :data:`FORMATS`.

    Returns:
        Optional[Dict[str, str]]: ``{'fc.weight': ..., 'fc.bias': ...}``, or None for
        ``'mmdet'`` (a detection backbone has no classifier).

    Raises:
        ValueError: If ``fmt`` is unknown.
    """
    if fmt not in FORMATS:
        raise ValueError(f'fmt must be one of {FORMATS}, got {fmt!r}')
    if fmt == 'mmdet':
        return None
    prefix = 'head.' if fmt == 'mmpretrain' else ''
    return {key: f'{prefix}{key}' for key in ('fc.weight', 'fc.bias')}
