import importlib.util
import os.path as osp

import pytest

BENCHMARKS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'benchmarks')


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, osp.join(BENCHMARKS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_benchmark():
    """``load_benchmark('bench_gpu_train')``: the script ``benchmarks/<name>.py`` as a module
    (the scripts are not a package)."""
    return _load
