"""benchmarks/gpu_check.py, the one command for a GPU machine, kept working without one: its
dry run runs the same steps on the CPU (the CUDA-marked tests included) and writes the
report; its wheel installation works offline."""
import os.path as osp
import re
import sys
import zipfile

import pytest

def _write_wheel(folder):
    """A minimal pure-Python wheel (one module), as pip builds them."""
    name = 'rsb_mm_probe_pkg'
    info = f'{name}-0.1.dist-info'
    files = {
        f'{name}.py': 'VALUE = 42\n',
        f'{info}/METADATA': f'Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n',
        f'{info}/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n'
                         'Tag: py3-none-any\n',
    }
    path = osp.join(folder, f'{name}-0.1-py3-none-any.whl')
    with zipfile.ZipFile(path, 'w') as whl:
        for arc, text in files.items():
            whl.writestr(arc, text)
        whl.writestr(f'{info}/RECORD', ''.join(f'{a},,\n' for a in files) + f'{info}/RECORD,,\n')
    return name


def test_wheels_install_offline_into_site(tmp_path, load_benchmark):
    check = load_benchmark('gpu_check')
    wheels, site = tmp_path / 'whl', tmp_path / 'site'
    wheels.mkdir()
    name = _write_wheel(str(wheels))
    result = check.install_wheels(str(wheels), str(site))
    assert result.returncode == 0, result.output
    assert '--no-index' in result.step.command and '--no-deps' in result.step.command
    assert (site / f'{name}.py').read_text() == 'VALUE = 42\n'


def test_empty_wheel_folder_is_refused(tmp_path, load_benchmark):
    check = load_benchmark('gpu_check')
    with pytest.raises(SystemExit, match=f'--wheels {tmp_path}: no .whl files there'):
        check.install_wheels(str(tmp_path), str(tmp_path / 'site'))


def test_gpu_steps_as_planned(load_benchmark):
    check = load_benchmark('gpu_check')
    steps = check.steps(dry_run=False, configs=['a3', 'a1'])
    commands = [' '.join(s.command) for s in steps]
    assert '-m pytest -m cuda tests/test_gpu' in commands[1]
    assert 'bench_op_count.py --configs a3 a1 --device cuda --amp' in commands[2]
    assert 'bench_gpu_train.py --configs a3 a1' in commands[3]
    assert '--device' not in steps[3].command  # the GPU, AMP, channels-last: its defaults
    # a hung step cannot hold the report forever
    assert all(s.timeout <= 420 for s in steps)


def test_dry_run_writes_the_report(tmp_path, load_benchmark):
    """The whole command on the CPU: the CUDA tests run (not skipped), the benchmarks print
    their tables, one report with every step."""
    check = load_benchmark('gpu_check')
    out = tmp_path / 'report.md'
    code = check.main(['--dry-run', '--out', str(out)])
    report = out.read_text()
    assert code == 0, report
    assert report.startswith('# rsb_mm GPU check (dry run on the CPU)')
    for title in ('Environment', 'CUDA tests', 'Operators per iteration',
                  'Training throughput'):
        assert re.search(rf'^\| {re.escape(title)}[^|]* \| ok \| \d+ \|$', report, re.M), title
    assert 'GPU: none visible to torch' in report
    summary = re.search(r'(\d+) passed', report)
    assert summary and int(summary.group(1)) >= 6 and ' failed' not in report
    assert 'SKIPPED' not in report or 'mmcv' in report  # only the mmcv ops may be missing
    assert '| rsb_mm (as configured) | 2 | mixup |' in report
    assert '| timm train.py loop |' in report
    assert sys.executable in report
