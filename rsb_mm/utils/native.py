"""Compile rsb_mm's small C helpers on first use and cache the shared libraries.

rsb_mm ships two C files next to the Python modules that load them with ``ctypes``
(``datasets/transforms/pil_resample.c``, ``datasets/transforms/jpeg_region.c``) instead of
binary wheels: a pure-Python package installs anywhere, and a machine without a compiler (or
without libjpeg-turbo's headers) only loses speed, because each loader checks the library
against its pure-Python reference before using it and falls back otherwise.

Libraries go to ``$RSB_MM_CACHE_DIR`` (default ``~/.cache/rsb_mm``), named by a hash of the
source, the compiler and the flags, so an edited source or a new flag rebuilds and a build is
reused by every process (DataLoader workers, ranks) afterwards. ``RSB_MM_NO_NATIVE=1`` turns
all of them off.
"""
import hashlib
import os
import os.path as osp
import shutil
import subprocess
import tempfile
import threading
from typing import Any, Callable, Optional, Sequence, Tuple

__all__ = ['native_disabled', 'cache_dir', 'build_library', 'load_once']

_lock = threading.Lock()


def native_disabled() -> bool:
    """Whether ``RSB_MM_NO_NATIVE`` asks for the pure-Python paths."""
    return os.environ.get('RSB_MM_NO_NATIVE', '') not in ('', '0')


def cache_dir() -> str:
    """The folder compiled libraries are cached in (created if missing)."""
    root = os.environ.get('RSB_MM_CACHE_DIR') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache'), 'rsb_mm')
    os.makedirs(root, exist_ok=True)
    return root


def _compiler() -> Optional[str]:
    return os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')


def build_library(source: str,
                  cflags: Sequence[str],
                  libs: Sequence[str] = (),
                  compiler: Optional[str] = None) -> str:
    """Compile ``source`` into a shared library (once per source, compiler and flags).

    Args:
        source (str): Path of the C file.
        cflags (Sequence[str]): Compiler flags (``-shared -fPIC`` included by the caller).
        libs (Sequence[str]): Linker arguments after the source, e.g. ``('-lm', )``.
            Defaults to ``()``.
        compiler (str, optional): The compiler. Defaults to None: ``$CC``, else ``cc`` or
            ``gcc`` on the ``PATH``.

    Returns:
        str: The library's path in :func:`cache_dir`.

    Raises:
        RuntimeError: no C compiler, or the compiler failed (its output in the message).
    """
    compiler = compiler or _compiler()
    if not compiler:
        raise RuntimeError('no C compiler found (set $CC or install cc)')
    with open(source, 'rb') as f:
        digest = hashlib.sha256(f.read() + ' '.join((compiler, *cflags, *libs)).encode())
    stem = osp.splitext(osp.basename(source))[0]
    target = osp.join(cache_dir(), f'{stem}-{digest.hexdigest()[:16]}.so')
    if osp.exists(target):
        return target
    fd, tmp = tempfile.mkstemp(suffix='.so', dir=osp.dirname(target))
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *cflags, source, '-o', tmp, *libs],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'{compiler} failed on {source}:\n{proc.stderr.strip()}')
        # atomic: a concurrent process sees no file or the whole library
        os.replace(tmp, target)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return target


def load_once(state: dict, what: str, fallback: str,
              setup: Callable[[], Tuple[Any, Optional[str]]],
              log: Callable[..., None]) -> Any:
    """Build, load and self-check a helper once per process; None (said once) when it is off.

    Args:
        state (dict): The caller's module-level cache (tests reset it).
        what (str): The helper, for the warning ("the compiled resize").
        fallback (str): What happens instead, for the warning.
        setup (Callable): Builds and checks; returns ``(value, None)``, or ``(None, reason)``
            when its check fails. ``OSError`` / ``RuntimeError`` / ``ValueError`` it raises
            (no compiler, a failed build, a library that does not load) turn it off too.
        log (Callable): ``print_log``-like, for the warning.

    Returns:
        The value ``setup`` returned, or None when the helper is off.
    """
    with _lock:
        if 'value' in state:
            return state['value']
        value, reason = None, None
        if native_disabled():
            reason = 'RSB_MM_NO_NATIVE is set'
        else:
            try:
                value, reason = setup()
            except (OSError, RuntimeError, ValueError) as err:
                value, reason = None, str(err)
        if reason:
            log(f'rsb_mm: {what} is off ({reason}); {fallback}', logger='current', level=30)
        state['value'] = value
        return value
