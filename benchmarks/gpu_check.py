"""One command for a GPU machine: rsb_mm's CUDA tests and GPU benchmarks, one report.

On a fresh machine with Python and torch (and, unless carried, the rest of the stack), from the
repository root::

    python3 benchmarks/gpu_check.py --out report.md [--wheels .whl]

runs, each step in its own process with a time limit, and writes their outputs to one
Markdown report (exit status 1 if a step failed):

1. ``--wheels DIR``: installs every wheel in DIR (``pip install --no-index --no-deps``) into a
   folder that the next steps put first on ``PYTHONPATH`` (benchmarks/README.md lists the
   wheels to carry);
2. the environment: Python, torch and its CUDA, the GPU, the stack's versions, whether mmcv
   has CUDA ops;
3. the CUDA-marked tests (``pytest -m cuda tests/test_gpu``): an AMP training iteration of the
   A1 and A3 configs through the Runner, ``MultiTensorLamb`` against timm's ``Lamb`` on the GPU
   (exact and fused paths), a one-process NCCL DDP step, and one Faster R-CNN iteration on
   mmcv's CUDA ops (skipped when mmcv has none);
4. ``bench_op_count.py --device cuda --amp``: operators per iteration against timm's loop;
5. ``bench_gpu_train.py``: training images/s against timm's ``train.py`` loop (A3, A1).

Estimated at about 5 minutes on one H100 (not yet run on a GPU: none was at hand; the fused
LAMB's Triton compilation and the two configs at batch 512 take most of it); each step's time
limit keeps a hung step from holding the report. ``--dry-run`` runs the same steps on the CPU with tiny sizes (the CUDA
tests with ``RSB_MM_GPU_DRY_RUN=1``), so that the command is known to work before a GPU is at
hand: tests/test_benchmarks/test_gpu_check.py runs it.
"""
import argparse
import glob
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import List, NamedTuple, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TAIL = 12000  # characters of a step's output kept in the report

ENV_PROBE = r'''
import platform, importlib
import torch
print(f'Python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}),'
      f' cuDNN {torch.backends.cudnn.version()}')
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        print(f'GPU {i}: {p.name}, compute capability {p.major}.{p.minor}, '
              f'{p.total_memory / 2**30:.0f} GiB')
    print('torch CUDA arch list:', ' '.join(torch.cuda.get_arch_list()))
else:
    print('GPU: none visible to torch')
for name in ('timm', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'rsb_mm', 'pytest'):
    try:
        module = importlib.import_module(name)
        print(f'{name} {getattr(module, "__version__", "?")} ({module.__file__})')
    except Exception as exc:
        print(f'{name}: not importable ({type(exc).__name__}: {exc})')
try:
    import mmcv.ops  # noqa: F401
    from mmcv.ops import nms
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]], device=device)
    nms(boxes, torch.tensor([0.9, 0.8], device=device), 0.5)
    print(f'mmcv ops: compiled, NMS runs on {device}')
except Exception as exc:
    print(f'mmcv ops on this device: no ({type(exc).__name__}: {str(exc).splitlines()[0]})')
'''


class Step(NamedTuple):
    title: str
    command: List[str]
    timeout: int


class Result(NamedTuple):
    step: Step
    returncode: Optional[int]  # None: timed out
    seconds: float
    output: str


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='gpu_check_report.md', help='the report (Markdown)')
    parser.add_argument('--wheels', help='a folder of wheels to install first (no index)')
    parser.add_argument('--site', help='where to install the wheels (default: a new temporary '
                        'folder)')
    parser.add_argument('--dry-run', action='store_true',
                        help='the same steps on the CPU with tiny sizes')
    parser.add_argument('--configs', nargs='+', default=['a3', 'a1'],
                        help="bench_gpu_train.py's configs")
    return parser.parse_args(argv)


def steps(dry_run: bool, configs: List[str]) -> List[Step]:
    py = sys.executable
    tests = [py, '-m', 'pytest', '-m', 'cuda', 'tests/test_gpu', '-q', '-rA',
             '-p', 'no:cacheprovider']
    if dry_run:  # the tests' own sizes shrink on the CPU; the benchmarks' here
        configs = configs[:1]
        op_count = ['--device', 'cpu', '--batch-sizes', '2', '--rows', 'configured']
        bench = ['--device', 'cpu', '--batch-size', '2', '--img-size', '32', '--iters', '1',
                 '--rounds', '1', '--warmup', '1', '--no-fused', '--channels-last']
    else:
        op_count = ['--device', 'cuda', '--amp', '--batch-sizes', '2', '8']
        bench = ['--iters', '10', '--rounds', '3', '--warmup', '10']
    return [
        Step('Environment', [py, '-c', ENV_PROBE], 120),
        Step('CUDA tests (pytest -m cuda tests/test_gpu)', tests, 600 if dry_run else 420),
        Step('Operators per iteration (bench_op_count.py)',
             [py, 'benchmarks/bench_op_count.py', '--configs', *configs, *op_count], 300),
        Step('Training throughput (bench_gpu_train.py)',
             [py, 'benchmarks/bench_gpu_train.py', '--configs', *configs, *bench], 420),
    ]


def run(step: Step, env: dict) -> Result:
    start = time.perf_counter()
    try:
        proc = subprocess.run(step.command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=step.timeout)
        code, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ''
        code, output = None, (out.decode(errors='replace') if isinstance(out, bytes) else out)
    return Result(step, code, time.perf_counter() - start, output)


def install_wheels(wheels: str, site: str) -> Result:
    found = sorted(glob.glob(osp.join(wheels, '*.whl')))
    if not found:
        raise SystemExit(f'--wheels {wheels}: no .whl files there')
    step = Step(f'Install {len(found)} wheels from {wheels}',
                [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-index', '--no-deps',
                 '--disable-pip-version-check', '--target', site, *found], 300)
    return run(step, dict(os.environ))


def status(result: Result) -> str:
    if result.returncode is None:
        return f'timed out after {result.step.timeout} s'
    return 'ok' if result.returncode == 0 else f'failed (exit {result.returncode})'


def write_report(path: str, results: List[Result], dry_run: bool, argv: List[str]) -> None:
    lines = [f'# rsb_mm GPU check{" (dry run on the CPU)" if dry_run else ""}', '',
             f'{time.strftime("%Y-%m-%d %H:%M %Z")}, '
             f'`python3 benchmarks/gpu_check.py {" ".join(argv)}`', '',
             '| step | status | seconds |', '|---|---|---:|']
    lines += [f'| {r.step.title} | {status(r)} | {r.seconds:.0f} |' for r in results]
    lines.append(f'| total | | {sum(r.seconds for r in results):.0f} |')
    for r in results:
        out = r.output if len(r.output) <= TAIL else \
            f'[... first {len(r.output) - TAIL} characters left out ...]\n' + r.output[-TAIL:]
        command = ' '.join(r.step.command) if r.step.command[1] != '-c' else \
            f'{r.step.command[0]} -c <the probe in gpu_check.py>'
        lines += ['', f'## {r.step.title}: {status(r)}', '', f'`{command}`', '', '```',
                  out.rstrip(), '```']
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None) -> int:
    args = parse_args(argv)
    env = dict(os.environ)
    results: List[Result] = []
    paths = [REPO]
    if args.wheels:
        site = args.site or tempfile.mkdtemp(prefix='rsb_mm_gpu_check_site_')
        results.append(install_wheels(args.wheels, site))
        paths.insert(0, site)
    env['PYTHONPATH'] = os.pathsep.join(paths + [p for p in [env.get('PYTHONPATH')] if p])
    if args.dry_run:
        env['RSB_MM_GPU_DRY_RUN'] = '1'
        env['CUDA_VISIBLE_DEVICES'] = ''  # the CPU even where a GPU is
    if all(r.returncode == 0 for r in results):
        for step in steps(args.dry_run, args.configs):
            results.append(run(step, env))
            print(f'{step.title}: {status(results[-1])} ({results[-1].seconds:.0f} s)',
                  flush=True)
    write_report(args.out, results, args.dry_run, sys.argv[1:] if argv is None else argv)
    print(f'report: {args.out}')
    return 0 if all(r.returncode == 0 for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
