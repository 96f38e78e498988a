"""Tiny search settings shared by the search tests."""

from __future__ import annotations

from pathlib import Path

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


def pytest_collection_modifyitems(config, items):
    # TINY_SPACE's batch_size [16, 32] is the user's, and on iris-sized data the priors
    # narrow it to [16], saying so in a warning (tested where it is said:
    # test_search_estimators, test_components); here that warning would only be noise
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:.*the data-aware priors narrowed:UserWarning"))
