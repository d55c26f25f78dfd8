"""benchmarks/bench_op_count.py: issue 14's operator budget, which a count can hold on any
machine (unlike a time): one training iteration of the A1 and A3 configs dispatches at most
1.05 x the operators of timm's ``train.py`` loop on the same batch, and the data preprocessing
the same number at every batch size."""
import re

import pytest

SIZES = (2, 4)


@pytest.fixture(scope='module')
def bench(load_benchmark):
    return load_benchmark('bench_op_count')


@pytest.fixture(scope='module', params=['a3', 'a1'])
def counted(request, bench):
    return request.param, bench.count_config(request.param, SIZES, img_size=32,
                                             only=[bench.CONFIGURED])


def test_total_within_budget_of_timm(bench, counted):
    key, results = counted
    for size in SIZES:
        for draw in bench.DRAWS:
            ours = bench.totals(results[bench.CONFIGURED, size, draw])
            theirs = bench.totals(results[bench.TIMM, size, draw])
            assert ours['total'] <= bench.BUDGET * theirs['total'], (key, size, draw, ours,
                                                                     theirs)
            # the same network: forward and backward within a few operators of timm's
            # (the loss's bookkeeping: MMEngine's mean, sum and accumulation division)
            for phase in ('forward', 'backward'):
                assert abs(ours[phase] - theirs[phase]) <= 5, (key, phase, ours, theirs)
            assert theirs['backward'] > 300, 'backward operators must be counted'


def test_preprocessing_count_does_not_grow_with_batch_size(bench, counted):
    key, results = counted
    for draw in bench.DRAWS:
        pre = {size: bench.totals(results[bench.CONFIGURED, size, draw])['preprocess']
               for size in SIZES}
        assert len(set(pre.values())) == 1, (key, draw, pre)
        assert 0 < pre[SIZES[0]] <= 30, (key, draw, pre)


def test_phases_are_marked(bench, counted):
    """Each phase's entry point sets the phase: an operator only that phase's code dispatches
    is counted there and nowhere else."""
    key_ops = {'preprocess': 'flip', 'forward': 'convolution',
               'loss': 'binary_cross_entropy_with_logits', 'backward': 'convolution_backward',
               'optimizer': '_foreach_norm'}
    key, results = counted
    for name in (bench.CONFIGURED, bench.TIMM):
        counts = results[name, SIZES[0], 'mixup']
        for phase, op in key_ops.items():
            if name == bench.TIMM and phase == 'preprocess':
                continue  # timm flips nothing on the device (its loader decodes RGB)
            assert counts[phase][op] > 0, (key, name, phase, op, dict(counts[phase]))
            assert [p for p in bench.PHASES if counts[p][op]] == [phase], (key, name, op)


def test_table_prints_every_row(bench, counted, capsys):
    key, results = counted
    bench.print_table(key, results)
    out = capsys.readouterr().out
    rows = re.findall(r'^\| (rsb_mm \(as configured\)|timm train\.py loop) \| (\d+) \| '
                      r'(mixup|cutmix) \|((?: \d+ \|){7}) ([\d.]+) \|$', out, re.M)
    assert len(rows) == 2 * len(SIZES) * len(bench.DRAWS)
    for name, _, _, cells, ratio in rows:
        counts = [int(c) for c in cells.split('|') if c.strip()]
        assert sum(counts[:-1]) == counts[-1]
        assert name != bench.TIMM or ratio == '1.000'
