import ast
import importlib.metadata as metadata
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from pathlib import Path

import pytest

from rsb_mm.utils import cuda_build

SCRIPT = Path(cuda_build.__file__)
TORCH_ARCHS = ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120']  # PyPI's torch 2.13.0
TORCH_PIN = ('cuda-toolkit[cublas,cudart,cufft]==13.0.3; platform_system == "Linux"')


# ----------------------------------------------------------------------------- requirement
def test_toolkit_requirement_is_torchs_own_pin_with_nvcc_and_cccl():
    requires = ['filelock', TORCH_PIN, 'cuda-bindings<14,>=13.0.3; platform_system == "Linux"']
    assert (cuda_build.toolkit_requirement(requires, '2.13.0', '13.0') ==
            'cuda-toolkit[cublas,cudart,cufft,nvcc,cccl]==13.0.3')
    assert (cuda_build.toolkit_requirement(['cuda-toolkit==13.0.3'], '2.13.0', '13.0') ==
            'cuda-toolkit[nvcc,cccl]==13.0.3')


def test_toolkit_requirement_of_the_installed_torch():
    import torch
    if torch.version.cuda is None:
        pytest.skip('a CPU-only torch build pins no CUDA toolkit')
    req = cuda_build.toolkit_requirement(metadata.requires('torch'), torch.__version__,
                                         torch.version.cuda)
    assert ',nvcc,cccl]==' + torch.version.cuda in req


@pytest.mark.parametrize('requires,cuda,needle', [
    ([TORCH_PIN], None, 'CPU-only build'),
    (['nvidia-cuda-runtime-cu12==12.6.77'], '12.6', 'does not depend on PyPI\'s cuda-toolkit'),
    ([TORCH_PIN], '12.8', 'requires cuda-toolkit==13.0.3 but reports CUDA 12.8'),
])
def test_toolkit_requirement_refuses_what_pypi_cannot_match(requires, cuda, needle):
    with pytest.raises(cuda_build.CudaBuildError, match=needle):
        cuda_build.toolkit_requirement(requires, '2.13.0', cuda)


# ----------------------------------------------------------------------------- arch list
@pytest.mark.parametrize('requested,caps,expected', [
    (None, [], None),                          # no GPU, no variable: CPU ops only
    ('', [], None),
    ('9.0', [], '9.0'),                        # a login node
    ('8.0;9.0', [(7, 5)], '8.0;9.0'),          # the variable wins over the visible GPU
    ('8.0 9.0+PTX', [], '8.0;9.0+PTX'),
    (None, [(9, 0)], '9.0+PTX'),               # torch's own default for a visible GPU
    (None, [(8, 6), (8, 0), (8, 6)], '8.0;8.6+PTX'),
    (None, [(12, 1)], '12.0+PTX'),             # capped at the newest arch torch ships
])
def test_arch_list(requested, caps, expected):
    assert cuda_build.arch_list(requested, caps, TORCH_ARCHS) == expected


@pytest.mark.parametrize('requested,caps', [('7.0', []), (None, [(7, 0)]), ('7.0;9.0', [])])
def test_gpu_older_than_torch_supports_is_refused_with_what_to_do(requested, caps):
    with pytest.raises(cuda_build.CudaBuildError) as err:
        cuda_build.arch_list(requested, caps, TORCH_ARCHS)
    message = str(err.value)
    assert 'compute capability 7.0 is older than 7.5' in message
    assert 'V100' in message and 'README.md' in message


@pytest.mark.parametrize('bad', ['sm_90', '9', 'hopper9.0'])
def test_malformed_arch_names_the_variable(bad):
    with pytest.raises(cuda_build.CudaBuildError, match=f'RSB_MM_CUDA_ARCHS: {bad!r}'):
        cuda_build.arch_list(bad, [], TORCH_ARCHS)


# ----------------------------------------------------------------------------- toolkit folder
def _fake_toolkit(root: Path, with_runtime=True) -> Path:
    home = root / 'site-packages' / 'nvidia' / 'cu13'
    for part in ('bin/nvcc', 'include/cccl/thrust/version.h'):  # what nvcc's wheels bring
        (home / part).parent.mkdir(parents=True, exist_ok=True)
        (home / part).write_text('')
    if with_runtime:  # and what torch's own toolkit extras bring
        for header in ('cuda_runtime.h', 'cublas_v2.h', 'cusparse.h', 'cusolverDn.h'):
            (home / 'include' / header).write_text('')
        (home / 'lib').mkdir()
        (home / 'lib/libcudart.so.13').write_text('')
    return home


def test_toolkit_home_is_the_folder_above_nvcc(tmp_path):
    home = _fake_toolkit(tmp_path)
    files = [home / 'include/cccl/thrust/version.h', home / 'bin/nvcc']
    assert cuda_build.toolkit_home(files) == home.resolve()
    with pytest.raises(cuda_build.CudaBuildError, match='no bin/nvcc'):
        cuda_build.toolkit_home(files[:1])


def test_missing_parts_and_the_cudart_link(tmp_path):
    split = _fake_toolkit(tmp_path / 'venv', with_runtime=False)  # runtime in another site
    assert cuda_build.missing_parts(split, '13') == [
        'include/cuda_runtime.h', 'include/cublas_v2.h', 'include/cusparse.h',
        'include/cusolverDn.h', 'lib/libcudart.so.13']
    home = _fake_toolkit(tmp_path / 'full')
    assert cuda_build.missing_parts(home, '13') == []
    assert cuda_build.ensure_cudart_link(home, '13') is True
    link = home / 'lib/libcudart.so'
    assert link.is_symlink() and os.readlink(link) == 'libcudart.so.13'
    assert cuda_build.ensure_cudart_link(home, '13') is False  # already there


# ----------------------------------------------------------------------------- mmcv check
@pytest.mark.parametrize('compiled,needle', [
    ('not available', 'compiled without CUDA'),
    ('12.8', 'compiled with CUDA 12.8, torch uses CUDA 13.0'),
    ('13.0', None),
])
def test_mmcv_cuda_problem(monkeypatch, compiled, needle):
    import mmcv  # noqa: F401  (the real package; only its ops module is faked)
    fake_ops = types.SimpleNamespace(get_compiling_cuda_version=lambda: compiled)
    monkeypatch.setitem(sys.modules, 'mmcv.ops', fake_ops)
    monkeypatch.setattr(cuda_build, '_torch',
                        lambda: types.SimpleNamespace(version=types.SimpleNamespace(cuda='13.0')))
    problem = cuda_build.mmcv_cuda_problem()
    assert (problem is None) if needle is None else (needle in problem)


# ----------------------------------------------------------------------------- as install.sh runs
def test_imports_only_the_standard_library_at_module_level():
    """install.sh runs the file before rsb_mm's dependencies are installed."""
    tree = ast.parse(SCRIPT.read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split('.')[0] for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split('.')[0] for n in top if isinstance(n, ast.ImportFrom)}
    assert names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)


def test_runs_by_path_as_install_sh_calls_it():
    """-I: no PYTHONPATH, no current folder; exit 2 and the message for a refused arch."""
    env = {**os.environ, 'RSB_MM_CUDA_ARCHS': '7.0'}
    run = subprocess.run([sys.executable, '-I', str(SCRIPT), 'archs'], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and 'V100' in run.stderr, run.stderr


def test_command_exit_codes(monkeypatch, capsys):
    import torch
    monkeypatch.delenv('RSB_MM_CUDA_ARCHS', raising=False)
    assert cuda_build.main(['nonsense']) == 2
    if torch.version.cuda is None:
        pytest.skip('a CPU-only torch: no CUDA build to ask for')
    capsys.readouterr()
    if not torch.cuda.is_available():
        assert cuda_build.main(['archs']) == 0
        assert capsys.readouterr().out == '\n'  # CPU ops, as before
    monkeypatch.setenv('RSB_MM_CUDA_ARCHS', '8.0;9.0')
    assert cuda_build.main(['archs']) == 0
    assert capsys.readouterr().out == '8.0;9.0\n'
    assert cuda_build.main(['requirement']) == 0
    assert ',nvcc,cccl]==' + torch.version.cuda in capsys.readouterr().out


# ----------------------------------------------------------------------------- opt-in: compile
FATBIN_MAGIC = struct.pack('<I', 0xBA55ED50)
PROBE_SETUP = '''
import sys
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension
src = sys.argv.pop(1)  # mmcv-2.1.0/mmcv/ops/csrc, with mmcv setup.py's CUDA settings
setup(name='probe', script_args=sys.argv[1:], cmdclass={'build_ext': BuildExtension},
      ext_modules=[CUDAExtension(
          'nms_probe', [src + '/pytorch/cuda/nms_cuda.cu'],
          include_dirs=[src + '/pytorch', src + '/common', src + '/common/cuda'],
          define_macros=[('MMCV_WITH_CUDA', None)],
          extra_compile_args={'cxx': ['-std=c++17'], 'nvcc': ['-std=c++17']})])
'''


def fatbin_code(data: bytes):
    """The (kind, arch) pairs in the CUDA fat binaries of an object file: kind 'sm' for
    machine code (an ELF cubin, fatbin entry kind 2), 'ptx' for PTX (kind 1)."""
    found = set()
    pos = data.find(FATBIN_MAGIC)
    while pos != -1:
        _, header_size, size = struct.unpack_from('<HHQ', data, pos + 4)
        entry, end = pos + header_size, pos + header_size + size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from('<HHIQ', data, entry)
            arch = struct.unpack_from('<I', data, entry + 28)[0]
            found.add(({1: 'ptx', 2: 'sm'}.get(kind, str(kind)), arch))
            entry += entry_header + payload
        pos = data.find(FATBIN_MAGIC, end)
    return found


@pytest.fixture
def work_dir():
    """A temporary folder outside pytest's basetemp: pytest sessions starting meanwhile on a
    shared machine prune all but the newest three basetemps, and this test runs for minutes."""
    with tempfile.TemporaryDirectory(prefix='rsb_mm_cuda_build_') as folder:
        yield Path(folder)


@pytest.mark.skipif(os.environ.get('RSB_MM_TEST_CUDA_BUILD') != '1',
                    reason='compiles one mmcv CUDA file (~1-3 min): set RSB_MM_TEST_CUDA_BUILD=1 '
                           'in a Python where tools/install.sh installed the CUDA toolkit '
                           '(RSB_MM_CUDA_ARCHS=9.0 bash tools/install.sh, or on a GPU machine)')
def test_install_toolchain_compiles_an_mmcv_cuda_op_for_sm90(work_dir, monkeypatch):
    monkeypatch.setenv('RSB_MM_CUDA_ARCHS', '9.0')
    env = cuda_build.build_env()  # what install.sh exports for the mmcv build
    assert env['TORCH_CUDA_ARCH_LIST'] == '9.0' and env['FORCE_CUDA'] == '1'
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:',
                    '--no-build-isolation', '-d', str(work_dir), 'mmcv==2.1.0'],
                   check=True, capture_output=True, timeout=600)
    with tarfile.open(work_dir / 'mmcv-2.1.0.tar.gz') as sdist:
        members = [m for m in sdist.getmembers() if m.name.startswith('mmcv-2.1.0/mmcv/ops/csrc/')]
        safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
        sdist.extractall(work_dir, members=members, **safe)
    (work_dir / 'probe_setup.py').write_text(PROBE_SETUP)
    started = time.monotonic()
    build = subprocess.run(
        [sys.executable, 'probe_setup.py', str(work_dir / 'mmcv-2.1.0/mmcv/ops/csrc'),
         'build_ext', '--build-temp', 'build', '--build-lib', 'lib'],
        cwd=work_dir, env={**os.environ, **env, 'MAX_JOBS': '1'}, capture_output=True,
        text=True, timeout=900)
    seconds = time.monotonic() - started
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    objects = list((work_dir / 'build').rglob('nms_cuda.o'))
    assert len(objects) == 1, 'no object file for nms_cuda.cu'
    assert fatbin_code(objects[0].read_bytes()) == {('sm', 90)}  # sm_90 machine code, no PTX
    library = list((work_dir / 'lib').glob('nms_probe*.so'))
    assert library, 'the link step (-lcudart) failed'
    import torch
    torch.ops.load_library(str(library[0]))  # every symbol resolves, even without a GPU
    sys.stderr.write(f'compiled and linked nms_cuda.cu for sm_90 in {seconds:.0f} s\n')
