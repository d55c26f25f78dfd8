from .amp import enable_amp, resolve_amp
from .cli import merge_test_args, merge_train_args, parse_args, test_parser, train_parser
from .dependencies import check_stack, stack_versions
from .launcher import free_port, prepare_distributed, shutdown_distributed
from .preflight import ConfigError, check_config
from .runner import build_runner
from .setup_env import enable_config_inheritance, register_all_modules

__all__ = [
    'check_stack', 'stack_versions', 'enable_amp', 'resolve_amp', 'train_parser',
    'test_parser', 'parse_args', 'merge_train_args', 'merge_test_args', 'prepare_distributed',
    'shutdown_distributed', 'free_port',
    'build_runner', 'enable_config_inheritance', 'register_all_modules', 'ConfigError',
    'check_config'
]
