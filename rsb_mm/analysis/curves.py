"""Training curves of a work dir (loss, learning rate, accuracy) as one PNG.

The curves come from the records MMEngine's ``LocalVisBackend`` writes
(``<work_dir>/<timestamp>/vis_data/scalars.json``, or the text log when that backend was off;
see :mod:`rsb_mm.analysis.work_dir_logs`): every ``loss*`` key and ``lr`` against the
iteration, and the validation metrics (by default every ``*top1`` key: val, ReaL and V2 with
rsb_mm's multi-set loops) against the epoch (epoch-based training) or the iteration.

The runs of a work dir are read oldest first; a resumed run logs again the iterations after
its checkpoint, and for a step logged twice the later record wins.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

from .work_dir_logs import NON_METRIC_KEYS, read_records, split_records

__all__ = ['Curve', 'TrainingCurves', 'load_curves', 'plot_curves']


class Curve(NamedTuple):
    """One curve: ``y`` against ``x`` (both in step order)."""
    x: List[float]
    y: List[float]


class TrainingCurves(NamedTuple):
    """The curves of a work dir.

    Attributes:
        losses (dict[str, Curve]): Each ``loss*`` key against the iteration.
        lr (Curve | None): ``lr`` against the iteration (None if not logged).
        metrics (dict[str, Curve]): Validation metrics against ``val_x``.
        val_x (str): 'epoch' or 'iteration': what a validation record's step counts.
    """
    losses: Dict[str, Curve]
    lr: Optional[Curve]
    metrics: Dict[str, Curve]
    val_x: str


def _by_step(records: Sequence[dict]) -> List[dict]:
    # Later records of the same step (a resumed run) replace earlier ones.
    latest = {}
    for record in records:
        if 'step' in record:
            latest[record['step']] = record
    return [latest[step] for step in sorted(latest)]


def _curve(records: Sequence[dict], key: str, x_key: str = 'step') -> Curve:
    pairs = [(r[x_key], r[key]) for r in records if key in r and x_key in r]
    return Curve([float(x) for x, _ in pairs], [float(y) for _, y in pairs])


def load_curves(work_dir: str, metrics: Optional[Sequence[str]] = None) -> TrainingCurves:
    """Read a work dir's training and validation curves.

    Args:
        work_dir (str): An MMEngine work dir, or one run's timestamp dir.
        metrics (Sequence[str], optional): Validation keys to keep. Defaults to None: every
            key ending in ``top1``, or every metric when none does (e.g. ``coco/bbox_mAP``).

    Returns:
        TrainingCurves: The curves.

    Raises:
        FileNotFoundError: If the work dir has no logs.
        ValueError: If a requested metric was never logged.
    """
    split = split_records(read_records(work_dir))
    train, val = _by_step(split['train']), _by_step(split['val'])
    loss_keys = sorted({k for r in train for k in r if k.startswith('loss')})
    losses = {k: _curve(train, k) for k in loss_keys}
    lr = _curve(train, 'lr') if any('lr' in r for r in train) else None
    logged = sorted({k for r in val for k in r} - NON_METRIC_KEYS)
    if metrics is None:
        chosen = [k for k in logged if k.endswith('top1')] or logged
    else:
        missing = [k for k in metrics if k not in logged]
        if missing:
            raise ValueError(f'metrics {missing} were never logged in {work_dir}; logged: '
                             f'{logged}')
        chosen = list(metrics)
    val_x = 'epoch' if any('epoch' in r for r in train) else 'iteration'
    return TrainingCurves(losses, lr, {k: _curve(val, k) for k in chosen}, val_x)


def plot_curves(curves: TrainingCurves, path: str, title: Optional[str] = None) -> None:
    """Draw loss, learning rate and validation metrics side by side into one PNG.

    Args:
        curves (TrainingCurves): From :func:`load_curves`.
        path (str): Output PNG file.
        title (str, optional): Figure title (e.g. the work dir). Defaults to None.
    """
    # The object-oriented API with the Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_lr, ax_acc = fig.subplots(1, 3)
    panels = ((ax_loss, curves.losses, 'iteration', 'loss'),
              (ax_lr, {'lr': curves.lr} if curves.lr else {}, 'iteration', 'learning rate'),
              (ax_acc, curves.metrics, curves.val_x, 'validation'))
    for ax, lines, x_label, name in panels:
        for key, curve in lines.items():
            ax.plot(curve.x, curve.y, marker='.' if len(curve.x) < 30 else None, label=key)
        if lines:
            if len(lines) > 1 or name == 'validation':
                ax.legend(fontsize='small')
        else:
            ax.text(0.5, 0.5, f'no {name} records', ha='center', va='center',
                    transform=ax.transAxes)
        ax.set_xlabel(x_label)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format='png')
