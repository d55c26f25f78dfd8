"""The paper's seed study (Figure 1): one config trained with N seeds, every test set reported.

The paper trains ResNet-50 with A2 and 100 seeds and reports, per test set (ImageNet-val,
-ReaL, -V2), the mean, standard deviation, maximum and minimum top-1 accuracy and the value of
its reference seed 0 (val 79.72 +- 0.10, min 79.50, max 79.98; ReaL 85.37 +- 0.08; V2
67.99 +- 0.23), plus a point cloud of val against V2 accuracy, one point per seed.

This module runs one config over several seeds (``tools/train.py`` with
``--cfg-options randomness.seed=S --work-dir <root>/seed_S``, one run after the other) or
collects finished work dirs, reads each run's final validation metrics from MMEngine's logs
(:mod:`rsb_mm.analysis.work_dir_logs`), and writes the table (Markdown and CSV) and the scatter
plot (PNG).

Which standard deviation: the paper does not say. The default here is the sample standard
deviation (``ddof=1``, the estimate of the spread over all seeds from the runs at hand);
``ddof=0`` gives the population one (numpy's default). With 100 seeds they differ by 0.5 %.

Which accuracy of a run: by default the last validation (the final weights, what the paper
reports); ``pick='best'`` takes each run's best ``accuracy/top1`` epoch (with all sets of that
epoch), ``pick='test'`` the newest ``tools/test.py`` run saved in the work dir.

Over 300 lines: running the seeds, collecting their metrics and writing table and plot share
one record type and its formatting; split, each part would re-read the others' fields.
"""
import csv
import math
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from .work_dir_logs import read_records, read_seed, read_test_metrics, split_records

__all__ = [
    'TEST_SETS', 'SeedRun', 'SetStatistics', 'collect_runs', 'seed_statistics',
    'format_markdown', 'write_csv', 'plot_val_vs_v2', 'seed_command', 'run_seeds',
    'write_seed_study'
]

#: Test set name -> metric key, as rsb_mm's multi-set loops log them
#: (``configs/_base_/datasets/imagenet_bs512_rsb.py``).
TEST_SETS = {'val': 'accuracy/top1', 'ReaL': 'real/accuracy/top1', 'V2': 'v2/accuracy/top1'}

_PICKS = ('last', 'best', 'test')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class SeedRun(NamedTuple):
    """One finished run of the study.

    Attributes:
        work_dir (str): Its work dir.
        seed (int | None): The seed its log states (None if not found).
        metrics (dict[str, float]): Test set name -> accuracy; a set the run did not
            evaluate is absent.
    """
    work_dir: str
    seed: Optional[int]
    metrics: Dict[str, float]


class SetStatistics(NamedTuple):
    """The Figure 1 row of one test set.

    Attributes:
        test_set (str): Test set name.
        n (int): Number of runs that evaluated it.
        mean, std, min, max (float): Over those runs (NaN when ``n`` is too small).
        reference (float | None): The reference seed's accuracy (None if no such run).
    """
    test_set: str
    n: int
    mean: float
    std: float
    min: float
    max: float
    reference: Optional[float]


def _check_pick(pick: str) -> None:
    if pick not in _PICKS:
        raise ValueError(f'pick must be one of {_PICKS}, got {pick!r}')


def _run_metrics(work_dir: str, test_sets: Dict[str, str], pick: str) -> Dict[str, float]:
    if pick == 'test':
        found = read_test_metrics(work_dir)
    else:
        primary = next(iter(test_sets.values()))
        val = split_records(read_records(work_dir), metric_key=primary)['val']
        if not val:
            raise ValueError(f'{work_dir}: no validation record with {primary!r} in its logs '
                             '(did the run validate at least once?)')
        # max() keeps the first of equal values: the earliest best epoch, as CheckpointHook.
        found = val[-1] if pick == 'last' else max(val, key=lambda r: r[primary])
    return {name: float(found[key]) for name, key in test_sets.items() if key in found}


def collect_runs(work_dirs: Sequence[str],
                 test_sets: Optional[Dict[str, str]] = None,
                 pick: str = 'last') -> List[SeedRun]:
    """Read each finished run's accuracies and seed.

    Args:
        work_dirs (Sequence[str]): One work dir per seed.
        test_sets (dict[str, str], optional): Test set name -> metric key; the first one is
            the primary set, which every run must have. Defaults to :data:`TEST_SETS`.
        pick (str): 'last' validation, 'best' (by the primary metric) or the newest 'test'
            run. Defaults to 'last'.

    Returns:
        list[SeedRun]: One per work dir, in the given order.

    Raises:
        ValueError: If ``work_dirs`` is empty, ``pick`` is unknown, or a run lacks the primary
            metric.
        FileNotFoundError: If a work dir or its logs are missing.
    """
    _check_pick(pick)
    test_sets = dict(test_sets or TEST_SETS)
    if not work_dirs:
        raise ValueError('no work dirs given')
    primary = next(iter(test_sets))
    runs = []
    for work_dir in work_dirs:
        metrics = _run_metrics(work_dir, test_sets, pick)
        if primary not in metrics:
            raise ValueError(f'{work_dir}: its {pick} metrics have no {test_sets[primary]!r}')
        runs.append(SeedRun(work_dir, read_seed(work_dir), metrics))
    return runs


def seed_statistics(runs: Sequence[SeedRun],
                    test_sets: Sequence[str] = tuple(TEST_SETS),
                    ddof: int = 1,
                    reference_seed: Optional[int] = 0) -> List[SetStatistics]:
    """Mean, standard deviation, min, max (and the reference seed's value) per test set.

    Args:
        runs (Sequence[SeedRun]): The runs (see :func:`collect_runs`).
        test_sets (Sequence[str]): Test set names, in table order. Defaults to val, ReaL, V2.
        ddof (int): Delta degrees of freedom of the standard deviation: 1 for the sample
            standard deviation, 0 for the population one. Defaults to 1.
        reference_seed (int, optional): The seed reported in its own column (the paper's
            "seed 0"). Defaults to 0.

    Returns:
        list[SetStatistics]: One row per test set; a set no run evaluated has ``n == 0`` and
        NaN statistics.

    Raises:
        ValueError: If ``ddof`` is not 0 or 1.
    """
    if ddof not in (0, 1):
        raise ValueError(f'ddof must be 0 (population) or 1 (sample), got {ddof!r}')
    reference = [r for r in runs if reference_seed is not None and r.seed == reference_seed]
    rows = []
    for name in test_sets:
        values = np.array([r.metrics[name] for r in runs if name in r.metrics], dtype=float)
        n = len(values)
        std = float(np.std(values, ddof=ddof)) if n > ddof else math.nan
        rows.append(SetStatistics(
            test_set=name,
            n=n,
            mean=float(values.mean()) if n else math.nan,
            std=std,
            min=float(values.min()) if n else math.nan,
            max=float(values.max()) if n else math.nan,
            reference=reference[0].metrics.get(name) if reference else None))
    return rows


def _fmt(value: Optional[float], digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return 'n/a'
    return f'{value:.{digits}f}'


def format_markdown(rows: Sequence[SetStatistics],
                    ddof: int = 1,
                    reference_seed: Optional[int] = 0) -> str:
    """The Figure 1 table as Markdown (top-1 accuracy, %, 2 decimals).

    Args:
        rows (Sequence[SetStatistics]): From :func:`seed_statistics`.
        ddof (int): The ``ddof`` the rows were computed with (named in the header).
            Defaults to 1.
        reference_seed (int, optional): The reference seed (its column's header); None
            leaves the column out. Defaults to 0.

    Returns:
        str: The table, ending with a newline.
    """
    std_name = 'std (sample)' if ddof == 1 else 'std (population)'
    header = ['test set', 'runs', 'mean', std_name, 'min', 'max']
    if reference_seed is not None:
        header.append(f'seed {reference_seed}')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        cells = [row.test_set, str(row.n), _fmt(row.mean), _fmt(row.std), _fmt(row.min),
                 _fmt(row.max)]
        if reference_seed is not None:
            cells.append(_fmt(row.reference))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_csv(rows: Sequence[SetStatistics], path: str) -> None:
    """Write the rows, full precision, with the header ``test_set,n,mean,std,min,max,reference``.

    Args:
        rows (Sequence[SetStatistics]): From :func:`seed_statistics`.
        path (str): Output ``.csv`` file.
    """
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(SetStatistics._fields)
        for row in rows:
            writer.writerow(['' if v is None else v for v in row])


def plot_val_vs_v2(runs: Sequence[SeedRun],
                   path: str,
                   x_set: str = 'val',
                   y_set: str = 'V2',
                   reference_seed: Optional[int] = 0) -> int:
    """Scatter plot of one test set's accuracy against another's, one point per run.

    Args:
        runs (Sequence[SeedRun]): The runs.
        path (str): Output PNG file.
        x_set (str): Test set on the x axis. Defaults to 'val'.
        y_set (str): Test set on the y axis. Defaults to 'V2'.
        reference_seed (int, optional): Seed drawn as a distinct marker. Defaults to 0.

    Returns:
        int: Number of points drawn (runs with both sets).

    Raises:
        ValueError: If no run has both sets.
    """
    # The object-oriented API with the Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    both = [r for r in runs if x_set in r.metrics and y_set in r.metrics]
    if not both:
        raise ValueError(f'no run has both {x_set!r} and {y_set!r} accuracies: nothing to plot')
    xs = np.array([r.metrics[x_set] for r in both])
    ys = np.array([r.metrics[y_set] for r in both])
    fig = Figure(figsize=(5, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(xs, ys, s=18, alpha=0.7, label=f'{len(both)} runs')
    ax.scatter([xs.mean()], [ys.mean()], marker='+', s=120, color='black', label='mean')
    ref = [r for r in both if reference_seed is not None and r.seed == reference_seed]
    if ref:
        ax.scatter([ref[0].metrics[x_set]], [ref[0].metrics[y_set]], marker='*', s=120,
                   color='tab:red', label=f'seed {reference_seed}')
    ax.set_xlabel(f'ImageNet-{x_set} top-1 (%)')
    ax.set_ylabel(f'ImageNet-{y_set} top-1 (%)')
    ax.set_title('Seed study: one point per seed')
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize='small')
    fig.tight_layout()
    fig.savefig(path, format='png')
    return len(both)


def seed_command(config: str,
                 seed: int,
                 work_dir: str,
                 cfg_options: Sequence[str] = (),
                 train_args: Sequence[str] = (),
                 gpus: int = 1) -> List[str]:
    """The command that trains ``config`` with one seed.

    ``randomness.seed=S`` goes into the same ``--cfg-options`` as ``cfg_options`` (a second
    ``--cfg-options`` flag would replace the first). A work dir with a ``last_checkpoint``
    (an interrupted run) is resumed.

    Args:
        config (str): Config file.
        seed (int): The seed.
        work_dir (str): This seed's work dir.
        cfg_options (Sequence[str]): More ``key=value`` overrides. Defaults to ().
        train_args (Sequence[str]): More ``tools/train.py`` arguments (not
            ``--cfg-options`` / ``--work-dir``). Defaults to ().
        gpus (int): GPUs per run; more than 1 uses ``tools/dist_train.sh``. Defaults to 1.

    Returns:
        list[str]: The argv.
    """
    tools = osp.join(REPO_ROOT, 'tools')
    if gpus > 1:
        argv = ['bash', osp.join(tools, 'dist_train.sh'), config, str(gpus)]
    else:
        argv = [sys.executable, osp.join(tools, 'train.py'), config]
    argv += ['--work-dir', work_dir, *train_args]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        argv.append('--resume')
    argv += ['--cfg-options', f'randomness.seed={seed}', *cfg_options]
    return argv


def _run_subprocess(argv: List[str]) -> None:
    # The checkout's rsb_mm first, as tools/dist_train.sh does: a checkout works uninstalled.
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
    subprocess.run(argv, check=True, env=env)


def run_seeds(config: str,
              seeds: Sequence[int],
              work_root: str,
              cfg_options: Sequence[str] = (),
              train_args: Sequence[str] = (),
              gpus: int = 1,
              run: Optional[Callable[[List[str]], None]] = None) -> List[str]:
    """Train ``config`` once per seed, one run after the other.

    Args:
        config (str): Config file.
        seeds (Sequence[int]): The seeds; each trains into ``<work_root>/seed_<S>``.
        work_root (str): Parent of the seeds' work dirs.
        cfg_options (Sequence[str]): ``key=value`` overrides for every run. Defaults to ().
        train_args (Sequence[str]): More ``tools/train.py`` arguments. Defaults to ().
        gpus (int): GPUs per run. Defaults to 1.
        run (callable, optional): Runs one argv; must raise on failure. Defaults to a
            subprocess.

    Returns:
        list[str]: The work dirs, in seed order.

    Raises:
        FileNotFoundError: If the config or ``tools/train.py`` is missing.
        ValueError: If ``seeds`` is empty or repeats a seed.
        subprocess.CalledProcessError: If a run fails.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config not found: {config}')
    if not osp.isfile(osp.join(REPO_ROOT, 'tools', 'train.py')):
        raise FileNotFoundError(f'tools/train.py not found under {REPO_ROOT}: run the seed '
                                'study from a checkout of rsb_mm')
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f'seeds must be a non-empty list of distinct integers, got {seeds!r}')
    run = run or _run_subprocess
    work_dirs = []
    for seed in seeds:
        work_dir = osp.join(work_root, f'seed_{seed}')
        os.makedirs(work_dir, exist_ok=True)
        run(seed_command(config, seed, work_dir, cfg_options, train_args, gpus))
        work_dirs.append(work_dir)
    return work_dirs


def write_seed_study(work_dirs: Sequence[str],
                     out_dir: str,
                     test_sets: Optional[Dict[str, str]] = None,
                     pick: str = 'last',
                     ddof: int = 1,
                     reference_seed: Optional[int] = 0) -> Dict[str, str]:
    """Collect the runs and write ``seed_study.md``, ``seed_study.csv``, ``runs.csv`` and the
    scatter plot of the first test set against the last (``val_vs_V2.png``) into ``out_dir``.

    Args:
        work_dirs (Sequence[str]): One work dir per seed.
        out_dir (str): Output folder (created if needed).
        test_sets (dict[str, str], optional): Name -> metric key. Defaults to
            :data:`TEST_SETS`.
        pick (str): See :func:`collect_runs`. Defaults to 'last'.
        ddof (int): See :func:`seed_statistics`. Defaults to 1.
        reference_seed (int, optional): See :func:`seed_statistics`. Defaults to 0.

    Returns:
        dict[str, str]: ``table`` (the Markdown text) and the paths written (``markdown``,
        ``csv``, ``runs_csv``, ``plot``; ``plot`` is absent when no run has val and V2).
    """
    test_sets = dict(test_sets or TEST_SETS)
    runs = collect_runs(work_dirs, test_sets, pick)
    rows = seed_statistics(runs, list(test_sets), ddof, reference_seed)
    table = format_markdown(rows, ddof, reference_seed)
    os.makedirs(out_dir, exist_ok=True)
    out = {'table': table, 'markdown': osp.join(out_dir, 'seed_study.md'),
           'csv': osp.join(out_dir, 'seed_study.csv'), 'runs_csv': osp.join(out_dir, 'runs.csv')}
    with open(out['markdown'], 'w', encoding='utf-8') as f:
        f.write(f'Top-1 accuracy (%) over {len(runs)} runs ({pick} evaluation of each run)\n\n')
        f.write(table)
    write_csv(rows, out['csv'])
    with open(out['runs_csv'], 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['work_dir', 'seed', *test_sets])
        for r in runs:
            writer.writerow([r.work_dir, '' if r.seed is None else r.seed,
                             *[r.metrics.get(name, '') for name in test_sets]])
    names = list(test_sets)
    if len(names) >= 2 and any(names[0] in r.metrics and names[-1] in r.metrics for r in runs):
        out['plot'] = osp.join(out_dir, f'{names[0]}_vs_{names[-1]}.png'.replace('/', '_'))
        plot_val_vs_v2(runs, out['plot'], names[0], names[-1], reference_seed)
    return out
