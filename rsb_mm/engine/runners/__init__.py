from .multi_set_loops import ExtraSet, MultiSetTestLoop, MultiSetValLoop, build_extra_sets
from .resumable_loop import RNG_STATES_KEY, VALIDATED_EPOCH_KEY, ResumableEpochBasedTrainLoop
from .rng_state import capture_rng_state, restore_rng_state

__all__ = [
    'MultiSetValLoop', 'MultiSetTestLoop', 'ExtraSet', 'build_extra_sets',
    'ResumableEpochBasedTrainLoop', 'RNG_STATES_KEY', 'VALIDATED_EPOCH_KEY',
    'capture_rng_state', 'restore_rng_state'
]
