"""Build settings for mmcv's CUDA ops with the CUDA toolkit from PyPI (used by tools/install.sh).

tools/install.sh runs this file by path (``python rsb_mm/utils/cuda_build.py COMMAND``) before
rsb_mm and MMEngine are installed, so it imports only the standard library and torch. The
toolkit version is read from the installed torch's own requirement on ``cuda-toolkit``.
Tests: tests/test_utils/test_cuda_build.py (the opt-in one compiles mmcv's ``nms_cuda.cu``).
"""
import importlib.metadata as metadata
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ARCHS_VAR = 'RSB_MM_CUDA_ARCHS'
# What torch's CUDAExtension and nvcc need in one toolkit folder (CUDA_HOME), besides the
# ``lib/libcudart.so`` link that ensure_cudart_link makes: nvcc, CCCL (thrust/cub), and the
# runtime, cuBLAS, cuSPARSE and cuSOLVER headers that torch's ATen/cuda headers include.
TOOLKIT_PARTS = ('bin/nvcc', 'include/cccl/thrust/version.h', 'include/cuda_runtime.h',
                 'include/cublas_v2.h', 'include/cusparse.h', 'include/cusolverDn.h')

Capability = Tuple[int, int]


class CudaBuildError(RuntimeError):
    """A CUDA build of mmcv cannot be set up here; the message says what to do."""


def toolkit_requirement(torch_requires: Sequence[str], torch_version: str,
                        torch_cuda: Optional[str]) -> str:
    """Return torch's own ``cuda-toolkit`` requirement with nvcc and CCCL added to its extras.

    torch's extras (cuBLAS, cuSPARSE, ...) stay in, so that a toolkit installed apart from
    torch's (a venv over the system's packages) also has the headers torch's headers include.

    Args:
        torch_requires: torch's ``Requires-Dist`` lines (``importlib.metadata.requires``).
        torch_version: ``torch.__version__``, for messages.
        torch_cuda: ``torch.version.cuda`` (None for a CPU-only build of torch).

    Raises:
        CudaBuildError: torch is CPU-only, does not pin ``cuda-toolkit`` (e.g. a CUDA 12 wheel
            from download.pytorch.org), or pins a version that is not its ``torch.version.cuda``.
    """
    if not torch_cuda:
        raise CudaBuildError(
            f'torch {torch_version} is a CPU-only build (torch.version.cuda is None): install '
            'the CUDA build of torch from PyPI (tools/install.sh does) before asking for '
            f'CUDA ops, or unset {ARCHS_VAR}')
    for line in torch_requires:
        match = re.match(r'\s*cuda-toolkit\s*(?:\[([^\]]*)\])?\s*==\s*([0-9][0-9.]*)\s*(;|$)',
                         line)
        if match:
            extras = [e.strip() for e in (match.group(1) or '').split(',') if e.strip()]
            extras += [e for e in ('nvcc', 'cccl') if e not in extras]
            version = match.group(2)
            if version.split('.')[:2] != torch_cuda.split('.')[:2]:
                raise CudaBuildError(
                    f'torch {torch_version} requires cuda-toolkit=={version} but reports CUDA '
                    f'{torch_cuda} (torch.version.cuda); reinstall torch')
            return f'cuda-toolkit[{",".join(extras)}]=={version}'
    raise CudaBuildError(
        f'torch {torch_version} (CUDA {torch_cuda}) does not depend on PyPI\'s cuda-toolkit, '
        f'so its nvcc cannot be installed from PyPI: install the CUDA {torch_cuda} toolkit '
        'yourself and build mmcv 2.1.0 with CUDA_HOME pointing at it and FORCE_CUDA=1')


def _parse_arch(text: str) -> Tuple[Capability, str]:
    match = re.fullmatch(r'(\d+)\.(\d+)([a-z]?)(\+PTX)?', text.strip())
    if not match:
        raise CudaBuildError(f'{ARCHS_VAR}: {text!r} is not a compute capability such as '
                             '"9.0" or "8.6+PTX" (list them separated by ";")')
    return (int(match.group(1)), int(match.group(2))), text.strip()


def arch_list(requested: Optional[str], capabilities: Sequence[Capability],
              torch_archs: Sequence[str]) -> Optional[str]:
    """Return ``TORCH_CUDA_ARCH_LIST`` for the build, or None for a CPU-only build.

    Args:
        requested: the value of ``RSB_MM_CUDA_ARCHS`` ("9.0", "8.0;9.0"), or None/"" if unset.
        capabilities: compute capabilities of the visible GPUs (empty without one).
        torch_archs: ``torch.cuda.get_arch_list()``, e.g. ``['sm_75', ..., 'sm_120']``.

    Without ``requested`` the visible GPUs' capabilities are used, each capped at torch's
    newest arch, the newest one with ``+PTX`` (torch's own default when no list is set).

    Raises:
        CudaBuildError: an arch is malformed or older than the oldest arch torch was built for.
    """
    sms = sorted((int(a[3:-1]), int(a[-1])) for a in torch_archs
                 if re.fullmatch(r'sm_\d+', a))
    if requested and requested.strip():
        archs = [_parse_arch(a) for a in requested.replace(' ', ';').split(';') if a.strip()]
        source = f'{ARCHS_VAR}={requested!r}'
    elif capabilities:
        newest = sms[-1] if sms else max(capabilities)
        caps = sorted({min(tuple(c), newest) for c in capabilities})
        archs = [(c, f'{c[0]}.{c[1]}') for c in caps]
        archs[-1] = (archs[-1][0], archs[-1][1] + '+PTX')
        source = 'the visible GPU' + ('s' if len(capabilities) > 1 else '')
    else:
        return None
    if sms:
        oldest = sms[0]
        for cap, text in archs:
            if cap < oldest:
                raise CudaBuildError(
                    f'{source}: compute capability {cap[0]}.{cap[1]} is older than '
                    f'{oldest[0]}.{oldest[1]}, the oldest GPU this torch supports '
                    f'(torch.cuda.get_arch_list(): {", ".join(torch_archs)}). On such a GPU '
                    '(e.g. a V100, 7.0) install a torch built for it and the matching mmcv '
                    'wheel instead of tools/install.sh: see "GPUs" in README.md')
    return ';'.join(text for _, text in archs)


def toolkit_home(nvcc_files: Sequence[Path]) -> Path:
    """Return the toolkit folder (CUDA_HOME) holding ``bin/nvcc`` among a wheel's files."""
    for path in nvcc_files:
        if path.name == 'nvcc' and path.parent.name == 'bin':
            return path.resolve().parent.parent
    raise CudaBuildError('the nvidia-cuda-nvcc package installs no bin/nvcc: reinstall it '
                         '(pip install --force-reinstall "cuda-toolkit[nvcc,cccl]==...")')


def missing_parts(home: Path, cuda_major: str) -> List[str]:
    """List what a toolkit folder lacks for torch's CUDAExtension (empty when complete)."""
    parts = [*TOOLKIT_PARTS, f'lib/libcudart.so.{cuda_major}']
    return [p for p in parts if not (home / p).exists()]


def ensure_cudart_link(home: Path, cuda_major: str) -> bool:
    """Make ``lib/libcudart.so -> libcudart.so.<major>`` (the wheel ships only the versioned
    name; the extension's ``-lcudart`` wants the plain one). Return True if it was made."""
    link = home / 'lib' / 'libcudart.so'
    if link.exists():
        return False
    if link.is_symlink():  # a dangling link
        link.unlink()
    link.symlink_to(f'libcudart.so.{cuda_major}')
    return True


def _torch():
    import torch
    return torch


def _installed_nvcc_files() -> List[Path]:
    try:
        dist = metadata.distribution('nvidia-cuda-nvcc')
    except metadata.PackageNotFoundError:
        raise CudaBuildError('nvcc is not installed: pip install the output of '
                             '`cuda_build.py requirement` first') from None
    return [Path(str(dist.locate_file(f))) for f in dist.files or []]


def requested_archs() -> Optional[str]:
    """The build's arch list from this machine (RSB_MM_CUDA_ARCHS or its GPUs), or None."""
    torch = _torch()
    caps = [torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    archs = arch_list(os.environ.get(ARCHS_VAR), caps, torch.cuda.get_arch_list())
    if archs is not None:
        toolkit_requirement(metadata.requires('torch') or [], torch.__version__,
                            torch.version.cuda)
    return archs


def build_env() -> Dict[str, str]:
    """Environment for building CUDA extensions with the pip-installed toolkit of torch's CUDA.

    Finds the toolkit folder from the installed nvcc, checks it is whole, makes the
    ``libcudart.so`` link, and returns CUDA_HOME, FORCE_CUDA=1, TORCH_CUDA_ARCH_LIST.
    """
    torch = _torch()
    archs = requested_archs()
    if archs is None:
        raise CudaBuildError(f'no GPU is visible and {ARCHS_VAR} is not set: nothing to build '
                             'CUDA code for')
    home = toolkit_home(_installed_nvcc_files())
    major = torch.version.cuda.split('.')[0]
    missing = missing_parts(home, major)
    if missing:
        raise CudaBuildError(f'the CUDA toolkit in {home} lacks {", ".join(missing)}')
    ensure_cudart_link(home, major)
    return {'CUDA_HOME': str(home), 'FORCE_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': archs}


def mmcv_cuda_problem() -> Optional[str]:
    """Return why the installed mmcv's ops are not compiled with CUDA, or None if they are."""
    try:
        from mmcv.ops import get_compiling_cuda_version
        compiled = get_compiling_cuda_version()
    except Exception as exc:  # noqa: BLE001 (any import failure means "no usable ops")
        return f'mmcv\'s compiled ops do not load: {exc}'
    if compiled == 'not available':
        return 'mmcv\'s ops were compiled without CUDA (a CPU-only build)'
    wanted = _torch().version.cuda
    if compiled.split('.')[:2] != wanted.split('.')[:2]:
        return f'mmcv\'s ops were compiled with CUDA {compiled}, torch uses CUDA {wanted}'
    return None


def main(argv: Sequence[str]) -> int:
    """Commands for tools/install.sh: ``archs``, ``requirement``, ``env``, ``check-mmcv``."""
    command = argv[0] if argv else ''
    try:
        if command == 'archs':  # an empty line: CPU ops only
            sys.stdout.write(f'{requested_archs() or ""}\n')
        elif command == 'requirement':
            torch = _torch()
            sys.stdout.write(toolkit_requirement(metadata.requires('torch') or [],
                                                 torch.__version__, torch.version.cuda) + '\n')
        elif command == 'env':
            for key, value in build_env().items():
                sys.stdout.write(f'export {key}={shlex.quote(value)}\n')
        elif command == 'check-mmcv':
            problem = mmcv_cuda_problem()
            if problem:
                raise CudaBuildError(problem)
        else:
            raise CudaBuildError(f'unknown command {command!r}: use archs, requirement, env '
                                 'or check-mmcv')
    except CudaBuildError as exc:
        sys.stderr.write(f'cuda_build.py {command}: {exc}\n')
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
