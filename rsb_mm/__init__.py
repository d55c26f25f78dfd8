"""rsb_mm: the "ResNet strikes back" training recipe in the OpenMMLab ecosystem.

``import rsb_mm`` checks the installed stack (an ImportError says what to install) and
registers the recipe's modules into MMPretrain's registries, under names of rsb_mm's own.
"""
import os

# albumentations checks PyPI for updates at import; compute nodes and CI often have no
# internet, where the check only adds a timeout. Users may still set it to '0'.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

from .utils.dependencies import check_stack, stack_versions  # noqa: E402

check_stack()

from .version import __version__, version_info  # noqa: E402
from .utils.setup_env import enable_config_inheritance  # noqa: E402
from .weights.safe_load import allow_runner_checkpoints  # noqa: E402

enable_config_inheritance()
allow_runner_checkpoints()

from . import datasets, engine, evaluation, models, registry, utils, weights  # noqa: E402,F401

__all__ = ['__version__', 'version_info', 'check_stack', 'stack_versions']
