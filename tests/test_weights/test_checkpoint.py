"""rsb_mm.weights.checkpoint: the one reader (entry found, wrapper prefixes stripped, metadata
kept, bad files named) and the one key difference."""
import pytest
import torch

from rsb_mm.weights import WeightsMappingError, extract_state_dict, key_diff, read_checkpoint
from rsb_mm.weights.checkpoint import listing


def test_key_diff_reports_each_kind_in_order_with_the_prefix():
    expected = {'a.weight': (2, 3), 'bn.num_batches_tracked': (), 'b.weight': (4, ),
                'c.weight': (1, )}
    state = {'a.weight': torch.zeros(3, 2), 'b.weight': 'not a tensor', 'x.weight': torch.ones(1)}
    diff = key_diff(expected, state, prefix='backbone.')
    assert diff.missing == ['backbone.c.weight']
    assert diff.optional_missing == 1  # BatchNorm's counter: filled with 0 on load
    assert diff.unexpected == ['backbone.x.weight']
    assert diff.mismatched == [
        'backbone.a.weight: got (3, 2), expected (2, 3)',
        'backbone.b.weight: got str, expected a tensor of shape (4,)']
    assert key_diff(expected, {'a.weight': torch.zeros(2, 3), 'b.weight': torch.zeros(4),
                               'c.weight': torch.zeros(1)}) == ([], [], [], 1)


def test_listing_shows_twenty_then_counts():
    text = listing('missing keys', [f'k{i}' for i in range(25)])
    assert text.startswith('  25 missing keys:\n    k0\n')
    assert 'k19' in text and 'k20' not in text and text.endswith('... and 5 more')


@pytest.mark.parametrize('wrap', ['state_dict', 'model', None])
def test_reader_finds_the_weights_and_strips_wrapper_prefixes(tmp_path, wrap):
    weights = torch.nn.BatchNorm1d(3).state_dict()
    assert hasattr(weights, '_metadata')
    wrapped = type(weights)((f'module._orig_mod.{k}', v) for k, v in weights.items())
    wrapped._metadata = weights._metadata
    path = str(tmp_path / 'c.pth')
    torch.save(wrapped if wrap is None else {wrap: wrapped, 'meta': {'epoch': 3}}, path)
    state = extract_state_dict(read_checkpoint(path), source=path)
    assert list(state) == list(weights)
    assert state._metadata == weights._metadata


def test_reader_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='no checkpoint file at .*nope.pth'):
        read_checkpoint(str(tmp_path / 'nope.pth'))
    path = str(tmp_path / 'list.pth')
    torch.save([torch.ones(1)], path)
    with pytest.raises(ValueError, match='list.pth holds a list, not a state dict'):
        read_checkpoint(path)
    with pytest.raises(ValueError, match="x.pth holds entries that are not tensors: \\['epoch'\\]"):
        extract_state_dict({'epoch': 3, 'w': torch.ones(1)}, source='x.pth')


def test_one_error_type_for_every_misfit():
    assert issubclass(WeightsMappingError, ValueError)
    err = WeightsMappingError('m', ['u'], ['m'], ['s'])
    assert (err.unmapped, err.missing, err.mismatched) == (['u'], ['m'], ['s'])
