"""Load MMEngine runner checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles tensors and plain
containers only, and refuses any other global. MMEngine 0.10.7 calls ``torch.load`` with that
default everywhere (``load_checkpoint``, ``Runner.resume``, ``init_cfg=dict(type='Pretrained')``,
``tools/test.py``), and its own checkpoints hold a few more globals, so they are all refused.

Turning ``weights_only`` off would make every checkpoint an arbitrary-code-execution vector.
Instead rsb_mm extends torch's allow-list (``torch.serialization.add_safe_globals``) with exactly
the globals a runner checkpoint holds, found by
``torch.serialization.get_unsafe_globals_in_checkpoint`` on checkpoints of MMEngine 0.10.7:

- ``mmengine.logging.history_buffer.HistoryBuffer``: the message hub's logged scalars;
- numpy's array and scalar reconstruction (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``
  and the concrete dtype classes), for the values inside those buffers;
- ``builtins.getattr``: a ``HistoryBuffer`` pickles its statistics as
  ``getattr(HistoryBuffer, 'mean')``. A free ``getattr`` would be a hole (``getattr(ndarray,
  'tofile')`` writes files), so the name is bound to :func:`restricted_getattr`, which resolves
  only a ``HistoryBuffer`` statistics method and refuses everything else.

A checkpoint that holds any other global is still refused by torch, with the first global's name
(and advice to allow-list it or to turn ``weights_only`` off, which is the wrong advice for a
file of unknown origin). :func:`check_checkpoint` reads only the checkpoint's pickle opcodes,
executes nothing, and raises one error naming the file and every global it holds beyond the
allow-list; ``AtomicCheckpointHook`` runs it on the checkpoint a run is about to resume from or
load (``--resume``, ``load_from``, ``tools/test.py``) before MMEngine unpickles it.
"""
import os
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects beyond the ``weights_only`` allow-list; it was not unpickled."""


def restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to the statistics methods of MMEngine's ``HistoryBuffer``.

    Args:
        obj (Any): The object the pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        Any: ``getattr(HistoryBuffer, name)`` when ``obj`` is ``HistoryBuffer`` and ``name`` is
        one of its statistics methods (``min``, ``max``, ``current``, ``mean`` or a registered
        one).

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    if obj is HistoryBuffer and isinstance(name, str) and (
            name in HistoryBuffer._statistics_methods
            or name in ('min', 'max', 'current', 'mean')):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({getattr(obj, "__name__", type(obj).__name__)}, '
        f'{name!r}); rsb_mm allows getattr only for HistoryBuffer statistics methods')


def _numpy_globals() -> List[SafeGlobal]:
    # numpy 2 pickles under numpy._core, numpy 1 under numpy.core; allow whichever exists
    # under both names so checkpoints written with either numpy load.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    found: List[SafeGlobal] = [np.ndarray, np.dtype]
    for core in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        found.append((multiarray._reconstruct, f'{core}._reconstruct'))
        found.append((multiarray.scalar, f'{core}.scalar'))
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25: concrete dtype classes
    if dtypes is not None:
        found.extend(
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type))
    return found


def runner_checkpoint_globals() -> List[SafeGlobal]:
    """The globals of an MMEngine runner checkpoint that rsb_mm allows, beyond torch's own."""
    return [HistoryBuffer, (restricted_getattr, 'builtins.getattr'), *_numpy_globals()]


def allow_runner_checkpoints() -> None:
    """Add :func:`runner_checkpoint_globals` to torch's ``weights_only`` allow-list.

    Called at ``import rsb_mm``; calling it again is harmless. ``weights_only`` stays ``True``.
    """
    torch.serialization.add_safe_globals(runner_checkpoint_globals())


def check_checkpoint(path: Union[str, os.PathLike]) -> None:
    """Refuse a checkpoint holding globals beyond the allow-list, without unpickling it.

    The pickle's opcodes are read (``torch.serialization.get_unsafe_globals_in_checkpoint``),
    never executed. Files that are not zip checkpoints of ``torch.save`` (legacy format, other
    formats) are left to ``torch.load``, which refuses unsafe content in them too.

    Args:
        path (str | os.PathLike): A local checkpoint file.

    Raises:
        UnsafeCheckpointError: naming the file and every global it holds beyond the allow-list.
        RuntimeError: if the file is a zip checkpoint cut short (e.g. written by a run that was
            killed, or on a full disk).
    """
    path = os.fspath(path)
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except ValueError:  # not a zip checkpoint: torch.load decides
        return
    except (RuntimeError, OSError) as err:
        # torch reports a zip cut short as RuntimeError or OSError (EINVAL) depending on where
        # it was cut; a missing or unreadable file is not that.
        if not os.path.isfile(path) or isinstance(err, PermissionError):
            raise
        raise RuntimeError(
            f'{path} is not a complete checkpoint ({str(err).splitlines()[0]}): it was probably '
            'cut short (a run killed while writing it, or a full disk); load an earlier '
            'checkpoint') from err
    if unsafe:
        raise UnsafeCheckpointError(
            f"{path} holds {', '.join(sorted(unsafe))}, which rsb_mm does not unpickle: "
            'checkpoints load with torch.load(weights_only=True) and an allow-list of what '
            'MMEngine runner checkpoints hold (tensors, containers, numbers, numpy arrays, '
            "MMEngine's HistoryBuffer), because unpickling anything else can run arbitrary code. "
            'If you trust the file, extract its tensors in a separate step and load those')
