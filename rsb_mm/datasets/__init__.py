from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
from .samplers import __all__ as _samplers_all
from .transforms import __all__ as _transforms_all

__all__ = [*_samplers_all, *_transforms_all]
