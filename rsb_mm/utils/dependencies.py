"""Version windows of the stack rsb_mm runs on, checked at ``import rsb_mm``.

MMPretrain and MMDetection assert their mmcv/mmengine windows at import in the same way; we
check without importing the packages (``importlib.metadata`` only), so the check is cheap and
catches a wrong install before a long job starts.
"""
import importlib.metadata as metadata
from typing import Dict, Optional, Tuple

from packaging.version import Version

INSTALL_HINT = ('run `bash tools/install.sh` from the rsb_mm checkout (it installs the pinned '
                'stack into the active Python), or see requirements/*.txt')

# name -> (lowest allowed, first disallowed, why the window). ``None`` leaves a side open.
REQUIRED: Dict[str, Tuple[Optional[str], Optional[str], str]] = {
    'torch': ('2.0.0', None, 'torch.func / _foreach ops used by LAMB'),
    'torchvision': ('0.15.0', None, 'must be the build made for the installed torch'),
    'timm': ('1.0.0', '2.0.0', 'the reference implementation of the recipe'),
    'mmengine': ('0.10.0', '1.0.0', 'Runner, Config and checkpoint API'),
    'mmcv': ('2.0.0', '2.2.0', 'mmdet 3.3 refuses mmcv>=2.2.0'),
    'mmpretrain': ('1.2.0', '1.3.0', 'registries and datasets rsb_mm extends'),
}
# Checked only when installed: detection configs need them, classification does not.
OPTIONAL: Dict[str, Tuple[Optional[str], Optional[str], str]] = {
    'mmdet': ('3.3.0', '3.4.0', 'detection configs use mmdet 3.3 base configs'),
}


def _window(low: Optional[str], high: Optional[str]) -> str:
    parts = ([f'>={low}'] if low else []) + ([f'<{high}'] if high else [])
    return ','.join(parts) or 'any'


def _problem(name: str, found: Optional[str], low: Optional[str], high: Optional[str],
             why: str) -> Optional[str]:
    if found is None:
        return f'{name} is not installed (rsb_mm needs {name}{_window(low, high)}: {why})'
    v = Version(found)
    if (low and v < Version(low)) or (high and v >= Version(high)):
        return (f'{name}=={found} is installed, but rsb_mm needs {name}{_window(low, high)} '
                f'({why})')
    return None


def installed_version(name: str) -> Optional[str]:
    """Return the installed distribution version of ``name``, or None if it is absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def stack_versions() -> Dict[str, Optional[str]]:
    """Return ``{package: installed version or None}`` for every package rsb_mm checks."""
    return {name: installed_version(name) for name in (*REQUIRED, *OPTIONAL)}


def check_stack() -> None:
    """Raise ImportError naming every package outside rsb_mm's version windows.

    Raises:
        ImportError: if a required package is missing, or any checked package is installed at
            a version outside its window. The message says what to install.
    """
    problems = []
    for name, (low, high, why) in REQUIRED.items():
        problems.append(_problem(name, installed_version(name), low, high, why))
    for name, (low, high, why) in OPTIONAL.items():
        found = installed_version(name)
        if found is not None:
            problems.append(_problem(name, found, low, high, why))
    problems = [p for p in problems if p]
    if problems:
        raise ImportError('rsb_mm cannot run on this Python environment:\n  - ' +
                          '\n  - '.join(problems) + f'\nTo fix it, {INSTALL_HINT}.')
