# The whole rsb_mm path on tiny learnable data, about 10 minutes on 2 CPU cores: RSB
# pretraining (tools/dist_train.sh, 2 processes), fine-tuning from it vs from random init,
# Faster R-CNN from it; prints one summary table. The logic lives in rsb_mm.demo.
import argparse

from mmengine.logging import MMLogger

from rsb_mm.demo import FULL, QUICK, format_summary, run_demo


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where data, logs, checkpoints and plots go')
    parser.add_argument('--gpus', type=int, default=2,
                        help='processes of the distributed pretraining (CPU: gloo)')
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations per stage (what the tests run)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    logger = MMLogger.get_instance('rsb_mm_demo', log_level='INFO')
    summary = run_demo(args.work_dir, QUICK if args.quick else FULL, gpus=args.gpus,
                       say=logger.info, seed=args.seed)
    logger.info('\n' + format_summary(summary))


if __name__ == '__main__':
    main()
