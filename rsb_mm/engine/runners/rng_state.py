"""The global random number generators of one process, as a checkpoint can hold them.

The recipe draws from every global generator: timm's RandomResizedCrop and RandAugment from
Python's ``random`` (and ``np.random``), MMCV's flip and the Mixup/CutMix batch augment from
``np.random``, drop path and the DataLoader's base seed from torch's. An exact resume needs all of
them where the interrupted run left them. The state is stored with plain types and tensors only
(the numpy key as an int64 tensor), so a checkpoint holding it still loads with
``torch.load(weights_only=True)`` and needs nothing beyond rsb_mm's allow-list.

The generators of DataLoader worker processes are not included: a resumed run starts new
workers, seeded as at any start (torch's base seed, MMEngine's ``worker_init_fn``), so a run
with ``num_workers > 0`` resumes at the right batch with the right data, but the augmentations
after the resume point are drawn afresh.
"""
import random
from typing import Any, Dict

import numpy as np
import torch

__all__ = ['capture_rng_state', 'restore_rng_state']


def capture_rng_state() -> Dict[str, Any]:
    """This process's global generator states: Python, numpy, torch (and CUDA if in use).

    Returns:
        dict: ``python``, ``numpy``, ``torch`` and, when CUDA is initialised, ``cuda``.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = dict(
        python=random.getstate(),
        numpy=dict(name=name, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Set the global generators to a state from :func:`capture_rng_state`.

    Args:
        state (dict): A captured state. A ``cuda`` entry is restored only where CUDA is in use.

    Raises:
        ValueError: if an entry is missing.
    """
    missing = {'python', 'numpy', 'torch'} - set(state)
    if missing:
        raise ValueError(f'RNG state lacks {sorted(missing)}; it holds {sorted(state)}')
    version, internal, gauss = state['python']
    # A checkpoint may turn the inner tuple into a list; random.setstate wants tuples.
    random.setstate((version, tuple(internal), gauss))
    np_state = state['numpy']
    np.random.set_state((np_state['name'], np_state['keys'].numpy().astype(np.uint32),
                         np_state['pos'], np_state['has_gauss'], np_state['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())
