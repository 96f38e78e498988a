"""The plain model configuration that estimators and search spaces produce.

A config is a dict (JSON/YAML friendly) such as::

    {"family": "mlp",
     "layers": [{"width": 256, "activation": "relu"},
                {"width": 128, "activation": "gelu"}],
     "normalization": "batch", "dropout": 0.1, "residual": False}

``family`` is ``mlp`` (plain or with skip connections when ``residual``),
``resnet`` (pre-norm residual blocks of two linear layers each, after Gorishniy et al.
2021, "Revisiting Deep Learning Models for Tabular Data") or ``cnn`` (convolutional
blocks over image-shaped input, then the ``layers`` as the head). :class:`ModelConfig`
validates a dict and reports the key path of anything wrong.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..defaults import MAX_WIDTH
from .activations import check_activation

__all__ = ["LayerConfig", "ModelConfig", "FAMILIES", "NORMALIZATIONS", "EMBEDDINGS"]

FAMILIES = ("mlp", "resnet", "cnn")
NORMALIZATIONS = ("none", "batch", "layer")
EMBEDDINGS = ("none", "periodic")
_EMBEDDING_KEYS = ("embedding_dim", "embedding_frequencies", "embedding_scale")


@dataclass(frozen=True, kw_only=True)
class LayerConfig:
    width: int
    activation: str = "relu"


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    family: str = "mlp"
    layers: tuple[LayerConfig, ...] = field(default_factory=tuple)
    normalization: str = "none"
    dropout: float = 0.0
    residual: bool = False
    # cnn only: channels of each conv block; each block is conv3x3 -> norm -> act,
    # followed by 2x2 max pooling when ``pool`` and the feature map is still >= 4 px.
    conv_channels: tuple[int, ...] = ()
    kernel_size: int = 3
    pool: bool = True
    # mlp / resnet: 'periodic' embeds each input feature before the first layer
    # (networks.PeriodicEmbedding): n_features * embedding_dim inputs to the first layer.
    numeric_embedding: str = "none"
    embedding_dim: int = 16
    embedding_frequencies: int = 16
    embedding_scale: float = 0.1

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], *, where: str = "model") -> ModelConfig:
        if isinstance(config, ModelConfig):
            return config
        if not isinstance(config, Mapping):
            raise TypeError(f"{where} must be a mapping, got {type(config).__name__}.")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"{where} has unknown key(s) {unknown}; accepted keys are {sorted(known)}."
            )
        family = config.get("family", "mlp")
        if family not in FAMILIES:
            raise ValueError(f"{where}.family={family!r} is not one of {', '.join(FAMILIES)}.")
        norm = config.get("normalization", "none")
        if norm is None:
            norm = "none"
        if norm not in NORMALIZATIONS:
            raise ValueError(
                f"{where}.normalization={norm!r} is not one of {', '.join(NORMALIZATIONS)}."
            )
        dropout = config.get("dropout", 0.0)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not (
            0.0 <= dropout < 1.0
        ):
            raise ValueError(f"{where}.dropout={dropout!r} must be a number in [0, 1).")
        layers_in = config.get("layers", ())
        if isinstance(layers_in, (str, bytes)) or not isinstance(layers_in, Sequence):
            raise ValueError(f"{where}.layers must be a list of {{width, activation}} mappings.")
        layers = []
        for i, layer in enumerate(layers_in):
            lw = f"{where}.layers[{i}]"
            if isinstance(layer, LayerConfig):
                layers.append(layer)
                continue
            if not isinstance(layer, Mapping):
                raise ValueError(f"{lw}={layer!r} must be a mapping with 'width' and 'activation'.")
            extra = sorted(set(layer) - {"width", "activation"})
            if extra:
                raise ValueError(f"{lw} has unknown key(s) {extra}; accepted: width, activation.")
            width = layer.get("width")
            if not _is_int(width) or not 1 <= width <= MAX_WIDTH:
                raise ValueError(f"{lw}.width={width!r} must be an integer in [1, {MAX_WIDTH}].")
            act = check_activation(layer.get("activation", "relu"), where=f"{lw}.activation")
            layers.append(LayerConfig(width=int(width), activation=act))
        channels = tuple(config.get("conv_channels", ()) or ())
        for i, c in enumerate(channels):
            if not _is_int(c) or c < 1:
                raise ValueError(f"{where}.conv_channels[{i}]={c!r} must be a positive integer.")
        if family == "cnn" and not channels:
            raise ValueError(f"{where}.conv_channels must list at least one block for family 'cnn'.")
        if family == "resnet" and not layers:
            raise ValueError(f"{where}.layers must list at least one block for family 'resnet'.")
        kernel = config.get("kernel_size", 3)
        if not _is_int(kernel) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"{where}.kernel_size={kernel!r} must be a positive odd integer.")
        embedding = config.get("numeric_embedding", "none") or "none"
        if embedding not in EMBEDDINGS:
            raise ValueError(
                f"{where}.numeric_embedding={embedding!r} is not one of {', '.join(EMBEDDINGS)}.")
        if embedding != "none" and family == "cnn":
            raise ValueError(f"{where}.numeric_embedding={embedding!r} applies to families mlp "
                             "and resnet only; family 'cnn' takes 'none'.")
        for key in ("embedding_dim", "embedding_frequencies"):
            value = config.get(key, 16)
            if not _is_int(value) or not 1 <= value <= 1024:
                raise ValueError(f"{where}.{key}={value!r} must be an integer in [1, 1024].")
        scale = config.get("embedding_scale", 0.1)
        if not isinstance(scale, numbers.Real) or isinstance(scale, bool) or not (
                0 < scale <= 100):
            raise ValueError(f"{where}.embedding_scale={scale!r} must be a number in (0, 100].")
        for key, default in (("residual", False), ("pool", True)):
            value = config.get(key, default)
            if not isinstance(value, (bool, np.bool_)):  # bool('no') is True
                raise ValueError(f"{where}.{key}={value!r} must be true or false.")
        return cls(
            family=family,
            layers=tuple(layers),
            normalization=norm,
            dropout=float(dropout),
            residual=bool(config.get("residual", False)),
            conv_channels=tuple(int(c) for c in channels),
            kernel_size=int(kernel),
            pool=bool(config.get("pool", True)),
            numeric_embedding=embedding,
            embedding_dim=int(config.get("embedding_dim", 16)),
            embedding_frequencies=int(config.get("embedding_frequencies", 16)),
            embedding_scale=float(scale),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = [dict(layer) for layer in d["layers"]]
        d["conv_channels"] = list(d["conv_channels"])
        if self.family != "cnn":
            for key in ("conv_channels", "kernel_size", "pool"):
                d.pop(key)
        if self.numeric_embedding == "none":  # configs without an embedding read as before
            for key in ("numeric_embedding", *_EMBEDDING_KEYS):
                d.pop(key)
        return d


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
