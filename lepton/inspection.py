"""Which input columns a fitted model relies on: permutation importance on held-out rows.

A network has no built-in importances; the model-agnostic measure is how much its score
drops when one column's values are shuffled across the rows (scikit-learn's
``permutation_importance``, which does the shuffling and scoring). Lepton's models take
the raw table and preprocess it themselves, so the importances are those of the columns
as given (a date or text column counts once, not as the numbers made of it).

>>> import numpy as np
>>> from lepton import NeuralNetworkClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(600, 3))
>>> y = (X[:, 1] > 0).astype(int)  # only the column x1 decides
>>> clf = NeuralNetworkClassifier(epochs=30, random_state=0).fit(X[:400], y[:400])
>>> table = permutation_importances(clf, X[400:], y[400:])
>>> list(table.columns), table.feature[0], bool(table.importance[0] > 0.3)
(['feature', 'importance', 'std'], 'x1', True)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["permutation_importances", "format_importances"]

#: held-out rows scored per shuffle at most (a fixed random sample of larger sets): the
#: cost is (columns x repeats + 1) predictions of these rows
MAX_ROWS = 2000


def permutation_importances(model: Any, X: Any, y: Any, *, sample_weight: Any = None,
                            n_repeats: int = 5, max_rows: int = MAX_ROWS,
                            random_state: int = 0,
                            time_limit: float | None = None) -> pd.DataFrame:
    """The drop in ``model.score`` (accuracy for a classifier, R^2 for a regressor,
    weighted by ``sample_weight`` where given) when each column of ``X`` is shuffled,
    averaged over ``n_repeats`` shuffles, on at most ``max_rows`` rows of ``X`` (held-out
    rows: on the training rows a network's reliance on noise looks like importance).

    ``time_limit`` (seconds): fewer shuffles per column, down to one, and then fewer rows,
    down to 200, where one scoring of the rows times the shuffles would take longer (a
    large ensemble of networks on many columns: 64 pixels of digits, 5 shuffles, took 34 s).

    Returns a DataFrame sorted by importance, one row per column: ``feature`` (the
    DataFrame's column name, or ``x0``, ``x1``, ... for an array), ``importance`` (the mean
    drop; near 0 or below: the model does not use the column, or another column carries
    the same information) and ``std`` (over the shuffles); ``table.attrs`` holds the
    ``rows`` scored and the ``repeats`` made.
    """
    from sklearn.inspection import permutation_importance

    if sp.issparse(X):
        raise ValueError("permutation importances need a dense table (one shuffle per "
                         "column); X is a sparse matrix.")
    if n_repeats < 1 or max_rows < 2:
        raise ValueError(f"n_repeats={n_repeats} and max_rows={max_rows}: need n_repeats "
                         ">= 1 and max_rows >= 2.")
    frame = X if isinstance(X, pd.DataFrame) else None
    array = None if frame is not None else np.asarray(X)
    if array is not None and array.ndim != 2:
        raise ValueError(f"X must be a table (2-D: rows x columns); got shape {array.shape}.")
    X = frame if frame is not None else array
    y = np.asarray(y)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if len(y) > max_rows:
        X, y, w = _sample_rows(X, y, w, max_rows, random_state)
    names = ([str(c) for c in frame.columns] if frame is not None
             else [f"x{i}" for i in range(array.shape[1])])
    if time_limit is not None:
        started = time.perf_counter()
        model.score(X, y, sample_weight=w)
        per_round = (time.perf_counter() - started) * len(names)  # one shuffle per column
        n_repeats = max(1, min(n_repeats, int(time_limit / max(per_round, 1e-9))))
        if per_round > time_limit and len(y) > 200:
            keep = max(200, int(len(y) * time_limit / per_round))
            X, y, w = _sample_rows(X, y, w, keep, random_state)
    result = permutation_importance(model, X, y, n_repeats=n_repeats,
                                    random_state=random_state, sample_weight=w)
    table = pd.DataFrame({"feature": names, "importance": result.importances_mean,
                          "std": result.importances_std})
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs.update(rows=len(y), repeats=n_repeats)
    return table


def _sample_rows(X, y: np.ndarray, w: np.ndarray | None, keep: int, seed: int):
    """``keep`` of the rows, drawn at random (``seed``), in their order."""
    rows = np.sort(np.random.default_rng(seed).choice(len(y), keep, replace=False))
    X = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
    return X, y[rows], (None if w is None else w[rows])


def format_importances(table: pd.DataFrame, top: int, score: str) -> list[str]:
    """Lines for the shell: the ``top`` columns of ``table``, the drop in ``score``."""
    width = max(len(name) for name in table.feature[:top])
    scored = (f", {table.attrs['repeats']} shuffle(s) of {table.attrs['rows']} rows"
              if "rows" in table.attrs else "")
    lines = [f"column importance (drop in held-out {score} when the column is shuffled; "
             f"{len(table)} columns, top {min(top, len(table))}{scored}):"]
    lines += [f"  {row.feature:<{width}}  {row.importance:+.4f} ± {row.std:.4f}"
              for row in table.head(top).itertuples()]
    return lines
