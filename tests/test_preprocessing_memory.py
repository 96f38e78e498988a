"""The scalers' transforms work on row blocks (``TRANSFORM_BLOCK_BYTES``): the same values,
bit for bit, as over the whole table, with float64 temporaries bounded by the block
(review helper-92)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from lepton import preprocessing
from lepton.preprocessing import RobustClipScaler, TabularPreprocessor

D = 6
BLOCK_ROWS = 7  # rows of a block of D float64 columns under ``small_blocks``


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that small tables take several, the last one partial.
    ``raising=False``: the same test runs against a version without blocks (it fails)."""
    monkeypatch.setattr(preprocessing, "TRANSFORM_BLOCK_BYTES", 8 * D * BLOCK_ROWS,
                        raising=False)


def _whole(monkeypatch):
    monkeypatch.setattr(preprocessing, "TRANSFORM_BLOCK_BYTES", 1 << 40, raising=False)


def _table(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D)) * rng.lognormal(size=D) * 5 + rng.normal(size=D) * 100
    if kind == "heavy":
        X = rng.standard_t(1, size=(n, D)) * 1e3
    elif kind == "constant":
        X[:, ::2] = 2.5
    elif kind == "missing":
        X[rng.random((n, D)) < 0.2] = np.nan
        X[0, 1] = np.nan  # every table's fit rows miss one: an indicator column
    elif kind == "binary":
        X = (rng.random((n, D)) < 0.1).astype(np.float64)
    return X


def _same(a, b) -> bool:
    return (a.dtype == b.dtype == np.float32 and a.shape == b.shape
            and np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a, b, equal_nan=True))


def _reference(pre: TabularPreprocessor, X: np.ndarray) -> np.ndarray:
    """The robust scaling over the whole table in float64, as the expression reads."""
    imputer, scaler = (step for _, step in pre.transformer_.steps)
    Xi = imputer.transform(X.astype(np.float64))
    rcs = scaler.scaler_
    z = (Xi[:, :scaler.k_] - rcs.center_) / rcs.scale_
    z = z / np.sqrt(1 + (z / rcs.clip) ** 2)
    return np.hstack([z.astype(np.float32), Xi[:, scaler.k_:].astype(np.float32)])


@pytest.mark.parametrize("kind", ["normal", "heavy", "constant", "missing", "binary"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, BLOCK_ROWS, BLOCK_ROWS + 1, 5 * BLOCK_ROWS + 3])
def test_blocks_give_the_whole_tables_values(small_blocks, kind, dtype, n):
    fit = _table(kind, 40).astype(dtype)
    pre = TabularPreprocessor()
    assert _same(pre.fit_transform(fit), _reference(pre, fit))
    X = _table(kind, n, seed=n).astype(dtype)
    assert _same(pre.transform(X), _reference(pre, X))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf / inf: NaN
@pytest.mark.parametrize("n", [1, BLOCK_ROWS, BLOCK_ROWS + 1, 4 * BLOCK_ROWS + 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_robust_clip_scaler_blocks_with_infinities(small_blocks, monkeypatch, n, dtype):
    fit = _table("heavy", 60)
    X = _table("heavy", n, seed=1)
    X[0, 0], X[-1, -1], X[n // 2, 2] = np.inf, -np.inf, np.nan
    X = X.astype(dtype)
    for kw in ({}, {"clip": 0}, {"tail_threshold": 2.0}):
        scaler = RobustClipScaler(**kw).fit(fit)
        blocked = scaler.transform(X)
        _whole(monkeypatch)
        assert _same(blocked, scaler.transform(X))
        monkeypatch.setattr(preprocessing, "TRANSFORM_BLOCK_BYTES", 8 * D * BLOCK_ROWS)


@pytest.mark.parametrize("scaling", ["robust", "standard", "global"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_scaling_blocks_bit_for_bit(monkeypatch, scaling, dtype):
    fit, X = _table("missing", 50).astype(dtype), _table("missing", 23, seed=3).astype(dtype)
    _whole(monkeypatch)
    pre = TabularPreprocessor(scaling=scaling)
    whole = pre.fit_transform(fit), pre.transform(X)
    monkeypatch.setattr(preprocessing, "TRANSFORM_BLOCK_BYTES", 8 * D * BLOCK_ROWS)
    pre = TabularPreprocessor(scaling=scaling)
    assert _same(pre.fit_transform(fit), whole[0])
    assert _same(pre.transform(X), whole[1])


def test_frames_with_categories_and_dates_block_bit_for_bit(monkeypatch):
    """A frame's numbers and dates' days (a scaler of their own) go through the blocks
    beside the one-hot and target-encoded columns."""
    def frame(n, seed):
        rng = np.random.default_rng(seed)
        return pd.DataFrame({
            "a": rng.normal(size=n), "b": np.where(rng.random(n) < 0.2, np.nan,
                                                   rng.standard_t(1, size=n)),
            "c": rng.choice(["x", "y", "z"], size=n),
            "k": rng.choice([f"k{i}" for i in range(30)], size=n),
            "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        })
    fit, y, X = frame(80, 0), np.random.default_rng(1).normal(size=80), frame(29, 2)
    _whole(monkeypatch)
    pre = TabularPreprocessor()
    whole = pre.fit_transform(fit, y), pre.transform(X)
    monkeypatch.setattr(preprocessing, "TRANSFORM_BLOCK_BYTES", 8 * 3)  # 1 row a block
    pre = TabularPreprocessor()
    assert _same(pre.fit_transform(fit, y), whole[0])
    assert _same(pre.transform(X), whole[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_temporaries_are_bounded_by_the_block(monkeypatch, dtype):
    """Over the whole table the float64 copies peaked at 4x (float64 input) and 6x
    (float32) the float32 output; in blocks of 1 MiB, 1.2-1.7x (the output, the blocks'
    copies, the imputer's mask of the whole table)."""
    monkeypatch.setattr(preprocessing, "TRANSFORM_BLOCK_BYTES", 1 << 20, raising=False)
    X = np.random.default_rng(0).normal(size=(100_000, 20)).astype(dtype)
    X[::97, 3] = np.nan  # the imputer fills them and adds an indicator column
    pre = TabularPreprocessor().fit(X)
    scaler = RobustClipScaler().fit(X)
    for transform in (pre.transform, scaler.transform):
        tracemalloc.start()
        try:
            out = transform(X)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2 * out.nbytes, (transform, peak / out.nbytes)
