"""rsb_mm.engine.runners.rng_state: the global generators come back exactly, and the state goes
through torch.save / torch.load(weights_only=True) with torch's own allow-list only."""
import random

import numpy as np
import torch

import rsb_mm  # noqa: F401
from rsb_mm.engine.runners import capture_rng_state, restore_rng_state
from rsb_mm.weights import allow_runner_checkpoints


def _draws():
    return (random.random(), random.gauss(0, 1), float(np.random.rand()),
            float(np.random.standard_normal()), torch.rand(3).tolist())


def test_restore_repeats_every_generator(tmp_path):
    random.gauss(0, 1)  # leave a cached gaussian in both generators
    np.random.standard_normal()
    state = capture_rng_state()
    expected = _draws()
    path = tmp_path / 'rng.pth'
    torch.save(state, path)
    torch.serialization.clear_safe_globals()  # torch's default allow-list only
    try:
        loaded = torch.load(path, weights_only=True)
    finally:
        allow_runner_checkpoints()
    _draws()
    restore_rng_state(loaded)
    assert _draws() == expected


def test_missing_entry_is_named():
    state = capture_rng_state()
    del state['numpy']
    try:
        restore_rng_state(state)
    except ValueError as err:
        assert "['numpy']" in str(err)
    else:
        raise AssertionError('no error')
