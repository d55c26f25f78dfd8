# The paper's Table 4 for any config: parameters, FLOPs, inference throughput (batch 128, fp16
# and channels-last on a GPU, fp32 on the CPU) and peak memory. The logic lives in
# rsb_mm.analysis.benchmark, where it is tested.
import argparse

import rsb_mm  # noqa: F401  (registers modules for the configs)
from rsb_mm.analysis import benchmark_config, format_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Parameters, FLOPs, inference throughput and peak memory of configs')
    parser.add_argument('configs', nargs='+', help='config files, one table row each')
    parser.add_argument('--checkpoints', nargs='+', metavar='CKPT',
                        help='weights to load, one per config (speed does not depend on them)')
    parser.add_argument('--batch-size', type=int, default=128, help='default: 128 (the paper)')
    parser.add_argument('--warmup', type=int, default=10, help='untimed iterations first')
    parser.add_argument('--iters', type=int, default=40, help='timed iterations')
    parser.add_argument('--img-size', type=int, nargs='+', metavar='SIZE',
                        help='side or height width (default: the config\'s test crop)')
    parser.add_argument('--device', help='cuda or cpu (default: cuda when there is a GPU)')
    parser.add_argument('--precision', choices=['fp16', 'bf16', 'fp32'],
                        help='default: fp16 on a GPU, fp32 on the CPU')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                        help='channels-last memory format (default: on a GPU only)')
    parser.add_argument('--out', help='also write the table to this Markdown file')
    args = parser.parse_args(argv)
    if args.checkpoints and len(args.checkpoints) != len(args.configs):
        parser.error(f'--checkpoints needs one file per config ({len(args.configs)})')
    if args.img_size and len(args.img_size) > 2:
        parser.error('--img-size takes one or two numbers')
    return args


def main(argv=None):
    args = parse_args(argv)
    size = None
    if args.img_size:
        size = args.img_size[0] if len(args.img_size) == 1 else tuple(args.img_size)
    checkpoints = args.checkpoints or [None] * len(args.configs)
    results = [
        benchmark_config(config, checkpoint, input_size=size, batch_size=args.batch_size,
                         device=args.device, precision=args.precision,
                         channels_last=args.channels_last, warmup=args.warmup, iters=args.iters)
        for config, checkpoint in zip(args.configs, checkpoints)
    ]
    table = format_table(results)
    print(table, end='')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(table)


if __name__ == '__main__':
    main()
