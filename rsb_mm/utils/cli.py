"""Command-line arguments of ``tools/train.py`` and ``tools/test.py``, and how they merge into a
config. They keep MMPretrain's flags and meanings so its users need to learn nothing new; the
logic lives here (tested) so that the tools stay thin.
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict, DictAction

from .amp import enable_amp

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='the directory to save logs and checkpoints')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, `key=value` pairs (e.g. '
        '`train_dataloader.batch_size=64 model.backbone.drop_path_rate=0.1`); lists as '
        '`key="[a,b]"` or `key=a,b`; quote values with spaces')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def train_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/train.py`` (MMPretrain's flags)."""
    parser = argparse.ArgumentParser(description='Train a model with an rsb_mm config')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a value, from the latest checkpoint in the '
        'work directory (`--resume auto` is the same)')
    parser.add_argument('--amp', action='store_true',
                        help='train with automatic mixed precision (needs a GPU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr linearly with the actual batch size, from the '
                        "config's auto_scale_lr.base_batch_size")
    parser.add_argument('--no-pin-memory', action='store_true',
                        help='do not pin memory in the data loaders')
    parser.add_argument('--no-persistent-workers', action='store_true',
                        help='do not keep data loader workers alive between epochs')
    _add_common(parser)
    return parser


def test_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/test.py`` (MMPretrain's flags)."""
    parser = argparse.ArgumentParser(description='Test a checkpoint with an rsb_mm config')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions (or metrics with --out-item '
                        'metrics) to this pickle/json file')
    parser.add_argument('--out-item', choices=['metrics', 'pred'], default='pred',
                        help='what --out saves')
    parser.add_argument('--show-dir', help='directory (under the work dir) for visualised '
                        'predictions')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (the '
                        "config's tta_model and tta_pipeline)")
    _add_common(parser)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and export ``LOCAL_RANK`` as torch.distributed.launch users expect."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _work_dir(cfg: Config, args: argparse.Namespace) -> str:
    # Priority: command line > config > ./work_dirs/<config name>, as in MMPretrain.
    if args.work_dir is not None:
        return args.work_dir
    if cfg.get('work_dir', None) is not None:
        return cfg.work_dir
    return osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])


def _set_dataloader_flags(cfg: Config, pin_memory: bool, persistent_workers: bool) -> None:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key, None)
        if not loader:
            continue
        if not pin_memory:
            loader['pin_memory'] = False
        # persistent_workers needs workers; MMEngine raises when it is set with 0 workers.
        if not persistent_workers or loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False


def merge_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the ``tools/train.py`` arguments into ``cfg`` (in place) and return it.

    Args:
        cfg (Config): The loaded config.
        args (argparse.Namespace): Parsed ``train_parser()`` arguments.

    Returns:
        Config: ``cfg``, with launcher, work_dir, resume, AMP, lr auto-scaling, validation
        and data-loader flags set from the command line, then ``--cfg-options`` merged last.
    """
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = _work_dir(cfg, args)

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.amp:
        enable_amp(cfg, required=True)

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f'--auto-scale-lr needs `auto_scale_lr.base_batch_size` in the '
                           f'config {args.config}, and it has none')
        cfg.auto_scale_lr.enable = True

    _set_dataloader_flags(cfg, not args.no_pin_memory, not args.no_persistent_workers)
    return cfg


def merge_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the ``tools/test.py`` arguments into ``cfg`` (in place) and return it."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = _work_dir(cfg, args)
    cfg.load_from = args.checkpoint

    if args.show_dir is not None:
        vis = cfg.default_hooks.get('visualization', None)
        if vis is None:
            raise KeyError(f'--show-dir needs `default_hooks.visualization` in {args.config}')
        vis.enable = True
        vis.out_dir = args.show_dir

    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError(f'--tta needs `tta_model` and `tta_pipeline` in {args.config}')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    # `--out-item metrics` is written by tools/test.py after the run (it needs the results).
    if args.out is not None and args.out_item == 'pred':
        cfg.test_evaluator = _with_dump(cfg.test_evaluator, args.out)
    _set_dataloader_flags(cfg, True, True)
    return cfg


def _with_dump(evaluator, out: str):
    # MMEngine's DumpResults metric writes every prediction to `out` next to the real metrics.
    dump = dict(type='DumpResults', out_file_path=out)
    if isinstance(evaluator, (list, tuple)):
        return [*evaluator, dump]
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator = dict(evaluator)
        evaluator['metrics'] = [*evaluator['metrics'], dump]
        return evaluator
    return [evaluator, dump]
