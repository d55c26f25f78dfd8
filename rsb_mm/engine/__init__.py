from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .optimizers import __all__ as _optim_all

__all__ = [*_hooks_all, *_optim_all]
