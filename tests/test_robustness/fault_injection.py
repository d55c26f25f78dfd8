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
"""
import json
import os
import os.path as osp
import signal

from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def _fault():
    spec = os.environ.get('RSB_FAULT', '')
    if not spec:
        return None, None
    parts = spec.split(':')
    rank = int(os.environ.get('RANK', '0'))
    if len(parts) == 3 and parts[2] != f'rank{rank}':
        return None, None
    return parts[0], parts[1]


@HOOKS.register_module()
class RobustnessTestFaultHook(Hook):
    """Write ``trace_rank<r>.jsonl`` in the work dir and inject the ``RSB_FAULT`` fault."""

    priority = 'NORMAL'  # after the NaN check, before the checkpoint hook (VERY_LOW)

    def __init__(self):
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
        rank = int(os.environ.get('RANK', '0'))
        record = dict(
            iter=runner.iter + 1, epoch=runner.epoch + 1, batch=batch_idx + 1,
            samples=[int(s.sample_idx) for s in data_batch['data_samples']],
            loss=outputs['loss'].item(),
            lr=[float(v) for v in runner.optim_wrapper.get_lr()['lr']])
        with open(osp.join(runner.work_dir, f'trace_rank{rank}.jsonl'), 'a') as f:
            f.write(json.dumps(record) + '\n')
            f.flush()
            os.fsync(f.fileno())
        if self.kind in ('iter', 'stop') and runner.iter + 1 == int(self.where):
            os.kill(os.getpid(), signal.SIGKILL if self.kind == 'iter' else signal.SIGSTOP)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.kind == 'val' and runner.epoch == int(self.where):
            os.kill(os.getpid(), signal.SIGKILL)
