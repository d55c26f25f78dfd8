"""rsb_mm.weights.safe_load: runner checkpoints load with weights_only=True; nothing else
that could run code does."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

import rsb_mm  # noqa: F401  (installs the allow-list)
from rsb_mm.weights import restricted_getattr


class _Exploit:
    """Unpickling this runs ``open(marker, 'w')``: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_runner_objects_round_trip_with_weights_only(tmp_path):
    buffer = HistoryBuffer()
    for v in (1.0, 3.0):
        buffer.update(v)
    ckpt = dict(meta=dict(iter=3, seed=np.int64(7)),
                message_hub=dict(log_scalars={'train/loss': buffer},
                                 runtime_info=dict(arr=np.arange(3, dtype=np.float32))),
                state_dict={'w': torch.ones(2)})
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path)  # torch's default: weights_only=True
    restored = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(restored, HistoryBuffer)
    assert restored.mean() == 2.0 and restored.max() == 3.0
    assert loaded['meta']['seed'] == 7
    assert loaded['message_hub']['runtime_info']['arr'].tolist() == [0.0, 1.0, 2.0]


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _Exploit(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError, match='open'):
        torch.load(path)
    assert not marker.exists()


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    assert restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='tofile'):
        restricted_getattr(np.ndarray, 'tofile')
    with pytest.raises(pickle.UnpicklingError):
        restricted_getattr(HistoryBuffer, '__init__')

    # The same through torch.load: a pickle reaching for ndarray.tofile (a file write) fails.
    class _ReachTofile:

        def __reduce__(self):
            return (getattr, (np.ndarray, 'tofile'))

    path = tmp_path / 'getattr.pth'
    torch.save({'x': _ReachTofile()}, path)
    with pytest.raises(pickle.UnpicklingError, match='tofile'):
        torch.load(path)


def test_check_checkpoint_names_the_file_and_every_global_without_running_it(tmp_path):
    import os

    from rsb_mm.weights.safe_load import UnsafeCheckpointError, check_checkpoint

    class _System:

        def __reduce__(self):
            return (os.system, ('touch ' + str(tmp_path / 'pwned2'), ))

    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': _Exploit(str(marker)),
                'hub': _System()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        check_checkpoint(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert 'io.open' in message and 'system' in message  # every global, not only the first
    assert 'weights_only=True' in message
    assert isinstance(err.value, pickle.UnpicklingError)
    assert not marker.exists() and not (tmp_path / 'pwned2').exists()


def test_check_checkpoint_passes_runner_checkpoints_and_refuses_truncated_ones(tmp_path):
    from rsb_mm.weights.safe_load import check_checkpoint

    buffer = HistoryBuffer()
    buffer.update(1.0)
    path = tmp_path / 'ok.pth'
    torch.save(dict(meta=dict(seed=np.int64(3)), message_hub=dict(scalars={'loss': buffer}),
                    state_dict={'w': torch.ones(64, 64)}), path)
    check_checkpoint(path)
    data = path.read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match='cut.pth is not a complete checkpoint'):
        check_checkpoint(cut)
    # not a zip checkpoint at all: left to torch.load
    other = tmp_path / 'empty.pth'
    other.write_bytes(b'')
    check_checkpoint(other)
