"""Table 4 measurements: parameters equal sum(numel) (ResNet-50: 25.6 M), FLOPs agree with an
independent count of the convolutions, linear layers and attention matmuls (ResNet-50 at 224:
4.1 G as in the paper; ViT-Ti's attention counted), the test resolution comes from the config,
throughput and CPU memory are measured, impossible settings are refused."""
import math
import os.path as osp

import pytest
import torch
from torch import nn

from rsb_mm.analysis.benchmark import (benchmark_config, config_input_size, count_flops,
                                       count_parameters, format_table, measure_throughput)
from rsb_mm.apis import get_model
from rsb_mm.apis.model import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _config(name):
    return osp.join(REPO, 'configs', name)


def _macs_by_hooks(model, size):
    """Multiply-adds of every Conv2d and Linear, from their output shapes (batch 1)."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total[0] += output.numel() * module.in_channels // module.groups * kh * kw
        else:
            total[0] += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, *size), mode='tensor')
    for handle in handles:
        handle.remove()
    return total[0]


def test_resnet50_params_and_flops():
    model = get_model(_config('rsb_a1_resnet50.py'))
    params = count_parameters(model)
    assert params == sum(p.numel() for p in model.parameters()) == 25_557_032
    flops, uncounted = count_flops(model, (224, 224))
    by_hooks = _macs_by_hooks(model, (224, 224))
    # the analyzer also counts batch norm and pooling: a little above conv + fc
    assert by_hooks <= flops <= by_hooks * 1.02
    assert 4.05e9 < flops < 4.15e9  # the paper's 4.1 GFLOPs
    assert 'aten::max_pool2d' in uncounted  # said, not hidden


def test_vit_attention_is_counted():
    model = get_model(_config('archs/rsb_a1_vit_tiny_p16.py'))
    flops, uncounted = count_flops(model, (224, 224))
    assert 'aten::scaled_dot_product_attention' not in uncounted
    blocks = model.model.blocks
    tokens, width, heads = 197, model.model.embed_dim, blocks[0].attn.num_heads
    attention = len(blocks) * 2 * heads * tokens * tokens * (width // heads)
    expected = _macs_by_hooks(model, (224, 224)) + attention
    # plus layer norms, GELU is not counted: within 2 %
    assert expected <= flops <= expected * 1.02
    assert 1.2e9 < flops < 1.35e9  # the paper's 1.3 GFLOPs for ViT-Ti


def test_config_input_size():
    sizes = [config_input_size(load_config(_config(name))) for name in (
        'rsb_a3_resnet50.py', 'archs/rsb_a1_efficientnet_b2.py',
        'archs/rsb_a3_efficientnet_b3.py')]
    assert sizes == [(224, 224), (260, 260), (288, 288)]


def test_throughput_and_cpu_memory():
    model = get_model(_config('archs/rsb_a3_resnet18.py'))
    throughput, memory, kind = measure_throughput(model, (64, 64), batch_size=2, warmup=1,
                                                  iters=2, device='cpu')
    assert isinstance(throughput, float) and math.isfinite(throughput)  # a number, no rate
    if osp.exists('/proc/self/clear_refs'):
        assert kind == 'peak RSS growth' and memory >= 0
    else:
        assert (memory, kind) == (None, 'n/a')
    with pytest.raises(ValueError, match='fp16 autocast needs a GPU'):
        measure_throughput(model, (64, 64), device='cpu', precision='fp16')
    with pytest.raises(ValueError, match='precision must be one of'):
        measure_throughput(model, (64, 64), device='cpu', precision='int8')
    with pytest.raises(ValueError, match='batch_size and iters'):
        measure_throughput(model, (64, 64), batch_size=0, device='cpu')


def test_benchmark_config_row():
    result = benchmark_config(_config('archs/rsb_a3_resnet18.py'), input_size=64,
                              batch_size=2, warmup=1, iters=1, device='cpu')
    assert result.name == 'rsb_a3_resnet18'
    assert result.params == 11_689_512  # ResNet-18, the paper's 11.7 M
    assert result.input_size == (64, 64) and result.precision == 'fp32'
    assert not result.channels_last
    # FLOPs scale with the pixels: (64 / 224)^2 of ResNet-18's 1.8 G, within a few percent
    assert 0.13e9 < result.flops < 0.16e9
    table = format_table([result])
    row = table.splitlines()[2]
    assert row.startswith('| rsb_a3_resnet18 | 11.7 | 0.15 | 64x64 | 2 | cpu, fp32 |')
    assert 'Peak memory:' in table
