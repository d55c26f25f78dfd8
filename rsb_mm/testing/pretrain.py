"""A real RSB pretraining checkpoint in seconds, for tests of what comes after pretraining.

Fine-tuning and detection tests must start from a checkpoint that rsb_mm's own pretraining code
wrote (not a hand-made state dict), so that a change in what the pretraining runner saves breaks
them. :func:`pretrain_tiny_checkpoint` runs the shipped A3 config (ResNet-50 with everything the
recipe adds: RandAugment, Mixup/CutMix, BCE, LAMB, the timm schedule) through
:func:`rsb_mm.utils.build_runner` on a tiny ImageNet-format folder for one iteration and returns
the path of the ``epoch_1.pth`` it saved.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .tiny_datasets import write_imagenet_folder

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def pretrain_tiny_checkpoint(root: str,
                             config: Optional[str] = None,
                             image_size: int = 64,
                             batch_size: int = 2) -> str:
    """Train an RSB config for one iteration on a tiny folder and return its checkpoint.

    Args:
        root (str): Empty folder; the data goes to ``root/imagenet``, the work dir to
            ``root/work``.
        config (str, optional): Pretraining config. Defaults to the repository's
            ``configs/rsb_a3_resnet50.py``.
        image_size (int): Side of the JPEGs written. Defaults to 64.
        batch_size (int): Train batch size (also the number of images, so one epoch is one
            iteration). Defaults to 2.

    Returns:
        str: Path of ``epoch_1.pth``, a full runner checkpoint (``meta``, ``state_dict`` with
        ``backbone.``/``head.`` keys, ``optimizer``, ``param_schedulers``).
    """
    from rsb_mm.utils import build_runner

    config = config or osp.join(REPO_ROOT, 'configs', 'rsb_a3_resnet50.py')
    data_root = osp.join(root, 'imagenet')
    write_imagenet_folder(data_root, num_classes=2, images_per_class=batch_size // 2,
                          size=image_size, splits=('train', 'val'))
    cfg = Config.fromfile(config)
    cfg.work_dir = osp.join(root, 'work')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
        cfg[key].pin_memory = False
        cfg[key].batch_size = batch_size
    # The ReaL / V2 sets are not there; the multi-set loops skip missing extras.
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 2  # no evaluation: only the checkpoint is wanted
    cfg.param_scheduler.t_initial = 1
    cfg.param_scheduler.warmup_t = 0
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.randomness = dict(seed=0)
    runner = build_runner(cfg)
    runner.train()
    path = osp.join(cfg.work_dir, 'epoch_1.pth')
    if not osp.isfile(path):
        raise RuntimeError(f'pretraining did not write {path}')
    return path
