from .atomic_checkpoint_hook import AtomicCheckpointHook
from .non_finite_loss_hook import NonFiniteLossHook
from .unreadable_image_count_hook import UnreadableImageCountHook, skipping_loaders

__all__ = [
    'AtomicCheckpointHook', 'NonFiniteLossHook', 'UnreadableImageCountHook', 'skipping_loaders'
]
