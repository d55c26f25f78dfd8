# Test a checkpoint with an rsb_mm config (classification or detection): parse, merge, run.
# The logic lives in rsb_mm.utils (cli, runner), where it is tested.
import mmengine
from mmengine.config import Config

import rsb_mm  # noqa: F401  (registers modules, checkpoint allow-list, rsb_mm:: configs)
from rsb_mm.utils import (build_runner, merge_test_args, parse_args, shutdown_distributed,
                          test_parser)


def main():
    args = parse_args(test_parser())
    cfg = merge_test_args(Config.fromfile(args.config), args)
    metrics = build_runner(cfg).test()
    shutdown_distributed()
    if args.out is not None and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
