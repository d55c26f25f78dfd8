"""Grad-CAM maps of several checkpoints side by side: one PNG grid for a folder of images.

The W&B report on the paper compares the Grad-CAM of the A1, A2 and A3 ResNet-50s image by
image (A1 and A2 focus on the object, A3 spreads out). This module draws that comparison for any
classifiers built from configs (rsb_mm's, MMPretrain's ``ImageClassifier`` or
``TimmClassifier``): rows are images, the first column the network input, then one column per
checkpoint with its map over the image.

The maps come from ``pytorch_grad_cam`` (grad-cam 1.5.4, the library MMPretrain's
``tools/visualization/vis_cam.py`` uses), with vis_cam's conventions:

* each image goes through its model's config test pipeline (resize, centre crop) and data
  preprocessor, and the map is for the model's top class unless a class is given;
* the default target layer is the last normalisation layer of the backbone (of the timm model
  for a ``TimmClassifier``); for a ViT-like model (token outputs), the one before the last
  attention block, since after it only the class token reaches the head. Token activations
  ``(B, L, C)`` become maps ``(B, C, H, W)`` after dropping the leading extra tokens
  (``L - H * W`` of them, with ``H = W``);
* the map is scaled to [0, 1] per image (``pytorch_grad_cam``'s ``scale_cam_image``).

The grid is assembled with PIL, cell by cell, so its size is exact:
``(cell * (1 + checkpoints), header + cell * images)`` with a header row of labels.
"""
import math
import os
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from torch import nn

__all__ = [
    'IMAGE_EXTENSIONS', 'CamColumn', 'GradCamGrid', 'list_images', 'default_target_layer',
    'compute_cams', 'gradcam_grid'
]

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
#: Height of the label row of the grid, in pixels.
HEADER = 24


class CamColumn(NamedTuple):
    """One column of the grid: a label, a config (path or ``Config``) and a checkpoint (None:
    random weights)."""
    label: str
    config: Union[str, Config]
    checkpoint: Optional[str]


class GradCamGrid(NamedTuple):
    """What :func:`gradcam_grid` drew.

    Attributes:
        path (str): The PNG written.
        size (tuple[int, int]): Its width and height.
        cams (np.ndarray): ``(images, columns, cell, cell)`` float32 maps in [0, 1].
        labels (list[str]): Column labels.
        images (list[str]): Image paths, one per row.
        target_layers (list[str]): The layer used for each column.
    """
    path: str
    size: Tuple[int, int]
    cams: np.ndarray
    labels: List[str]
    images: List[str]
    target_layers: List[str]


def list_images(folder: str) -> List[str]:
    """The image files of a folder (not recursive), sorted by name.

    Raises:
        FileNotFoundError: If the folder does not exist or has no image.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'image folder not found: {folder}')
    images = sorted(osp.join(folder, name) for name in os.listdir(folder)
                    if name.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise FileNotFoundError(f'no image ({", ".join(IMAGE_EXTENSIONS)}) in {folder}')
    return images


def _is_norm(module: nn.Module) -> bool:
    from mmengine.utils.dl_utils import is_norm
    return is_norm(module)


def _extra_tokens(model: nn.Module) -> Optional[int]:
    for module in model.modules():
        for attr in ('num_prefix_tokens', 'num_extra_tokens'):
            if isinstance(getattr(module, attr, None), int):
                return getattr(module, attr)
    return None


def default_target_layer(model: nn.Module) -> str:
    """vis_cam's default target layer: the backbone's last norm layer (see module docstring).

    Args:
        model (nn.Module): A classifier with a ``backbone`` or a ``TimmClassifier`` (``model``).

    Returns:
        str: The layer's name in ``model.named_modules()``.

    Raises:
        ValueError: If the model has no normalisation layer.
    """
    prefix = next((name for name in ('backbone', 'model') if hasattr(model, name)), '')
    root = model.get_submodule(prefix) if prefix else model
    norms = [name for name, module in root.named_modules(prefix=prefix) if _is_norm(module)]
    if not norms:
        raise ValueError(f'{type(model).__name__} has no normalisation layer to take as the '
                         'Grad-CAM target: name one')
    if _extra_tokens(model) and len(norms) >= 3:
        return norms[-3]
    return norms[-1]


def _reshape_tokens(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.ndim == 4:
        return tensor
    if tensor.ndim != 3:
        raise ValueError(f'cannot draw a map from activations of shape {tuple(tensor.shape)}')
    length = tensor.shape[1]
    side = math.isqrt(length)
    # Leading extra tokens (class, distillation, registers) are what is left over the grid.
    tokens = tensor[:, length - side * side:, :]
    return tokens.reshape(tensor.shape[0], side, side, tensor.shape[2]).permute(0, 3, 1, 2)


class _Logits(nn.Module):

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x, mode='tensor')
        return out[-1] if isinstance(out, (tuple, list)) else out


def _prepare(model: nn.Module, image_paths: Sequence[str]) -> Tuple[torch.Tensor, np.ndarray]:
    from ..apis.model import config_scope
    cfg = model._config
    pipeline_cfg = list(cfg.test_dataloader.dataset.pipeline)
    with DefaultScope.overwrite_default_scope(config_scope(cfg)):
        pipeline = Compose(pipeline_cfg)
        samples = [pipeline(dict(img_path=p)) for p in image_paths]
    sizes = {tuple(s['inputs'].shape) for s in samples}
    if len(sizes) != 1:
        raise ValueError(f'the test pipeline of {cfg.filename} gives images of different sizes '
                         f'{sorted(sizes)}: it needs a crop to a fixed size')
    loader = next((t for t in pipeline_cfg if t.get('type') == 'LoadImageFromFile'), {})
    shown = np.stack([s['inputs'].numpy().transpose(1, 2, 0) for s in samples])
    if loader.get('channel_order', 'bgr') == 'bgr':
        shown = shown[..., ::-1]
    batch = model.data_preprocessor(
        dict(inputs=[s['inputs'] for s in samples],
             data_samples=[s['data_samples'] for s in samples]), False)
    return batch['inputs'], np.ascontiguousarray(shown)


def compute_cams(model: nn.Module,
                 image_paths: Sequence[str],
                 target_layer: Optional[str] = None,
                 target_category: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray, str]:
    """Grad-CAM maps of one model for some images.

    Args:
        model (nn.Module): A classifier from :func:`rsb_mm.apis.get_model` (it has the
            ``_config`` whose test pipeline prepares the images).
        image_paths (Sequence[str]): Image files.
        target_layer (str, optional): Layer name (as in ``model.named_modules()``). Defaults
            to :func:`default_target_layer`.
        target_category (int, optional): Class whose score is explained. Defaults to each
            image's top class.

    Returns:
        tuple[np.ndarray, np.ndarray, str]: The network inputs as RGB uint8
        ``(N, H, W, 3)``, the maps ``(N, H, W)`` in [0, 1], and the target layer's name.

    Raises:
        ValueError: If the layer does not exist (the message lists the last layers).
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer_name = target_layer or default_target_layer(model)
    modules = dict(model.named_modules())
    if layer_name not in modules:
        raise ValueError(f'no layer {layer_name!r} in {type(model).__name__}; its last layers: '
                         f'{list(modules)[-8:]}')
    inputs, shown = _prepare(model, image_paths)
    device = next(model.parameters()).device
    targets = (None if target_category is None else
               [ClassifierOutputTarget(int(target_category))] * len(image_paths))
    with GradCAM(model=_Logits(model), target_layers=[modules[layer_name]],
                 reshape_transform=_reshape_tokens) as cam:
        maps = cam(input_tensor=inputs.to(device), targets=targets)
    return shown, np.asarray(maps, dtype=np.float32), layer_name


def _resize(array: np.ndarray, size: int, is_map: bool) -> np.ndarray:
    from PIL import Image
    if array.shape[0] == size and array.shape[1] == size:
        return array
    if is_map:
        image = Image.fromarray(array.astype(np.float32), mode='F')
        return np.clip(np.asarray(image.resize((size, size), Image.BILINEAR)), 0., 1.)
    return np.asarray(Image.fromarray(array).resize((size, size), Image.BICUBIC))


def gradcam_grid(columns: Sequence[Union[CamColumn, Tuple[str, str, Optional[str]]]],
                 images: Union[str, Sequence[str]],
                 out_path: str,
                 target_layers: Optional[Sequence[Optional[str]]] = None,
                 target_category: Optional[int] = None,
                 cell_size: Optional[int] = None,
                 device: str = 'cpu') -> GradCamGrid:
    """Draw the Grad-CAM of several checkpoints for several images into one PNG grid.

    Args:
        columns (Sequence[CamColumn | tuple]): ``(label, config, checkpoint)`` per column;
            checkpoint None keeps the random initial weights.
        images (str | Sequence[str]): A folder (its images, sorted) or image files.
        out_path (str): Output PNG file.
        target_layers (Sequence[str | None], optional): One layer name per column (None:
            the default). Defaults to None (the default for every column).
        target_category (int, optional): Class to explain. Defaults to each model's top class.
        cell_size (int, optional): Side of a cell. Defaults to the first column's input size.
        device (str): Where the models run. Defaults to 'cpu'.

    Returns:
        GradCamGrid: The path, size, maps, labels, images and layers.

    Raises:
        ValueError: If no column is given or ``target_layers`` has the wrong length.
        FileNotFoundError: If the folder or a file is missing.
    """
    from PIL import Image, ImageDraw

    from ..apis import get_model

    columns = [CamColumn(*c) for c in columns]
    if not columns:
        raise ValueError('give at least one (label, config, checkpoint) column')
    layers = list(target_layers) if target_layers is not None else [None] * len(columns)
    if len(layers) != len(columns):
        raise ValueError(f'target_layers has {len(layers)} entries for {len(columns)} columns')
    paths = list_images(images) if isinstance(images, str) else list(images)
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'image not found: {path}')

    shown, maps, used = None, [], []
    for column, layer in zip(columns, layers):
        model = get_model(column.config, column.checkpoint, device=device)
        column_shown, column_maps, layer_name = compute_cams(model, paths, layer,
                                                             target_category)
        cell_size = cell_size or column_shown.shape[1]
        if shown is None:
            shown = np.stack([_resize(img, cell_size, False) for img in column_shown])
        maps.append(np.stack([_resize(m, cell_size, True) for m in column_maps]))
        used.append(layer_name)
        del model
    cams = np.stack(maps, axis=1)  # (images, columns, cell, cell)

    from pytorch_grad_cam.utils.image import show_cam_on_image
    width, height = cell_size * (1 + len(columns)), HEADER + cell_size * len(paths)
    grid = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(grid)
    for j, label in enumerate(['input'] + [c.label for c in columns]):
        draw.text((j * cell_size + 4, 6), label, fill='black')
    for i in range(len(paths)):
        top = HEADER + i * cell_size
        grid.paste(Image.fromarray(shown[i]), (0, top))
        base = shown[i].astype(np.float32) / 255.
        for j in range(len(columns)):
            overlay = show_cam_on_image(base, cams[i, j], use_rgb=True)
            grid.paste(Image.fromarray(overlay), ((j + 1) * cell_size, top))
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    grid.save(out_path, format='PNG')
    return GradCamGrid(out_path, (width, height), cams, [c.label for c in columns], paths, used)
