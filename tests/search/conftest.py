"""Tiny search settings shared by the search tests."""

from __future__ import annotations

import numpy as np
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


def outlier_table(n=300, seed=0):
    """The class is the sign of a column that six rows blow up 10,000-fold: standard
    scaling squeezes every other row of it towards 0, robust scaling does not."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (x > 0).astype(int)
    x[rng.choice(n, 6, replace=False)] *= 1e4
    return np.column_stack([x, rng.normal(size=(n, 3))]), y


def tail_table(n=300, seed=0):
    """Three classes along one column, two of them in its far tail: clipping that tail
    presses them together, standard scaling keeps them apart."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.7, 0.15, 0.15])
    x = np.select([y == 0, y == 1], [rng.normal(0, 1, n), rng.normal(6, 1, n)],
                  rng.normal(14, 1, n))
    return np.column_stack([x, rng.normal(size=(n, 3))]), y
