"""``tools/plot_curves.py`` turns a work dir's logs into one PNG and names a bad request; the
logging it reads is on by default (LocalVisBackend + TensorBoard in default_runtime.py) and W&B
is one --cfg-options switch away."""
import json
import os
import os.path as osp
import runpy

import pytest
from mmengine.config import Config
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'plot_curves.py')


def test_plot_curves_png(tmp_path, capsys):
    run_dir = tmp_path / 'work' / '20260101_000000'
    os.makedirs(run_dir / 'vis_data')
    records = [dict(lr=0.1 * i, loss=1.0 / i, epoch=1, iter=i, step=i) for i in (1, 2, 3)]
    records.append({'accuracy/top1': 50.0, 'v2/accuracy/top1': 40.0, 'time': 1.0, 'step': 1})
    (run_dir / 'vis_data' / 'scalars.json').write_text(
        ''.join(json.dumps(r) + '\n' for r in records))
    main = runpy.run_path(TOOL)['main']
    out = str(tmp_path / 'curves.png')
    main([str(tmp_path / 'work'), out])
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.size == (1500, 400)
    assert capsys.readouterr().out.strip() == (
        f"{out}: 3 loss points, 2 metrics ['accuracy/top1', 'v2/accuracy/top1']")
    with pytest.raises(SystemExit, match=r"plot_curves: metrics \['real/accuracy/top1'\]"):
        main([str(tmp_path / 'work'), out, '--metrics', 'real/accuracy/top1'])
    with pytest.raises(SystemExit, match='plot_curves: work dir not found'):
        main([str(tmp_path / 'missing'), out])


def test_tensorboard_default_and_wandb_switch(tmp_path):
    import rsb_mm  # noqa: F401
    from mmengine.registry import VISUALIZERS, DefaultScope

    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rsb_a1_resnet50.py'))
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
    # the documented switch: W&B in place of TensorBoard, the local scalars kept for the plots
    cfg.merge_from_dict({'visualizer.vis_backends.1.type': 'WandbVisBackend'})
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        visualizer = VISUALIZERS.build(
            dict(cfg.visualizer, name='wandb_switch_test', save_dir=str(tmp_path)))
    # wandb itself is imported only when the first value is logged
    assert list(visualizer._vis_backends) == ['LocalVisBackend', 'WandbVisBackend']
