"""configs/detection/: MMDetection's RSB detectors, with the backbone from rsb_mm's pretraining.

What these tests prove:

- every shipped detector config equals MMDetection's own ``resnet_strikes_back`` config (AdamW
  lr 2e-4 or 1e-4 for RetinaNet, weight decay 0.05, no decay on norm layers, ``frozen_stages=1``,
  ``norm_eval=True``, batch 16 = 8 x 2 with ``auto_scale_lr``, the 1x schedule, the data) in
  every setting except the backbone's ``init_cfg``: ``StrictPretrained`` of an rsb_mm
  checkpoint with ``prefix='backbone.'`` instead of ``Pretrained`` of MMPretrain's URL, and
  ``fused=True`` for AdamW, which updates the detector's parameters as MMDetection's unfused
  AdamW does (to float rounding) in a fraction of the time;
- the Faster R-CNN A1/A2/A3 variants differ in the backbone checkpoint only;
- each detector, built by the Runner from its config with a checkpoint written by rsb_mm's own
  pretraining code, starts with exactly that checkpoint's backbone (every parameter and buffer),
  trains one iteration on a tiny COCO-format set with frozen stem + ``layer1`` and frozen BN
  statistics everywhere (unchanged) while ``layer2``-``layer4`` learn (changed), gives norm
  layers no weight decay, and is evaluated by MMDetection's ``CocoMetric`` (pycocotools): bbox,
  and segm for the mask detectors;
- the compiled mmcv kernels each detector calls (recorded during that run, all on CPU) are the
  ones ``configs/detection/README.md`` lists; the one mmcv op of these detectors without a CPU
  kernel (``sigmoid_focal_loss``) is refused by mmcv on CPU and RetinaNet does not call it there
  (MMDetection's ``FocalLoss`` falls back to its PyTorch twin), so all four run on CPU;
- loading is strict: a checkpoint lacking one backbone key stops the detector's init.
"""
import contextlib
import copy
import importlib
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401  (StrictPretrained, checkpoint allow-list)
from rsb_mm.testing import write_coco_detection
from rsb_mm.utils import build_runner
from rsb_mm.weights import WeightsMappingError
from rsb_mm.weights.checkpoint import extract_state_dict, read_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'detection')
IMAGE_SIZE = 128

# name -> (our config, MMDetection's RSB config, AdamW lr, CocoMetric metrics,
#          compiled mmcv kernels called in 1 training iteration + evaluation on CPU)
DETECTORS = {
    'faster_rcnn': ('faster-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py',
                    'faster-rcnn_r50-rsb-pre_fpn_1x_coco.py', 2e-4, ('bbox', ),
                    {'nms', 'roi_align_forward', 'roi_align_backward'}),
    'mask_rcnn': ('mask-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py',
                  'mask-rcnn_r50-rsb-pre_fpn_1x_coco.py', 2e-4, ('bbox', 'segm'),
                  {'nms', 'roi_align_forward', 'roi_align_backward'}),
    'cascade_mask_rcnn': ('cascade-mask-rcnn_r50-rsb-a1-pre_fpn_1x_coco.py',
                          'cascade-mask-rcnn_r50-rsb-pre_fpn_1x_coco.py', 2e-4, ('bbox', 'segm'),
                          {'nms', 'roi_align_forward', 'roi_align_backward'}),
    'retinanet': ('retinanet_r50-rsb-a1-pre_fpn_1x_coco.py',
                  'retinanet_r50-rsb-pre_fpn_1x_coco.py', 1e-4, ('bbox', ), {'nms'}),
}
VARIANTS = {
    'a1': 'work_dirs/rsb_a1_resnet50/epoch_600.pth',
    'a2': 'work_dirs/rsb_a2_resnet50/epoch_300.pth',
    'a3': 'work_dirs/rsb_a3_resnet50/epoch_100.pth',
}
# mmcv ops of these detectors that have no CPU kernel in mmcv 2.1.0, and why the detector still
# runs on CPU.
CUDA_ONLY_OPS = {
    'sigmoid_focal_loss_forward': 'RetinaNet: mmdet FocalLoss uses py_sigmoid_focal_loss on CPU',
}


def _mmdet_rsb_config(name: str) -> Config:
    import mmdet
    return Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'resnet_strikes_back', name))


def _plain(cfg) -> dict:
    """The config as plain data, without the ``_scope_`` tags ``mmdet::`` inheritance adds."""

    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != '_scope_'}
        if isinstance(x, (list, tuple)):
            return type(x)(strip(v) for v in x)
        return x

    return strip(cfg.to_dict())


@pytest.mark.parametrize('detector', list(DETECTORS))
def test_config_is_mmdetection_rsb_config_with_strict_rsb_mm_backbone(detector):
    ours_name, theirs_name, lr, _, _ = DETECTORS[detector]
    ours = _plain(Config.fromfile(osp.join(CONFIG_DIR, ours_name)))
    theirs = _plain(_mmdet_rsb_config(theirs_name))

    # The settings MMDetection's RSB results were measured with, value for value.
    assert ours['default_scope'] == 'mmdet'
    assert ours['custom_imports'] == dict(imports=['rsb_mm'], allow_failed_imports=False)
    assert ours['optim_wrapper'] == dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05, fused=True),
        paramwise_cfg=dict(norm_decay_mult=0., bypass_duplicate=True))
    backbone = ours['model']['backbone']
    assert (backbone['type'], backbone['depth'], backbone['style']) == ('ResNet', 50, 'pytorch')
    assert backbone['frozen_stages'] == 1 and backbone['norm_eval'] is True
    assert backbone['init_cfg'] == dict(type='StrictPretrained', prefix='backbone.',
                                        checkpoint=VARIANTS['a1'])
    assert ours['train_dataloader']['batch_size'] * 8 == 16
    assert ours['auto_scale_lr'] == dict(enable=False, base_batch_size=16)
    assert ours['train_cfg']['max_epochs'] == 12
    metric = ours['val_evaluator']
    assert metric['type'] == 'CocoMetric'

    # Everything else is MMDetection's: only the backbone's init_cfg (and its variable) differ,
    # and AdamW is fused (the same update, see test_fused_adamw_is_mmdetections_adamw).
    assert ours['optim_wrapper']['optimizer'].pop('fused') is True
    assert theirs['model']['backbone'].pop('init_cfg') == dict(
        type='Pretrained', prefix='backbone.', checkpoint=theirs.pop('checkpoint'))
    backbone.pop('init_cfg')
    ours.pop('checkpoint')
    ours.pop('custom_imports')
    if detector == 'retinanet':
        # The stock RetinaNet base brings its test-time augmentation; MMDetection's RSB config
        # does not inherit it. Extra keys only, used with `tools/test.py --tta`.
        for key in ('img_scales', 'tta_model', 'tta_pipeline'):
            ours.pop(key)
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize('variant', ['a2', 'a3'])
def test_a1_a2_a3_variants_differ_only_in_checkpoint(variant):
    a1 = _plain(Config.fromfile(osp.join(CONFIG_DIR, DETECTORS['faster_rcnn'][0])))
    other = _plain(Config.fromfile(
        osp.join(CONFIG_DIR, f'faster-rcnn_r50-rsb-{variant}-pre_fpn_1x_coco.py')))
    assert other['checkpoint'] == VARIANTS[variant]
    assert other['model']['backbone']['init_cfg']['checkpoint'] == VARIANTS[variant]
    assert a1 != other
    a1['checkpoint'] = other['checkpoint']
    a1['model']['backbone']['init_cfg']['checkpoint'] = VARIANTS[variant]
    assert a1 == other


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco')) + '/'
    write_coco_detection(root, num_images=2, size=IMAGE_SIZE)
    return root


def _set_score_thr(test_cfg) -> None:
    # An untrained detector scores everything below 0.05; keep its boxes so that CocoMetric
    # has detections to match.
    if isinstance(test_cfg, dict):
        for key, value in test_cfg.items():
            if key == 'score_thr':
                test_cfg[key] = 0.0
            else:
                _set_score_thr(value)


def tiny_detection_cfg(config: str, data_root: str, checkpoint: str, work_dir: str) -> Config:
    """A shipped detection config on the tiny COCO set: 1 iteration of batch 2 at 128 px.

    Only data, image size, loaders, hooks and the checkpoint change; model and optimizer are
    the shipped ones.
    """
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    _set_score_thr(cfg.model.test_cfg)
    for key, split in (('train_dataloader', 'train2017'), ('test_dataloader', 'val2017')):
        loader = cfg[key]
        loader.batch_size = 2 if split == 'train2017' else 1
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.pin_memory = False
        loader.dataset.data_root = data_root
        loader.dataset.ann_file = f'annotations/instances_{split}.json'
        loader.dataset.data_prefix = dict(img=f'{split}/')
        for transform in loader.dataset.pipeline:
            if transform['type'] == 'Resize':
                transform['scale'] = (IMAGE_SIZE, IMAGE_SIZE)
    cfg.test_evaluator.ann_file = osp.join(data_root, 'annotations/instances_val2017.json')
    # Evaluate once, with runner.test(), after the training iteration.
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.max_epochs = 1  # 2 images, batch 2: one iteration
    cfg.default_hooks.checkpoint = None  # a 170 MB file per detector is not what is tested
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    cfg.work_dir = work_dir
    return cfg


@contextlib.contextmanager
def record_mmcv_kernels(monkeypatch):
    """Record the names of the compiled mmcv kernels (``mmcv._ext``) called inside the block.

    Every mmcv op module holds the same ``mmcv._ext`` module object and looks its functions up
    at call time, so wrapping the module's attributes sees every kernel call.
    """
    ext = importlib.import_module('mmcv._ext')
    called = set()
    for name in dir(ext):
        kernel = getattr(ext, name)
        if name.startswith('_') or not callable(kernel):
            continue

        def recorder(*args, _name=name, _kernel=kernel, **kwargs):
            called.add(_name)
            return _kernel(*args, **kwargs)

        monkeypatch.setattr(ext, name, recorder)
    yield called


def _backbone_checkpoint(path: str) -> dict:
    state = extract_state_dict(read_checkpoint(path))
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def _norm_param_ids(model: torch.nn.Module) -> set:
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.instancenorm import _InstanceNorm
    norms = (_BatchNorm, _InstanceNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)
    return {id(p) for m in model.modules() if isinstance(m, norms) for p in m.parameters()}


@pytest.mark.parametrize('detector', list(DETECTORS))
def test_detector_trains_from_rsb_checkpoint_and_evaluates(detector, tiny_coco, rsb_checkpoint,
                                                           tmp_path, monkeypatch):
    config, _, _, metrics_wanted, kernels_wanted = DETECTORS[detector]
    cfg = tiny_detection_cfg(config, tiny_coco, rsb_checkpoint, str(tmp_path / 'work'))
    ckpt = _backbone_checkpoint(rsb_checkpoint)

    with record_mmcv_kernels(monkeypatch) as kernels:
        runner = build_runner(cfg)
        runner.model.init_weights()  # what runner.train() does first; a second call is a no-op
        backbone = runner.model.backbone

        # The backbone is the pretraining checkpoint's, every parameter and buffer.
        start = {k: v.detach().cpu().clone() for k, v in backbone.state_dict().items()}
        assert sorted(start) == sorted(ckpt)
        unequal = [k for k in ckpt if not torch.equal(start[k], ckpt[k])]
        assert not unequal, f'backbone differs from the checkpoint at {unequal[:5]}'

        runner.train()
        assert runner.iter == 1
        metrics = runner.test()

    end = {k: v.detach().cpu() for k, v in backbone.state_dict().items()}
    frozen = [k for k in ckpt if k.split('.')[0] in ('conv1', 'bn1', 'layer1')]
    bn_stats = [k for k in ckpt if k.rsplit('.', 1)[1] in
                ('running_mean', 'running_var', 'num_batches_tracked')]
    assert len(frozen) > 60 and len(bn_stats) == 53 * 3
    # frozen_stages=1: stem and layer1 untouched; norm_eval=True: no BN statistic moved.
    moved = [k for k in frozen + bn_stats if not torch.equal(end[k], start[k])]
    assert not moved, f'frozen weights changed: {moved[:5]}'
    assert not any(p.requires_grad for n, p in backbone.named_parameters()
                   if n.split('.')[0] in ('conv1', 'bn1', 'layer1'))
    # The rest of the backbone learns.
    trainable = [n for n, _ in backbone.named_parameters()
                 if n.split('.')[0] in ('layer2', 'layer3', 'layer4')]
    still = [n for n in trainable if torch.equal(end[n], start[n])]
    assert not still, f'trainable backbone weights did not change: {still[:5]}'

    # No weight decay on norm layers (MMDetection's norm_decay_mult=0), 0.05 elsewhere.
    norm_ids = _norm_param_ids(runner.model)
    decays = {(id(p) in norm_ids, g['weight_decay'])
              for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}
    assert decays == {(True, 0.0), (False, 0.05)}

    # MMDetection's CocoMetric (pycocotools) scored the detections.
    for metric in metrics_wanted:
        assert 0.0 <= metrics[f'coco/{metric}_mAP'] <= 1.0
    assert ('coco/segm_mAP' in metrics) == ('segm' in metrics_wanted)

    # All compiled mmcv kernels the detector needs ran on CPU; the README lists them.
    if next(runner.model.parameters()).is_cuda:
        # The Runner took a GPU: CUDA-only ops may be called (RetinaNet's focal loss).
        assert kernels_wanted <= kernels
    else:
        assert kernels == kernels_wanted
        assert not kernels & set(CUDA_ONLY_OPS)


def test_ops_without_cpu_kernel_are_not_called_on_cpu():
    """mmcv 2.1.0's sigmoid focal loss has no CPU kernel; RetinaNet runs on CPU because
    MMDetection's FocalLoss takes its PyTorch path there (recorded above: not called)."""
    from mmcv.ops import sigmoid_focal_loss
    from mmdet.models.losses import FocalLoss
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

    pred = torch.randn(6, 80, requires_grad=True)
    target = torch.randint(0, 81, (6, ))  # 80 = background
    with pytest.raises((NotImplementedError, RuntimeError)):
        sigmoid_focal_loss(pred, target, 2.0, 0.25, None, 'mean')
    loss = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25)(pred, target)
    one_hot = torch.nn.functional.one_hot(target, 81)[:, :80]
    assert torch.allclose(loss, py_sigmoid_focal_loss(pred, one_hot, gamma=2.0, alpha=0.25))
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_checkpoint_missing_a_backbone_key_stops_the_detector(rsb_checkpoint, tmp_path):
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope

    state = extract_state_dict(read_checkpoint(rsb_checkpoint))
    state.pop('backbone.layer3.1.conv2.weight')
    partial = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict=state), partial)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, DETECTORS['faster_rcnn'][0]))
    cfg.model.backbone.init_cfg.checkpoint = partial
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(copy.deepcopy(cfg.model))
    with pytest.raises(WeightsMappingError, match=r'layer3\.1\.conv2\.weight'):
        model.init_weights()


def test_fused_adamw_is_mmdetections_adamw():
    """The shipped optimizer (fused AdamW) and MMDetection's (unfused) update the detector's
    parameter groups alike: 3 steps from the same weights and gradients agree to rounding."""
    from mmdet.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    cfg = Config.fromfile(osp.join(CONFIG_DIR, DETECTORS['faster_rcnn'][0]))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        fused_model = MODELS.build(copy.deepcopy(cfg.model))
        plain_model = copy.deepcopy(fused_model)
        plain_cfg = copy.deepcopy(cfg.optim_wrapper)
        plain_cfg.optimizer.fused = False
        fused = build_optim_wrapper(fused_model, copy.deepcopy(cfg.optim_wrapper))
        plain = build_optim_wrapper(plain_model, plain_cfg)
    assert fused.optimizer.defaults['fused'] and not plain.optimizer.defaults['fused']
    assert len(fused.optimizer.param_groups) == len(plain.optimizer.param_groups) > 100
    start = {n: p.detach().clone() for n, p in plain_model.named_parameters()}
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        for p, q in zip(fused_model.parameters(), plain_model.parameters()):
            if p.requires_grad:
                p.grad = torch.randn(p.shape, generator=gen) * 1e-2
                q.grad = p.grad.clone()
        fused.step()
        plain.step()
    moved = 0
    for (name, p), q in zip(fused_model.named_parameters(), plain_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=name)
        moved += int(not torch.equal(q, start[name]))
    assert moved == sum(p.requires_grad for p in plain_model.parameters()) > 100
