"""rsb_mm: the "ResNet strikes back" recipe for MMPretrain and MMDetection.

Install with ``bash tools/install.sh`` (the stack needs mmcv built from source, in order);
``pip install -e .`` alone installs rsb_mm on top of an existing stack.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import Extension, find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'rsb_mm', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/<fname>``, comments and blanks dropped."""
    with open(osp.join(HERE, 'requirements', fname), encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


def add_mim_extension() -> None:
    """Mirror ``configs/``, ``tools/`` and ``model-index.yml`` into ``rsb_mm/.mim/``.

    This is how OpenMMLab packages ship their configs, and where MMEngine looks for the configs
    of an installed package, so that a config can inherit ``rsb_mm::rsb_a1_resnet50.py``.
    Editable installs get symlinks (edits show up at once), wheels and sdists get copies.
    """
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install', 'build', 'build_py'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'rsb_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src, dst = osp.join(HERE, name), osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='rsb_mm',
        version=get_version(),
        description='The "ResNet strikes back" training recipe in the OpenMMLab ecosystem',
        long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        python_requires='>=3.9',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks', 'demo')),
        include_package_data=True,
        package_data={
            'rsb_mm': [
                '.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml'
            ]
        },
        # Pillow's resampling in C (rsb_mm/_native/pil_resample.py loads it); contraction off:
        # the filter weights must round as Pillow's (built without FMA) do. Optional: where it
        # does not build, the install goes on and the transform uses Pillow (same pixels).
        ext_modules=[
            Extension('rsb_mm._native._pil_resample', ['rsb_mm/_native/pil_resample.c'],
                      extra_compile_args=['-O3', '-std=c99', '-ffp-contract=off'],
                      libraries=['m'], optional=True)
        ],
        install_requires=parse_requirements('runtime.txt'),
        extras_require={
            'mim': parse_requirements('mminstall.txt'),
            'tests': parse_requirements('tests.txt'),
            'optional': parse_requirements('optional.txt'),
            'all': (parse_requirements('mminstall.txt') + parse_requirements('tests.txt') +
                    parse_requirements('optional.txt')),
        },
        zip_safe=False,
    )
