"""Row weights (``sample_weight``): the loss and scores they weigh, the fits that follow
them, the search that ranks by them, and ``lepton run --weight-column``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm

from lepton import (LeptonClassifier, LeptonRegressor, NeuralNetworkClassifier,
                    NeuralNetworkRegressor, steps)
from lepton.cli import main
from lepton.estimators._base import check_sample_weight
from lepton.search.ensemble import greedy_ensemble_selection
from lepton.search.metrics import METRICS, class_frequencies
from lepton.training import Task, TensorData, TrainingConfig, fit_model

SPACE = {"base": "mlp", "parameters": {
    "n_layers": 1, "width": 16, "epochs": 40, "batch_size": 64, "dropout": 0.0,
    "normalization": "none", "residual": False, "numeric_embedding": "none",
    "learning_rate": {"type": "float", "low": 5e-3, "high": 2e-2, "log": True},
}}


def _two_kinds(n=600, seed=0):
    """Rows of two kinds the features cannot tell apart: y = 0 (kind 0) or y = 1 (kind 1)
    whatever x. The weighted least-squares answer is kind 1's share of the weight."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    kind = np.arange(n) % 2
    return X, kind.astype(float), np.where(kind == 1, 9.0, 1.0)


# -- the loss and scores ---------------------------------------------------------------
def test_weighted_losses_and_scores_are_the_weighted_means():
    rng = np.random.default_rng(0)
    out, y = torch.randn(50, 3), torch.randint(0, 3, (50,))
    w = torch.rand(50)
    w[:10] = 0.0
    task = Task("classification", 3)
    per_row = torch.nn.functional.cross_entropy(out, y, reduction="none")
    assert float(task.eval_loss(out, y, w)) == pytest.approx(float((per_row * w).sum() / w.sum()),
                                                             rel=1e-5)
    # weight 0 is a row that is not there
    assert float(task.eval_loss(out, y, w)) == pytest.approx(
        float(task.eval_loss(out[10:], y[10:], w[10:])), rel=1e-5)
    assert task.score(out, y, w) == pytest.approx(
        skm.accuracy_score(y, out.argmax(1), sample_weight=w), rel=1e-5)
    out, y = torch.randn(50, 2), torch.randn(50, 2)
    w = torch.as_tensor(rng.random(50), dtype=torch.float32)
    assert Task("regression", 2).score(out, y, w) == pytest.approx(
        skm.r2_score(y, out, sample_weight=w), rel=1e-4)
    # the training loss: mean of w * loss with w scaled to a mean of 1 over the data
    data = TensorData(np.zeros((4, 1)), np.zeros(4), w=[1, 1, 3, 3], y_dtype=torch.float32)
    np.testing.assert_allclose(data.w.numpy(), [0.5, 0.5, 1.5, 1.5])
    loss = Task("regression", 1).weighted_loss_fn(torch.tensor([[1.0], [1.0], [2.0], [2.0]]),
                                                   torch.zeros(4, 1), data.w)
    assert float(loss) == pytest.approx((0.5 + 0.5 + 1.5 * 4 * 2) / 4)


def test_training_with_weight_zero_rows_equals_training_without_them():
    """Full-batch steps: the rows of weight 0 change nothing, so the network is the one
    trained on the other rows alone (same seed)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    w = np.where(np.arange(80) < 60, 1.0, 0.0)
    w[:60] = rng.uniform(0.5, 2.0, 60)
    config = TrainingConfig(epochs=15, batch_size=1000, early_stopping=False,
                            lr_schedule="constant", learning_rate=0.05)
    task = Task("classification", 2)
    model_cfg = {"layers": [{"width": 8}], "dropout": 0.0, "normalization": "none"}
    weighted, _ = fit_model(model_cfg, TensorData(X, y, w=w), None, task, config, seed=3)
    alone, _ = fit_model(model_cfg, TensorData(X[:60], y[:60], w=w[:60]), None, task, config,
                         seed=3)
    unweighted, _ = fit_model(model_cfg, TensorData(X, y), None, task, config, seed=3)
    probe = torch.as_tensor(X)
    with torch.no_grad():
        torch.testing.assert_close(weighted(probe), alone(probe), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(weighted(probe), unweighted(probe), atol=1e-3)


def test_metrics_ensembles_and_priors_follow_the_weights():
    y = np.array([0, 0, 0, 1, 1, 1])
    right_on_first = np.eye(2)[[0, 0, 0, 0, 0, 0]]  # right on rows 0-2 only
    right_on_last = np.eye(2)[[1, 1, 1, 1, 1, 1]]   # right on rows 3-5 only
    w = np.array([1, 1, 1, 0, 0, 0.0])
    accuracy = METRICS["accuracy"]
    assert accuracy(y, right_on_first, w) == 1.0 and accuracy(y, right_on_last, w) == 0.0
    weights, score = greedy_ensemble_selection([right_on_last, right_on_first], y, accuracy,
                                               rounds=3, sample_weight=w)
    assert weights == {1: 1.0} and score == 1.0
    p = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8], [0.1, 0.9]])
    w = np.array([1, 2, 1, 3, 4, 6.0])
    labels = p.argmax(1)
    expected = {
        "balanced_accuracy": skm.balanced_accuracy_score(y, labels, sample_weight=w),
        "f1_macro": skm.f1_score(y, labels, average="macro", sample_weight=w),
        "roc_auc": skm.roc_auc_score(y, p[:, 1], sample_weight=w),
        "log_loss": skm.log_loss(y, p, sample_weight=w),
    }
    for name, value in expected.items():
        assert METRICS[name].fn(y, p, w) == pytest.approx(value)
        assert METRICS[name].fn(y, p) != pytest.approx(value)  # the weights change it
    np.testing.assert_allclose(class_frequencies(y, 2, w), [4 / 17, 13 / 17])
    r = np.arange(6.0)
    assert METRICS["mae"](r, r[:, None] + np.array([0, 0, 0, 0, 0, 6.0])[:, None],
                          np.array([1, 1, 1, 1, 1, 0.0])) == 0.0


# -- what is accepted --------------------------------------------------------------------
@pytest.mark.parametrize("weights, message", [
    ([1.0, 2.0], r"sample_weight has shape \(2,\); expected one weight per row of X: "
                 r"shape \(6,\)"),
    (np.ones((6, 2)), r"sample_weight has shape \(6, 2\)"),
    ([1, 1, np.nan, 1, np.inf, 1], r"sample_weight must be finite numbers >= 0; it is not at "
                                   r"2 rows, the first: 2 \(nan\), 4 \(inf\)"),
    ([1, 1, 1, -2, 1, 1], r"sample_weight must be >= 0; it is negative at row 3 \(-2\)"),
    ([0] * 6, r"sample_weight is zero for every row; at least one weight must be positive"),
    (["a"] * 6, r"sample_weight must be numbers \(one weight >= 0 per row\); got dtype <U1"),
    ([1, 1, 1, 0, 0, 0], r"sample_weight is zero for every row of all classes but one \(class "
                         r"'no'\); a classifier needs rows of positive weight in at least two"),
])
def test_bad_weights_are_refused_with_the_rows_at_fault(weights, message):
    X, y = np.zeros((6, 2)), np.array(["no"] * 3 + ["yes"] * 3)
    for est in (NeuralNetworkClassifier(epochs=1), LeptonClassifier(time_budget=5)):
        with pytest.raises(ValueError, match=message):
            est.fit(X, y, sample_weight=weights)


def test_equal_weights_are_no_weights_and_the_callers_array_is_kept():
    w = np.full(6, 3.0)
    assert check_sample_weight(w, 6) is None and check_sample_weight(2.0, 6) is None
    w = np.array([1, 2, 0, 1, 2, 1])
    checked = check_sample_weight(w, 6)
    assert checked.dtype == np.float64 and checked is not w
    X, y = _two_kinds(200)[:2]
    plain = NeuralNetworkRegressor(epochs=5, random_state=0).fit(X, y)
    ones = NeuralNetworkRegressor(epochs=5, random_state=0).fit(X, y, sample_weight=np.ones(200))
    np.testing.assert_array_equal(plain.predict(X), ones.predict(X))


def test_validation_rows_of_weight_zero_are_an_error_naming_the_split():
    X, y, w = _two_kinds(40)
    rows = np.arange(40)
    w[:20] = 0.0
    with pytest.raises(ValueError, match=r"the 20 validation rows of split 0 all have "
                                         r"sample_weight 0"):
        LeptonRegressor(time_budget=5, cv=[(rows[20:], rows[:20]), (rows[:20], rows[20:])]
                        ).fit(X, y, sample_weight=w)


# -- fits that follow the weights ------------------------------------------------------------
def test_a_fixed_network_learns_the_weighted_mean():
    X, y, w = _two_kinds()
    weighted = NeuralNetworkRegressor(epochs=60, random_state=0).fit(X, y, sample_weight=w)
    plain = NeuralNetworkRegressor(epochs=60, random_state=0).fit(X, y)
    assert abs(weighted.predict(X).mean() - 0.9) < 0.1  # 9 of every 10 weight units say 1
    assert abs(plain.predict(X).mean() - 0.5) < 0.1


def test_rows_of_weight_zero_do_not_set_a_regression_targets_scale():
    """Placeholder targets (1e4) on rows of weight 0 set the target scaler's mean and
    scale: the real targets were squashed to ~0.001 of a unit (held-out R^2 -283)."""
    X = np.random.default_rng(0).normal(size=(400, 3))
    y = 3 * X[:, 0]
    placeholders, w = y.copy(), np.ones(400)
    placeholders[:100], w[:100] = 1e4, 0.0
    model = NeuralNetworkRegressor(hidden_layer_sizes=(32,), epochs=100, learning_rate=1e-2,
                                   random_state=0).fit(X, placeholders, sample_weight=w)
    # (fitted on the training rows: the early-stopping rows are left out of it too)
    assert abs(model.y_scaler_.mean_[0] - y[100:].mean()) < 0.5
    assert model.y_scaler_.scale_[0] == pytest.approx(y[100:].std(), rel=0.2)
    assert model.score(X[100:], y[100:]) > 0.9


def test_a_weighted_class_is_called_more_often():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    y = (X[:, 0] + rng.normal(size=1000) > 1.0).astype(int)  # ~24% positives, overlapping
    w = np.where(y == 1, 5.0, 1.0)
    plain = NeuralNetworkClassifier(epochs=30, random_state=0).fit(X, y)
    weighted = NeuralNetworkClassifier(epochs=30, random_state=0).fit(X, y, sample_weight=w)
    assert weighted.predict(X).mean() > plain.predict(X).mean() + 0.1
    assert weighted.score(X, y, sample_weight=w) > plain.score(X, y, sample_weight=w)


def test_the_search_ranks_refits_and_scores_by_the_weights(tmp_path):
    X, y, w = _two_kinds()
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    reg = LeptonRegressor(time_budget=60, n_trials=3, search_space=SPACE, cv=None,
                          metric="mae", storage=storage, random_state=0)
    reg.fit(X, y, sample_weight=w)
    assert abs(reg.predict(X).mean() - 0.9) < 0.1
    # the trials' validation MAE is the weighted one: near 0.18 (0.9 x 0.1 + 0.1 x 0.9);
    # unweighted MAE of the same predictions is near 0.5
    assert reg.best_score_ < 0.3
    weighted_name = reg.study_.study_name
    # other weights are other data: a new study by default, refused under the same name
    plain = LeptonRegressor(time_budget=60, n_trials=1, search_space=SPACE, cv=None,
                            metric="mae", storage=storage, random_state=0).fit(X, y)
    assert plain.study_.study_name != weighted_name
    with pytest.raises(ValueError, match=r"already exists in this storage with a different "
                                         r"dataset"):
        LeptonRegressor(time_budget=60, n_trials=4, search_space=SPACE, cv=None, metric="mae",
                        storage=storage, study_name=weighted_name, random_state=0
                        ).fit(X, y, sample_weight=np.where(w > 1, 2.0, 1.0))


def test_the_search_classifier_takes_weights_for_its_decision():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + rng.normal(size=600) > 1.0).astype(int)
    w = np.where(y == 1, 5.0, 1.0)
    clf = LeptonClassifier(time_budget=60, n_trials=2, search_space=SPACE, cv=None,
                           random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(clf.class_prior_.sum(), 1.0)
    assert clf.class_prior_[1] > 0.5  # weighted: 5 x ~24% against ~76%
    assert clf.predict(X).mean() > y.mean()


# -- lepton run --weight-column --------------------------------------------------------------
def _weighted_table(tmp_path):
    X, y, w = _two_kinds(200)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y, w=w, s=["x"] * 200)
    path = tmp_path / "weighted.csv"
    frame.to_csv(path, index=False)
    return path


def test_load_split_takes_the_weight_column_out_of_the_features(tmp_path):
    path = _weighted_table(tmp_path)
    split = steps.load_split(str(path), target="y", weight_column="w")
    assert list(split.X_train.columns) == ["a", "b", "c", "s"]
    # each row keeps its own weight: kind 1 (y = 1) weighs 9
    np.testing.assert_array_equal(split.w_train, np.where(split.y_train == 1, 9.0, 1.0))
    np.testing.assert_array_equal(split.w_test, np.where(split.y_test == 1, 9.0, 1.0))
    assert re.match(r"rows weighted by 'w' \(min 1, median 5, max 9\)", split.notes()[0])
    for column, message in [("nope", r"weight_column='nope' is not a column of weighted"),
                            ("s", r"weight_column='s' must hold numbers >= 0; it holds \['x'\]"),
                            ("a", r"weight_column='a': sample_weight must be >= 0; it is "
                                  r"negative at \d+ rows")]:
        with pytest.raises(ValueError, match=message):
            steps.load_split(str(path), target="y", weight_column=column)
    with pytest.raises(ValueError, match=r"weight_column='w' is not a column of iris; its "
                                         r"columns are \['sepal length \(cm\)'"):
        steps.load_split("iris", weight_column="w")


def test_lepton_run_with_a_weight_column(tmp_path, capsys):
    path = _weighted_table(tmp_path)
    assert main(["run", str(path), "--target", "y", "--task", "regression", "--weight-column",
                 "w", "--time-budget", "8", "--no-tracking", "--metric", "mae"]) == 0
    out = capsys.readouterr().out
    assert "rows weighted by 'w' (min 1, median 5, max 9)" in out
    # held out, weighted: predictions near 0.9 are off by ~0.1 on 90% of the weight
    assert float(re.search(r"held-out mae: ([0-9.]+)", out).group(1)) < 0.3
    assert main(["run", str(path), "--target", "y", "--task", "regression", "--weight-column",
                 "w", "--fixed"]) == 0
    assert "held-out r2" in capsys.readouterr().out
    assert main(["run", str(path), "--target", "y", "--weight-column", "c"]) == 2
    assert "weight_column='c': sample_weight must be >= 0" in capsys.readouterr().err
