from .dependencies import check_stack, stack_versions

__all__ = ['check_stack', 'stack_versions']
