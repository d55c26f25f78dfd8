import os

# No internet on CI and compute nodes: keep albumentations from phoning home at import.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def rsb_checkpoint(tmp_path_factory):
    """A checkpoint written by rsb_mm's own pretraining code (A3 config, one iteration).

    Shared by the fine-tuning and detection tests, which must start from what the pretraining
    runner really saves.
    """
    from rsb_mm.testing import pretrain_tiny_checkpoint
    return pretrain_tiny_checkpoint(str(tmp_path_factory.mktemp('rsb_pretrain')))
