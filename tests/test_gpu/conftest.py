import pytest
import torch


@pytest.fixture
def device() -> torch.device:
    """The GPU, or the CPU in a dry run (tests/conftest.py skips these tests otherwise)."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
