"""Several labels per row (a 0/1 column per label, scikit-learn's multilabel-indicator) in
one network: a sigmoid output and binary cross-entropy per label, sharing the layers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import accuracy_score, f1_score

from lepton import NeuralNetwork, NeuralNetworkClassifier
from lepton.estimators._base import infer_task
from lepton.training import Task

FAST = dict(hidden_layer_sizes=(64,), epochs=40, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def tags():
    X, Y = make_multilabel_classification(n_samples=800, n_features=12, n_classes=4,
                                          n_labels=2, random_state=0)
    return X[:600], X[600:], Y[:600], Y[600:]


def test_one_network_predicts_a_column_per_label(tags):
    X_tr, X_te, Y_tr, Y_te = tags
    clf = NeuralNetworkClassifier(**FAST).fit(X_tr, Y_tr)
    assert clf.multilabel_ and clf.classes_.tolist() == [0, 1, 2, 3]
    assert clf.module_(torch.zeros(1, 12)).shape == (1, 4)  # one output per label
    pred = clf.predict(X_te)
    assert pred.shape == Y_te.shape and pred.dtype == Y_te.dtype
    proba = clf.predict_proba(X_te)
    assert proba.shape == Y_te.shape and ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(1), 1.0)  # each label's own probability, no softmax
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(Y_te.dtype))
    # better than the best constant guess of every label (each label's majority value)
    constant = np.tile((Y_tr.mean(0) >= 0.5).astype(int), (len(Y_te), 1))
    assert clf.score(X_te, Y_te) > accuracy_score(Y_te, constant) + 0.1
    assert f1_score(Y_te, pred, average="macro") > 0.6


def test_labels_come_back_as_they_were_given(tags):
    X_tr, X_te, Y_tr, _ = tags
    as_bool = NeuralNetworkClassifier(**{**FAST, "epochs": 2}).fit(X_tr, Y_tr.astype(bool))
    assert as_bool.predict(X_te).dtype == bool
    sparse = NeuralNetworkClassifier(**{**FAST, "epochs": 2}).fit(X_tr, sp.csr_matrix(Y_tr))
    assert sparse.predict(X_te).shape == (len(X_te), 4)
    # the original API takes 0/1 columns as labels (task='auto'), where other columns are
    # a regression's outputs
    assert infer_task(Y_tr) == "classification"
    assert infer_task(Y_tr * 0.5) == "regression"
    nn = NeuralNetwork(**{**FAST, "epochs": 2}).fit(X_tr, Y_tr)
    assert nn.task_ == "classification" and nn.predict(X_te).shape == (len(X_te), 4)
    # a frame of 0/1 and False/True columns (a file's flags, some read as booleans): labels
    # (it was refused as holding "other values (e.g. 1)", and the original API regressed)
    import pandas as pd

    mixed = pd.DataFrame({"a": Y_tr[:, 0], "b": Y_tr[:, 1].astype(bool)})
    assert infer_task(mixed) == "classification"
    clf = NeuralNetworkClassifier(**{**FAST, "epochs": 2}).fit(X_tr, mixed)
    assert clf.multilabel_ and clf.predict(X_te).shape == (len(X_te), 2)
    # it scores such a frame as it fits on it (scikit-learn's accuracy_score reads it as
    # objects: "scipy.sparse does not support dtype object"), as does the original API
    assert clf.score(X_tr, mixed) == clf.score(X_tr, mixed.astype(int))
    nn = NeuralNetwork(**{**FAST, "epochs": 2}).fit(X_tr, mixed)
    assert nn.score(X_tr, mixed) == nn.score(X_tr, mixed.astype(int))
    # the MLflow model and lepton predict give the boolean column as booleans again
    from lepton.tracking._pyfunc import named_prediction

    frame = named_prediction(clf, clf.predict(X_te))
    assert list(frame.columns) == ["a", "b"] and frame.dtypes.tolist() == [np.int64, bool]
    assert (frame.b == clf.predict(X_te)[:, 1].astype(bool)).all()
    clf.fit(X_tr, mixed.astype(int))  # fitted again on 0/1 columns: no boolean column left
    assert named_prediction(clf, clf.predict(X_te)).dtypes.tolist() == [np.int64, np.int64]
    # a regression's True/False output predicts numbers, kept as numbers (astype(bool)
    # made every one but 0 True: review helper-76)
    from lepton import NeuralNetworkRegressor

    outputs = pd.DataFrame({"amount": X_tr[:, 0] * 3.0, "refund": Y_tr[:, 1].astype(bool)})
    reg = NeuralNetworkRegressor(**{**FAST, "epochs": 2}).fit(X_tr, outputs)
    assert not hasattr(reg, "_boolean_targets")  # a multilabel target's only
    frame = named_prediction(reg, reg.predict(X_te))
    assert frame.dtypes.tolist() == [np.float64, np.float64] or \
        frame.dtypes.tolist() == [np.float32, np.float32]
    np.testing.assert_array_equal(frame.to_numpy(), reg.predict(X_te))


def test_sample_weight_moves_a_label_towards_the_heavy_rows(tags):
    X_tr, X_te, Y_tr, _ = tags
    w = np.where(Y_tr[:, 0] == 1, 10.0, 1.0)  # rows holding label 0 weigh ten times
    plain = NeuralNetworkClassifier(**FAST).fit(X_tr, Y_tr)
    heavy = NeuralNetworkClassifier(**FAST).fit(X_tr, Y_tr, sample_weight=w)
    assert heavy.predict_proba(X_te)[:, 0].mean() > plain.predict_proba(X_te)[:, 0].mean() + 0.05


def test_the_multilabel_loss_and_score():
    out = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.0, 1.0]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    task = Task("multilabel", 3, label_smoothing=0.2)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out, y * 0.8 + 0.1)
    assert float(task.loss_fn(out, y)) == pytest.approx(float(expected))
    plain = torch.nn.functional.binary_cross_entropy_with_logits(out, y)
    assert float(task.eval_loss(out, y)) == pytest.approx(float(plain))  # no smoothing
    assert task.score(out, y) == 0.5  # row 0 right in every label, row 1 wrong in one
    assert task.score(out, y, torch.tensor([3.0, 1.0])) == 0.75
    with pytest.raises(ValueError, match="task kind='labels' is not one of classification, "
                                         "multilabel, regression"):
        Task("labels", 3)
