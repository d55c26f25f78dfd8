"""Test-only hook for the fault tests: records what each iteration trained on and kills (or
freezes) its own process at a chosen point, for real (SIGKILL / SIGSTOP).

Imported by the child training processes (``custom_imports``), never by rsb_mm. The fault is
chosen with the environment variable ``RSB_FAULT`` = ``<kind>:<n>[:rank<r>]``:

* ``iter:<n>``: SIGKILL during iteration n (1-based), after its optimizer step and before the
  checkpoint hook could save it;
* ``save:<name>``: SIGKILL in the middle of writing the checkpoint file ``<name>`` (half of its
  bytes are on disk);
* ``val:<e>``: SIGKILL during the evaluation after epoch e;
* ``stop:<n>``: SIGSTOP (a hung process) during iteration n.

Each trace record also holds what the iteration drew from the rank's random streams: the
Mixup/CutMix lambda, mode and box, and every drop-path mask (the functions rsb_mm and timm call
are wrapped to see their results; the draws themselves are unchanged). ``BatchNormStatsHook``
saves each rank's BatchNorm running statistics at the epoch end before and after their
reduction over ranks.
"""
import json
import os
import os.path as osp
import signal

import timm.layers.drop
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

import rsb_mm.models.utils.mixup_cutmix as mixup_cutmix

# What the current iteration drew; emptied after each iteration's record.
_DRAWS = dict(mix=None, box=None, drop_masks=[])
_WRAPPED = []


def _wrap_random_draws():
    """Record the results of the functions that draw Mixup/CutMix parameters and drop paths."""
    if _WRAPPED:
        return
    mix_params, bbox = mixup_cutmix.batch_mix_params, mixup_cutmix.cutmix_bbox_and_lam
    drop_path = timm.layers.drop.drop_path

    def batch_mix_params(*args, **kwargs):
        lam, use_cutmix = mix_params(*args, **kwargs)
        _DRAWS['mix'] = dict(lam=float(lam), cutmix=bool(use_cutmix))
        return lam, use_cutmix

    def cutmix_bbox_and_lam(*args, **kwargs):
        box, lam = bbox(*args, **kwargs)
        _DRAWS['box'] = [int(v) for v in box]
        return box, lam

    def recorded_drop_path(x, drop_prob=0., training=False, scale_by_keep=True):
        if drop_prob > 0. and training:
            # The mask timm's drop_path draws (bernoulli_ on torch's generator), drawn from
            # the same generator state, which is then put back for the real call.
            state = torch.get_rng_state()
            shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
            mask = x.new_empty(shape).bernoulli_(1 - drop_prob)
            _DRAWS['drop_masks'].append([int(v) for v in mask.flatten()])
            torch.set_rng_state(state)
        return drop_path(x, drop_prob, training, scale_by_keep)

    mixup_cutmix.batch_mix_params = batch_mix_params
    mixup_cutmix.cutmix_bbox_and_lam = cutmix_bbox_and_lam
    timm.layers.drop.drop_path = recorded_drop_path
    _WRAPPED.append(True)


def _rank():
    return int(os.environ.get('RANK', '0'))


def _fault():
    spec = os.environ.get('RSB_FAULT', '')
    if not spec:
        return None, None
    parts = spec.split(':')
    rank = _rank()
    if len(parts) == 3 and parts[2] != f'rank{rank}':
        return None, None
    return parts[0], parts[1]


@HOOKS.register_module()
class RobustnessTestFaultHook(Hook):
    """Write ``trace_rank<r>.jsonl`` in the work dir and inject the ``RSB_FAULT`` fault."""

    priority = 'NORMAL'  # after the NaN check, before the checkpoint hook (VERY_LOW)

    def __init__(self):
        _wrap_random_draws()
        self.kind, self.where = _fault()
        if self.kind == 'save':
            target, put = self.where, LocalBackend.put

            def put_then_die(backend, obj, filepath):
                if osp.basename(str(filepath)).startswith(target):
                    with open(filepath, 'wb') as f:
                        f.write(obj[:len(obj) // 2])
                        f.flush()
                        os.fsync(f.fileno())
                    os.kill(os.getpid(), signal.SIGKILL)
                return put(backend, obj, filepath)

            LocalBackend.put = put_then_die

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        rank = _rank()
        record = dict(
            iter=runner.iter + 1, epoch=runner.epoch + 1, batch=batch_idx + 1,
            samples=[int(s.sample_idx) for s in data_batch['data_samples']],
            loss=outputs['loss'].item(),
            lr=[float(v) for v in runner.optim_wrapper.get_lr()['lr']],
            mix=_DRAWS['mix'], box=_DRAWS['box'], drop_masks=_DRAWS['drop_masks'])
        _DRAWS.update(mix=None, box=None, drop_masks=[])
        with open(osp.join(runner.work_dir, f'trace_rank{rank}.jsonl'), 'a') as f:
            f.write(json.dumps(record) + '\n')
            f.flush()
            os.fsync(f.fileno())
        if self.kind in ('iter', 'stop') and runner.iter + 1 == int(self.where):
            os.kill(os.getpid(), signal.SIGKILL if self.kind == 'iter' else signal.SIGSTOP)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.kind == 'val' and runner.epoch == int(self.where):
            os.kill(os.getpid(), signal.SIGKILL)


def _bn_stats(runner):
    model = getattr(runner.model, 'module', runner.model)
    return {name: buf.detach().clone() for name, buf in model.named_buffers()
            if name.endswith(('running_mean', 'running_var'))}


@HOOKS.register_module()
class BatchNormStatsHook(Hook):
    """Save ``bn_rank<r>_epoch<e>_{before,after}.pt``: each rank's BN running statistics at the
    epoch end before ``SyncBuffersHook`` (priority NORMAL) reduces them, and when the
    evaluation starts (after the reduction and the epoch checkpoint)."""

    priority = 'ABOVE_NORMAL'

    def _save(self, runner, epoch, when):
        path = osp.join(runner.work_dir, f'bn_rank{_rank()}_epoch{epoch}_{when}.pt')
        torch.save(_bn_stats(runner), path)

    def after_train_epoch(self, runner):
        self._save(runner, runner.epoch + 1, 'before')

    def before_val_epoch(self, runner):
        self._save(runner, runner.epoch, 'after')
