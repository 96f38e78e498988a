"""Row hashes: the same row hashes alike however its file was parsed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lepton.tracking._rows import row_fingerprints, row_hashes


def test_numbers_hash_alike_as_integers_floats_and_nullable_integers():
    ints = pd.DataFrame({"rooms": [3, 4, 5], "city": ["a", "b", "a"]})
    floats = ints.astype({"rooms": "float64"})  # read again once a blank appeared below
    nullable = ints.astype({"rooms": "Int64"})
    assert (row_hashes(ints) == row_hashes(floats)).all()
    assert (row_hashes(ints) == row_hashes(nullable)).all()
    assert len(set(row_hashes(ints))) == 3


def test_the_target_is_part_of_the_row():
    X = pd.DataFrame({"x": [1.0, 1.0]})
    assert row_hashes(X)[0] == row_hashes(X)[1]
    assert row_hashes(X, [0, 1])[0] != row_hashes(X, [0, 1])[1]
    assert (row_hashes(X, np.array([0, 1])) == row_hashes(X, pd.Series([0, 1]))).all()
    # an array and a frame of the same values (column names aside) hash alike
    assert (row_hashes(X.to_numpy(), [0, 1]) == row_hashes(X, [0, 1])).all()


def test_true_false_labels_beside_0_1_ones_hash_as_the_loader_gave_them_before():
    """Since stop 42 the table loader keeps True/False label columns beside 0/1 ones as
    booleans (it made them 0/1): hashed as 0/1, a champion registered before still finds
    the rows it was fitted on (review helper-76: no row matched)."""
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    before = pd.DataFrame({"urgent": [1, 0, 1], "vip": [0, 0, 1]})
    now = before.astype({"urgent": bool})
    assert (row_hashes(X, now) == row_hashes(X, before)).all()
    every = before.astype(bool)  # all True/False: kept so before too, hashed as before
    assert (row_hashes(X, every) == row_hashes(X, every.to_numpy())).all()


def test_fingerprints_are_the_sorted_distinct_hashes_and_sparse_input_has_none():
    X = pd.DataFrame({"x": [2.0, 1.0, 2.0]})
    fingerprints = row_fingerprints(X)
    assert len(fingerprints) == 2 and fingerprints[0] < fingerprints[1]
    assert row_fingerprints(sp.csr_matrix(np.eye(3))) is None
    sparse_frame = pd.DataFrame({"x": pd.arrays.SparseArray([0.0, 1.0, 0.0])})
    assert row_hashes(sparse_frame) is None
