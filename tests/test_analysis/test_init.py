"""rsb_mm.analysis exports its API, is not imported by ``import rsb_mm`` (it registers nothing)
and imports matplotlib and pytorch_grad_cam only inside the functions that draw."""
import ast
import glob
import os.path as osp

import rsb_mm
import rsb_mm.analysis as analysis

PACKAGE = osp.dirname(rsb_mm.__file__)
LAZY = ('matplotlib', 'pytorch_grad_cam')


def _top_level_imports(path):
    with open(path) as f:
        tree = ast.parse(f.read())
    names = []
    for node in tree.body:  # module level only: imports inside functions are lazy
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append('.' * node.level + (node.module or ''))
    return names


def test_all_is_exported():
    assert analysis.__all__ and all(hasattr(analysis, name) for name in analysis.__all__)
    assert len(set(analysis.__all__)) == len(analysis.__all__)


def test_heavy_imports_are_lazy():
    files = glob.glob(osp.join(PACKAGE, 'analysis', '*.py'))
    assert len(files) == 6
    for path in files:
        for name in _top_level_imports(path):
            assert not name.startswith(LAZY), f'{path} imports {name} at module level'
    assert not any('analysis' in name
                   for name in _top_level_imports(osp.join(PACKAGE, '__init__.py')))
