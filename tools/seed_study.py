# The paper's seed study (Figure 1): train one config with N seeds, or collect N finished work
# dirs, and write the table (mean, std, min, max per test set: val, ReaL, V2) and the val-vs-V2
# scatter plot. The logic lives in rsb_mm.analysis.seed_study, where it is tested.
import argparse
import sys

import rsb_mm  # noqa: F401  (registers modules for the configs the runs build)
from rsb_mm.analysis import run_seeds, write_seed_study


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Seed study: accuracy statistics of one config over several seeds')
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='train CONFIG once per seed, then write the study')
    run.add_argument('config', help='train config file')
    seeds = run.add_mutually_exclusive_group(required=True)
    seeds.add_argument('--seeds', type=int, nargs='+', help='the seeds, e.g. 0 1 2')
    seeds.add_argument('--num-seeds', type=int, help='seeds 0 .. N-1')
    run.add_argument('--work-root', default='work_dirs/seed_study',
                     help='each seed trains into <work-root>/seed_<S> (an interrupted seed '
                     'resumes from its last checkpoint)')
    run.add_argument('--gpus', type=int, default=1,
                     help='GPUs per run (more than 1: tools/dist_train.sh)')
    run.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                     help='overrides for every run (randomness.seed is set per run)')
    run.add_argument('--train-args', nargs=argparse.REMAINDER, default=[],
                     help='everything after this goes to tools/train.py (e.g. --amp)')
    collect = sub.add_parser('collect', help='write the study of finished work dirs')
    collect.add_argument('work_dirs', nargs='+', help='one work dir per seed')
    for p in (run, collect):
        p.add_argument('--out-dir', help='where the table and plot go (default: <work-root> '
                       'for run, the first work dir\'s parent for collect)')
        p.add_argument('--pick', choices=['last', 'best', 'test'], default='last',
                       help="each run's last validation (default), its best val epoch, or its "
                       'newest tools/test.py run')
        p.add_argument('--ddof', type=int, choices=[0, 1], default=1,
                       help='standard deviation: 1 = sample (default), 0 = population')
        p.add_argument('--reference-seed', type=int, default=0,
                       help="the seed shown in its own column (the paper's seed 0)")
    return parser.parse_args(argv)


def main(argv=None):
    import os.path as osp
    args = parse_args(argv)
    if args.command == 'run':
        seeds = args.seeds if args.seeds is not None else list(range(args.num_seeds))
        work_dirs = run_seeds(args.config, seeds, args.work_root, cfg_options=args.cfg_options,
                              train_args=args.train_args, gpus=args.gpus)
        out_dir = args.out_dir or args.work_root
    else:
        work_dirs = args.work_dirs
        out_dir = args.out_dir or osp.dirname(osp.abspath(work_dirs[0]))
    try:
        out = write_seed_study(work_dirs, out_dir, pick=args.pick, ddof=args.ddof,
                               reference_seed=args.reference_seed)
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f'seed_study: {exc}')
    print(out['table'], end='')
    for key in ('markdown', 'csv', 'runs_csv', 'plot'):
        if key in out:
            print(out[key])


if __name__ == '__main__':
    main()
