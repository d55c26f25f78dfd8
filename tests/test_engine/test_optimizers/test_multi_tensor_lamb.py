"""MultiTensorLamb against its twin, timm's ``Lamb`` (timm/optim/lamb.py).

timm's per-tensor path (``foreach=False``, what timm runs on CPU) is the
reference: same parameters, same groups, same gradients, same numbers.
"""
import copy
import io
import math

import pytest
import torch
from timm.models import resnet50
from timm.optim import Lamb as TimmLamb
from timm.optim import param_groups_weight_decay

from rsb_mm.engine.optimizers import MultiTensorLamb
from rsb_mm.engine.optimizers import _lamb_fused


def _compile_works():
    """Whether torch.compile can build a CPU kernel here (a C++ compiler)."""
    try:
        fn = torch.compile(lambda x: x * 2 + 1, fullgraph=True)
        return bool((fn(torch.ones(3)) == 3).all())
    except Exception:  # noqa: BLE001 - any failure means no compile here
        return False


needs_compile = pytest.mark.skipif(
    not _compile_works(),
    reason='fused=True needs torch.compile (a working C++ compiler on CPU)')


def _assert_same(actual, expected):
    """Bit for bit (exact equality, NaN-free)."""
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=0, atol=0)


def _twin_params(seed=0):
    """A small model's tensors covering the cases LAMB treats differently."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {
        'conv.weight': (8, 4, 3, 3),
        'fc.weight': (10, 16),
        'zero.weight': (5, 5),  # ||w|| = 0: trust ratio 1
        'nograd.weight': (3, 3),  # no gradient: skipped
        'fc.bias': (10, ),
        'norm.weight': (8, ),
        'scale': (),  # 0-dim
    }
    params = {}
    for name, shape in shapes.items():
        t = torch.randn(shape, generator=gen)
        if name == 'zero.weight':
            t.zero_()
        elif name == 'norm.weight':
            t = 1 + 0.1 * t
        params[name] = t
    return params


def _groups(params, weight_decay=0.01):
    tensors = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    decay = [v for k, v in tensors.items() if v.ndim > 1]
    no_decay = [v for k, v in tensors.items() if v.ndim <= 1]
    groups = [{'params': no_decay, 'weight_decay': 0.},
              {'params': decay, 'weight_decay': weight_decay}]
    return tensors, groups


def _set_grads(tensors, step, gen):
    # the scale alternates so that the global-norm clip (1.0) sometimes
    # triggers and sometimes not
    scale = 1.0 if step % 2 else 0.01
    for name, p in tensors.items():
        p.grad = None if name == 'nograd.weight' else torch.randn(
            p.shape, generator=gen) * scale


def _run_twins(options, steps=6):
    """Step timm's Lamb and MultiTensorLamb side by side; return both."""
    params = _twin_params()
    ref_tensors, ref_groups = _groups(params)
    our_tensors, our_groups = _groups(params)
    ref = TimmLamb(ref_groups, lr=0.01, foreach=False, **options)
    ours = MultiTensorLamb(our_groups, lr=0.01, **options)
    gen_ref = torch.Generator().manual_seed(1)
    gen_ours = torch.Generator().manual_seed(1)
    for step in range(steps):
        # a schedule changes lr between steps
        for opt in (ref, ours):
            for group in opt.param_groups:
                group['lr'] = 0.01 * (1 + step) / steps
        _set_grads(ref_tensors, step, gen_ref)
        _set_grads(our_tensors, step, gen_ours)
        ref.step()
        ours.step()
    return ref, ref_tensors, ours, our_tensors


@pytest.fixture
def one_thread():
    # ~25M-element ops on a shared 2-core machine: a second intra-op thread
    # only oversubscribes the cores; the numbers do not depend on it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('fused', [
    False, pytest.param(True, marks=needs_compile)
], ids=['exact', 'fused'])
def test_resnet50_100_steps_match_timm(one_thread, fused):
    """The issue's bound: <= 1e-5 max relative difference after 100 steps
    (20 for fused=True, whose compiled steps are not bit-exact: it keeps the
    test short; the bound is the same)."""
    torch.manual_seed(0)
    model = resnet50()
    ref_model, our_model = copy.deepcopy(model), copy.deepcopy(model)
    ref = TimmLamb(param_groups_weight_decay(ref_model, 0.01), lr=5e-3,
                   weight_decay=0.01, foreach=False)
    ours = MultiTensorLamb(param_groups_weight_decay(our_model, 0.01),
                           lr=5e-3, weight_decay=0.01, fused=fused)
    assert [len(g['params']) for g in ours.param_groups] == [107, 54]
    assert sum(p.numel() >= _lamb_fused.FUSED_MIN_NUMEL
               for p in our_model.parameters()) == 52

    # Fresh random gradients each step, cheaply: a seeded random pool read at
    # a random offset and scaled by a random factor (log-uniform, so the
    # global norm spans about 0.1 to 10 around the clip at 1.0). Both
    # optimizers read the same .grad tensors (neither may modify them).
    ref_params, our_params = list(ref_model.parameters()), list(
        our_model.parameters())
    numel = sum(p.numel() for p in ref_params)
    gen = torch.Generator().manual_seed(0)
    pool = torch.randn(numel + 2**20, generator=gen)
    flat_grad = torch.empty(numel)
    offset = 0
    for p_ref, p_ours in zip(ref_params, our_params):
        view = flat_grad[offset:offset + p_ref.numel()].view(p_ref.shape)
        p_ref.grad = p_ours.grad = view
        offset += p_ref.numel()
    initial = [p.detach().clone() for p in our_params]

    clipped = 0
    steps = 20 if fused else 100
    for step in range(steps):
        start = int(torch.randint(2**20, (1, ), generator=gen))
        scale = 10**(-4.5 + 2 * torch.rand((), generator=gen).item())
        torch.mul(pool[start:start + numel], scale, out=flat_grad)
        clipped += bool(flat_grad.norm() > 1.0)
        lr = 5e-3 * min(1., (step + 1) / (steps / 2))  # warm-up, as the recipe
        for opt in (ref, ours):
            for group in opt.param_groups:
                group['lr'] = lr
        ref.step()
        ours.step()
    assert 0.1 < clipped / steps < 0.9, \
        'the clip must trigger in some steps only'

    rel = max(((a - b).abs().max() / b.abs().max()).item()
              for a, b in zip(our_params, ref_params))
    assert rel <= 1e-5, f'max relative difference {rel:.3g} > 1e-5'
    moved = max(((a - b).abs().max() / b.abs().max()).item()
                for a, b in zip(our_params, initial))
    assert moved > 1e-3, 'the parameters must have been trained'


OPTIONS = [
    dict(),
    dict(always_adapt=True),
    dict(bias_correction=False),
    dict(max_grad_norm=None),
    dict(max_grad_norm=0.5),
    dict(grad_averaging=False),
    dict(trust_clip=True),
    dict(caution=True),
    dict(caution=True, always_adapt=True, max_grad_norm=None),
    dict(decoupled_decay=True),
    dict(decoupled_decay=True, corrected_weight_decay=True),
    dict(betas=(0.5, 0.9), eps=1e-3),
]


@pytest.mark.parametrize('options', OPTIONS, ids=lambda o: str(o) or 'default')
def test_options_match_timm_bitwise(options):
    """Every option: the same bits as timm on CPU."""
    ref, ref_tensors, ours, our_tensors = _run_twins(options)
    names = list(ref_tensors)
    _assert_same([our_tensors[n] for n in names],
                 [ref_tensors[n] for n in names])
    for n in names:
        if n == 'nograd.weight':
            assert not ours.state[our_tensors[n]]
            continue
        for key in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(ours.state[our_tensors[n]][key],
                                       ref.state[ref_tensors[n]][key],
                                       rtol=0, atol=0)
    assert [g['step'] for g in ours.param_groups] == [
        int(g['step']) for g in ref.param_groups]


@needs_compile
@pytest.mark.parametrize('options', [
    dict(caution=True, trust_clip=True, always_adapt=True),
    dict(decoupled_decay=True, corrected_weight_decay=True,
         grad_averaging=False, max_grad_norm=None),
], ids=['caution-trust_clip-always_adapt', 'decoupled-no_averaging'])
def test_fused_options_match_timm(monkeypatch, options):
    """fused=True on every tensor (threshold 0), with the options that take
    the other branches of the compiled function: close to timm (rounding
    only), and its state dict resumes in the exact path."""
    monkeypatch.setattr(_lamb_fused, 'FUSED_MIN_NUMEL', 0)
    params = _twin_params()
    ref_tensors, ref_groups = _groups(params)
    our_tensors, our_groups = _groups(params)
    ref = TimmLamb(ref_groups, lr=0.01, foreach=False, **options)
    ours = MultiTensorLamb(our_groups, lr=0.01, fused=True, **options)
    _step_n(ref, ref_tensors, 6)
    _step_n(ours, our_tensors, 6)
    names = list(ref_tensors)
    for n in names:
        # the measure: max difference relative to the tensor's max
        diff = (our_tensors[n] - ref_tensors[n]).abs().max()
        assert diff <= 1e-5 * ref_tensors[n].abs().max(), n
    initial = _twin_params()
    assert not torch.allclose(our_tensors['conv.weight'],
                              initial['conv.weight'], rtol=1e-3)

    exact = MultiTensorLamb(_groups(
        {k: p.detach() for k, p in our_tensors.items()},
        )[1], lr=0.01, **options)
    exact.load_state_dict(copy.deepcopy(ours.state_dict()))
    assert exact.state_dict()['param_groups'] == \
        ours.state_dict()['param_groups']
    assert not exact.fused and copy.deepcopy(ours).fused


def test_trust_ratio_only_where_weight_decay():
    """One step by hand: the decay group is scaled by ||w|| / ||u||, the
    no-decay group is not, unless always_adapt."""
    lr, wd, eps = 0.1, 0.5, 1e-6
    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    g = torch.randn(6, 4, generator=gen, dtype=torch.float64) * 0.1
    # step 1 with bias correction: m_hat = g, v_hat = g ** 2
    u = g / (g.abs() + eps)
    expected_plain = w0 - lr * u
    u_wd = u + wd * w0
    expected_decay = w0 - lr * (w0.norm() / u_wd.norm()) * u_wd
    expected_adapt = w0 - lr * (w0.norm() / u.norm()) * u

    def one_step(weight_decay, **kwargs):
        p = torch.nn.Parameter(w0.clone())
        p.grad = g.clone()
        opt = MultiTensorLamb([p], lr=lr, eps=eps, weight_decay=weight_decay,
                              **kwargs)
        opt.step()
        return p.detach()

    torch.testing.assert_close(one_step(0.), expected_plain)
    torch.testing.assert_close(one_step(wd), expected_decay)
    torch.testing.assert_close(one_step(0., always_adapt=True),
                               expected_adapt)
    assert not torch.allclose(expected_plain, expected_adapt)


def test_grads_unmodified_and_closure():
    params = _twin_params()
    tensors, groups = _groups(params)
    _set_grads(tensors, 1, torch.Generator().manual_seed(0))  # clip triggers
    grads = {k: p.grad.clone() for k, p in tensors.items() if p.grad is not None}
    calls = []

    def closure():
        calls.append(torch.is_grad_enabled())
        return torch.tensor(3.)

    loss = MultiTensorLamb(groups).step(closure)
    assert loss.item() == 3. and calls == [True]
    for k, g in grads.items():
        torch.testing.assert_close(tensors[k].grad, g, rtol=0, atol=0)


def _step_n(opt, tensors, steps, first_step=0):
    gen = torch.Generator().manual_seed(123)
    for step in range(first_step + steps):
        _set_grads(tensors, step, gen)  # same draws for the same step index
        if step >= first_step:
            opt.step()


def test_state_dict_resume_equals_uninterrupted():
    params = _twin_params()
    full_tensors, full_groups = _groups(params)
    full = MultiTensorLamb(full_groups, lr=0.02)
    _step_n(full, full_tensors, 5)

    first_tensors, first_groups = _groups(params)
    first = MultiTensorLamb(first_groups, lr=0.02)
    _step_n(first, first_tensors, 3)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert [g['step'] for g in saved['param_groups']] == [3, 3]
    assert all(set(s) == {'exp_avg', 'exp_avg_sq'}
               for s in saved['state'].values())

    resumed_tensors, resumed_groups = _groups(
        {k: p.detach() for k, p in first_tensors.items()})
    resumed = MultiTensorLamb(resumed_groups, lr=0.02)
    resumed.load_state_dict(saved)
    _step_n(resumed, resumed_tensors, 2, first_step=3)

    names = list(full_tensors)
    _assert_same([resumed_tensors[n] for n in names],
                 [full_tensors[n] for n in names])
    assert [g['step'] for g in resumed.param_groups] == [5, 5]


def test_loads_timm_state_dict():
    """A checkpoint of timm's Lamb resumes in MultiTensorLamb."""
    params = _twin_params()
    ref_tensors, ref_groups = _groups(params)
    ref = TimmLamb(ref_groups, lr=0.02, foreach=False)
    _step_n(ref, ref_tensors, 3)
    our_tensors, our_groups = _groups(
        {k: p.detach() for k, p in ref_tensors.items()})
    ours = MultiTensorLamb(our_groups, lr=0.02)
    ours.load_state_dict(copy.deepcopy(ref.state_dict()))
    assert [g['step'] for g in ours.param_groups] == [3, 3]
    _step_n(ref, ref_tensors, 2, first_step=3)
    _step_n(ours, our_tensors, 2, first_step=3)
    names = list(ref_tensors)
    _assert_same([our_tensors[n] for n in names],
                 [ref_tensors[n] for n in names])


def test_deepcopy_keeps_stepping_the_same():
    params = _twin_params()
    tensors, groups = _groups(params)
    opt = MultiTensorLamb(groups)
    _step_n(opt, tensors, 2)
    clone = copy.deepcopy({'t': tensors, 'o': opt})
    _step_n(opt, tensors, 1, first_step=2)
    _step_n(clone['o'], clone['t'], 1, first_step=2)
    _assert_same(list(clone['t'].values()), list(tensors.values()))


@pytest.mark.parametrize('kwargs, message', [
    (dict(lr=-1e-3), r'lr must be >= 0.0, got -0.001'),
    (dict(lr=float('nan')), r'lr must be >= 0.0, got nan'),
    (dict(eps=-1.), r'eps must be >= 0.0, got -1.0'),
    (dict(weight_decay=-0.01), r'weight_decay must be >= 0.0, got -0.01'),
    (dict(betas=(1.0, 0.999)), r'betas\[0\] must be \[0.0, 1.0\), got 1.0'),
    (dict(betas=(0.9, -0.1)), r'betas\[1\] must be \[0.0, 1.0\), got -0.1'),
    (dict(betas=(0.9, )), r'betas must be a pair .*got \(0.9,\)'),
    (dict(max_grad_norm=0.), r'max_grad_norm must be None or > 0, got 0.0'),
    (dict(max_grad_norm=-1.), r'max_grad_norm must be None or > 0, got -1.0'),
    (dict(foreach=False), r'foreach must be None or True.*got False'),
    (dict(fused=1), r'fused must be a bool, got 1'),
    (dict(decoupled_decay=True, corrected_weight_decay=True, lr=0.),
     r'corrected_weight_decay needs a positive peak lr, got lr=0.0'),
])
def test_invalid_values_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiTensorLamb([torch.nn.Parameter(torch.ones(2))], **kwargs)


def test_invalid_group_value_raises():
    with pytest.raises(ValueError, match=r'weight_decay must be >= 0.0, got -1'):
        MultiTensorLamb([{'params': [torch.nn.Parameter(torch.ones(2))],
                          'weight_decay': -1}])


def test_registered_by_name():
    from mmpretrain.registry import OPTIMIZERS
    assert OPTIMIZERS.get('MultiTensorLamb') is MultiTensorLamb
    p = torch.nn.Parameter(torch.ones(3))
    opt = OPTIMIZERS.build(dict(type='MultiTensorLamb', params=[p], lr=0.1))
    assert isinstance(opt, MultiTensorLamb)
    assert math.isclose(opt.defaults['lr'], 0.1)
