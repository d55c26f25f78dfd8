"""Smoke test (a) of the foundation: ``import rsb_mm`` adds names to MMPretrain's registries and
nothing else: no name MMPretrain, MMDetection or MMEngine already registers (in any registry of
the same kind), and no existing entry replaced. Runs in a fresh interpreter so the before/after
snapshots see the real import."""
import json
import subprocess
import sys

SNAPSHOT = r'''
import json
import mmengine.registry as root
from mmengine.registry import Registry
import mmpretrain.datasets, mmpretrain.engine, mmpretrain.evaluation, mmpretrain.models
import mmpretrain.visualization
import mmdet.datasets, mmdet.engine, mmdet.evaluation, mmdet.models, mmdet.visualization

def walk(reg, out):
    out[f'{reg.scope}:{reg.name}'] = {k: id(v) for k, v in reg._module_dict.items()}
    for child in reg.children.values():
        walk(child, out)

import mmdet.registry, mmpretrain.registry

def snapshot():
    # Root registries: MMEngine's, plus MMPretrain's/MMDetection's own roots (e.g. MMPretrain's
    # BATCH_AUGMENTS has no parent).
    out = {}
    for module in (root, mmpretrain.registry, mmdet.registry):
        for name in dir(module):
            reg = getattr(module, name)
            if isinstance(reg, Registry) and reg.parent is None:
                walk(reg, out)
    return out

before = snapshot()
import rsb_mm
after = snapshot()
print('SNAPSHOT' + json.dumps(dict(before=before, after=after)))
'''


def _snapshots():
    proc = subprocess.run([sys.executable, '-c', SNAPSHOT], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith('SNAPSHOT'))
    data = json.loads(line[len('SNAPSHOT'):])
    return data['before'], data['after']


def test_import_registers_new_names_only_into_mmpretrain():
    before, after = _snapshots()
    added = {}
    for key, names in after.items():
        old = before.get(key, {})
        # Nothing that existed was replaced (no force=True anywhere).
        for name, obj_id in old.items():
            assert names.get(name) == obj_id, f'{key}:{name} was replaced by import rsb_mm'
        new = sorted(set(names) - set(old))
        if new:
            added[key] = new
    assert added, 'import rsb_mm registered nothing'
    # Strict backbone loading must serve MMPretrain and MMDetection configs alike, so it is
    # the one name in MMEngine's root registry (siblings never see each other's names).
    assert added.pop('mmengine:weight initializer', None) == ['StrictPretrained']
    # Everything else lands in MMPretrain's registries.
    assert all(key.startswith('mmpretrain:') for key in added), added
    for key, new in added.items():
        kind = key.split(':', 1)[1]
        for other_key, names in before.items():
            if other_key.split(':', 1)[1] == kind:
                clash = set(new) & set(names)
                assert not clash, f'{sorted(clash)} of {key} already in {other_key}'
    registered = {name for names in added.values() for name in names}
    for expected in ('ThresholdedBCELoss', 'MixupCutMix', 'RepeatAugSamplerDeiT',
                     'ResNetTimmDropPath'):
        assert expected in registered


def test_rsb_mm_scope_resolves_through_mmpretrain():
    from mmengine.registry import DefaultScope

    import rsb_mm.registry as rsb_registry
    from rsb_mm.models.losses import ThresholdedBCELoss
    assert rsb_registry.MODELS.scope == 'rsb_mm'
    assert rsb_registry.MODELS.parent.scope == 'mmpretrain'
    # A config inherited as rsb_mm::... gets _scope_='rsb_mm'; both our modules and
    # MMPretrain's must build from there.
    with DefaultScope.overwrite_default_scope('rsb_mm'):
        loss = rsb_registry.MODELS.build(dict(type='ThresholdedBCELoss', _scope_='rsb_mm'))
        backbone = rsb_registry.MODELS.build(dict(type='ResNet', depth=18, _scope_='rsb_mm'))
    assert isinstance(loss, ThresholdedBCELoss)
    assert type(backbone).__module__.startswith('mmpretrain')
