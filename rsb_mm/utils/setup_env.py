"""Process-wide set-up done once at ``import rsb_mm``."""
import mmengine.config.utils as config_utils


def enable_config_inheritance() -> None:
    """Let configs inherit rsb_mm's configs as ``_base_ = ['rsb_mm::rsb_a1_resnet50.py']``.

    MMEngine resolves ``package::path`` only for the packages in its table
    ``mmengine.config.utils.MODULE2PACKAGE`` (the OpenMMLab repos) and offers no other way to
    add one, so rsb_mm adds its own entry (module name = pip name). The configs themselves are
    found in ``rsb_mm/.mim/configs``, which ``setup.py`` creates as OpenMMLab packages do.
    Only an entry is added; nothing of MMEngine's is replaced.
    """
    config_utils.MODULE2PACKAGE.setdefault('rsb_mm', 'rsb_mm')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register rsb_mm's and MMPretrain's modules, as ``mmpretrain.utils`` does for its own.

    Args:
        init_default_scope (bool): Whether to make ``mmpretrain`` the default scope (unless
            one is already set), as MMPretrain's function does. Defaults to True.
    """
    from mmpretrain.utils import register_all_modules as register_mmpretrain

    import rsb_mm  # noqa: F401  (importing registers every module)
    register_mmpretrain(init_default_scope=init_default_scope)
