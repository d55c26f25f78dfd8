from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runners import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .optimizers import __all__ as _optim_all
from .runners import __all__ as _runners_all
from .schedulers import __all__ as _sched_all

__all__ = [*_hooks_all, *_optim_all, *_runners_all, *_sched_all]
