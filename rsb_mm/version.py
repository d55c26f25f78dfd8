"""rsb_mm's version, in OpenMMLab's ``__version__`` + ``version_info`` shape."""
from typing import Tuple

__version__ = '0.1.0'


def parse_version_info(version_str: str) -> Tuple[int, ...]:
    """Turn ``'0.1.0'`` into ``(0, 1, 0)``; non-numeric parts (``rc1``) are dropped."""
    return tuple(int(x) for x in version_str.split('.') if x.isdigit())


version_info = parse_version_info(__version__)
