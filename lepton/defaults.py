"""Default hyperparameters, in one place, each with where it comes from.

The estimators' signatures read these constants, and the search's warm-start portfolio
lives in :mod:`lepton.search.portfolio`.
"""

from __future__ import annotations

# Two hidden layers of 256: the MLP baseline of Gorishniy et al. 2021 ("Revisiting Deep
# Learning Models for Tabular Data") uses 1-8 layers of 64-512; 2x256 was a robust middle
# in our runs on the scikit-learn datasets (benchmarks/core_throughput.py data).
HIDDEN_LAYER_SIZES = (256, 256)
ACTIVATION = "relu"
DROPOUT = 0.0
NORMALIZATION = "none"

# AdamW at 1e-3 (Kingma & Ba 2015; Loshchilov & Hutter 2019) with weight decay 1e-4 and
# a cosine schedule with 5% linear warmup (the schedule of RealMLP-TD and of most modern
# tabular NN baselines).
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
LR_SCHEDULE = "cosine"
WARMUP_FRACTION = 0.05
# AdamW's betas as PyTorch (and Kingma & Ba 2015) set them; the search tunes beta1.
BETA1 = 0.9

# Batch size 128 for tables under ~50k rows is the common choice of the tabular DL
# benchmarks above; 'auto' grows it with the data (rows // 100, capped at 1024) so big
# tables do not pay per-step overhead.
BATCH_SIZE = "auto"
EPOCHS = 100

# Early stopping on a 10% validation split with patience 10 is scikit-learn's
# MLPClassifier convention (validation_fraction=0.1, n_iter_no_change=10).
VALIDATION_FRACTION = 0.1
PATIENCE = 10
# Early stopping on a handful of validation rows picks its "best" epoch by noise. friedman1,
# 5-2 net, 100 epochs, batch 10, medians of 3 seeds, test R^2 with / without early stopping:
# 10 validation rows 0.02 / 0.43, 20 rows 0.60 / 0.60, 40 rows 0.68 / 0.71, 100 rows
# 0.83 / 0.84. 30 is a judgement between the collapse at 10 and parity at 100.
MIN_EARLY_STOPPING_ROWS = 30

# Clip the global gradient norm at 1.0: cheap insurance against divergence on
# unscaled targets or large learning rates (standard since Pascanu et al. 2013).
GRADIENT_CLIP = 1.0

# One-hot up to 16 categories; wider categorical columns one-hot too while the one-hot
# block holds at most ONEHOT_CELLS cells (rows x columns), target-encoded beyond that
# (lepton.preprocessing). Before stop 26 every column past 16 values got ordinal codes:
# with a fixed network on a 300-level column carrying most of the signal, held-out R^2
# 0.33-0.38 against 0.88-0.90 one-hot (benchmarks/dev/categorical_encoding.py).
MAX_ONEHOT_CARDINALITY = 16
ONEHOT_CELLS = 20_000_000

# The widest hidden layer a network may have, given (hidden_layer_sizes, an architecture)
# or searched: a width of 10**9 was taken and the process killed for its 16 GB of weights
# (review helper-80); 65,536 units of a 65,536-wide input are 17 GB in float32 already.
MAX_WIDTH = 65536

# Classification is inferred from y (lepton.NeuralNetwork, task='auto') when the target
# is non-numeric, boolean, or integral with at most this many distinct values.
MAX_CLASSES_AUTO = 20


def auto_batch_size(n_samples: int) -> int:
    """Batch size for ``batch_size='auto'``: 128, growing with the data, at most 1024."""
    return int(min(1024, max(128, n_samples // 100)))
