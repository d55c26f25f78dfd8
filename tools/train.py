# Train with an rsb_mm config (pretraining, fine-tuning or detection): parse, merge, run.
# The logic lives in rsb_mm.utils (cli, runner), where it is tested.
from mmengine.config import Config

import rsb_mm  # noqa: F401  (registers modules, checkpoint allow-list, rsb_mm:: configs)
from rsb_mm.utils import (build_runner, merge_train_args, parse_args, shutdown_distributed,
                          train_parser)


def main():
    args = parse_args(train_parser())
    cfg = merge_train_args(Config.fromfile(args.config), args)
    build_runner(cfg).train()
    shutdown_distributed()


if __name__ == '__main__':
    main()
