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
            dataset=dict(type='ImageNet', data_root=root, split='train', pipeline=[])),
        val_dataloader=dict(
            batch_size=4, sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ImageNet', data_root=root, split='val', pipeline=[])),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='MultiTensorLamb', lr=5e-3,
                                          weight_decay=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2))
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
    ('train_dataloader.sampler.num_repeats', 0, 'num_repeats must be an int >= 1, got 0'),
    ('train_dataloader.batch_size', 0, 'train_dataloader.batch_size = 0'),
    ('train_cfg.max_epochs', 0, 'train_cfg.max_epochs = 0'),
])
def test_out_of_range_values_name_key_and_value(data_root, key, value, needle):
    cfg = _cfg(data_root)
    cfg.merge_from_dict({key: value})
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert needle in str(err.value)


def test_bad_module_value_stops_the_runner_before_any_data_loads(data_root, tmp_path):
    """Values checked by the modules themselves (loss threshold, drop path, mixup alpha) fail
    when the Runner builds the model, before the data set is scanned."""
    from rsb_mm.utils import build_runner
    cfg = _cfg(data_root)
    cfg.update(
        work_dir=str(tmp_path),
        val_evaluator=dict(type='Accuracy'),
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='ResNetTimmDropPath', depth=18, drop_path_rate=0.05),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=512,
                      loss=dict(type='ThresholdedBCELoss', target_threshold=1.5))))
    expected = r'target_threshold must be None or in \[0, 1\], got 1.5'
    with pytest.raises(ValueError, match=expected):
        build_runner(cfg)
