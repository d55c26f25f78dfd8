import pytest

from rsb_mm.utils import dependencies


def test_installed_stack_passes():
    dependencies.check_stack()
    versions = dependencies.stack_versions()
    assert versions['mmcv'] is not None and versions['torch'] is not None


@pytest.mark.parametrize('name,version,needle', [
    ('mmcv', '2.2.0', 'mmcv==2.2.0 is installed, but rsb_mm needs mmcv>=2.0.0,<2.2.0'),
    ('mmengine', '0.9.1', 'mmengine==0.9.1 is installed'),
    ('mmdet', '3.2.0', 'mmdet==3.2.0 is installed'),
    ('timm', None, 'timm is not installed'),
])
def test_wrong_versions_name_the_package_and_the_fix(monkeypatch, name, version, needle):
    real = dependencies.installed_version

    def fake(pkg):
        return version if pkg == name else real(pkg)

    monkeypatch.setattr(dependencies, 'installed_version', fake)
    with pytest.raises(ImportError) as err:
        dependencies.check_stack()
    assert needle in str(err.value)
    assert 'tools/install.sh' in str(err.value)


def test_missing_optional_mmdet_is_fine(monkeypatch):
    real = dependencies.installed_version
    monkeypatch.setattr(dependencies, 'installed_version',
                        lambda pkg: None if pkg == 'mmdet' else real(pkg))
    dependencies.check_stack()
