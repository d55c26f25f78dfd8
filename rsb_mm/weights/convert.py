"""Convert ResNet weights between timm, torchvision, MMPretrain and MMDetection, completely or
not at all.

Every key of the source must map to a key of the target, every key the target needs must be
there with the right shape, and anything else is refused with the list of keys; the classifier
is dropped only when the target has none (an MMDetection backbone) or when asked
(``num_classes=0``), and the report says so. Absent ``num_batches_tracked`` buffers are counted,
not refused. Files are read by :mod:`rsb_mm.weights.checkpoint`; the key names are in
:mod:`rsb_mm.weights.key_maps`. Why: docs/design.md, "Weights". Tests:
tests/test_weights/test_convert.py. (Over 300 lines: the conversion, its report and the
format/architecture detection share the key maps' diagnosis; apart they would pass it around.)
"""
import logging
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log

from .checkpoint import WeightsMappingError, key_diff, listing, load_state_dict_file
from .key_maps import (ARCHS, BN_BUFFER_OPTIONAL, FORMATS, arch_settings, head_key_map,
                       key_map, timm_key_shapes)

__all__ = [
    'ConversionReport', 'detect_format', 'detect_arch', 'check_state_dict',
    'convert_state_dict', 'convert_with_report', 'save_state_dict_file', 'convert_file'
]

@dataclass
class ConversionReport:
    """What :func:`convert_with_report` did.

    Attributes:
        src (str): Source format.
        dst (str): Target format.
        arch (str): Architecture (timm name).
        num_keys (int): Keys written.
        head (str): ``'converted'``, ``'dropped'`` (the source had a classifier the output does
            not) or ``'absent'`` (the source had none).
        num_classes (Optional[int]): Classes of the source's classifier; None without one.
        head_note (str): Why the head was dropped or is absent. Defaults to ''.
        missing_num_batches_tracked (int): BatchNorm layers without ``num_batches_tracked``
            in the source (PyTorch fills them with 0 on load). Defaults to 0.
    """
    src: str
    dst: str
    arch: str
    num_keys: int
    head: str
    num_classes: Optional[int]
    head_note: str = ''
    missing_num_batches_tracked: int = 0

    def summary(self) -> str:
        """One line: what was converted and what happened to the classifier."""
        line = f'{self.src} -> {self.dst} {self.arch}: {self.num_keys} keys converted'
        if self.head == 'converted':
            line += f', head kept ({self.num_classes} classes)'
        elif self.head == 'dropped':
            line += f', head ({self.num_classes} classes) dropped: {self.head_note}'
        else:
            line += f', no head in the source: {self.head_note}'
        if self.missing_num_batches_tracked:
            line += (f', {self.missing_num_batches_tracked} BatchNorm num_batches_tracked '
                     'absent (filled with 0 on load)')
        return line


def _diagnose(state_dict: Mapping, fmt: str, arch: str):
    """Compare ``state_dict`` with what ``arch`` in ``fmt`` has: unmapped source keys, missing
    canonical keys, shape mismatches (source names), missing optional buffers, head info."""
    names = key_map(arch, fmt)
    shapes = timm_key_shapes(arch)
    by_name = {name: canonical for canonical, name in names.items()}
    heads = head_key_map(fmt) or {}
    head_names = {name: canonical for canonical, name in heads.items()}

    diff = key_diff({name: shapes[canonical] for canonical, name in names.items()}, state_dict)
    unmapped = [key for key in diff.unexpected if key not in head_names]
    missing, mismatched = [by_name[name] for name in diff.missing], diff.mismatched
    optional_missing = diff.optional_missing

    present = [canonical for name, canonical in head_names.items() if name in state_dict]
    num_classes = None
    if present:
        if len(present) == 1:
            missing.extend(canonical for canonical in heads if canonical not in present)
        features = 2048 if arch_settings(arch).bottleneck else 512
        weight = state_dict.get(heads['fc.weight'])
        bias = state_dict.get(heads['fc.bias'])
        for name, value in ((heads['fc.weight'], weight), (heads['fc.bias'], bias)):
            if value is not None and not isinstance(value, torch.Tensor):
                mismatched.append(f'{name}: got {type(value).__name__}, expected a tensor')
        weight = weight if isinstance(weight, torch.Tensor) else None
        bias = bias if isinstance(bias, torch.Tensor) else None
        if weight is not None:
            num_classes = tuple(weight.shape)[0] if weight.dim() == 2 else None
            if weight.dim() != 2 or tuple(weight.shape)[1] != features:
                mismatched.append(f'{heads["fc.weight"]}: got {tuple(weight.shape)}, expected '
                                  f'(num_classes, {features})')
        if bias is not None and (bias.dim() != 1 or (num_classes is not None
                                                     and tuple(bias.shape)[0] != num_classes)):
            mismatched.append(f'{heads["fc.bias"]}: got {tuple(bias.shape)}, expected '
                              f'({num_classes if num_classes is not None else "num_classes"},)')
    return unmapped, missing, mismatched, optional_missing, bool(present), num_classes


def _raise_incomplete(what: str, fmt: str, arch: str, unmapped: List[str],
                      missing: List[str], mismatched: List[str],
                      dst: Optional[str] = None) -> None:
    parts = [f'{what}: the {fmt} {arch} state dict does not map completely']
    if unmapped:
        parts.append(listing(f'source keys with no {arch} mapping', unmapped))
    missing_names = []
    if missing:
        src_names = {**key_map(arch, fmt), **(head_key_map(fmt) or {})}
        dst_names = ({**key_map(arch, dst), **(head_key_map(dst) or {})}
                     if dst is not None else src_names)
        missing_names = [dst_names.get(k, src_names[k]) for k in missing]
        shown = [f'{dst_names.get(k, src_names[k])} (source name {src_names[k]})'
                 if dst is not None and dst_names.get(k) != src_names[k] else src_names[k]
                 for k in missing]
        parts.append(listing('missing target keys', shown))
    if mismatched:
        parts.append(listing('shape mismatches', mismatched))
    raise WeightsMappingError('\n'.join(parts), unmapped, missing_names, mismatched)


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {sorted(ARCHS)}, got {arch!r}')


def _check_fmt(fmt: str, name: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f'{name} must be one of {FORMATS}, got {fmt!r}')


def detect_format(state_dict: Mapping) -> str:
    """Tell the layout of a ResNet state dict from its key names.

    timm and torchvision name their ResNets alike, so both come back as ``'timm'`` (converting
    to either gives the same keys). Keys under ``backbone.`` are ``'mmpretrain'`` when a
    ``head.`` or MMPretrain's deep stem (``backbone.stem.0.conv.``) is there, else ``'mmdet'``
    (a plain ResNet's backbone keys are the same in both).

    Args:
        state_dict (Mapping): Key to tensor.

    Returns:
        str: ``'timm'``, ``'mmpretrain'`` or ``'mmdet'``.

    Raises:
        ValueError: If the keys look like none of them.
    """
    keys = list(state_dict)
    if not keys:
        raise ValueError('cannot detect the format of an empty state dict')
    if any(k.startswith('backbone.') for k in keys):
        if 'backbone.stem.0.conv.weight' in state_dict or any(
                k.startswith('head.') for k in keys):
            return 'mmpretrain'
        return 'mmdet'
    if 'conv1.weight' in state_dict or 'conv1.0.weight' in state_dict:
        return 'timm'
    raise ValueError(
        'cannot detect the format of this state dict (no conv1.weight, conv1.0.weight or '
        f'backbone.* key; first keys: {keys[:5]}); pass the source format explicitly')


def _backbone_keys(names: Mapping[str, str]) -> set:
    return {name for canonical, name in names.items()
            if not canonical.endswith(BN_BUFFER_OPTIONAL)}


def detect_arch(state_dict: Mapping, fmt: str) -> str:
    """The architecture whose keys (in ``fmt``) the state dict has, classifier aside.

    Args:
        state_dict (Mapping): Key to tensor.
        fmt (str): Its format, one of :data:`~rsb_mm.weights.key_maps.FORMATS`.

    Returns:
        str: One of :data:`~rsb_mm.weights.key_maps.ARCHS`.

    Raises:
        WeightsMappingError: If no architecture has exactly these keys; the message lists the
            differences with the closest one.
    """
    _check_fmt(fmt, 'fmt')
    heads = set((head_key_map(fmt) or {}).values())
    keys = {k for k in state_dict
            if k not in heads and not k.endswith('.' + BN_BUFFER_OPTIONAL)}
    best, best_diff = None, None
    for arch in ARCHS:
        if fmt == 'torchvision' and arch_settings(arch).deep_stem:
            continue
        diff = len(keys ^ _backbone_keys(key_map(arch, fmt)))
        if diff == 0:
            return arch
        if best_diff is None or diff < best_diff:
            best, best_diff = arch, diff
    unmapped, missing, mismatched, *_ = _diagnose(state_dict, fmt, best)
    _raise_incomplete(f'no supported architecture matches (closest: {best})', fmt, best,
                      unmapped, missing, mismatched)


def check_state_dict(state_dict: Mapping, fmt: str, arch: str) -> None:
    """Refuse a state dict that is not exactly ``arch`` in ``fmt`` (a classifier is optional).

    Args:
        state_dict (Mapping): Key to tensor.
        fmt (str): Its format.
        arch (str): The architecture it must be.

    Raises:
        WeightsMappingError: Listing the unexpected keys, the missing keys and the shape
            mismatches (key, shape found, shape expected).
    """
    _check_fmt(fmt, 'fmt')
    _check_arch(arch)
    unmapped, missing, mismatched, *_ = _diagnose(state_dict, fmt, arch)
    if unmapped or missing or mismatched:
        _raise_incomplete('refused', fmt, arch, unmapped, missing, mismatched)


def convert_with_report(state_dict: Mapping, *, src: Optional[str] = None, dst: str,
                        arch: Optional[str] = None,
                        num_classes: Optional[int] = None
                        ) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Rename a ResNet state dict from one format to another, refusing anything incomplete.

    The tensors are not copied: the output holds the input's tensors under new names, in the
    target model's ``state_dict()`` order.

    Args:
        state_dict (Mapping): Key to tensor, in format ``src``.
        src (str, optional): ``'timm'``, ``'torchvision'``, ``'mmpretrain'`` or ``'mmdet'``.
            Defaults to None (:func:`detect_format`).
        dst (str): The target format, from the same set.
        arch (str, optional): timm model name (``'resnet50'``, ``'resnet50d'``, ...).
            Defaults to None (:func:`detect_arch`).
        num_classes (int, optional): None keeps the source's classifier as it is (dropped for
            ``dst='mmdet'``, which has none); 0 drops it on purpose; a positive number
            requires the source's classifier to have that many classes. Defaults to None.

    Returns:
        Tuple[Dict[str, torch.Tensor], ConversionReport]: The converted state dict and what
        was done.

    Raises:
        ValueError: For an unknown format or architecture, ``torchvision`` with a ResNet-D, a
            negative ``num_classes``, or a positive one the source's classifier does not have.
        WeightsMappingError: If the source does not map completely onto the target; the
            message lists the unmapped source keys, the missing target keys and the shape
            mismatches.
    """
    _check_fmt(dst, 'dst')
    if src is None:
        src = detect_format(state_dict)
    _check_fmt(src, 'src')
    if arch is None:
        arch = detect_arch(state_dict, src)
    _check_arch(arch)
    for name, fmt in (('src', src), ('dst', dst)):
        if fmt == 'torchvision' and arch_settings(arch).deep_stem:
            raise ValueError(f'{name}={fmt!r} has no {arch!r}: torchvision ships no ResNet-D; '
                             "use 'timm'")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 0):
        raise ValueError(f'num_classes must be None or an int >= 0, got {num_classes!r}')
    if num_classes and dst == 'mmdet':
        raise ValueError(f"num_classes={num_classes} asks for a classifier, but dst='mmdet' "
                         'is a backbone without one; use num_classes=None or 0')

    unmapped, missing, mismatched, optional_missing, has_head, src_classes = _diagnose(
        state_dict, src, arch)
    if unmapped or missing or mismatched:
        _raise_incomplete(f'cannot convert to {dst}', src, arch, unmapped, missing,
                          mismatched, dst=dst)
    if num_classes and not has_head:
        raise ValueError(f'num_classes={num_classes} asks for a classifier, but the {src} '
                         'state dict has none')
    if num_classes and src_classes != num_classes:
        raise ValueError(f'num_classes={num_classes}, but the source classifier has '
                         f'{src_classes} classes')

    src_names, dst_names = key_map(arch, src), key_map(arch, dst)
    out = {dst_names[c]: state_dict[n] for c, n in src_names.items() if n in state_dict}
    src_heads, dst_heads = head_key_map(src), head_key_map(dst)
    if not has_head:
        head, note = 'absent', 'the output has none'
    elif dst_heads is None:
        head, note = 'dropped', f'the {dst} format is a backbone without a classifier'
    elif num_classes == 0:
        head, note = 'dropped', 'num_classes=0 asked for no classifier'
    else:
        head, note = 'converted', ''
        for canonical, name in src_heads.items():
            out[dst_heads[canonical]] = state_dict[name]
    report = ConversionReport(src, dst, arch, len(out), head, src_classes, note,
                              optional_missing)
    return out, report


def convert_state_dict(state_dict: Mapping, *, src: Optional[str] = None, dst: str,
                       arch: Optional[str] = None,
                       num_classes: Optional[int] = None) -> Dict[str, torch.Tensor]:
    """:func:`convert_with_report` that logs the report and returns the state dict.

    Example:
        >>> import timm
        >>> sd = timm.create_model('resnet50').state_dict()
        >>> mm = convert_state_dict(sd, src='timm', dst='mmpretrain', arch='resnet50')
        >>> mm['head.fc.weight'].shape
        torch.Size([1000, 2048])
    """
    out, report = convert_with_report(state_dict, src=src, dst=dst, arch=arch,
                                      num_classes=num_classes)
    level = logging.WARNING if report.head == 'dropped' else logging.INFO
    print_log(report.summary(), logger='current', level=level)
    return out


def save_state_dict_file(state_dict: Mapping[str, torch.Tensor], path: str,
                         meta: Optional[Dict[str, str]] = None) -> None:
    """Write a state dict as ``.safetensors`` or ``.pth`` (``.pt``/``.bin``), by extension.

    Args:
        state_dict (Mapping[str, torch.Tensor]): Key to tensor.
        path (str): Output file; its folder is created.
        meta (Dict[str, str], optional): Strings describing the weights. A ``.pth`` gets the
            MMEngine layout ``{'meta': meta, 'state_dict': ...}`` (which MMEngine, timm and
            the ``Pretrained`` init all read), a ``.safetensors`` gets them as its metadata.
            Defaults to None (a ``.pth`` holds the bare state dict, as torchvision's do).

    Raises:
        ValueError: For another extension, or a non-string ``meta`` value.
    """
    meta = dict(meta or {})
    bad = {k: v for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)}
    if bad:
        raise ValueError(f'meta must map str to str, got {bad}')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if path.endswith('.safetensors'):
        from safetensors.torch import save_file

        # safetensors refuses views and tensors sharing memory: write fresh contiguous copies.
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, path, metadata={'format': 'pt', **meta})
    elif path.endswith(('.pth', '.pt', '.bin')):
        tensors = {k: v for k, v in state_dict.items()}
        torch.save(tensors if not meta else {'meta': meta, 'state_dict': tensors}, path)
    else:
        raise ValueError(f'path must end with .pth, .pt, .bin or .safetensors, got {path!r}')


def convert_file(src_path: str, dst_path: str, *, src: Optional[str] = None, dst: str,
                 arch: Optional[str] = None, num_classes: Optional[int] = None,
                 key: Optional[str] = None) -> ConversionReport:
    """Read ``src_path``, convert it with :func:`convert_with_report`, write ``dst_path``.

    MMPretrain and MMDetection outputs saved as ``.pth`` carry a small ``meta`` (source
    format, architecture, rsb_mm version); timm and torchvision outputs are bare state dicts.

    Args:
        src_path (str): ``.pth``/``.safetensors`` input.
        dst_path (str): ``.pth``/``.safetensors`` output.
        src (str, optional): Source format. Defaults to None (detected).
        dst (str): Target format.
        arch (str, optional): Architecture. Defaults to None (detected).
        num_classes (int, optional): See :func:`convert_with_report`. Defaults to None.
        key (str, optional): See :func:`load_state_dict_file`. Defaults to None.

    Returns:
        ConversionReport: What was converted, including a dropped classifier (its
        ``summary()`` is one line; ``tools/convert_weights.py`` prints it).
    """
    from ..version import __version__

    state_dict = load_state_dict_file(src_path, key=key)
    out, report = convert_with_report(state_dict, src=src, dst=dst, arch=arch,
                                      num_classes=num_classes)
    meta = None
    if dst in ('mmpretrain', 'mmdet') or dst_path.endswith('.safetensors'):
        meta = dict(converted_from=report.src, layout=dst, arch=report.arch,
                    source_file=osp.basename(src_path), rsb_mm_version=__version__)
    save_state_dict_file(out, dst_path, meta=meta)
    return report
