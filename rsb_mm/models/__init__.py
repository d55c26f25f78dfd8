from .backbones import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .backbones import __all__ as _backbones_all
from .losses import __all__ as _losses_all
from .utils import __all__ as _utils_all

__all__ = [*_backbones_all, *_losses_all, *_utils_all]
