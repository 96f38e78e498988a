"""Data-aware priors: meta-features of the data choose the space family and its bounds.

Rules, each with its reason:

- image-shaped input (``input_shape`` with 2-3 dims, all numeric, no missing) -> ``cnn``;
  everything else -> ``mlp`` (which also searches skip connections).
- width cap grows with the rows: < 1,000 rows -> 256, < 10,000 -> 512, else 1,024
  (wide nets on small tables only add variance and time).
- depth cap: < 1,000 rows -> 3 layers (same reason).
- batch sizes: only those giving at least 8 steps per epoch (fewer makes an epoch a
  handful of noisy updates), at most n_train / 8; plus 1024 dropped below 20,000 rows.
- epochs: small tables need more passes (each epoch is a few steps): the upper bound is
  max(40, 200 * min(1, 5000 / n_train)) clipped into the space's own range.
- many features per row (p / n > 0.1) -> dropout and weight-decay upper bounds are raised
  (only where the user did not give the parameter, see the last rule); with at least 50
  columns, a built-in tabular space also searches ``feature_fraction`` (log scale, from 5
  columns to all of them; the warm-start entries spread over it, see ``portfolio``): the
  trial keeps that share of the preprocessed columns, those a univariate F-test on its
  training rows ranks first; unless a ridge model validates better on every column than on
  the best few (:func:`screen_feature_fraction`), the mark of many weakly informative
  columns, where the trials spent on fewer columns were lost. A network on a few thousand
  rows drowns a few informative columns among many: 3,000 rows x 2,000 columns (20
  informative, sklearn's make_classification), a fixed 2x256 network's held-out accuracy
  was 0.59 with every column, 0.75 with the best 100 and 0.90 with the best 10 (a logistic
  regression's 0.65, gradient boosting's 0.88 on all).
- regression drops ``label_smoothing``, and a built-in space (or one built on a built-in
  through ``base``, or an override of one) searches ``input_scaling``
  (robust + clip or standard) for it, except on sparse input (max-abs scaled either way,
  so the choice would change nothing). Measured (stop 10, same machine, seeds 0-9, against
  the spaces without it): california_synthetic 9-0-1 at 30 s and 7-0-3 at 120 s, diabetes
  5-0-5 and 6-0-4; dev splits 100-105: california_synthetic 5-0-1 and 3-0-3, diabetes
  5-0-1 and 4-0-2; with a fixed network, standard beat robust on california_synthetic 5-1.
  Classification keeps robust only: searching it there lost 12-26-22 on digits,
  breast_cancer and wine (my reading, not measured: out-of-fold accuracy on a few hundred
  rows is too coarse to choose it). benchmarks/results/search_benchmark.md, Notes.
  Choosing it before the search by a logistic regression's out-of-fold log loss (stop 22)
  picked standard on wine, where fixed models make ~40% fewer test errors with it, and
  still lost 9-12 seed by seed in the search (benchmarks/results/dev/scaling_probe_stop22.md).
- periodic numeric embeddings only for narrow tables (<= 32 columns, and <= 32 inputs once
  preprocessed: one-hot columns count; :func:`limit_embeddings`): they multiply the
  first layer's inputs by ``embedding_dim`` (a 64-pixel digit becomes 1,024 inputs at
  dim 16), and their gain is on few, informative numeric features (california_synthetic:
  R^2 0.744 -> 0.760 with 8 features).
- a user-given space keeps its family; the bounds of the parameters the user gave
  (``SearchSpace.user_given``: written in the space, an override or a user file up the
  ``base`` chain) are only ever narrowed, never widened, and the fit warns once naming
  those it narrowed, as written, as searched and why (:func:`narrowing_note`; a built-in
  space's own bounds are adapted without a word). The widening rules above apply
  to the parameters a built-in space supplies; a space written from scratch has no such
  parameters, so it is only narrowed.
- a cap keeps an int range on its grid (``low + k * step``), and a range whose ``low`` is
  above the cap is narrowed to ``low``, as a categorical keeps its smallest choice.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..preprocessing import TABLE_SCALINGS, kept_columns
from .portfolio import SHARE_EXPONENTS
from .spaces import SearchSpace, _yaml_flow, load_search_space

__all__ = ["MetaFeatures", "compute_meta_features", "choose_space", "apply_priors",
           "limit_embeddings", "narrowing_note", "screen_feature_fraction",
           "MAX_EMBEDDED_FEATURES", "WIDE_MIN_FEATURES", "MIN_KEPT_FEATURES"]

#: Tables with more input columns than this are not offered periodic embeddings.
MAX_EMBEDDED_FEATURES = 32
#: A table of at least this many columns, and more than one per ten rows, searches
#: ``feature_fraction`` down to ``MIN_KEPT_FEATURES`` columns.
WIDE_MIN_FEATURES = 50
MIN_KEPT_FEATURES = 5


@dataclass(frozen=True)
class MetaFeatures:
    n_rows: int
    n_features: int
    n_classes: int              # 0 for regression
    task: str
    categorical_ratio: float    # share of categorical/string columns
    missing_ratio: float        # share of missing cells
    sparse: bool
    input_shape: tuple[int, ...] | None
    class_imbalance: float      # largest / smallest class count; 1 for regression

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape) if self.input_shape else None
        return d


def compute_meta_features(X: Any, y_encoded: np.ndarray, task: str, *,
                          input_shape: Any = None) -> MetaFeatures:
    n_rows, n_features = X.shape[0], int(np.prod(X.shape[1:]))
    cat_ratio = missing = 0.0
    if isinstance(X, pd.DataFrame):
        kinds = [not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
                 for c in X.columns]
        cat_ratio = float(np.mean(kinds)) if kinds else 0.0
        missing = float(X.isna().to_numpy().mean()) if X.size else 0.0
    elif not sp.issparse(X):
        arr = np.asarray(X)
        if arr.dtype.kind == "f":
            missing = float(np.isnan(arr).mean())
        elif arr.dtype.kind == "O":
            missing = float(pd.isna(pd.DataFrame(arr.reshape(n_rows, -1))).to_numpy().mean())
            cat_ratio = 1.0
    n_classes, imbalance = 0, 1.0
    if task == "classification" and y_encoded.ndim == 2:  # multilabel: one column a label
        positives = y_encoded.sum(0)
        n_classes = y_encoded.shape[1]
        rare = np.minimum(positives, n_rows - positives)
        imbalance = float(np.max(np.maximum(positives, n_rows - positives)
                                 / np.maximum(rare, 1)))
    elif task == "classification":
        counts = np.bincount(y_encoded)
        counts = counts[counts > 0]
        n_classes = len(counts)
        imbalance = float(counts.max() / counts.min())
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
    if shape is None and not sp.issparse(X) and getattr(X, "ndim", 2) > 2:
        shape = tuple(int(s) for s in X.shape[1:])
    return MetaFeatures(n_rows=n_rows, n_features=n_features, n_classes=n_classes, task=task,
                        categorical_ratio=cat_ratio, missing_ratio=missing,
                        sparse=bool(sp.issparse(X)), input_shape=shape,
                        class_imbalance=imbalance)


def choose_space(search_space: Any, meta: MetaFeatures) -> SearchSpace:
    """The space to search: 'auto' picks a built-in family from the meta-features."""
    if isinstance(search_space, str) and search_space == "auto":
        image = (meta.input_shape is not None and len(meta.input_shape) in (2, 3)
                 and meta.missing_ratio == 0 and meta.categorical_ratio == 0 and not meta.sparse)
        return load_search_space("cnn" if image else "mlp")
    return load_search_space(search_space)


def _cap_high(spec: dict[str, Any], cap: float) -> None:
    if spec["type"] == "int":
        # high stays on the grid low + k * step (Optuna warns and moves it otherwise), and
        # a low above the cap leaves the lowest value (k = 0)
        low, step = spec["low"], spec.get("step", 1)
        top = max(min(spec["high"], cap), low)
        spec["high"] = int(low + (top - low) // step * step)
    elif spec["type"] == "float":
        spec["high"] = max(min(spec["high"], cap), spec["low"])
    elif spec["type"] == "categorical" and all(isinstance(c, (int, float)) and not isinstance(
            c, bool) for c in spec["choices"]):
        kept = [c for c in spec["choices"] if c <= cap]
        spec["choices"] = kept or [min(spec["choices"])]


def _raise_high(spec: dict[str, Any], floor: float) -> None:
    if spec["type"] == "float":
        spec["high"] = max(spec["high"], floor)


def _caps(meta: MetaFeatures, n_train: int) -> dict[str, tuple[int, str]]:
    """The upper bounds the data set (the rules of the module docstring): name -> (cap,
    the reason, as :func:`narrowing_note` tells it)."""
    width, below = ((256, " below 1,000 rows") if meta.n_rows < 1000 else
                    (512, " below 10,000 rows") if meta.n_rows < 10_000 else (1024, ""))
    small = "on small tables add variance and time"
    caps = {"width": (width, f"at most {width:,} units a layer{below}: wide networks {small}")}
    if meta.n_rows < 1000:
        caps["n_layers"] = (3, f"at most 3 hidden layers below 1,000 rows: deep networks {small}")
    batch = max(16, n_train // 8)
    if meta.n_rows < 20_000:
        batch = min(batch, 512)
    below = " (512 at most below 20,000 rows)" if batch == 512 and n_train // 8 > 512 else ""
    caps["batch_size"] = (batch, (f"at most {batch} rows per batch, so that an epoch of "
                                  f"{n_train:,} training rows takes at least 8 steps{below}"))
    epochs = max(40, int(200 * min(1.0, 5000 / max(n_train, 1))))
    caps["epochs"] = (epochs, (f"at most {epochs} epochs for {n_train:,} training rows (200 "
                               "up to 5,000 rows, fewer on larger tables, at least 40)"))
    return caps


def apply_priors(space: SearchSpace, meta: MetaFeatures, *, n_train: int) -> SearchSpace:
    """A copy of ``space`` with bounds adapted to the data (see the module docstring)."""
    params = copy.deepcopy(space.parameters)
    for name, (cap, _) in _caps(meta, n_train).items():
        if name in params:
            _cap_high(params[name], cap)
    if meta.n_features / max(meta.n_rows, 1) > 0.1:
        # the user's own bounds are only narrowed: widen what a built-in space supplied
        for name, floor in (("dropout", 0.5), ("weight_decay", 5e-2)):
            if name in params and name not in space.user_given:
                _raise_high(params[name], floor)
    if (space.builtin is not None and space.family != "cnn" and "feature_fraction" not in params
            and meta.n_features >= WIDE_MIN_FEATURES
            and meta.n_features / max(meta.n_rows, 1) > 0.1):
        params["feature_fraction"] = {"type": "float", "log": True, "high": 1.0,
                                      "low": MIN_KEPT_FEATURES / meta.n_features}
    if meta.task != "classification":
        params.pop("label_smoothing", None)
        # {"base": "mlp", ...} and load_search_space("mlp").override(...) alike
        if (space.builtin is not None and "input_scaling" not in params
                and not meta.sparse):
            params["input_scaling"] = {"type": "categorical", "choices": list(TABLE_SCALINGS)}
    out = replace(space, parameters=params, user_given=space.user_given & set(params),
                  _cache={})
    return limit_embeddings(out, meta.n_features)


def narrowing_note(given: SearchSpace, searched: SearchSpace, meta: MetaFeatures, *,
                   n_train: int, n_inputs: int) -> str | None:
    """What the priors narrowed of the parameters the user gave (``given.user_given``), as
    one message for the fit to warn with: each parameter as written, as searched, and why;
    None where nothing of theirs was narrowed. A built-in space's own parameters are
    adapted without a word (the README says so); a user's own bounds are theirs."""
    caps = _caps(meta, n_train)
    reasons = {name: reason for name, (_, reason) in caps.items()}
    reasons["numeric_embedding"] = (
        f"periodic embeddings only for at most {MAX_EMBEDDED_FEATURES} input columns (one-hot "
        f"columns counted): the data has {n_inputs:,}")
    said = []
    for name in sorted(given.user_given):
        before, after = given.parameters.get(name), searched.parameters.get(name)
        if before is None or after is None or before == after:
            continue  # label_smoothing leaves regression: the README says so
        why = reasons.get(name, "the data-aware priors")
        if name in caps and before["type"] != "fixed" and _lowest(before) > caps[name][0]:
            why += f"; every value you gave is above {caps[name][0]}: the lowest is kept"
        said.append(f"{name} {_bounds(before)} -> {_bounds(after)} ({why})")
    if not said:
        return None
    return (f"search_space: the data-aware priors narrowed {len(said)} parameter(s) you gave "
            f"to the data ({meta.n_rows:,} rows x {meta.n_features:,} columns); searched: "
            + "; ".join(said) + ". Give bounds within these to search what you wrote (the "
            "rules: lepton/search/priors.py).")


def _bounds(spec: dict[str, Any]) -> str:
    if spec["type"] == "categorical":
        return _yaml_flow(spec["choices"])
    if spec["type"] == "fixed":
        return _yaml_flow([spec["value"]])
    return f"[{spec['low']}, {spec['high']}]"


def _lowest(spec: dict[str, Any]) -> Any:
    return min(spec["choices"]) if spec["type"] == "categorical" else spec["low"]


def limit_embeddings(space: SearchSpace, n_inputs: int) -> SearchSpace:
    """``space`` without periodic embeddings where the network has more than
    ``MAX_EMBEDDED_FEATURES`` inputs: the columns (:func:`apply_priors`), then again the
    preprocessed inputs, once known (30 columns, 5 of them categorical, gave 115 one-hot
    and numeric inputs, 3,680 after the embedding: such a trial predicted its validation
    rows in 2.3 s). A user's fixed choice stays as it is."""
    spec = space.parameters.get("numeric_embedding")
    if (spec is None or n_inputs <= MAX_EMBEDDED_FEATURES or spec["type"] != "categorical"
            or "none" not in spec["choices"] or spec["choices"] == ["none"]):
        return space
    params = {**space.parameters, "numeric_embedding": {**spec, "choices": ["none"]}}
    return replace(space, parameters=params, _cache={})


def screen_feature_fraction(space: SearchSpace, fold: Any, task: str, *,
                            time_left: Callable[[], float] | None = None) -> SearchSpace:
    """``space`` without the ``feature_fraction`` the priors gave it where keeping fewer
    columns does not look promising: a ridge model (``RidgeCV``, or ``RidgeClassifierCV``
    for classes) on ``fold``'s training rows validates better on every column than on the
    best ``k`` for each ``k`` the warm start tries (:mod:`.portfolio`). Dropped, the
    search is the one of a table without the rule: its trials are not spent on shares of
    the columns that a linear model already finds worse (on 3,000 x 1,000 with 800
    weakly informative columns: R^2 0.98 with all against 0.03-0.32 with the best 5-171,
    where the search lost 0.97 -> 0.80-0.84 trying them). Where the rows hold a few
    informative columns among many, fewer columns win: 0.62-0.69 accuracy with all
    against 0.78-0.83 with the best 37 (20 informative of 2,000); R^2 0.80-0.86 against
    0.98-0.99. A user's own ``feature_fraction`` stays; multilabel and sparse input keep
    the parameter unscreened. Costs a few ridge fits: ~2 s on 2,400 x 2,000 (busy
    machine), ~0.1 s on 400 x 64; 4.7-7.2 s on 1,600 x 3,000 under load, so ``time_left``
    (seconds the search has left, a callable) stops it where the next fit might not end
    in them: the parameter then stays, unscreened."""
    spec = space.parameters.get("feature_fraction")
    if (spec is None or "feature_fraction" in space.user_given or spec["type"] != "float"
            or fold.ranking is None or task == "multilabel" or fold.train.X is None):
        return space
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV

    X_train, X_valid = fold.train.X.cpu().numpy(), fold.valid.X.cpu().numpy()
    y_train, y_valid = fold.train.y.cpu().numpy(), fold.valid.y.cpu().numpy()
    model = RidgeCV if task == "regression" else RidgeClassifierCV
    alphas = np.logspace(-1, 4, 11)

    def score(columns) -> float:
        fitted = model(alphas=alphas).fit(X_train[:, columns], y_train)
        return float(fitted.score(X_valid[:, columns], y_valid))

    if time_left is not None and time_left() <= 0:
        return space
    t0 = time.perf_counter()
    every = score(slice(None))
    slowest = time.perf_counter() - t0  # fewer columns fit faster
    for exponent in sorted(set(SHARE_EXPONENTS) - {0.0}):  # the warm start's shares
        if time_left is not None and time_left() < 1.5 * slowest:
            return space
        columns = kept_columns(fold.ranking, spec["low"] ** exponent)
        if columns is not None and score(columns) > every:
            return space
    params = {name: s for name, s in space.parameters.items() if name != "feature_fraction"}
    return replace(space, parameters=params, _cache={})


def expected_epochs(space: SearchSpace) -> int:
    spec = space.spec("epochs")
    if spec["type"] == "fixed":
        return int(spec["value"])
    if spec["type"] == "categorical":
        return int(max(spec["choices"]))
    return int(spec["high"])

