"""LeptonClassifier on a multilabel target (a 0/1 column per label): one search, one
network per trial with an output per label; scored, ensembled and tracked as such."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_multilabel_classification

from lepton import LeptonClassifier
from lepton.search.metrics import METRICS, label_thresholds

from .conftest import TINY_SPACE


@pytest.fixture(scope="module")
def tags():
    X, Y = make_multilabel_classification(n_samples=600, n_features=10, n_classes=4,
                                          n_labels=2, random_state=1)
    return X[:450], X[450:], Y[:450], Y[450:]


def test_metrics_score_a_multilabel_target_as_scikit_learn_does():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 3)) < 0.4).astype(np.float32)
    p = np.clip(y * 0.6 + rng.random((200, 3)) * 0.5, 0.01, 0.99)
    w = rng.random(200) + 0.5
    pred = (p >= 0.5).astype(int)
    assert METRICS["accuracy"](y, p, w) == pytest.approx(
        skm.accuracy_score(y, pred, sample_weight=w))  # every label of a row right
    assert METRICS["f1_macro"](y, p) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert METRICS["roc_auc"](y, p, w) == pytest.approx(
        skm.roc_auc_score(y, p, average="macro", sample_weight=w))
    per_label = [skm.log_loss(y[:, j], p[:, j], sample_weight=w) for j in range(3)]
    assert METRICS["log_loss"](y, p, w) == pytest.approx(np.mean(per_label))
    # a label no row holds has no AUC: the others are averaged
    y[:, 2] = 0
    assert METRICS["roc_auc"](y, p) == pytest.approx(
        np.mean([skm.roc_auc_score(y[:, j], p[:, j]) for j in range(2)]))


def test_a_fit_on_one_label_drops_an_earlier_multilabel_fits_thresholds(tags):
    # review helper-60: label_thresholds_ stayed on the estimator (and in its pickle)
    X_tr, _, Y_tr, _ = tags
    clf = LeptonClassifier(time_budget=60, n_trials=1, search_space=TINY_SPACE, cv=None,
                           random_state=0).fit(X_tr, Y_tr)
    assert clf.multilabel_ and clf.label_thresholds_.shape == (4,)
    clf.fit(X_tr, Y_tr[:, 0])
    assert not clf.multilabel_ and not hasattr(clf, "label_thresholds_")
    assert "label_thresholds" not in clf.final_model_info_
    assert clf.predict(X_tr[:3]).shape == (3,)


@pytest.mark.parametrize("metric", [None, "log_loss"])
def test_one_search_fits_every_label(tags, metric):
    X_tr, X_te, Y_tr, Y_te = tags
    clf = LeptonClassifier(time_budget=60, n_trials=4, search_space=TINY_SPACE, cv=None,
                           metric=metric, random_state=0).fit(X_tr, Y_tr)
    assert clf.multilabel_ and clf.decision_ == "threshold"
    np.testing.assert_array_equal(clf.label_thresholds_, 0.5)
    assert clf.meta_features_["n_classes"] == 4
    np.testing.assert_allclose(clf.class_prior_, Y_tr.mean(0))
    pred = clf.predict(X_te)
    assert pred.shape == Y_te.shape and pred.dtype == Y_te.dtype
    proba = clf.predict_proba(X_te)
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(Y_te.dtype))
    assert clf.best_estimator_.multilabel_
    constant = np.tile((Y_tr.mean(0) >= 0.5).astype(int), (len(Y_te), 1))
    assert clf.score(X_te, Y_te) > skm.accuracy_score(Y_te, constant) + 0.1
    assert len(clf.leaderboard_) == 4 and clf.leaderboard_[clf.final_model_info_["metric"]
                                                           ].notna().any()


def test_balanced_accuracy_is_refused_for_several_labels(tags):
    X_tr, _, Y_tr, _ = tags
    with pytest.raises(ValueError, match=r"metric='balanced_accuracy' scores one class per "
                                         r"row; y is multilabel .* 4 labels\): choose one of "
                                         r"accuracy .*, f1_macro, f1_micro, f1_samples, roc_auc "
                                         r"or log_loss"):
        LeptonClassifier(time_budget=30, metric="balanced_accuracy").fit(X_tr, Y_tr)


def test_the_tracked_holdout_plot_of_several_labels_scores_each_label(tmp_path):
    """A multilabel search's evaluation plot: each label's precision, recall and F1 (a
    confusion matrix of 0/1 rows is not defined: scikit-learn refuses it)."""
    from lepton.tracking._artifacts import write_holdout_plot

    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]])
    pred = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]])
    skipped: dict[str, str] = {}
    assert write_holdout_plot(y, pred, "classification", tmp_path, skipped) == [
        "label_scores.png"]
    assert (tmp_path / "label_scores.png").stat().st_size > 1000 and not skipped
    assert write_holdout_plot(y[:, 0], pred[:, 0], "classification", tmp_path / "one",
                              skipped) == ["confusion_matrix.png"]


def test_a_multilabel_study_resumes_and_refuses_a_single_label_target(tags, tmp_path):
    X_tr, _, Y_tr, _ = tags
    space = {"base": "mlp", "parameters": {"n_layers": 1, "width": 16, "epochs": 10,
                                           "batch_size": 32, "numeric_embedding": "none"}}
    kwargs = dict(time_budget=60, search_space=space, cv=None, random_state=0,
                  storage=f"sqlite:///{tmp_path / 'tags.db'}", study_name="tags")
    first = LeptonClassifier(n_trials=2, **kwargs).fit(X_tr, Y_tr)
    again = LeptonClassifier(n_trials=4, **kwargs).fit(X_tr, Y_tr)
    assert first.n_trials_ == 2 and again.n_trials_ == 4 and len(again.study_.trials) == 4
    assert again.predict(X_tr).shape == Y_tr.shape
    with pytest.raises(ValueError, match="with a different dataset"):
        LeptonClassifier(n_trials=5, **kwargs).fit(X_tr, Y_tr[:, 0])
    assert len(again.study_.trials) == 4  # the study is as it was


def test_each_labels_threshold_is_the_one_its_validation_f1_prefers():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 3)) < 0.3).astype(np.float32)
    proba = np.empty_like(y)
    proba[:, 0] = np.where(y[:, 0] == 1, 0.40, 0.10)  # rare positives, called low: 0.15-0.40
    proba[:, 1] = np.where(y[:, 1] == 1, 0.90, 0.60)  # everything high: above 0.60 only
    proba[:, 2] = rng.random(300)                      # noise
    y[:, 2] = 0                                        # and no positive row
    chosen = label_thresholds(proba, y)
    assert chosen[0] == 0.4 and chosen[1] == 0.65  # the separating one nearest 1/2
    assert chosen[2] == 0.5  # F1 0 everywhere: 1/2 kept
    # row weights count: a weight of 0 on label 0's positives leaves it nothing to gain
    w = np.where(y[:, 0] == 1, 0.0, 1.0)
    assert label_thresholds(proba, y, w)[0] == 0.5


def test_an_f1_macro_search_tunes_the_labels_thresholds(tags):
    X_tr, X_te, Y_tr, _ = tags
    clf = LeptonClassifier(time_budget=60, n_trials=3, search_space=TINY_SPACE, cv=None,
                           metric="f1_macro", random_state=0).fit(X_tr, Y_tr)
    assert clf.decision_ == "tuned thresholds"
    assert clf.final_model_info_["label_thresholds"] == clf.label_thresholds_.tolist()
    assert ((0.05 <= clf.label_thresholds_) & (clf.label_thresholds_ <= 0.95)).all()
    proba = clf.predict_proba(X_te)
    np.testing.assert_array_equal(clf.predict(X_te), proba >= clf.label_thresholds_)
