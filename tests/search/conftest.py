"""Tiny search settings shared by the search tests."""

from __future__ import annotations

import pytest

#: A small but real space: 1-2 narrow layers, a few epochs; every other dimension searched.
TINY_SPACE = {"base": "mlp", "parameters": {
    "n_layers": {"type": "int", "low": 1, "high": 2},
    "width": {"type": "int", "low": 8, "high": 32, "log": True, "per_layer": True},
    "epochs": {"type": "int", "low": 10, "high": 30},
    "batch_size": {"type": "categorical", "choices": [16, 32]},
    "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
    "numeric_embedding": "none",  # keeps the tiny trials tiny (embeddings: test_components)
}}


@pytest.fixture
def tiny_space():
    return TINY_SPACE
