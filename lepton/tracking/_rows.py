"""Row fingerprints: which of today's held-out rows a registered model was fitted on.

A scheduled run compares its model with the registry's champion on its own held-out rows
(:meth:`lepton.tracking.MLflowTracker.promote_on_held_out`). The champion was fitted on
an older version of the table, and a random split of a table that grew holds out rows the
champion trained on: scored on those, it looks better than it is. So a registered version
keeps a 64-bit hash of each of its training rows (features and target), and the comparison
uses the held-out rows whose hash the champion's list lacks.

The hash reads values, not how a file happened to be parsed: numbers are hashed as float64
(a column read as integers one week and as floats the next, once a blank appeared, hashes
alike), and a row is hashed over the columns the model reads, in its order (a column
added to the table since, moved, or one the model leaves out, such as an identifier,
changes nothing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["row_hashes", "row_fingerprints"]


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    columns = {}
    for i, name in enumerate(frame.columns):
        col = frame.iloc[:, i]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            # nullable integers and booleans too; <NA> becomes NaN
            col = pd.Series(pd.to_numeric(col, errors="coerce"), index=frame.index,
                            dtype="float64")
        columns[i] = col
    return pd.DataFrame(columns, index=frame.index)


def row_hashes(X: Any, y: Any = None) -> np.ndarray | None:
    """A uint64 hash of each row of ``X`` with its target(s) ``y``; None for sparse input
    (not fingerprinted: the comparison falls back to validation scores)."""
    if sp.issparse(X) or (isinstance(X, pd.DataFrame) and any(
            isinstance(dtype, pd.SparseDtype) for dtype in X.dtypes)):
        return None
    frame = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else \
        pd.DataFrame(np.asarray(X).reshape(len(X), -1))
    if y is not None:
        boolean = [] if not isinstance(y, pd.DataFrame) else [
            c for c, d in y.dtypes.items() if pd.api.types.is_bool_dtype(d)]
        if 0 < len(boolean) < y.shape[1]:  # True/False labels beside 0/1 ones as 1/0, as
            # the table loader gave them before stop 42 (a frame of both made objects,
            # whose hashes no champion's matched: review helper-76)
            y = y.astype({c: np.int64 for c in boolean})
        target = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
        target = pd.DataFrame(target.reshape(len(target), -1))
        frame = pd.concat([frame.set_axis(range(frame.shape[1]), axis=1),
                           target.set_axis(range(frame.shape[1], frame.shape[1]
                                                 + target.shape[1]), axis=1)], axis=1)
    return pd.util.hash_pandas_object(_normalised(frame), index=False).to_numpy(np.uint64)


def row_fingerprints(X: Any, y: Any = None) -> np.ndarray | None:
    """The sorted, distinct :func:`row_hashes` of a model's training rows (None: sparse)."""
    hashes = row_hashes(X, y)
    return None if hashes is None else np.unique(hashes)
