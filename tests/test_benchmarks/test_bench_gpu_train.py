"""benchmarks/bench_gpu_train.py (benchmark (4), GPU) dry-run on CPU: the same variants and
code path on a tiny batch, so the script is known to work before a GPU machine is at hand.
No timing is asserted (speed claims live in benchmarks/README.md)."""
import re

import pytest
import torch

def test_cpu_dry_run_prints_every_variant(capsys, load_benchmark):
    bench = load_benchmark('bench_gpu_train')
    bench.main(['--device', 'cpu', '--configs', 'a3', '--batch-size', '4', '--img-size', '32',
                '--iters', '1', '--rounds', '2', '--warmup', '1', '--no-fused',
                '--channels-last'])
    out = capsys.readouterr().out
    assert 'AMP off, channels-last on' in out
    assert '## rsb_a3_resnet50.py: batch 4, 32 px' in out
    # Every variant's row, its numbers parseable; no rate is asserted (a loaded machine may
    # round one to 0 img/s: speed claims live in benchmarks/README.md).
    number = r'(\d+(?:\.\d+)?)'
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        rf'^\| ([^|]+?) \| {number} \| {number}-{number} \| {number} \| (-|[\d.]+) \| '
        rf'{number} \|$', out, re.M)}
    assert set(rows) == {'rsb_mm (as configured)',
                         'rsb_mm, pseudo_collate + ClsDataPreprocessor (before)',
                         'timm train.py loop'}
    assert rows['timm train.py loop'][3] == '1.000'


def test_variants_are_built_as_configured(load_benchmark):
    """The rsb_mm rows run the config's model in channels-last with the config's optimizer;
    the timm row timm's ResNet-50 with the same weights and Lamb."""
    bench = load_benchmark('bench_gpu_train')
    import rsb_mm  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    cfg = bench.load_config(bench.CONFIGS['a1'], amp=False, channels_last=True)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    variants = bench.build_variants(cfg, torch.device('cpu'), amp=False, channels_last=True,
                                    batch_size=4, img_size=32, seed=0, fused=True, extra=True)
    ours, fused, batched_old, before, timm_variant = variants
    assert [v.name for v in variants[:-1]] == list(bench.RSB_MM_VARIANTS)
    assert ours.batched and fused.batched and batched_old.batched and not before.batched
    assert [v.optim_wrapper.optimizer.fused for v in (ours, fused, before)] == \
        [False, True, False]
    # as configured: the batched preprocessor; before: MMPretrain's
    assert [type(v.model.data_preprocessor).__name__ for v in (ours, batched_old, before)] == \
        ['BatchedClsDataPreprocessor', 'ClsDataPreprocessor', 'ClsDataPreprocessor']
    assert type(ours.optim_wrapper.optimizer).__name__ == 'MultiTensorLamb'
    assert ours.model.backbone.channels_last
    assert ours.model.backbone.drop_path_rate == cfg.model.backbone.drop_path_rate == 0.05
    theirs = timm_variant.model.state_dict()
    for key, value in ours.model.backbone.state_dict().items():
        assert torch.equal(value, theirs[key]), key
    assert type(timm_variant.optimizer).__name__ == 'Lamb'
    batch = before.prepare(1)[0]
    assert isinstance(batch['inputs'], list) and len(batch['inputs']) == 4
    assert isinstance(ours.prepare(1)[0]['inputs'], torch.Tensor)
    inputs, target = timm_variant.prepare(1)[0]
    assert inputs.dtype == torch.uint8 and target.shape == (4, 1000)


def test_cuda_without_gpu_is_refused(load_benchmark):
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    bench = load_benchmark('bench_gpu_train')
    with pytest.raises(SystemExit, match='torch sees no GPU'):
        bench.main(['--configs', 'a3'])
