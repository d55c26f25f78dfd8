"""``rsb_mm::`` config inheritance from any directory, through the installed package."""
import os.path as osp
import subprocess
import sys

CHECK = r'''
import rsb_mm
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
cfg = Config.fromfile('my_experiment.py')
assert cfg.model.backbone.type == 'ResNetTimmDropPath', cfg.model
assert cfg.model.head.num_classes == 10
# MMEngine tags what comes from another package with that package's scope, and the rsb_mm
# scope resolves rsb_mm's and MMPretrain's modules.
assert cfg.model._scope_ == 'rsb_mm'
with DefaultScope.overwrite_default_scope('mmpretrain'):
    model = MODELS.build(cfg.model)
assert type(model.backbone).__name__ == 'ResNetTimmDropPath'
assert model.head.fc.out_features == 10
print('INHERITED OK')
'''


def test_inherit_rsb_mm_base_config_from_another_directory(tmp_path):
    # A user's experiment outside the checkout: MMEngine must find rsb_mm's configs through
    # the installed package (rsb_mm/.mim), not through the working directory.
    (tmp_path / 'my_experiment.py').write_text(
        "_base_ = ['rsb_mm::_base_/models/resnet50_rsb.py']\n"
        'model = dict(head=dict(num_classes=10))\n')
    proc = subprocess.run([sys.executable, '-c', CHECK], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and 'INHERITED OK' in proc.stdout, proc.stderr[-3000:]


def test_configs_ship_inside_the_package():
    import rsb_mm as pkg
    mim = osp.join(osp.dirname(pkg.__file__), '.mim')
    assert osp.isfile(osp.join(mim, 'configs', 'rsb_a1_resnet50.py'))
    assert osp.isfile(osp.join(mim, 'model-index.yml'))
