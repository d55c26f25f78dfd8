"""Reading MMEngine work dirs: scalars.json of real runs agrees with their text logs, runs are
read oldest first, the seed and test metrics are found, bad input names the file."""
import glob
import json
import os
import os.path as osp

import pytest

from rsb_mm.analysis.work_dir_logs import (find_run_dirs, parse_text_log, read_records,
                                           read_seed, read_test_metrics, split_records)


def _close(a, b):
    # The text log prints 4 decimals (lr: 4 significant digits).
    return abs(a - b) <= max(5e-5, 5e-4 * abs(b))


def test_real_scalars_agree_with_the_text_log(seed_work_dirs):
    for work_dir in seed_work_dirs:
        (run_dir, ) = find_run_dirs(work_dir)
        records = read_records(work_dir)
        from_text = parse_text_log(osp.join(run_dir, osp.basename(run_dir) + '.log'))
        # 2 epochs x (2 training iterations + 1 validation)
        assert [r['step'] for r in records] == [1, 2, 1, 3, 4, 2]
        assert len(from_text) == len(records)
        for scalar, text in zip(records, from_text):
            assert set(text) <= set(scalar)
            for key, value in text.items():
                assert _close(value, scalar[key]), (key, value, scalar[key])
        split = split_records(records)
        assert [r['step'] for r in split['train']] == [1, 2, 3, 4]
        assert [r['step'] for r in split['val']] == [1, 2]
        for record in split['val']:
            assert {'accuracy/top1', 'real/accuracy/top1', 'v2/accuracy/top1'} <= set(record)
        assert split_records(records, metric_key='v2/accuracy/top5') == split


def test_real_runs_state_their_seed(seed_work_dirs):
    assert [read_seed(d) for d in seed_work_dirs] == [0, 1]


def test_text_log_fallback_and_run_order(tmp_path, work_dir_writer):
    work_dir = str(tmp_path / 'work')
    # A resumed run: the later timestamp dir, written first, must still be read last.
    work_dir_writer(work_dir, [{'accuracy/top1': 70.0}], timestamp='20260102_000000',
                    first_epoch=2, scalars=False)
    work_dir_writer(work_dir, [{'accuracy/top1': 60.0}], timestamp='20260101_000000', seed=7)
    os.makedirs(osp.join(work_dir, 'not_a_run'))
    assert [osp.basename(d) for d in find_run_dirs(work_dir)] == [
        '20260101_000000', '20260102_000000']
    records = read_records(work_dir)
    val = split_records(records)['val']
    assert [(r['step'], r['accuracy/top1']) for r in val] == [(1, 60.0), (2, 70.0)]
    # the second run has no scalars.json: its records come from its text log
    assert [r['step'] for r in split_records(records)['train']] == [1, 2, 3, 4]
    assert split_records(records)['train'][-1]['loss'] == pytest.approx(0.25, abs=1e-4)
    assert read_seed(work_dir) == 7
    assert read_records(osp.join(work_dir, '20260102_000000'))[-1]['accuracy/top1'] == 70.0


def test_test_metrics_of_the_newest_test_run(tmp_path):
    for stamp, top1 in (('20260101_000000', 1.0), ('20260103_000000', 3.0)):
        os.makedirs(tmp_path / stamp)
        (tmp_path / stamp / f'{stamp}.json').write_text(json.dumps({'accuracy/top1': top1}))
    os.makedirs(tmp_path / '20260104_000000')  # a training run: no test dump
    assert read_test_metrics(str(tmp_path)) == {'accuracy/top1': 3.0}


def test_bad_work_dirs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='work dir not found'):
        read_records(str(tmp_path / 'missing'))
    with pytest.raises(FileNotFoundError, match='no MMEngine run'):
        read_records(str(tmp_path))
    run = tmp_path / '20260101_000000'
    os.makedirs(run / 'vis_data')
    with pytest.raises(FileNotFoundError, match='no vis_data/scalars.json'):
        read_records(str(tmp_path))
    (run / 'vis_data' / 'scalars.json').write_text('{"loss": 1.0, "step": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r'scalars.json, line 2'):
        read_records(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no test run'):
        read_test_metrics(str(tmp_path))
    assert read_seed(str(tmp_path)) is None
    assert glob.glob(str(run / '*.log')) == []
