"""MultiSetValLoop / MultiSetTestLoop in a real MMEngine Runner (tiny ResNet-18 classifier at
32 px): val, ReaL and V2 metrics come back together under their prefixes and equal a direct
computation (plain top-k for val / V2, timm's RealLabelsImagenet for ReaL); missing extra sets
are skipped with one warning naming the path, a missing primary set raises; save_best='auto'
still picks accuracy/top1 during training."""
import glob
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.runner import Runner
from PIL import Image

import rsb_mm.engine.runners.multi_set_loops as loops_module
from rsb_mm.engine.runners import MultiSetTestLoop, MultiSetValLoop, build_extra_sets
from rsb_mm.testing import sample_photos
from rsb_mm.utils import build_runner

NUM_IMAGES, NUM_CLASSES = 8, 12
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=36, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]


@pytest.fixture(autouse=True)
def fast_config_text(monkeypatch):
    # The Runner logs and dumps its config through yapf, which takes seconds per call for these
    # nested dataloader configs on a shared CPU; the text is not what these tests check.
    monkeypatch.setattr(Config, 'pretty_text', property(lambda self: repr(self._cfg_dict)))


def _loader(dataset):
    # serialize_data=False: MMEngine's serialisation runs gc.collect() per data set, about a
    # second each on a loaded machine, for nothing with 8 images.
    return dict(batch_size=3, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(pipeline=PIPELINE, serialize_data=False, **dataset))


def _cfg(tmp_path, name, skip_missing=True, primary_root=None):
    imagenet = str(tmp_path / 'imagenet')
    extra_sets = [
        dict(prefix='real',
             dataloader=_loader(dict(type='ImageNetReaL', data_root=imagenet, split='val')),
             evaluator=dict(type='ReaLAccuracy', topk=(1, 5))),
        dict(prefix='v2',
             dataloader=_loader(dict(type='ImageNetV2', data_root=str(tmp_path / 'imagenetv2'))),
             evaluator=dict(type='Accuracy', topk=(1, 5))),
    ]
    primary = _loader(dict(type='ImageNet', data_root=primary_root or imagenet, split='val'))
    return Config(dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['rsb_mm'], allow_failed_imports=False),
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=512,
                      loss=dict(type='CrossEntropyLoss')),
            # to_onehot as in RSB's batch-augment configs: ReaL's ragged label sets pass it.
            data_preprocessor=dict(num_classes=NUM_CLASSES, to_onehot=True,
                                   mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                                   to_rgb=True)),
        val_dataloader=primary,
        val_evaluator=dict(type='Accuracy', topk=(1, 5)),
        val_cfg=dict(type='MultiSetValLoop', extra_sets=extra_sets, skip_missing=skip_missing),
        test_dataloader=primary,
        test_evaluator=dict(type='Accuracy', topk=(1, 5)),
        test_cfg=dict(type='MultiSetTestLoop', extra_sets=extra_sets,
                      skip_missing=skip_missing),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0),
        work_dir=str(tmp_path / 'work'),
        experiment_name=name,
    ))


def _direct_scores(runner, raw_dir):
    """The model's class scores per raw image, through the same pipeline, outside the loop."""
    from mmpretrain.datasets import CustomDataset
    dataset = CustomDataset(data_prefix=raw_dir, with_label=False, pipeline=PIPELINE)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    runner.model.eval()
    with torch.no_grad():
        outputs = runner.model.test_step(batch)
    return {osp.basename(o.img_path): o.pred_score for o in outputs}


def _write_sets(tmp_path, scores):
    """Labels chosen from the model's ranking so that the three sets score differently
    (top-1 / top-5): val 25 / 50, V2 50 / 50, ReaL 3/7 / 5/7 (image 1 has an empty set)."""
    imagenet, v2 = tmp_path / 'imagenet', tmp_path / 'imagenetv2'
    os.makedirs(imagenet / 'meta')
    val_lines, real, truth = [], [], {}
    for i in range(NUM_IMAGES):
        raw = str(tmp_path / 'raw' / f'img{i}.jpeg')
        ranks = scores[f'img{i}.jpeg'].argsort(descending=True).tolist()
        val_name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
        shutil.copy(raw, imagenet / 'val' / val_name)
        val_label = (ranks[0], ranks[3], ranks[-1], ranks[-2])[i % 4]
        val_lines.append(f'{val_name} {val_label}\n')
        real.append([[], [ranks[0], ranks[-1]], [ranks[2]], [ranks[-1], ranks[-2]]][i % 4]
                    if i != 4 else [ranks[0]])
        v2_label = ranks[0] if i % 2 == 0 else ranks[-1]
        os.makedirs(v2 / 'imagenetv2-matched-frequency-format-val' / str(v2_label),
                    exist_ok=True)
        shutil.copy(raw, v2 / 'imagenetv2-matched-frequency-format-val' / str(v2_label) /
                    f'{i:04x}e9a1.jpeg')
        truth[f'img{i}.jpeg'] = dict(val=val_label, real=real[-1], v2=v2_label,
                                     val_name=val_name)
    (imagenet / 'meta' / 'val.txt').write_text(''.join(val_lines[::-1]))
    (imagenet / 'real.json').write_text(json.dumps(real))
    return truth


def _prepare(tmp_path, name, **cfg_kwargs):
    raw = tmp_path / 'raw'
    raw.mkdir()
    for i, photo in enumerate(sample_photos(NUM_IMAGES)):
        Image.fromarray(photo).resize((40, 40)).save(raw / f'img{i}.jpeg', format='JPEG')
    # build_runner's preflight wants the primary folder; the label files are written below,
    # before the loops build their datasets.
    os.makedirs(tmp_path / 'imagenet' / 'val')
    runner = build_runner(_cfg(tmp_path, name, **cfg_kwargs))
    scores = _direct_scores(runner, str(raw))
    truth = _write_sets(tmp_path, scores)
    return runner, scores, truth


def _timm_real(scores, truth, real_json):
    from timm.data.real_labels import RealLabelsImagenet
    names = sorted(scores)
    timm_real = RealLabelsImagenet([truth[n]['val_name'] for n in names], real_json=real_json)
    timm_real.add_result(torch.stack([scores[n] for n in names]))
    return {f'real/accuracy/top{k}': v for k, v in timm_real.get_accuracy().items()}


def _plain(scores, truth, key, prefix=''):
    names = sorted(scores)
    top5 = torch.stack([scores[n] for n in names]).topk(5, 1).indices
    labels = torch.tensor([truth[n][key] for n in names])
    return {f'{prefix}accuracy/top{k}':
            (top5[:, :k] == labels[:, None]).any(1).float().mean().item() * 100
            for k in (1, 5)}


def _log_text(runner):
    return ''.join(open(p).read() for p in glob.glob(osp.join(runner.log_dir, '*.log')))


def test_val_and_test_return_all_sets(tmp_path):
    runner, scores, truth = _prepare(tmp_path, 'all_sets')
    expected = {**_plain(scores, truth, 'val'),
                **_timm_real(scores, truth, str(tmp_path / 'imagenet' / 'real.json')),
                **_plain(scores, truth, 'v2', prefix='v2/')}
    # The three sets must score differently, or a mixed-up set would go unnoticed.
    assert len({expected['accuracy/top1'], expected['real/accuracy/top1'],
                expected['v2/accuracy/top1']}) == 3

    metrics = runner.val()
    assert isinstance(runner.val_loop, MultiSetValLoop)
    assert list(metrics) == list(expected)  # primary keys first: save_best='auto'
    assert metrics == pytest.approx(expected, abs=1e-4)
    # The extra sets were built by the runner's dataloader builder (its sampler and seed:
    # under DDP, the distributed DefaultSampler).
    for extra in runner.val_loop.extra_sets:
        assert isinstance(extra.dataloader.sampler, DefaultSampler)
        assert extra.dataloader.sampler.seed == runner.seed
    # After the run the loop's dataloader is the primary one again.
    assert runner.val_dataloader.dataset.__class__.__name__ == 'ImageNet'
    log = _log_text(runner)
    assert 'real/accuracy/top1' in log and 'v2/accuracy/top5' in log

    metrics = runner.test()
    assert isinstance(runner.test_loop, MultiSetTestLoop)
    assert metrics == pytest.approx(expected, abs=1e-4)


def test_missing_extra_sets_are_skipped_with_one_warning(tmp_path):
    runner, scores, truth = _prepare(tmp_path, 'skip')
    real_json = str(tmp_path / 'imagenet' / 'real.json')
    os.remove(real_json)
    shutil.rmtree(tmp_path / 'imagenetv2')
    metrics = runner.val()
    assert metrics == pytest.approx(_plain(scores, truth, 'val'), abs=1e-4)
    warnings = [line for line in _log_text(runner).splitlines()
                if 'WARNING' in line and 'Skipping the test set' in line]
    assert len(warnings) == 2
    assert "'real'" in warnings[0] and real_json in warnings[0]
    assert "'v2'" in warnings[1] and str(tmp_path / 'imagenetv2') in warnings[1]


def test_missing_sets_raise_when_not_skipped_and_primary_always(tmp_path):
    runner, _, _ = _prepare(tmp_path, 'strict', skip_missing=False)
    real_json = str(tmp_path / 'imagenet' / 'real.json')
    os.remove(real_json)
    with pytest.raises(FileNotFoundError, match=real_json):
        runner.val()
    missing_primary = str(tmp_path / 'no_imagenet')
    # Runner.from_cfg: build_runner's preflight would already refuse the missing folder.
    runner = Runner.from_cfg(_cfg(tmp_path, 'no_primary', primary_root=missing_primary))
    with pytest.raises(FileNotFoundError, match=osp.join(missing_primary, 'val')):
        runner.test()


def test_training_keeps_save_best_auto(tmp_path):
    runner, _, _ = _prepare(tmp_path, 'train')
    cfg = _cfg(tmp_path, 'train2')
    cfg.train_dataloader = _loader(dict(type='ImageNet', data_root=str(tmp_path / 'imagenet'),
                                        split='val'))
    cfg.train_dataloader.sampler.shuffle = True
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    # CrossEntropyLoss cannot take the one-hot targets without a batch augment's float mixing.
    cfg.model.data_preprocessor.to_onehot = False
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, save_best='auto')
    trainer = build_runner(cfg)
    trainer.train()
    assert glob.glob(osp.join(str(tmp_path / 'work'), 'best_accuracy_top1_epoch_1.pth'))
    assert 'real/accuracy/top1' in _log_text(trainer)


def test_set_configs_are_checked(tmp_path, monkeypatch):
    runner, _, _ = _prepare(tmp_path, 'checks')
    good = runner.cfg.val_cfg.extra_sets
    with pytest.raises(ValueError, match="prefixes must be unique, got 'real' twice"):
        build_extra_sets(runner, [good[0], good[0]])
    with pytest.raises(ValueError, match=r"extra_sets\[0\] must be a dict with exactly"):
        build_extra_sets(runner, [dict(prefix='real', dataloader=good[0].dataloader)])
    with pytest.raises(ValueError, match="must be a non-empty name.*'/real'"):
        build_extra_sets(runner, [dict(good[0], prefix='/real')])
    # A set present on this rank only: every rank must raise instead of deadlocking.
    os.remove(tmp_path / 'imagenet' / 'real.json')
    monkeypatch.setattr(loops_module, 'all_gather_object',
                        lambda present: [present, [True] * len(present)])
    with pytest.raises(RuntimeError, match='ranks disagree'):
        build_extra_sets(runner, good)
