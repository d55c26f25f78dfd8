from .safe_load import allow_runner_checkpoints, restricted_getattr, runner_checkpoint_globals

__all__ = ['allow_runner_checkpoints', 'restricted_getattr', 'runner_checkpoint_globals']
