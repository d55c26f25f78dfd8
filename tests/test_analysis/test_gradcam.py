"""Grad-CAM grid: a real RSB checkpoint next to random weights for 2 images gives one PNG of
exactly the grid's size whose cells are the input and the two overlays; the maps are in [0, 1],
differ between the checkpoints and with the explained class; the default layers follow
MMPretrain's vis_cam; token activations become maps."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from rsb_mm.analysis.gradcam import (HEADER, _reshape_tokens, compute_cams, default_target_layer,
                                     gradcam_grid, list_images)
from rsb_mm.apis import get_model
from rsb_mm.testing import sample_photos

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
A3 = osp.join(REPO, 'configs', 'rsb_a3_resnet50.py')
CELL = 64


def _small_a3():
    """The A3 config with its test pipeline at 64 px (short side 67, centre crop 64)."""
    cfg = Config.fromfile(A3)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'ResizeEdge':
            step['scale'] = 67
        elif step['type'] == 'CenterCrop':
            step['crop_size'] = CELL
    return cfg


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, photo in enumerate(sample_photos(2)):
        Image.fromarray(photo).resize((120, 90)).save(folder / f'img{i}.jpg')
    (folder / 'notes.txt').write_text('not an image')
    return str(folder)


def test_grid_of_two_checkpoints(rsb_checkpoint, image_dir, tmp_path):
    out = str(tmp_path / 'grid' / 'cam.png')
    small = _small_a3()
    grid = gradcam_grid([('A3 1 iter', small, rsb_checkpoint), ('random', small, None)],
                        image_dir, out)
    cell = CELL  # the test crop
    assert grid.size == (cell * 3, HEADER + cell * 2)
    assert [osp.basename(p) for p in grid.images] == ['img0.jpg', 'img1.jpg']
    assert grid.target_layers == ['backbone.layer4.2.bn3'] * 2
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.size == grid.size
        pixels = np.asarray(img.convert('RGB')).astype(int)
    assert grid.cams.shape == (2, 2, cell, cell) and grid.cams.dtype == np.float32
    assert grid.cams.min() >= 0 and grid.cams.max() <= 1
    assert grid.cams.max() > 0.99  # scaled per image: not all zero
    # the two checkpoints explain the images differently
    assert np.abs(grid.cams[:, 0] - grid.cams[:, 1]).mean() > 0.05
    # cells: the input (column 0) and its overlays (columns 1, 2) differ from it
    for i in range(2):
        top = HEADER + i * cell
        cells = [pixels[top:top + cell, j * cell:(j + 1) * cell] for j in range(3)]
        assert np.abs(cells[1] - cells[0]).mean() > 10
        assert np.abs(cells[2] - cells[1]).mean() > 1
    # the header row is the label strip (white background)
    assert (pixels[:HEADER, -4:] == 255).all()


def test_explained_class_changes_the_map(rsb_checkpoint, image_dir):
    model = get_model(_small_a3(), rsb_checkpoint)
    paths = list_images(image_dir)
    shown, top_class, layer = compute_cams(model, paths)
    assert shown.shape == (2, CELL, CELL, 3) and shown.dtype == np.uint8
    _, other_class, _ = compute_cams(model, paths, target_layer='backbone.layer3',
                                     target_category=7)
    assert top_class.shape == other_class.shape == (2, CELL, CELL)
    assert not np.allclose(top_class, other_class, atol=1e-3)
    with pytest.raises(ValueError, match="no layer 'backbone.layer9'"):
        compute_cams(model, paths, target_layer='backbone.layer9')


def test_default_layers_of_timm_models():
    vit = get_model(osp.join(REPO, 'configs', 'archs', 'rsb_a1_vit_tiny_p16.py'))
    # the norm before the last attention block: after it only the class token is used
    assert default_target_layer(vit) == 'model.blocks.11.norm1'
    effnet = get_model(osp.join(REPO, 'configs', 'archs', 'rsb_a1_efficientnet_b0.py'))
    assert default_target_layer(effnet) == 'model.bn2'


def test_tokens_become_maps():
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)
    maps = _reshape_tokens(tokens)
    assert maps.shape == (2, 3, 4, 4)
    # the class token (index 0) is dropped, token 1 is the top-left cell
    assert torch.equal(maps[:, :, 0, 0], tokens[:, 1])
    assert torch.equal(maps[:, :, 3, 3], tokens[:, 16])
    with pytest.raises(ValueError, match='cannot draw a map'):
        _reshape_tokens(torch.zeros(2, 3))


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match='image folder not found'):
        list_images(str(tmp_path / 'nothing'))
    with pytest.raises(FileNotFoundError, match='no image'):
        list_images(str(tmp_path))
    with pytest.raises(ValueError, match='at least one'):
        gradcam_grid([], str(tmp_path), str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='target_layers has 2 entries for 1 columns'):
        gradcam_grid([('a', A3, None)], str(tmp_path), str(tmp_path / 'x.png'),
                     target_layers=[None, None])
