"""Sparse X: pandas sparse frames read as the matrix they hold, malformed scipy matrices
refused before anything reads their indices, and the preprocessing's BLAS threads limited
as torch's are (review helper-54)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lepton import NeuralNetworkClassifier, NeuralNetworkRegressor
from lepton.preprocessing import TabularPreprocessor, check_X

from _threads import blas_threads, record_preprocessing_threads

TINY = {"hidden_layer_sizes": (8,), "epochs": 3, "random_state": 0, "device": "cpu"}


def _sparse(n=200, d=40, seed=0):
    X = sp.random(n, d, density=0.1, format="csr", random_state=seed, dtype=np.float64)
    y = (X @ np.random.default_rng(seed).normal(size=d) > 0).astype(int)
    return X, y


def _frame(X, names=True):
    columns = [f"f{j}" for j in range(X.shape[1])] if names else None
    return pd.DataFrame.sparse.from_spmatrix(X, columns=columns)


# -- pandas sparse frames --------------------------------------------------------------------
def test_a_frame_of_sparse_columns_is_read_as_its_matrix():
    """Read column by column, each sparse column was made dense, imputed and robust-scaled:
    a 5,000 x 20,000 frame of density 0.001 (1.1 MB) took 73 s and 3.9 GB, its matrix 34 s
    and 614 MB. Now the frame is its matrix, its column names the feature names, and the
    model predicts the frame, a dense frame of its columns or the matrix alike."""
    X, y = _sparse()
    df = _frame(X)
    model = NeuralNetworkClassifier(**TINY).fit(df, y)
    assert model.preprocessor_.sparse_input_
    assert model.preprocessor_.n_features_out_ == 40  # no missing-value indicators
    assert list(model.feature_names_in_) == list(df.columns)
    # the same model as one fitted on the matrix
    on_matrix = NeuralNetworkClassifier(**TINY).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(df), on_matrix.predict_proba(X), atol=1e-6)
    expected = model.predict_proba(df)
    np.testing.assert_array_equal(model.predict_proba(df.sparse.to_dense()), expected)
    np.testing.assert_allclose(model.predict_proba(df.iloc[:7]), expected[:7], atol=1e-6)
    with warnings.catch_warnings():  # scikit-learn's: fitted with names, given none
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        np.testing.assert_array_equal(model.predict_proba(X), expected)
        np.testing.assert_array_equal(model.predict(X), model.predict(df))
    # its columns in another order are refused, as a dense frame's are
    with pytest.raises(ValueError, match="feature names"):
        model.predict(df[df.columns[::-1]])


def test_a_sparse_frame_without_names_and_of_mixed_subtypes_is_read_as_a_matrix():
    """from_spmatrix's default columns 0, 1, ... are no feature names (a dense frame's are
    not either), and booleans beside floats, which ``to_coo`` makes an object array scipy
    refuses, are read as numbers."""
    X, y = _sparse()
    df = _frame(X, names=False)
    df[0] = pd.arrays.SparseArray(np.arange(200) % 7 == 0, fill_value=False)
    model = NeuralNetworkRegressor(**TINY).fit(df, y.astype(float))
    assert model.preprocessor_.sparse_input_ and not hasattr(model, "feature_names_in_")
    matrix = check_X(df)
    assert sp.issparse(matrix) and matrix[:, 0].sum() == (np.arange(200) % 7 == 0).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no names at fit: the matrix predicts without a word
        np.testing.assert_array_equal(model.predict(matrix), model.predict(df))


def test_the_preprocessor_keeps_a_sparse_frame_sparse():
    X, _ = _sparse()
    pre = TabularPreprocessor().fit(_frame(X))
    assert pre.sparse_input_
    out = pre.transform(_frame(X[:10]))
    assert sp.issparse(out)
    np.testing.assert_array_equal(out.toarray(), pre.transform(X[:10]).toarray())


def test_a_sparse_frame_with_a_missing_value_is_read_column_by_column_as_before():
    """As its matrix, a NaN was refused, also at predict by a model fitted before on such
    a frame, or on a dense one, which had imputed it (review helper-59): a frame holding a
    missing value is read column by column, imputed, as before (and said at fit)."""
    X, y = _sparse()
    X.data[3] = np.nan
    with pytest.warns(UserWarning, match=r"or holding missing values: it is read column by "
                                         r"column"):
        model = NeuralNetworkClassifier(**TINY).fit(_frame(X), y)
    assert not model.preprocessor_.sparse_input_
    dense = NeuralNetworkClassifier(**TINY).fit(_frame(X).sparse.to_dense(), y)
    for fitted in (model, dense):
        assert fitted.predict(_frame(X)).shape == (len(y),)


def test_a_frame_of_sparse_and_dense_columns_is_made_dense_with_a_warning():
    """Sparse columns beside dense ones (or of implicit value NaN, missing values) cannot be
    one sparse matrix: the frame is read column by column, as before, but said, with the
    way to keep X sparse."""
    X, y = _sparse(d=8)
    df = _frame(X)
    df["price"] = np.linspace(0, 1, 200)
    with pytest.warns(UserWarning, match=r"X has 8 pandas sparse column\(s\) \('f0', 'f1', "
                                         r"'f2', 'f3', 'f4', \.\.\.\) beside 1 dense column\(s\) "
                                         r"\('price'\): it is read column by column, each "
                                         r"sparse column made dense \(200 x 8 values\).*"
                                         r"or a scipy sparse matrix"):
        model = NeuralNetworkClassifier(**TINY).fit(df, y)
    assert not model.preprocessor_.sparse_input_ and model.predict(df).shape == (200,)
    missing = pd.DataFrame({"a": pd.arrays.SparseArray(np.where(np.arange(200) % 3, 1.0,
                                                                np.nan))})
    assert np.isnan(missing.dtypes["a"].fill_value)
    with pytest.warns(UserWarning, match=r"\('a'\) not all of numbers with implicit value 0.*"
                                         r"NaN fill values are missing values"):
        model = NeuralNetworkClassifier(**TINY).fit(missing, y)
    assert not model.preprocessor_.sparse_input_  # the NaNs imputed, not read as 0


# -- malformed scipy matrices ----------------------------------------------------------------
_BAD_FIT = """
import numpy as np, scipy.sparse as sp
from lepton import NeuralNetworkClassifier
X = sp.random(300, 50, density=0.1, format="csr", random_state=0)
y = np.arange(300) % 2
X.indices = X.indices.copy()
{change}
try:
    NeuralNetworkClassifier(hidden_layer_sizes=(4,), epochs=1, device="cpu").fit(X, y)
    print("FIT OK")
except ValueError as error:
    print("ValueError:", error)
"""


@pytest.mark.parametrize("change, message", [
    ("X.indices[0] = 55", (r"X \(a 300 x 50 scipy sparse csr matrix\) has column index 55 "
                           r"in row 0 \(X.indices\[0\]\); its columns are 0-49\. Fix the")),
    ("X.indices[4] = -1", r"has column index -1 in row \d+ \(X.indices\[4\]\)"),
    ("X.indptr = X.indptr.copy(); X.indptr[-1] += 10",
     r"X.indptr running from 0 to 1510, not from 0 up to at most the 1500 entries"),
    ("X = X.tocsc(); X.indices[2] = 300", r"csc matrix\) has row index 300 in column 0"),
    ("X = X.tocoo(); X.coords[1][5] = 50", r"coo matrix\) has column index 50, outside 0-49"),
])
def test_a_malformed_sparse_matrix_is_refused(change, message):
    """A column index past the last column aborted the process (``malloc(): unsorted double
    linked list corrupted``, rc 134), a negative one was read from the end without a word:
    the fit runs in a subprocess so that the old abort fails this test, not the suite."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_BAD_FIT).format(
        change=change)], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ValueError:" in run.stdout, run.stdout
    assert re.search(message, run.stdout), run.stdout


@pytest.mark.filterwarnings("ignore:Constructing a DIA matrix")
def test_a_well_formed_sparse_matrix_of_any_format_passes_the_check():
    X, _ = _sparse()
    X.indices = X.indices.copy()
    for fmt in ("csr", "csc", "coo", "bsr", "lil", "dok", "dia"):
        np.testing.assert_array_equal(check_X(X.asformat(fmt)).toarray(),
                                      X.toarray().astype(np.float32))
    np.testing.assert_array_equal(check_X(sp.csr_array(X)).toarray(),
                                  X.toarray().astype(np.float32))
    # an indptr stopping short of its arrays' ends is well-formed: the rest is unused
    short = sp.csr_matrix((np.r_[X.data, 9.0], np.r_[X.indices, 0], X.indptr), shape=X.shape)
    np.testing.assert_array_equal(check_X(short).toarray(), X.toarray().astype(np.float32))


# -- BLAS threads of the preprocessing -------------------------------------------------------
def test_a_fits_preprocessing_runs_on_the_threads_torch_gets(monkeypatch):
    """One free core: a text column's TruncatedSVD on the BLAS's default threads (one per
    core) took 1.0-2.7 s a fold on a busy 2-core machine, 0.23-0.44 s on one. The caller's
    BLAS setting is back after fit."""
    from threadpoolctl import threadpool_limits

    import lepton.estimators._base as base

    seen = record_preprocessing_threads(monkeypatch, base)
    X, y = _sparse()
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this BLAS does not run 2 threads here")
        NeuralNetworkClassifier(**TINY).fit(X.toarray(), y)
        assert blas_threads() == {2}
    assert seen and all(threads == {1} for _, threads in seen), seen


def test_a_one_dimensional_sparse_array_gets_scikit_learns_2d_error():
    """The structure check read X.shape[1] first: an IndexError (review helper-59)."""
    from lepton.preprocessing import check_X

    with pytest.raises(ValueError, match="Expected 2D input"):
        check_X(sp.csr_array(np.array([1.0, 0.0, 2.0])))
