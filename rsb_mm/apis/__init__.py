from .inference import inference_model
from .model import get_model

__all__ = ['get_model', 'inference_model']
