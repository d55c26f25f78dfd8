"""``MultiTensorLamb`` on the GPU against timm's ``Lamb`` on the GPU, exact and fused paths.

On CUDA timm's ``Lamb`` takes its multi-tensor path by default (``foreach=None``) and
``MultiTensorLamb`` runs each foreach pass over a whole group (no CPU blocking, no scratch
buffers); ``fused=True`` compiles its per-tensor kernel with Triton. Both must stay within
1e-5 (max relative difference) of timm's two paths over ResNet-50's parameters, with the
global-norm clip triggering in some steps only. The CPU tests
(tests/test_engine/test_optimizers/test_multi_tensor_lamb.py) prove the CPU bits.
"""
import copy

import pytest
import torch
from timm.models import resnet18, resnet50
from timm.optim import Lamb as TimmLamb
from timm.optim import param_groups_weight_decay

from rsb_mm.engine.optimizers import MultiTensorLamb

STEPS = 12


def _max_rel(params, ref_params) -> float:
    return max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(params, ref_params))


@pytest.mark.cuda
@pytest.mark.parametrize('fused', [False, True], ids=['exact', 'fused'])
def test_multi_tensor_lamb_matches_timm_lamb_on_device(device, fused):
    torch.manual_seed(0)
    # a dry run on the CPU only exercises this code: a smaller network, fewer steps
    model = (resnet50() if device.type == 'cuda' else resnet18()).to(device)
    models = [copy.deepcopy(model) for _ in range(3)]
    optimizers = [
        TimmLamb(param_groups_weight_decay(models[0], 0.01), lr=5e-3, weight_decay=0.01),
        TimmLamb(param_groups_weight_decay(models[1], 0.01), lr=5e-3, weight_decay=0.01,
                 foreach=False),
        MultiTensorLamb(param_groups_weight_decay(models[2], 0.01), lr=5e-3,
                        weight_decay=0.01, fused=fused),
    ]
    params = [list(m.parameters()) for m in models]
    initial = [p.detach().clone() for p in params[2]]
    gen = torch.Generator(device=device).manual_seed(0)
    clipped = 0
    steps = STEPS if device.type == 'cuda' else 4
    for step in range(steps):
        # gradient global norm about 0.1-10 around the clip at 1.0, the same for all three
        scale = 10**(-4.5 + 2 * (step % 4) / 3)
        grads = [torch.randn(p.shape, generator=gen, device=device) * scale for p in params[0]]
        clipped += bool(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads])) > 1.0)
        for model_params in params:
            for p, g in zip(model_params, grads):
                p.grad = g
        for opt in optimizers:
            opt.step()
    assert 0 < clipped < steps, 'the clip must trigger in some steps only'
    for ref_params, path in ((params[0], 'default'), (params[1], 'foreach=False')):
        rel = _max_rel(params[2], ref_params)
        assert rel <= 1e-5, f'{rel:.3g} from timm Lamb ({path}) on {device}'
    assert _max_rel(params[2], initial) > 1e-3, 'the parameters must have been trained'
