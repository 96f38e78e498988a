"""The search on sparse X: a pandas sparse frame read as its matrix, and the fold and
refit preprocessing on the BLAS threads torch gets (review helper-54)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lepton import LeptonClassifier

from _threads import blas_threads, record_preprocessing_threads

from .conftest import TINY_SPACE


def _data(n=240, d=30):
    X = sp.random(n, d, density=0.15, format="csr", random_state=0, dtype=np.float64)
    y = (X @ np.random.default_rng(0).normal(size=d) > 0).astype(int)
    return X, y


def _search(**kwargs):
    # two trials and a refit (ensemble_size=1: no ensemble to prefer), in seconds
    return LeptonClassifier(time_budget=10, n_trials=2, search_space=TINY_SPACE, cv=None,
                            ensemble_size=1, random_state=0, **kwargs)


def test_the_search_reads_a_sparse_frame_as_its_matrix():
    """A 5,000 x 20,000 frame of density 0.001 was read column by column: a 10 s search
    ran 112 s and refused, 'preparing the data took 100.50s'."""
    X, y = _data()
    df = pd.DataFrame.sparse.from_spmatrix(X, columns=[f"f{j}" for j in range(30)])
    clf = _search().fit(df, y)
    assert clf.best_estimator_.preprocessor_.sparse_input_
    assert list(clf.feature_names_in_) == list(df.columns)
    expected = clf.predict_proba(df)
    np.testing.assert_allclose(clf.predict_proba(df.sparse.to_dense()), expected, atol=1e-6)
    with warnings.catch_warnings():  # scikit-learn's: fitted with names, given none
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6)


def test_the_fold_and_refit_preprocessing_run_on_the_threads_torch_gets(monkeypatch):
    """One free core (threads_per_trial): the folds' and the refit's preprocessing ran on
    the BLAS's default threads, one per core; a text column's TruncatedSVD took 1.0-2.7 s
    a fold against 0.23-0.44 s on one thread, and a 15 s search finished its first trial
    at 11 s against 4 s. The caller's BLAS setting is back after fit."""
    from threadpoolctl import threadpool_limits

    import lepton.search.estimators as est

    seen = record_preprocessing_threads(monkeypatch, est)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=240), "b": rng.normal(size=240)})
    y = (X["a"] > 0).astype(int).to_numpy()
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this BLAS does not run 2 threads here")
        clf = _search().fit(X, y)
        assert blas_threads() == {2}
    assert clf.final_choice_ == "refit"
    rows = {n for n, _ in seen}
    assert 240 in rows and len(rows) > 1, seen  # the refit's and the fold's
    assert all(threads == {1} for _, threads in seen), seen
