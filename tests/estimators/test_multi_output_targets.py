"""2-D targets as users hold them: a constant output among a regression's outputs, pandas'
nullable dtypes (``convert_dtypes()``, ``read_csv(dtype_backend='numpy_nullable')``), sets
of label names per row, -1/1 indicators and continuous columns given to a classifier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_multilabel_classification, make_regression
from sklearn.metrics import r2_score

from lepton import (LeptonClassifier, NeuralNetwork, NeuralNetworkClassifier,
                    NeuralNetworkRegressor)
from lepton.estimators._base import infer_task
from lepton.training import Task

TINY = dict(hidden_layer_sizes=(8,), epochs=3, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def tags():
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3,
                                          n_labels=2, random_state=0)
    return X.astype(float), Y


# -- R^2 of a constant output ----------------------------------------------------------------
def test_r2_of_a_constant_output_is_scikit_learns():
    """A column that never varies has no R^2 (0/0): scikit-learn's r2_score (force_finite)
    scores it 1.0 where it is predicted exactly, else 0.0. Task.score divided by 1e-12
    instead: a column of 3.0 (0.0 standardised) predicted 0.1 off scored -1e10, and the
    per-epoch scores that prune trials averaged that in."""
    rng = np.random.default_rng(0)
    y = np.column_stack([rng.normal(size=40), np.zeros(40), rng.normal(size=40)])
    w = rng.uniform(0.1, 3.0, 40)
    task = Task("regression", 3)
    for off in (0.0, 0.1):  # the constant column predicted exactly, then 0.1 off
        out = y + np.column_stack([0.3 * rng.normal(size=40), np.full(40, off),
                                   np.zeros(40)])  # the third column exactly: 1.0
        yt, ot = torch.tensor(y, dtype=torch.float32), torch.tensor(out, dtype=torch.float32)
        y32, o32 = yt.numpy().astype(np.float64), ot.numpy().astype(np.float64)
        assert task.score(ot, yt) == pytest.approx(r2_score(y32, o32), abs=1e-5)
        assert task.score(ot, yt, torch.tensor(w, dtype=torch.float32)) == pytest.approx(
            r2_score(y32, o32, sample_weight=w), abs=1e-5)
        assert r2_score(y32[:, 1], o32[:, 1]) == (1.0 if off == 0 else 0.0)
    # a column constant on the rows that weigh, varying only on a row of weight 0
    y[0, 1], w[0] = 5.0, 0.0
    yt = torch.tensor(y, dtype=torch.float32)
    wt = torch.tensor(w, dtype=torch.float32)
    assert task.score(yt, yt, wt) == 1.0  # every column exact
    out = yt.clone()
    out[3, 1] = 0.5
    assert task.score(out, yt, wt) == pytest.approx(
        r2_score(y, out.numpy().astype(np.float64), sample_weight=w), abs=1e-6)
    assert task.score(out, yt, wt) == pytest.approx(2 / 3)  # 1, 0, 1


def test_a_constant_output_does_not_sink_the_epoch_scores():
    """The reviewer's case (/tmp/rev_ml/t17_const_output.py): a regression of two outputs,
    the second always 3.0; every epoch's val_score was about -1e10."""
    X, y = make_regression(n_samples=300, n_features=4, noise=5, random_state=0)
    Y = np.column_stack([y, np.full(len(y), 3.0)])
    model = NeuralNetworkRegressor(hidden_layer_sizes=(16,), epochs=5, random_state=0,
                                   validation_fraction=0.2, device="cpu").fit(X, Y)
    scores = [record["val_score"] for record in model.history_]
    assert all(-1.5 < s <= 1.0 for s in scores), scores


# -- pandas nullable dtypes --------------------------------------------------------------------
def test_nullable_label_frames_are_labels(tags):
    """Int64 (convert_dtypes) and boolean frames of 0/1 were refused as holding 'other
    values (e.g. 1)', and NeuralNetwork() regressed on the Int64 frame where it takes
    int64 columns as labels; 'predict' gives each label in the numpy dtype (int64, bool)."""
    X, Y = tags
    frame = pd.DataFrame(Y, columns=["a", "b", "c"])
    as_int = frame.convert_dtypes()
    assert str(as_int.dtypes.iloc[0]) == "Int64"
    clf = NeuralNetworkClassifier(**TINY).fit(X, as_int)
    assert clf.multilabel_ and clf.predict(X[:2]).dtype == np.int64
    clf = NeuralNetworkClassifier(**TINY).fit(X, frame.astype("boolean"))
    assert clf.multilabel_ and clf.predict(X[:2]).dtype == bool
    assert infer_task(as_int) == "classification"
    nn = NeuralNetwork(input_shape=[6], hidden_layer_sizes=[8]).fit(X, as_int, epochs=2)
    assert nn.task_ == "classification" and hasattr(nn, "predict_proba")
    search = LeptonClassifier(time_budget=3, random_state=0, n_trials=1).fit(X, as_int)
    assert search.multilabel_ and search.predict(X[:2]).shape == (2, 3)
    # a 1-D nullable column stays one label
    one = NeuralNetworkClassifier(**TINY).fit(X, pd.Series(Y[:, 0]).convert_dtypes())
    assert one.predict(X[:3]).shape == (3,)


def test_missing_cells_of_nullable_label_frames_are_named(tags):
    X, Y = tags
    for dtype in ("Int64", "boolean"):
        frame = pd.DataFrame(Y, columns=["a", "b", "c"]).astype(dtype)
        frame.loc[3, "b"] = pd.NA
        with pytest.raises(ValueError, match=r"y has 1 missing labels \(NaN\), the first in "
                                             r"row 3, column 'b': a multilabel target needs"):
            NeuralNetworkClassifier(**TINY).fit(X, frame)


def test_float64_frames_regress_as_float64_ones():
    """A Float64 frame was 'non-numeric values (dtype object)' where it held <NA>; it is
    float64 with NaN for <NA>, and without <NA> trains as its float64 frame does."""
    X, Y = make_regression(n_samples=60, n_features=4, n_targets=2, random_state=0)
    frame = pd.DataFrame(Y, columns=["a", "b"])
    ext = NeuralNetworkRegressor(**TINY).fit(X, frame.astype("Float64"))
    plain = NeuralNetworkRegressor(**TINY).fit(X, frame)
    np.testing.assert_allclose(ext.predict(X), plain.predict(X))
    gap = frame.astype("Float64")
    gap.loc[3, "b"] = pd.NA
    with pytest.raises(ValueError, match=r"y contains NaN or infinity in 1 row\(s\) \(first "
                                         r"rows: \[3\]\)"):
        NeuralNetworkRegressor(**TINY).fit(X, gap)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lists", "Series", "tuples"])
def test_sets_of_label_names_point_to_multilabelbinarizer(tags, kind):
    """y as the label names of each row ([['news', 'tech'], ['sport'], ...]) got numpy's
    'inhomogeneous shape' error, or scikit-learn's 'legacy multi-label data
    representation' (Series of lists)."""
    X, Y = tags
    names = np.array(["news", "sport", "tech"])
    sets = [list(names[row.astype(bool)]) for row in Y]
    y = {"lists": sets, "Series": pd.Series(sets), "tuples": [tuple(s) for s in sets]}[kind]
    match = (r"y holds a set of labels per row \(row 0: .*\): NeuralNetworkClassifier takes "
             r"several labels per row as a 0/1 column per label; turn the sets into one with "
             r"sklearn\.preprocessing\.MultiLabelBinarizer")
    with pytest.raises(ValueError, match=match):
        NeuralNetworkClassifier(**TINY).fit(X, y)
    with pytest.raises(ValueError, match=match.replace("NeuralNetworkClassifier",
                                                       "NeuralNetwork")):
        NeuralNetwork(input_shape=[6], hidden_layer_sizes=[8]).fit(X, y, epochs=2)


def test_a_minus_one_one_indicator_is_refused_with_y_equal_1(tags):
    """-1/1 columns: scikit-learn's type_of_target calls them 'multilabel-indicator', but
    its MLPClassifier trains them towards 1 (fit on these rows: every label predicted 1,
    probability 1.0) and predicts 0/1. Lepton would likewise predict 0/1 for -1/1 labels,
    so it refuses them, saying to pass (y == 1): the advice was MultiOutputClassifier, a
    network per column."""
    X, Y = tags
    with pytest.raises(ValueError, match=r"y has 3 columns of -1/1 .*Pass \(y == 1\)"
                                         r"\.astype\(int\)") as info:
        NeuralNetworkClassifier(**TINY).fit(X, 2 * Y - 1)
    assert "MultiOutputClassifier" not in str(info.value)
    fitted = NeuralNetworkClassifier(**TINY).fit(X, ((2 * Y - 1) == 1).astype(int))
    assert fitted.multilabel_


def test_continuous_columns_given_to_a_classifier_point_to_the_regressor():
    X, Y = make_regression(n_samples=40, n_features=4, n_targets=2, random_state=0)
    for cls, regressor in ((NeuralNetworkClassifier, "NeuralNetworkRegressor"),
                           (LeptonClassifier, "LeptonRegressor")):
        model = cls(**TINY) if cls is NeuralNetworkClassifier else cls(time_budget=3)
        with pytest.raises(ValueError, match=rf"y has 2 columns of numbers that are not whole "
                                             rf"\(e\.g\. -?\d.*\): .*{regressor}") as info:
            model.fit(X, Y)
        assert "MultiOutputClassifier" not in str(info.value)
