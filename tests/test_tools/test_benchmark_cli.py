"""``tools/benchmark.py``: one table row per config with its parameters and FLOPs, written to
--out as printed; mismatched --checkpoints are refused."""
import os.path as osp
import runpy

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'benchmark.py')


def test_benchmark_table(tmp_path, capsys):
    main = runpy.run_path(TOOL)['main']
    configs = [osp.join(REPO, 'configs', 'archs', f'rsb_a3_{name}.py')
               for name in ('resnet18', 'vit_tiny_p16')]
    out = str(tmp_path / 'table.md')
    main([*configs, '--batch-size', '2', '--warmup', '1', '--iters', '1', '--img-size', '64',
          '--device', 'cpu', '--out', out])
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith('| rsb_')]
    # ResNet-18: 11.7 M parameters; ViT-Ti (timm vit_tiny_patch16_224): 5.7 M, the paper's
    assert rows[0].startswith('| rsb_a3_resnet18 | 11.7 | 0.15 | 64x64 | 2 | cpu, fp32 |')
    assert rows[1].startswith('| rsb_a3_vit_tiny_p16 | 5.7 |')
    with open(out) as f:
        assert printed.endswith(f.read())  # MMEngine may log before the table

    with pytest.raises(SystemExit):
        main([*configs, '--checkpoints', 'one.pth'])
