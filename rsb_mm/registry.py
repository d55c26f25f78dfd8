"""rsb_mm's registries: one child of each MMPretrain registry, with scope ``rsb_mm``.

Where modules go: rsb_mm's modules register into **MMPretrain's** registries (``from
mmpretrain.registry import MODELS``), so every MMPretrain config (``default_scope='mmpretrain'``)
finds them once ``rsb_mm`` is imported (``custom_imports=dict(imports=['rsb_mm'])``).

Why children exist at all: MMEngine tags every dict of a config inherited as ``rsb_mm::...``
with ``_scope_='rsb_mm'``, and a config may also say ``default_scope='rsb_mm'``. MMEngine then
looks for a registry of scope ``rsb_mm`` in the registry tree, and without one it warns and
falls back to whatever registry happens to be current. These children make that scope real: a
lookup in them searches the child, then MMPretrain's registry, then MMEngine's root, so every
MMPretrain and rsb_mm name resolves, and their ``locations`` import rsb_mm on first use.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry


def _child(parent: Registry) -> Registry:
    # locations=['rsb_mm']: the first lookup in scope rsb_mm imports the package, which
    # registers every module.
    return Registry(parent.name, parent=parent, scope='rsb_mm', locations=['rsb_mm'])


__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
    'BATCH_AUGMENTS', 'TASK_UTILS', 'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS'
]

RUNNERS = _child(mmpretrain_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmpretrain_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmpretrain_registry.LOOPS)
HOOKS = _child(mmpretrain_registry.HOOKS)
LOG_PROCESSORS = _child(mmpretrain_registry.LOG_PROCESSORS)
OPTIMIZERS = _child(mmpretrain_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mmpretrain_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mmpretrain_registry.PARAM_SCHEDULERS)
DATASETS = _child(mmpretrain_registry.DATASETS)
DATA_SAMPLERS = _child(mmpretrain_registry.DATA_SAMPLERS)
TRANSFORMS = _child(mmpretrain_registry.TRANSFORMS)
MODELS = _child(mmpretrain_registry.MODELS)
MODEL_WRAPPERS = _child(mmpretrain_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mmpretrain_registry.WEIGHT_INITIALIZERS)
BATCH_AUGMENTS = _child(mmpretrain_registry.BATCH_AUGMENTS)
TASK_UTILS = _child(mmpretrain_registry.TASK_UTILS)
METRICS = _child(mmpretrain_registry.METRICS)
EVALUATORS = _child(mmpretrain_registry.EVALUATORS)
VISUALIZERS = _child(mmpretrain_registry.VISUALIZERS)
VISBACKENDS = _child(mmpretrain_registry.VISBACKENDS)
