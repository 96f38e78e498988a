"""Network families built from plain configs: MLP, residual MLP (ResNet) and CNN."""

from .activations import ACTIVATIONS, check_activation, get_activation
from .config import EMBEDDINGS, FAMILIES, NORMALIZATIONS, LayerConfig, ModelConfig
from .networks import CNN, MLP, PeriodicEmbedding, ResNet, build_model

__all__ = ["ACTIVATIONS", "check_activation", "get_activation", "EMBEDDINGS", "FAMILIES",
           "NORMALIZATIONS", "LayerConfig", "ModelConfig", "CNN", "MLP", "PeriodicEmbedding",
           "ResNet", "build_model"]
