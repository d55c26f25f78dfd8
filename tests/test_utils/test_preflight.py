"""rsb_mm.utils.preflight: bad configs fail before any data loads, naming key and value."""
import pytest
from mmengine.config import Config

import rsb_mm  # noqa: F401
from rsb_mm.testing import write_imagenet_folder
from rsb_mm.utils import ConfigError, check_config


def _cfg(root, **overrides):
    cfg = dict(
        default_scope='mmpretrain',
        train_dataloader=dict(
            batch_size=4,
            sampler=dict(type='RepeatAugSamplerDeiT', num_repeats=3, seed=0),
            dataset=dict(type='ImageNet', data_root=root, split='train', pipeline=[
                dict(type='LoadImageFromFileChecked', on_error='raise')])),
        val_dataloader=dict(
            batch_size=4, sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ImageNet', data_root=root, split='val', pipeline=[])),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='MultiTensorLamb', lr=5e-3,
                                          weight_decay=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='ResNetTimmDropPath', depth=18, drop_path_rate=0.05),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=512,
                      loss=dict(type='ThresholdedBCELoss', target_threshold=0.2)),
            train_cfg=dict(augments=[
                dict(type='MixupCutMix', mixup_alpha=0.2, cutmix_alpha=1.0,
                     label_smoothing=0.1)])),
        custom_hooks=[dict(type='NonFiniteLossHook', action='stop')])
    cfg.update(overrides)
    return Config(cfg)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    write_imagenet_folder(root, num_classes=2, images_per_class=1, size=16)
    return root


def test_good_config_passes(data_root):
    check_config(_cfg(data_root))


def test_missing_data_folder_names_key_and_path(tmp_path):
    missing = str(tmp_path / 'no_imagenet_here')
    with pytest.raises(ConfigError) as err:
        check_config(_cfg(missing))
    msg = str(err.value)
    assert f"train_dataloader.dataset.data_root = '{missing}': no such folder" in msg
    assert 'val_dataloader.dataset.data_root' in msg


def test_missing_split_and_ann_file(data_root):
    cfg = _cfg(data_root)
    cfg.val_dataloader.dataset.split = 'test'
    cfg.train_dataloader.dataset.ann_file = 'meta/nope.txt'
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert "val_dataloader.dataset.split = 'test'" in str(err.value)
    assert "train_dataloader.dataset.ann_file = 'meta/nope.txt'" in str(err.value)


@pytest.mark.parametrize('key,value,needle', [
    ('optim_wrapper.optimizer.lr', -0.1, 'optim_wrapper.optimizer.lr = -0.1'),
    ('optim_wrapper.optimizer.weight_decay', -1.0, 'weight_decay'),
    ('train_dataloader.batch_size', 0, 'train_dataloader.batch_size = 0'),
    ('train_cfg.max_epochs', 0, 'train_cfg.max_epochs = 0'),
    ('train_dataloader.sampler.num_repeats', 0,
     'train_dataloader.sampler.num_repeats = 0: must be an int >= 1 (RepeatAugSamplerDeiT)'),
    ('model.train_cfg.augments.0.mixup_alpha', -0.1,
     'model.train_cfg.augments[0].mixup_alpha = -0.1: must be a number >= 0 (MixupCutMix)'),
    ('model.train_cfg.augments.0.cutmix_alpha', -1,
     'model.train_cfg.augments[0].cutmix_alpha = -1: must be a number >= 0'),
    ('model.train_cfg.augments.0.label_smoothing', 1.0,
     'model.train_cfg.augments[0].label_smoothing = 1.0: must be in [0, 1)'),
    ('model.head.loss.target_threshold', 1.5,
     'model.head.loss.target_threshold = 1.5: must be None or in [0, 1] (ThresholdedBCELoss)'),
    ('model.head.loss.target_threshold', -0.2,
     'model.head.loss.target_threshold = -0.2: must be None or in [0, 1]'),
    ('model.backbone.drop_path_rate', 1.0,
     'model.backbone.drop_path_rate = 1.0: must be in [0, 1)'),
    ('train_dataloader.batch_size', 3,
     'train_dataloader.batch_size = 3: MixupCutMix (model.train_cfg.augments[0]) needs an '
     'even batch size'),
    ('train_dataloader.dataset.pipeline.0.on_error', 'ignore',
     "train_dataloader.dataset.pipeline[0].on_error = 'ignore': must be one of ('raise', "
     "'skip')"),
    ('custom_hooks.0.action', 'continue',
     "custom_hooks[0].action = 'continue': must be one of ('stop', 'skip')"),
])
def test_out_of_range_values_name_key_and_value(data_root, key, value, needle):
    cfg = _cfg(data_root)
    cfg.merge_from_dict({key: value})
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert needle in str(err.value)
    # one problem, one line (the sampler is not built again to say it twice)
    assert str(err.value).count('\n  - ') == 1, str(err.value)


def test_good_values_at_the_range_ends_pass(data_root):
    cfg = _cfg(data_root)
    cfg.merge_from_dict({'model.head.loss.target_threshold': None,
                         'model.train_cfg.augments.0.mixup_alpha': 0.0,
                         'model.backbone.drop_path_rate': 0.0,
                         'train_dataloader.sampler.num_repeats': 1})
    check_config(cfg)
    cfg.merge_from_dict({'model.head.loss.target_threshold': 1.0})
    check_config(cfg)


def test_pair_mixup_needs_drop_last(data_root):
    cfg = _cfg(data_root)
    cfg.merge_from_dict({'model.train_cfg.augments.0.mode': 'pair'})
    with pytest.raises(ConfigError, match=r"drop_last = False: MixupCutMix .* mode='pair'"):
        check_config(cfg)
    cfg.train_dataloader.drop_last = True
    check_config(cfg)


def test_bad_values_stop_the_runner_before_any_data_loads(data_root, tmp_path, monkeypatch):
    """A value preflight checks, and one only the module checks (when the Runner builds the
    model), both stop build_runner before any data set is read."""
    from mmengine.dataset import BaseDataset

    from rsb_mm.utils import build_runner

    def no_data(self):
        raise AssertionError('a data set was read')

    monkeypatch.setattr(BaseDataset, 'full_init', no_data)
    cfg = _cfg(data_root)
    cfg.update(work_dir=str(tmp_path), val_evaluator=dict(type='Accuracy'))
    cfg.model.head.loss.target_threshold = 1.5
    with pytest.raises(ConfigError, match=r'model.head.loss.target_threshold = 1.5: must be '
                       r'None or in \[0, 1\]'):
        build_runner(cfg)
    cfg.model.head.loss.target_threshold = 0.2
    cfg.model.train_cfg.augments[0].cutmix_minmax = (0.8, 0.2)
    with pytest.raises(ValueError, match=r'cutmix_minmax must be \(min, max\)'):
        build_runner(cfg)


def test_split_folders_are_checked_only_for_imagenet_style_data_sets(data_root):
    # MMPretrain's Flowers102 / CIFAR / StanfordCars name files with their split, not folders.
    cfg = _cfg(data_root)
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].dataset.type = 'Flowers102'
        cfg[key].dataset.split = 'trainval'
    check_config(cfg)
    cfg.train_dataloader.dataset.type = 'ImageNet'
    with pytest.raises(ConfigError, match="train_dataloader.dataset.split = 'trainval': no "
                       'folder'):
        check_config(cfg)


def test_missing_evaluator_ann_file_is_named(data_root, tmp_path):
    # a detection config whose data_root moved but whose CocoMetric still points elsewhere
    missing = str(tmp_path / 'coco' / 'annotations' / 'instances_val2017.json')
    cfg = _cfg(data_root, val_evaluator=dict(type='CocoMetric', ann_file=missing),
               test_evaluator=[dict(type='Accuracy'), dict(type='CocoMetric', ann_file=missing)])
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert f"val_evaluator.ann_file = '{missing}': no such file" in msg
    assert f"test_evaluator[1].ann_file = '{missing}': no such file" in msg


def test_sampler_with_a_random_seed_under_diff_rank_seed_is_refused(data_root):
    shuffled = dict(type='DefaultSampler', shuffle=True)
    loader = dict(batch_size=4, sampler=shuffled, dataset=_cfg(data_root).train_dataloader.dataset)
    per_rank = dict(seed=None, diff_rank_seed=True)
    with pytest.raises(ConfigError, match=r'train_dataloader.sampler = .*DefaultSampler.*'
                                          r'another data order.*sampler.seed'):
        check_config(_cfg(data_root, train_dataloader=loader, randomness=per_rank))
    # An explicit seed, an unshuffled sampler, rsb_mm's (seed None means timm's 0), or the
    # run's shared seed (diff_rank_seed off: the Runner passes it) keep the order.
    for sampler, randomness in ((dict(shuffled, seed=0), per_rank),
                                (dict(shuffled, shuffle=False), per_rank),
                                (dict(type='RepeatAugSamplerDeiT'), per_rank),
                                (shuffled, dict(seed=None))):
        check_config(_cfg(data_root, train_dataloader=dict(loader, sampler=sampler),
                          randomness=randomness))


def test_global_batch_other_than_the_lr_is_set_for_is_named(data_root, monkeypatch):
    import logging

    from mmengine.logging import MMLogger

    messages = []

    def log(level, msg, *args, **kwargs):
        if level == logging.WARNING:
            messages.append(msg)

    monkeypatch.setattr(MMLogger.get_current_instance(), 'log', log)
    monkeypatch.setenv('WORLD_SIZE', '8')
    scale = dict(base_batch_size=2048)
    loader = dict(_cfg(data_root).train_dataloader, batch_size=512)
    check_config(_cfg(data_root, train_dataloader=loader, auto_scale_lr=scale,
                      launcher='pytorch'))
    assert len(messages) == 1
    assert '8 process(es) x 512 = 4096' in messages[0] and 'set for 2048' in messages[0]
    assert 'train_dataloader.batch_size=256' in messages[0] and '--auto-scale-lr' in messages[0]
    # The recipe's global batch, or --auto-scale-lr on: nothing to say.
    check_config(_cfg(data_root, train_dataloader=dict(loader, batch_size=256),
                      auto_scale_lr=scale, launcher='pytorch'))
    check_config(_cfg(data_root, train_dataloader=loader, launcher='pytorch',
                      auto_scale_lr=dict(scale, enable=True)))
    assert len(messages) == 1
