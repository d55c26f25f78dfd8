from .safe_load import (UnsafeCheckpointError, allow_runner_checkpoints, check_checkpoint,
                        restricted_getattr, runner_checkpoint_globals)
from .checkpoint import (STATE_DICT_KEYS, KeyDiff, WeightsMappingError, extract_state_dict,
                         key_diff, load_state_dict_file, read_checkpoint)
from .strict_load import load_checkpoint_strict, load_state_dict_strict
from .strict_pretrained import StrictPretrainedInit
from .convert import (ConversionReport, check_state_dict, convert_file, convert_state_dict,
                      convert_with_report, detect_arch, detect_format, save_state_dict_file)
from .key_maps import (ARCHS, FORMATS, ResNetArch, arch_settings, head_key_map, key_map,
                       timm_head_shapes, timm_key_shapes)
from .publish import (PUBLISH_META_KEYS, PublishedFiles, publish_checkpoint, sha256_file,
                      strip_checkpoint)

__all__ = [
    'UnsafeCheckpointError', 'allow_runner_checkpoints', 'check_checkpoint', 'restricted_getattr',
    'runner_checkpoint_globals',
    'STATE_DICT_KEYS', 'KeyDiff', 'WeightsMappingError', 'extract_state_dict', 'key_diff',
    'load_state_dict_file', 'read_checkpoint',
    'StrictPretrainedInit', 'load_checkpoint_strict', 'load_state_dict_strict',
    'ARCHS', 'FORMATS', 'ResNetArch', 'arch_settings', 'head_key_map', 'key_map',
    'timm_head_shapes', 'timm_key_shapes', 'ConversionReport', 'check_state_dict',
    'convert_file', 'convert_state_dict', 'convert_with_report', 'detect_arch', 'detect_format',
    'save_state_dict_file', 'PUBLISH_META_KEYS', 'PublishedFiles', 'publish_checkpoint',
    'sha256_file', 'strip_checkpoint',
]
