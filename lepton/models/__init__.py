"""Network families built from plain configs: MLP, residual MLP (ResNet) and CNN."""

from .activations import ACTIVATIONS, check_activation, get_activation
from .config import FAMILIES, NORMALIZATIONS, LayerConfig, ModelConfig
from .networks import CNN, MLP, ResNet, build_model

__all__ = ["ACTIVATIONS", "check_activation", "get_activation", "FAMILIES", "NORMALIZATIONS",
           "LayerConfig", "ModelConfig", "CNN", "MLP", "ResNet", "build_model"]
