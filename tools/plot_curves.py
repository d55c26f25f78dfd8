# Training curves of a work dir (loss, learning rate, validation accuracy of every test set) as
# one PNG, from MMEngine's logs. The logic lives in rsb_mm.analysis.curves, where it is tested.
import argparse
import sys

from rsb_mm.analysis import load_curves, plot_curves


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot loss, lr and accuracy of a work dir')
    parser.add_argument('work_dir', help='an MMEngine work dir (or one run\'s timestamp dir)')
    parser.add_argument('out', help='output PNG')
    parser.add_argument('--metrics', nargs='+', help='validation keys to plot (default: every '
                        '*top1 key, e.g. accuracy/top1 real/accuracy/top1 v2/accuracy/top1)')
    parser.add_argument('--title', help='figure title (default: the work dir)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        curves = load_curves(args.work_dir, args.metrics)
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f'plot_curves: {exc}')
    plot_curves(curves, args.out, title=args.title or args.work_dir)
    print(f'{args.out}: {sum(len(c.x) for c in curves.losses.values())} loss points, '
          f'{len(curves.metrics)} metrics {sorted(curves.metrics)}')


if __name__ == '__main__':
    main()
