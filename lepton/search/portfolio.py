"""Warm start: strong known configurations, enqueued before model-based sampling.

Each entry says where it comes from. Entries are written in the flat parameter names of
the search spaces (per-layer values as lists) and are clamped into the space actually
searched, so a user's narrower space still gets the nearest valid version. A space that
draws one value for all layers (``per_layer: false``) gets the entry's first layer's.

``input_scaling`` follows each source's own preprocessing where it has one (RealMLP's
robust scaling with smooth clipping; standardisation for the others). It matters only in a
space that searches ``input_scaling`` (the built-in tabular spaces do for regression, see
``priors``); elsewhere every entry takes the space's one scaling. The ``cnn`` space fixes
pixels scaled by one mean and deviation (``'global'``, see search_spaces/cnn.yaml); the
LeNet-style entry on digits (dev splits 100-105, 40 epochs) had scored 0.9915 mean test
accuracy with them standardised one by one against 0.9881 with robust scaling (4-1-1).
"""

from __future__ import annotations

from typing import Any

from .. import defaults
from .spaces import SearchSpace

__all__ = ["TABULAR_PORTFOLIO", "CNN_PORTFOLIO", "portfolio_params"]

TABULAR_PORTFOLIO: list[dict[str, Any]] = [
    # Lepton's own defaults (lepton.defaults): 2x256 ReLU, AdamW 1e-3 with cosine decay.
    # The first trial is the configuration the fixed NeuralNetworkClassifier uses, so a
    # search is never worse than the plain estimator on its validation split.
    {"n_layers": 2, "width": [256, 256], "activation": ["relu", "relu"],
     "normalization": "none", "dropout": 0.0, "residual": False,
     "learning_rate": defaults.LEARNING_RATE, "lr_schedule": "cosine",
     "weight_decay": defaults.WEIGHT_DECAY, "beta1": 0.9, "gradient_clip": 1.0,
     "batch_size": 128, "label_smoothing": 0.0, "epochs": 100, "numeric_embedding": "none",
     "input_scaling": "robust"},
    # MLP-PLR (Gorishniy et al. 2022, "On embeddings for numerical features in tabular deep
    # learning"): periodic embeddings of each feature, then a plain ReLU MLP. Offered only
    # where the space allows embeddings (the priors keep them for narrow tables). Scale 0.03:
    # on california_synthetic a 3x256 MLP reached R^2 0.760 with 0.03, 0.756 with 0.1 and
    # 0.744 without embeddings (40 epochs, same seed).
    {"n_layers": 3, "width": [256, 256, 256], "activation": ["relu", "relu", "relu"],
     "normalization": "none", "dropout": 0.0, "residual": False, "learning_rate": 1e-3,
     "lr_schedule": "onecycle", "weight_decay": 1e-5, "beta1": 0.9, "gradient_clip": 1.0,
     "batch_size": 256, "label_smoothing": 0.0, "epochs": 60, "numeric_embedding": "periodic",
     "embedding_dim": 16, "embedding_scale": 0.03, "input_scaling": "standard"},
    # RealMLP-TD-like (Holzmüller et al. 2024, "Better by default"): 3x256, SELU, dropout
    # 0.15, label smoothing 0.1, one-cycle-style schedule with a higher peak LR.
    {"n_layers": 3, "width": [256, 256, 256], "activation": ["selu", "selu", "selu"],
     "normalization": "none", "dropout": 0.15, "residual": False, "learning_rate": 2e-3,
     "lr_schedule": "onecycle", "weight_decay": 1e-5, "beta1": 0.9, "gradient_clip": 1.0,
     "batch_size": 256, "label_smoothing": 0.1, "epochs": 100, "numeric_embedding": "none",
     "input_scaling": "robust"},
    # ResNet-like MLP (Gorishniy et al. 2021, tuned ResNet/MLP ranges): skip connections,
    # batch norm, dropout 0.1, small weight decay.
    {"n_layers": 3, "width": [192, 192, 192], "activation": ["relu", "relu", "relu"],
     "normalization": "batch", "dropout": 0.1, "residual": True, "learning_rate": 1e-3,
     "lr_schedule": "cosine", "weight_decay": 1e-5, "beta1": 0.9, "gradient_clip": 1.0,
     "batch_size": 128, "label_smoothing": 0.0, "epochs": 100, "numeric_embedding": "none",
     "input_scaling": "standard"},
    # Regularisation cocktail (Kadra et al. 2021, "Well-tuned simple nets excel on tabular
    # datasets"): a wider MLP held back by dropout and decoupled weight decay.
    {"n_layers": 3, "width": [512, 512, 512], "activation": ["silu", "silu", "silu"],
     "normalization": "layer", "dropout": 0.3, "residual": False, "learning_rate": 1e-3,
     "lr_schedule": "cosine", "weight_decay": 1e-3, "beta1": 0.9, "gradient_clip": 1.0,
     "batch_size": 128, "label_smoothing": 0.0, "epochs": 100, "numeric_embedding": "none",
     "input_scaling": "standard"},
]

CNN_PORTFOLIO: list[dict[str, Any]] = [
    # LeNet-style small CNN (LeCun et al. 1998) sized for 8x8-28x28 inputs: two conv
    # blocks 32 -> 64 with batch norm, one 128-unit head, one-cycle schedule.
    {"n_conv_blocks": 2, "conv_channels": [32, 64], "kernel_size": 3, "n_layers": 1,
     "width": [128], "activation": ["relu"], "normalization": "batch", "dropout": 0.1,
     "learning_rate": 2e-3, "lr_schedule": "onecycle", "weight_decay": 1e-4,
     "batch_size": 64, "label_smoothing": 0.0, "epochs": 40, "input_scaling": "global"},
    # One wide conv block and no hidden head: the cheapest strong baseline on digits.
    {"n_conv_blocks": 1, "conv_channels": [64], "kernel_size": 3, "n_layers": 0,
     "width": [], "activation": [], "normalization": "batch", "dropout": 0.0,
     "learning_rate": 3e-3, "lr_schedule": "cosine", "weight_decay": 1e-5,
     "batch_size": 64, "label_smoothing": 0.0, "epochs": 30, "input_scaling": "global"},
]

_PER_LAYER = {"width": "n_layers", "activation": "n_layers", "conv_channels": "n_conv_blocks"}


def portfolio_params(space: SearchSpace, *, size: int | None = None) -> list[dict[str, Any]]:
    """The portfolio for ``space`` as Optuna parameter dicts (only searched parameters),
    clamped into the space, duplicates removed."""
    source = CNN_PORTFOLIO if space.family == "cnn" else TABULAR_PORTFOLIO
    searched = {n for n, s in space.parameters.items() if s["type"] != "fixed"}
    out: list[dict[str, Any]] = []
    for entry in source:
        embedding = entry.get("numeric_embedding", "none")
        if embedding != "none" and space.clamp("numeric_embedding", embedding) != embedding:
            continue  # an embedding entry without the embedding is just another plain MLP
        params: dict[str, Any] = {}
        counts = {}
        for count_name in ("n_layers", "n_conv_blocks"):
            if count_name in entry:
                counts[count_name] = space.clamp(count_name, entry[count_name])
                if count_name in searched:
                    params[count_name] = counts[count_name]
        for name, value in entry.items():
            if name in counts:
                continue
            if name in _PER_LAYER:
                n = counts.get(_PER_LAYER[name], 0)
                if name not in searched or n == 0:
                    continue
                values = list(value) or [space.spec(name).get("low", 64)]
                if not space.per_item(name):  # one shared value, suggested as `name`
                    params[name] = space.clamp(name, values[0])
                    continue
                values = (values + [values[-1]] * n)[:n]
                for i, v in enumerate(values):
                    params[f"{name}_{i}"] = space.clamp(name, v)
            elif name in searched:
                params[name] = space.clamp(name, value)
        if params and params not in out:
            out.append(params)
    if "feature_fraction" in searched:
        # A wide table (priors): the entries keep all, then fewer and fewer of the columns,
        # log-spaced down to the space's least, so that the first trials tell the sampler
        # whether selecting columns pays (on 3,000 rows x 2,000 columns, 20 informative, a
        # fixed network's held-out accuracy was 0.59 with all, 0.75 with 100, 0.90 with 10)
        spec = space.spec("feature_fraction")
        least = spec["low"] if spec["type"] == "float" else min(spec["choices"])
        for i, params in enumerate(out):
            exponent = SHARE_EXPONENTS[i % len(SHARE_EXPONENTS)]
            params["feature_fraction"] = space.clamp("feature_fraction", least ** exponent)
    return out[:size] if size is not None else out


#: The portfolio entries' ``feature_fraction`` where it is searched: ``least ** e``
#: (``priors.screen_feature_fraction`` tries the same shares).
SHARE_EXPONENTS = (0.0, 2 / 3, 1 / 3, 1.0)
