"""f1_micro and f1_samples: search metrics of a multilabel target (a 0/1 column per label),
equal to scikit-learn's f1_score(average='micro' / 'samples') of the labels predicted at
probability 1/2, with and without row weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_multilabel_classification

from lepton import LeptonClassifier
from lepton.search.metrics import get_metric

from .conftest import TINY_SPACE


@pytest.mark.parametrize("average", ["micro", "samples"])
def test_f1_micro_and_samples_are_scikit_learns(average):
    rng = np.random.default_rng(0)
    y = (rng.random((200, 4)) < 0.3).astype(np.float32)
    y[:5] = 0  # rows of no label: scikit-learn's 'samples' scores them 0 (zero_division)
    p = np.clip(y * 0.5 + rng.random((200, 4)) * 0.6, 0.01, 0.99)
    w = rng.uniform(0.1, 3.0, 200)
    pred = (p >= 0.5).astype(int)
    metric = get_metric(f"f1_{average}", "classification")
    assert metric.direction == "maximize" and metric.of_labels
    for weights in (None, w):
        expected = skm.f1_score(y, pred, average=average, sample_weight=weights,
                                zero_division=0.0)
        assert metric(y, p, weights) == pytest.approx(expected, abs=1e-12)
    assert metric(y, p, w) != pytest.approx(metric(y, p))  # the weights change it
    # one class per row (class indices, probabilities of each): scikit-learn's micro F1 is
    # the accuracy; 'samples' (which scikit-learn takes for multilabel targets only) is
    # the same F1 of the rows' one-hot classes, also the accuracy
    labels = rng.integers(0, 3, 100)
    proba = rng.dirichlet(np.ones(3), 100)
    assert metric(labels, proba, w[:100]) == pytest.approx(
        skm.accuracy_score(labels, proba.argmax(1), sample_weight=w[:100]))
    assert metric.of_predicted(labels, proba.argmax(1), 3) == pytest.approx(
        skm.accuracy_score(labels, proba.argmax(1)))


def test_a_search_for_f1_samples_scores_its_trials_as_scikit_learn():
    """The reviewer's metric='f1_samples' on a multilabel y was refused, listing
    balanced_accuracy (which a multilabel target refuses in turn)."""
    X, Y = make_multilabel_classification(n_samples=200, n_features=8, n_classes=3,
                                          n_labels=2, random_state=0)
    clf = LeptonClassifier(time_budget=8, n_trials=2, search_space=TINY_SPACE, cv=None,
                           random_state=0, metric="f1_samples").fit(X, Y)
    assert clf.multilabel_ and clf.final_model_info_["metric"] == "f1_samples"
    assert 0.0 <= clf.best_score_ <= 1.0
    assert "f1_samples" in clf.leaderboard_.columns
    assert clf.predict(X).shape == Y.shape


def test_an_unknown_metric_lists_a_multilabel_targets_metrics_apart():
    """The list named balanced_accuracy, which a multilabel target then refuses."""
    with pytest.raises(ValueError, match=r"metric='precision' is not a classification metric; "
                                         r"choose one of accuracy, balanced_accuracy, f1_macro, "
                                         r"log_loss, roc_auc; for a multilabel y \(a 0/1 column "
                                         r"per label\) one of accuracy, f1_macro, f1_micro, "
                                         r"f1_samples, log_loss, roc_auc\.$"):
        get_metric("precision", "classification")
    with pytest.raises(ValueError, match=r"is not a regression metric; choose one of mae, r2, "
                                         r"rmse\.$"):
        get_metric("f1_micro", "regression")


@pytest.mark.parametrize("name, task, ours", [
    ("neg_root_mean_squared_error", "regression", "rmse"),
    ("neg_mean_squared_error", "regression", "rmse"),
    ("neg_mean_absolute_error", "regression", "mae"),
    ("neg_log_loss", "classification", "log_loss"),
])
def test_a_scikit_learn_scorer_name_is_refused_naming_the_metric_that_ranks_alike(
        name, task, ours):
    """Users of the scikit-learn API write its scorers' names; Lepton's scores keep their
    sign, so the name is not taken silently for another quantity."""
    with pytest.raises(ValueError, match=rf"metric='{name}' is not a {task} metric; choose "
                                         rf".* \(scikit-learn's scorer '{name}' ranks models "
                                         rf"as '{ours}' does; .* best_score_ is then the "
                                         rf"{ours} itself, lower is better\)\.$"):
        get_metric(name, task)
    with pytest.raises(ValueError, match=r"roc_auc\.$|rmse\.$"):  # not for the other task
        get_metric(name, "classification" if task == "regression" else "regression")
