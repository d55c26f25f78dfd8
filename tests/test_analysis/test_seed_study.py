"""The seed study: statistics equal numpy's on known numbers (sample and population std), the
reference seed's column, every pick, the table / CSV / PNG written; real runs started by
run_seeds through tools/train.py are read back as their logs state them; the per-seed command."""
import csv
import glob
import os
import os.path as osp
import re
import sys

import numpy as np
import pytest
from PIL import Image

from rsb_mm.analysis import seed_study
from rsb_mm.analysis.seed_study import (SeedRun, collect_runs, format_markdown, run_seeds,
                                        seed_command, seed_statistics, write_seed_study)

# Final-epoch top-1 per seed; seed 3 has no ReaL (its labels were missing).
FINAL = {
    0: dict(val=79.85, real=85.45, v2=67.90),
    1: dict(val=79.60, real=85.30, v2=68.50),
    2: dict(val=79.72, real=85.21, v2=67.39),
    3: dict(val=79.98, real=None, v2=68.10),
    4: dict(val=79.50, real=85.55, v2=68.02),
}
KEYS = {'val': 'accuracy/top1', 'real': 'real/accuracy/top1', 'v2': 'v2/accuracy/top1'}


def _metrics(values, shift=0.0):
    out = {}
    for name, value in values.items():
        if value is not None:
            out[KEYS[name]] = value + shift
            out[KEYS[name].replace('top1', 'top5')] = 95.0
    return out


@pytest.fixture
def study_dirs(tmp_path, work_dir_writer):
    dirs = []
    for seed, values in FINAL.items():
        # epoch 2 is the best val epoch, epoch 3 the last
        epochs = [_metrics(values, -5.0), _metrics(values, +0.5), _metrics(values)]
        dirs.append(work_dir_writer(str(tmp_path / f'seed_{seed}'), epochs, seed=seed))
    return dirs


def test_statistics_equal_numpy(study_dirs):
    runs = collect_runs(study_dirs)
    assert [r.seed for r in runs] == list(FINAL)
    for ddof in (1, 0):
        rows = seed_statistics(runs, ddof=ddof)
        assert [r.test_set for r in rows] == ['val', 'ReaL', 'V2']
        for row, name in zip(rows, ('val', 'real', 'v2')):
            values = np.array([v[name] for v in FINAL.values() if v[name] is not None])
            assert row.n == len(values)
            assert row.mean == pytest.approx(values.mean(), abs=1e-12)
            assert row.std == pytest.approx(values.std(ddof=ddof), abs=1e-12)
            assert (row.min, row.max) == (values.min(), values.max())
            assert row.reference == FINAL[0][name]
    assert seed_statistics(runs, ddof=1)[1].n == 4
    # sample and population std really differ here
    assert seed_statistics(runs, ddof=1)[0].std > seed_statistics(runs, ddof=0)[0].std


def test_picks_last_best_and_test(study_dirs, tmp_path):
    best = collect_runs(study_dirs, pick='best')
    assert [r.metrics['val'] for r in best] == pytest.approx(
        [v['val'] + 0.5 for v in FINAL.values()])
    assert collect_runs(study_dirs[:1], pick='last')[0].metrics == {
        'val': 79.85, 'ReaL': 85.45, 'V2': 67.90}
    # a tools/test.py run saved in the work dir
    stamp = '20260105_000000'
    os.makedirs(osp.join(study_dirs[0], stamp))
    with open(osp.join(study_dirs[0], stamp, f'{stamp}.json'), 'w') as f:
        f.write('{"accuracy/top1": 80.0, "v2/accuracy/top1": 69.0}')
    assert collect_runs(study_dirs[:1], pick='test')[0].metrics == {'val': 80.0, 'V2': 69.0}
    with pytest.raises(ValueError, match="pick must be one of"):
        collect_runs(study_dirs, pick='first')


def test_write_table_csv_and_plot(study_dirs, tmp_path):
    out = write_seed_study(study_dirs, str(tmp_path / 'study'))
    lines = out['table'].splitlines()
    assert lines[0] == '| test set | runs | mean | std (sample) | min | max | seed 0 |'
    val = np.array([v['val'] for v in FINAL.values()])
    assert lines[2] == (f'| val | 5 | {val.mean():.2f} | {val.std(ddof=1):.2f} | 79.50 | 79.98 '
                        '| 79.85 |')
    assert lines[3].startswith('| ReaL | 4 |')
    with open(out['markdown']) as f:
        assert out['table'] in f.read()
    with open(out['csv']) as f:
        rows = list(csv.DictReader(f))
    assert [r['test_set'] for r in rows] == ['val', 'ReaL', 'V2']
    assert float(rows[2]['std']) == pytest.approx(
        np.std([v['v2'] for v in FINAL.values()], ddof=1), abs=1e-12)
    with open(out['runs_csv']) as f:
        runs = list(csv.reader(f))
    assert runs[0] == ['work_dir', 'seed', 'val', 'ReaL', 'V2'] and runs[4][3] == ''
    assert osp.basename(out['plot']) == 'val_vs_V2.png'
    with Image.open(out['plot']) as img:
        assert img.format == 'PNG' and img.size == (500, 400)
        # not a blank canvas: the points and axes are drawn
        assert len(img.convert('L').getcolors(maxcolors=1 << 16)) > 10


def test_population_std_header_and_no_reference():
    rows = seed_statistics([SeedRun('a', 1, {'val': 1.0}), SeedRun('b', 2, {'val': 3.0})],
                           test_sets=['val', 'V2'], ddof=0, reference_seed=None)
    table = format_markdown(rows, ddof=0, reference_seed=None)
    assert table.splitlines()[0] == '| test set | runs | mean | std (population) | min | max |'
    assert table.splitlines()[2] == '| val | 2 | 2.00 | 1.00 | 1.00 | 3.00 |'
    assert table.splitlines()[3] == '| V2 | 0 | n/a | n/a | n/a | n/a |'
    with pytest.raises(ValueError, match='ddof'):
        seed_statistics([], ddof=2)


def _final_val_line(work_dir):
    (log, ) = glob.glob(osp.join(work_dir, '*', '*.log'))
    lines = [line for line in open(log) if re.search(r'Epoch\(val\) \[2\].*accuracy/top1', line)]
    return {k: float(v) for k, v in re.findall(r'([\w/]+/top1): ([0-9.]+)', lines[-1])}


def test_real_runs_from_run_seeds(seed_work_dirs):
    assert [osp.basename(d) for d in seed_work_dirs] == ['seed_0', 'seed_1']
    runs = collect_runs(seed_work_dirs)
    assert [r.seed for r in runs] == [0, 1]
    for run, work_dir in zip(runs, seed_work_dirs):
        logged = _final_val_line(work_dir)
        assert run.metrics == pytest.approx({
            'val': logged['accuracy/top1'], 'ReaL': logged['real/accuracy/top1'],
            'V2': logged['v2/accuracy/top1']}, abs=5e-5)
    rows = seed_statistics(runs)
    assert rows[0].mean == pytest.approx(np.mean([r.metrics['val'] for r in runs]))


def test_seed_command(tmp_path):
    work_dir = str(tmp_path / 'seed_3')
    argv = seed_command('cfg.py', 3, work_dir, cfg_options=['a.b=1'], train_args=['--amp'])
    assert argv == [sys.executable, osp.join(seed_study.REPO_ROOT, 'tools', 'train.py'),
                    'cfg.py', '--work-dir', work_dir, '--amp', '--cfg-options',
                    'randomness.seed=3', 'a.b=1']
    os.makedirs(work_dir)
    open(osp.join(work_dir, 'last_checkpoint'), 'w').close()
    argv = seed_command('cfg.py', 3, work_dir, gpus=4)
    assert argv[:4] == ['bash', osp.join(seed_study.REPO_ROOT, 'tools', 'dist_train.sh'),
                        'cfg.py', '4']
    assert argv[-3:] == ['--resume', '--cfg-options', 'randomness.seed=3']


def test_run_seeds_refuses_bad_input(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text('')
    calls = []
    with pytest.raises(ValueError, match='distinct'):
        run_seeds(str(config), [1, 1], str(tmp_path), run=calls.append)
    with pytest.raises(FileNotFoundError, match='config not found'):
        run_seeds(str(tmp_path / 'none.py'), [1], str(tmp_path), run=calls.append)
    assert run_seeds(str(config), [5, 2], str(tmp_path / 'w'), run=calls.append) == [
        str(tmp_path / 'w' / 'seed_5'), str(tmp_path / 'w' / 'seed_2')]
    assert [c[c.index('--cfg-options') + 1] for c in calls] == [
        'randomness.seed=5', 'randomness.seed=2']
