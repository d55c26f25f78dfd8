"""The paper's Table 3 configs (configs/archs/): each is its recipe's ResNet-50 config with only
the model (and, where Table 3 says so, the resolution) changed, names the architecture the paper
trained, and trains one iteration.

Training every one of the 57 configs for one iteration takes several minutes on 2 CPU cores
(RegNetY-32GF alone ~15 s), so by default each architecture trains once, the recipe rotating over
A1 / A2 / A3 from one architecture to the next (each recipe is covered on every model family);
the three configs of an architecture differ only in what ``test_config_is_its_recipe`` checks.
``RSB_TEST_ALL_ARCH_CONFIGS=1`` trains all 57.
"""
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import rsb_mm  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCHS_DIR = osp.join(REPO, 'configs', 'archs')

# What the paper trained (Table 3) and through which implementation. ``twin``: the timm model
# whose parameter count the MMPretrain backbone must match.
MMPRETRAIN = {
    'resnet18': dict(backbone=dict(type='ResNetTimmDropPath', depth=18), in_channels=512,
                     twin='resnet18'),
    'resnet34': dict(backbone=dict(type='ResNetTimmDropPath', depth=34), in_channels=512,
                     twin='resnet34'),
    'resnet101': dict(backbone=dict(type='ResNetTimmDropPath', depth=101), in_channels=2048,
                      twin='resnet101'),
    'resnet152': dict(backbone=dict(type='ResNetTimmDropPath', depth=152), in_channels=2048,
                      twin='resnet152'),
    'resnet50d': dict(backbone=dict(type='ResNetV1d', depth=50), in_channels=2048,
                      twin='resnet50d'),
    'resnext50_32x4d': dict(backbone=dict(type='ResNeXt', depth=50, groups=32,
                                          width_per_group=4), in_channels=2048,
                            twin='resnext50_32x4d'),
}
TIMM = {
    'seresnet50': 'seresnet50',
    'regnety_4gf': 'regnety_040', 'regnety_8gf': 'regnety_080', 'regnety_16gf': 'regnety_160',
    'regnety_32gf': 'regnety_320',
    'efficientnet_b0': 'efficientnet_b0', 'efficientnet_b1': 'efficientnet_b1',
    'efficientnet_b2': 'efficientnet_b2', 'efficientnet_b3': 'efficientnet_b3',
    'efficientnet_b4': 'efficientnet_b4',
    'vit_tiny_p16': 'vit_tiny_patch16_224', 'vit_small_p16': 'vit_small_patch16_224',
    'vit_base_p16': 'vit_base_patch16_224',
}
# Table 3's train / test resolution per recipe where it is not ResNet-50's.
RESNET50_RES = {'a1': (224, 224), 'a2': (224, 224), 'a3': (160, 224)}
RESOLUTION = {
    'efficientnet_b1': {'a1': (240, 240), 'a2': (240, 240), 'a3': (160, 224)},
    'efficientnet_b2': {'a1': (260, 260), 'a2': (260, 260), 'a3': (192, 256)},
    'efficientnet_b3': {'a1': (300, 300), 'a2': (300, 300), 'a3': (224, 288)},
    'efficientnet_b4': {'a1': (380, 380), 'a2': (380, 380), 'a3': (320, 380)},
}
ARCHS = sorted({**MMPRETRAIN, **TIMM})
CONFIGS = [(recipe, arch) for arch in ARCHS for recipe in ('a1', 'a2', 'a3')]
# Which configs train an iteration: see the module docstring.
if os.environ.get('RSB_TEST_ALL_ARCH_CONFIGS') == '1':
    TRAINED = CONFIGS
else:
    TRAINED = [(('a1', 'a2', 'a3')[i % 3], arch) for i, arch in enumerate(ARCHS)]
# Keys that may differ from the ResNet-50 config when the resolution differs.
RESOLUTION_KEYS = ('train_size', 'test_size', 'train_pipeline', 'test_pipeline',
                   'train_dataloader', 'val_dataloader', 'test_dataloader', 'extra_test_sets',
                   'val_cfg', 'test_cfg')
SIZE_FIELDS = {'TimmRandomResizedCrop': 'scale', 'TimmRandAugment': 'img_size',
               'ResizeEdge': 'scale', 'CenterCrop': 'crop_size'}


def _path(recipe, arch):
    return osp.join(ARCHS_DIR, f'rsb_{recipe}_{arch}.py')


def _load(recipe, arch):
    return Config.fromfile(_path(recipe, arch))


def _parent(recipe):
    return Config.fromfile(osp.join(REPO, 'configs', f'rsb_{recipe}_resnet50.py'))


def test_every_config_file_is_listed():
    files = sorted(osp.basename(p) for p in glob.glob(osp.join(ARCHS_DIR, 'rsb_*.py')))
    assert files == sorted(f'rsb_{r}_{a}.py' for r, a in CONFIGS)
    assert len(files) == 57


def _strip_sizes(pipeline):
    out = []
    for step in pipeline:
        step = dict(step)
        step.pop(SIZE_FIELDS.get(step['type'], ''), None)
        out.append(step)
    return out


def _sizes(pipeline):
    found = {step['type']: step[SIZE_FIELDS[step['type']]] for step in pipeline
             if step['type'] in SIZE_FIELDS}
    return found


def _check_resolution(cfg, parent, train, test):
    train_pipe = cfg.train_dataloader.dataset.pipeline
    test_pipe = cfg.test_dataloader.dataset.pipeline
    assert _sizes(train_pipe) == {'TimmRandomResizedCrop': train, 'TimmRandAugment': train}
    # crop ratio 0.95: the short side goes to floor(test / 0.95) (timm's int(size / crop_pct))
    assert _sizes(test_pipe) == {'ResizeEdge': int(test / 0.95), 'CenterCrop': test}
    assert _strip_sizes(train_pipe) == _strip_sizes(parent.train_dataloader.dataset.pipeline)
    assert _strip_sizes(test_pipe) == _strip_sizes(parent.test_dataloader.dataset.pipeline)
    assert cfg.val_dataloader.dataset.pipeline == test_pipe
    for loop, parent_loop in ((cfg.val_cfg, parent.val_cfg), (cfg.test_cfg, parent.test_cfg)):
        assert [s.prefix for s in loop.extra_sets] == ['real', 'v2']
        for extra, parent_extra in zip(loop.extra_sets, parent_loop.extra_sets):
            assert extra.dataloader.dataset.pipeline == test_pipe
            extra.dataloader.dataset.pipeline = parent_extra.dataloader.dataset.pipeline
        assert loop == parent_loop  # nothing else in the loops changed
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader, parent_loader = cfg[key].to_dict(), parent[key].to_dict()
        loader['dataset'].pop('pipeline')
        parent_loader['dataset'].pop('pipeline')
        assert loader == parent_loader


@pytest.mark.parametrize('recipe,arch', CONFIGS)
def test_config_is_its_recipe(recipe, arch):
    cfg, parent = _load(recipe, arch), _parent(recipe)
    model = cfg.model
    drop_path = parent.model.backbone.drop_path_rate
    assert drop_path == (0.0 if recipe == 'a3' else 0.05)
    if arch in MMPRETRAIN:
        expected = MMPRETRAIN[arch]
        for key, value in expected['backbone'].items():
            assert model.backbone[key] == value
        assert model.backbone.drop_path_rate == drop_path
        assert model.head.in_channels == expected['in_channels']
        # the rest of the model is ResNet-50's
        other, parent_model = model.to_dict(), parent.model.to_dict()
        for m in (other, parent_model):
            m.pop('backbone')
            m['head'].pop('in_channels')
        assert other == parent_model
    else:
        assert model.type == 'TimmClassifier' and model.model_name == TIMM[arch]
        assert model.num_classes == 1000 and model.drop_path_rate == drop_path
        assert model.loss == parent.model.head.loss
        assert model.train_cfg == parent.model.train_cfg
        extra = set(model) - {'type', 'model_name', 'num_classes', 'drop_path_rate', 'loss',
                              'train_cfg'}
        # ViT at A3 trains at 160 with the position embedding resampled to the test size
        assert extra == ({'img_size', 'dynamic_img_size'}
                         if arch.startswith('vit') and recipe == 'a3' else set())
        if extra:
            assert model.img_size == 160 and model.dynamic_img_size

    # Everything else is the recipe's, but the ViT no-decay names and Table 3's resolution.
    train, test = RESOLUTION.get(arch, RESNET50_RES)[recipe]
    differs = ['model']
    if arch.startswith('vit'):
        assert cfg.optim_wrapper.pop('paramwise_cfg') == dict(
            no_weight_decay=['model.pos_embed', 'model.cls_token'])
    if (train, test) != RESNET50_RES[recipe]:
        _check_resolution(cfg, parent, train, test)
        differs += RESOLUTION_KEYS
    else:
        assert _sizes(cfg.train_dataloader.dataset.pipeline)['TimmRandomResizedCrop'] == train
        assert _sizes(cfg.test_dataloader.dataset.pipeline)['CenterCrop'] == test
    rest = {k: v for k, v in cfg.to_dict().items() if k not in differs}
    parent_rest = {k: v for k, v in parent.to_dict().items() if k not in differs}
    assert rest == parent_rest


def _tiny_cfg(recipe, arch, data_root, work_dir):
    cfg = _load(recipe, arch)
    cfg.work_dir = work_dir
    loader = cfg.train_dataloader
    loader.dataset.data_root = data_root
    loader.dataset.serialize_data = False
    loader.update(batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False)
    for step in loader.dataset.pipeline:  # 32 px images: only the sizes change
        if step['type'] == 'TimmRandomResizedCrop':
            step['scale'] = 32
        elif step['type'] == 'TimmRandAugment':
            step['img_size'] = 32
    if arch.startswith('vit'):
        cfg.model.img_size = 32  # the smallest grid for patch 16: 2 x 2 tokens
    for stage in ('val', 'test'):  # trains only
        cfg[f'{stage}_cfg'] = cfg[f'{stage}_dataloader'] = cfg[f'{stage}_evaluator'] = None
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint = None
    cfg.visualizer.vis_backends = []
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    return cfg


def _twin_params(name):
    import timm
    with torch.device('meta'):
        return sum(p.numel() for p in timm.create_model(name).parameters())


@pytest.fixture(scope='module')
def tiny_imagenet(tmp_path_factory):
    from rsb_mm.testing import write_imagenet_folder
    root = str(tmp_path_factory.mktemp('arch_imagenet'))
    write_imagenet_folder(root, num_classes=2, images_per_class=1, size=32, splits=('train', ))
    return root


@pytest.mark.parametrize('recipe,arch', TRAINED)
def test_config_trains_one_iteration(recipe, arch, tiny_imagenet, tmp_path, monkeypatch):
    from rsb_mm.utils import build_runner

    # The Runner logs and dumps its config through yapf (seconds on a shared CPU).
    monkeypatch.setattr(Config, 'pretty_text', property(lambda self: repr(self._cfg_dict)))
    runner = build_runner(_tiny_cfg(recipe, arch, tiny_imagenet, str(tmp_path)))
    model = runner.model
    if arch in MMPRETRAIN:
        assert type(model.backbone).__name__ == MMPRETRAIN[arch]['backbone']['type']
        assert sum(p.numel() for p in model.parameters()) == _twin_params(
            MMPRETRAIN[arch]['twin'])
    else:
        assert type(model).__name__ == 'TimmClassifier'
        assert model.model.default_cfg['architecture'] == TIMM[arch]
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == 'DropPath']
    if recipe == 'a3':
        assert not any(rates)
    else:  # rising to the recipe's 0.05 (timm's EfficientNet stops at 0.05 * 15 / 16)
        assert 0.046 < max(rates) <= 0.05 + 1e-9 and min(rates) < 0.01
    head = [p for p in model.parameters() if p.ndim == 2][-1]
    before = head.detach().clone()

    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert loss > 0 and torch.isfinite(torch.tensor(loss))
    assert not torch.equal(head.detach(), before)  # the optimizer stepped
    if arch.startswith('vit'):
        groups = runner.optim_wrapper.optimizer.param_groups
        no_decay = {id(p) for g in groups if g['weight_decay'] == 0 for p in g['params']}
        assert id(model.model.pos_embed) in no_decay and id(model.model.cls_token) in no_decay
