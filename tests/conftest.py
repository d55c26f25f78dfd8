import os

# No internet on CI and compute nodes: keep albumentations from phoning home at import.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

import pytest  # noqa: E402

# Tests that need a GPU carry `@pytest.mark.cuda`: skipped where torch sees none, unless
# RSB_MM_GPU_DRY_RUN=1 (benchmarks/gpu_check.py --dry-run), which runs them on the CPU so that
# the GPU check is known to work before a GPU is at hand.
GPU_DRY_RUN = os.environ.get('RSB_MM_GPU_DRY_RUN') == '1'


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'cuda: needs a CUDA GPU (skipped without one; RSB_MM_GPU_DRY_RUN=1 runs it '
        'on the CPU)')


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker('cuda') is not None]
    if not marked or GPU_DRY_RUN:
        return
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU (benchmarks/gpu_check.py runs it there)')
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(scope='session')
def rsb_checkpoint(tmp_path_factory):
    """A checkpoint written by rsb_mm's own pretraining code (A3 config, one iteration).

    Shared by the fine-tuning and detection tests, which must start from what the pretraining
    runner really saves.
    """
    from rsb_mm.testing import pretrain_tiny_checkpoint
    return pretrain_tiny_checkpoint(str(tmp_path_factory.mktemp('rsb_pretrain')))
