"""``tools/gradcam.py``: two --model columns ("none" = random weights, one with a chosen layer)
for a folder of images give one PNG of the grid's size; a wrong number of layers is refused."""
import os.path as osp
import runpy
import sys
from unittest import mock

import pytest
from PIL import Image

from rsb_mm.testing import sample_photos

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'gradcam.py')


def test_gradcam_grid_png(tmp_path, capsys):
    images = tmp_path / 'images'
    images.mkdir()
    Image.fromarray(sample_photos(1)[0]).save(images / 'photo.png')
    config = osp.join(REPO, 'configs', 'archs', 'rsb_a3_resnet18.py')
    out = str(tmp_path / 'grid.png')
    argv = [TOOL, str(images), out, '--model', 'default layer', config, 'none', '--model',
            'layer3', config, 'none', '--target-layers', 'default', 'backbone.layer3',
            '--cell-size', '96']
    # as `python tools/gradcam.py ...` runs it
    with mock.patch.object(sys, 'argv', argv):
        runpy.run_path(TOOL, run_name='__main__')
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.size == (96 * 3, 24 + 96)
    printed = capsys.readouterr().out
    assert "1 images x 2 models, 288x120 px, layers ['backbone.layer4.1.bn2', " \
           "'backbone.layer3']" in printed

    main = runpy.run_path(TOOL)['main']
    with pytest.raises(SystemExit):
        main([str(images), out, '--model', 'a', config, 'none', '--target-layers', 'x', 'y'])
