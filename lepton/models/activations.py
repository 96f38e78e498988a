"""Activation registry: one name -> one ``torch.nn.Module`` factory.

Search spaces, estimator parameters and model configs all refer to activations by
these names, so an unknown name fails in one place with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["ACTIVATIONS", "get_activation", "check_activation"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}


def check_activation(name: object, *, where: str = "activation") -> str:
    """Return ``name`` if it is a registered activation, else raise a ValueError."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"{where}={name!r} is not a known activation; "
            f"choose one of {', '.join(sorted(ACTIVATIONS))}."
        )
    return name


def get_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name``."""
    return ACTIVATIONS[check_activation(name)]()
