"""``tools/seed_study.py``: ``run`` trains each seed with its own work dir and
``randomness.seed`` (the training is replaced by writing the work dir it would leave), then
prints and writes the table; ``collect`` does the same for finished work dirs; a work dir
without logs is refused with its name."""
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest

import rsb_mm.analysis.seed_study as seed_study

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'seed_study.py')
VAL = {0: 78.0, 1: 78.4, 2: 77.9}


def _finished_run(work_dir, seed):
    """The files MMEngine leaves in a work dir, with this seed's final accuracies."""
    run_dir = osp.join(work_dir, '20260101_000000')
    os.makedirs(osp.join(run_dir, 'vis_data'))
    with open(osp.join(run_dir, '20260101_000000.log'), 'w') as f:
        f.write(f'Runtime environment:\n    seed: {seed}\n')
    records = [dict(lr=0.1, loss=0.7, epoch=1, iter=1, step=1),
               {'accuracy/top1': VAL[seed], 'real/accuracy/top1': VAL[seed] + 6,
                'v2/accuracy/top1': VAL[seed] - 12, 'data_time': 0.1, 'time': 0.2, 'step': 1}]
    with open(osp.join(run_dir, 'vis_data', 'scalars.json'), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)


def _main(argv):
    return runpy.run_path(TOOL)['main'](argv)


def test_run_trains_each_seed_then_writes_the_study(tmp_path, monkeypatch, capsys):
    config = osp.join(REPO, 'configs', 'rsb_a2_resnet50.py')
    commands = []

    def fake_training(argv):
        commands.append(argv)
        work_dir = argv[argv.index('--work-dir') + 1]
        seed = int(argv[argv.index('--cfg-options') + 1].split('=')[1])
        _finished_run(work_dir, seed)

    monkeypatch.setattr(seed_study, '_run_subprocess', fake_training)
    root = str(tmp_path / 'seeds')
    _main(['run', config, '--num-seeds', '3', '--work-root', root, '--cfg-options',
           'train_cfg.max_epochs=1', '--train-args', '--amp'])
    assert [c[c.index('--work-dir') + 1] for c in commands] == [
        osp.join(root, f'seed_{s}') for s in range(3)]
    assert all(c[:3] == [sys.executable, osp.join(REPO, 'tools', 'train.py'), config]
               for c in commands)
    assert [c[c.index('--cfg-options') + 1:] for c in commands] == [
        [f'randomness.seed={s}', 'train_cfg.max_epochs=1'] for s in range(3)]
    assert all('--amp' in c for c in commands)
    out = capsys.readouterr().out
    values = np.array(list(VAL.values()))
    assert (f'| val | 3 | {values.mean():.2f} | {values.std(ddof=1):.2f} | 77.90 | 78.40 '
            '| 78.00 |') in out
    assert f'| V2 | 3 | {values.mean() - 12:.2f} |' in out
    for name in ('seed_study.md', 'seed_study.csv', 'runs.csv', 'val_vs_V2.png'):
        assert osp.isfile(osp.join(root, name)) and osp.join(root, name) in out


def test_collect_finished_work_dirs(tmp_path, capsys):
    dirs = []
    for seed in VAL:
        dirs.append(str(tmp_path / f'run{seed}'))
        _finished_run(dirs[-1], seed)
    out_dir = str(tmp_path / 'out')
    _main(['collect', *dirs, '--out-dir', out_dir, '--ddof', '0', '--reference-seed', '1'])
    values = np.array(list(VAL.values()))
    out = capsys.readouterr().out
    assert '| test set | runs | mean | std (population) | min | max | seed 1 |' in out
    assert f'| ReaL | 3 | {values.mean() + 6:.2f} | {values.std():.2f} |' in out
    assert osp.isfile(osp.join(out_dir, 'val_vs_V2.png'))

    os.makedirs(tmp_path / 'empty')
    with pytest.raises(SystemExit, match='seed_study: no MMEngine run'):
        _main(['collect', str(tmp_path / 'empty')])
