"""Column importances (lepton.inspection): which columns a fitted model relies on, by the
drop of its held-out score when a column is shuffled, and `lepton run --importance`."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from lepton.cli import main
from lepton.inspection import format_importances, permutation_importances


def _data(n=800, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["noise", "signal", "weak", "junk"])
    y = (2 * X.signal + 0.5 * X.weak > 0).astype(int)
    return X, y


def test_the_column_the_target_follows_comes_first():
    from lepton import NeuralNetworkClassifier

    X, y = _data()
    clf = NeuralNetworkClassifier(epochs=30, random_state=0).fit(X[:600], y[:600])
    table = permutation_importances(clf, X[600:], y[600:])
    assert list(table.feature)[:2] == ["signal", "weak"]
    assert table.importance[0] > 0.3 and table.importance[1] > 0.01
    others = table.set_index("feature").loc[["noise", "junk"], "importance"]
    assert (others.abs() < 0.03).all(), table
    assert (table["std"] >= 0).all() and table.importance.is_monotonic_decreasing
    lines = format_importances(table, 2, "accuracy")
    assert lines[0].startswith("column importance (drop in held-out accuracy") and len(lines) == 3
    assert lines[1].split()[0] == "signal"


def test_arrays_name_their_columns_by_position():
    X, y = _data()
    table = permutation_importances(LogisticRegression().fit(X.to_numpy(), y), X.to_numpy(), y)
    assert table.feature[0] == "x1" and set(table.feature) == {"x0", "x1", "x2", "x3"}


class _CountingModel(LogisticRegression):
    """A real model that also records how many rows each prediction saw."""

    def predict(self, X):
        self.seen_ = getattr(self, "seen_", []) + [len(X)]
        return super().predict(X)


def test_large_held_out_sets_are_sampled_and_the_sample_is_fixed():
    X, y = _data(n=5000)
    model = _CountingModel().fit(X, y)
    first = permutation_importances(model, X, y, max_rows=300, n_repeats=2)
    # the rows unshuffled, then each shuffle's copies of the 4 columns in one call
    assert model.seen_ == [300, 1200, 1200] and first.attrs["rows"] == 300
    pd.testing.assert_frame_equal(first, permutation_importances(model, X, y, max_rows=300,
                                                                 n_repeats=2))
    model.seen_ = []
    permutation_importances(model, X[:200], y[:200], max_rows=300, n_repeats=1)
    assert model.seen_ == [200, 800]  # a smaller set is scored whole


def test_shuffles_are_scored_as_the_models_score_whatever_the_calls():
    """The copies of every column are predicted together; each column's drop is the
    model's own score of its copy, as one call a column would give."""
    import lepton.inspection as inspection

    X, y = _data(n=400)
    model = LogisticRegression().fit(X, y)
    together = permutation_importances(model, X, y, n_repeats=3)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(inspection, "CHUNK_ROWS", 1)  # a call a column
        apart = permutation_importances(model, X, y, n_repeats=3)
    pd.testing.assert_frame_equal(together, apart)
    assert together.attrs["baseline"] == model.score(X, y)
    # one shuffle's drops, by hand: the columns' orders are drawn in turn from the seed
    rng = np.random.default_rng(0)
    by_hand = {c: model.score(X, y) - model.score(X.assign(**{c: X[c].to_numpy()[
        rng.permutation(400)]}), y) for c in X.columns}
    first = permutation_importances(model, X, y, n_repeats=1)
    assert first.set_index("feature").importance.to_dict() == pytest.approx(by_hand)


def test_arrays_take_the_names_the_model_was_fitted_with():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    with warnings.catch_warnings():  # scikit-learn's "X does not have valid feature names"
        warnings.simplefilter("error")
        table = permutation_importances(model, X.to_numpy(), y)
    assert table.feature[0] == "signal" and set(table.feature) == set(X.columns)


def test_labels_the_model_never_saw_are_refused_and_a_new_class_counts_as_wrong():
    """Labels none of which the model knows made every column's importance 0, without a
    word; a class only a few held-out rows hold (new in the latest rows) is no reason to
    stop (`lepton run --time-column` ended after its search: review helper-72), and 0.0
    is the label 0."""
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=r"y holds none of the labels the model was fitted "
                                         r"with \(it holds 2, 3\); its classes are 0, 1\."):
        permutation_importances(model, X, y + 2)
    with pytest.raises(ValueError, match=r"X has 800 rows and y 799"):
        permutation_importances(model, X, y[1:])
    newer = np.where(np.arange(800) < 10, 5, y)
    table = permutation_importances(model, X, newer)
    assert table.attrs["baseline"] == pytest.approx(model.score(X, newer)) and \
        table.feature[0] == "signal"
    pd.testing.assert_frame_equal(permutation_importances(model, X, y.astype(float)),
                                  permutation_importances(model, X, y))


def test_a_model_of_another_score_is_scored_by_its_own():
    """A grid search scored by roc_auc scores by roc_auc (its score), not accuracy."""
    from sklearn.model_selection import GridSearchCV

    X, y = _data(n=300)
    model = GridSearchCV(LogisticRegression(), {"C": [1.0]}, scoring="roc_auc").fit(X, y)
    table = permutation_importances(model, X, y, n_repeats=1)
    assert table.attrs["baseline"] == model.score(X, y) != LogisticRegression().fit(
        X, y).score(X, y)
    rng = np.random.default_rng(0)
    by_hand = {c: model.score(X, y) - model.score(X.assign(**{c: X[c].to_numpy()[
        rng.permutation(300)]}), y) for c in X.columns}
    assert table.set_index("feature").importance.to_dict() == pytest.approx(by_hand)


def test_a_pipeline_and_a_search_that_score_as_their_model_are_scored_together():
    """A pipeline ending in a classifier, and a grid search without a scoring of its own,
    score by accuracy: their copies are predicted together (they were scored a copy at a
    time, stop 41's note), and the drops are their own scores'."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data(n=300)
    rng = np.random.default_rng(0)
    orders = [rng.permutation(300) for _ in X.columns]
    for model in (make_pipeline(StandardScaler(), _CountingModel()),
                  GridSearchCV(make_pipeline(StandardScaler(), _CountingModel()),
                               {"_countingmodel__C": [1.0]}, cv=2)):
        model.fit(X, y)
        by_hand = {c: model.score(X, y) - model.score(X.assign(**{c: X[c].to_numpy()[
            order]}), y) for c, order in zip(X.columns, orders)}
        counted = (model[-1] if hasattr(model, "steps") else model.best_estimator_[-1])
        counted.seen_ = []
        table = permutation_importances(model, X, y, n_repeats=1)
        assert counted.seen_ == [300, 1200]  # the rows unshuffled, then 4 copies at once
        assert table.set_index("feature").importance.to_dict() == pytest.approx(by_hand)


def test_a_multi_output_classifier_of_unequal_class_counts_is_scored():
    """Its classes_ is a list over the outputs (numpy's 'inhomogeneous shape' before)."""
    from sklearn.multioutput import MultiOutputClassifier

    X, y = _data(n=300)
    Y = np.c_[y, (X.weak.to_numpy() > 0).astype(int) + (X.weak.to_numpy() > 1)]  # 2 and 3
    model = MultiOutputClassifier(LogisticRegression()).fit(X, Y)
    table = permutation_importances(model, X, Y, n_repeats=1)
    assert set(table.feature[:2]) == {"signal", "weak"}
    assert table.attrs["baseline"] == model.score(X, Y)


class _CallCostModel(LogisticRegression):
    """A real model whose every prediction call takes 50 ms, whatever its rows."""

    def predict(self, X):
        import time

        time.sleep(0.05)
        return super().predict(X)


def test_a_time_limit_counts_a_calls_cost_once_per_call():
    """100 columns of 100 rows: 5 calls a shuffle (0.25 s), not 2.5 s as when a call's
    cost was charged to each copy (one shuffle made where five fit: review helper-72)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 100))
    y = (X[:, 0] > 0).astype(int)
    table = permutation_importances(_CallCostModel().fit(X, y), X, y, n_repeats=5,
                                    time_limit=2.0)
    assert table.attrs["repeats"] == 5 and table.feature[0] == "x0"


def test_bad_inputs_are_refused_with_the_reason():
    import scipy.sparse as sp

    X, y = _data()
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="need a dense table.*sparse matrix"):
        permutation_importances(model, sp.csr_matrix(X.to_numpy()), y)
    with pytest.raises(ValueError, match="n_repeats=0 .*need n_repeats >= 1"):
        permutation_importances(model, X, y, n_repeats=0)


def test_lepton_run_prints_the_importances_and_logs_them_with_the_run(tmp_path, capsys):
    import mlflow

    X, y = _data(n=600)
    frame = X.assign(label=np.where(y == 1, "yes", "no"), weight=1.0 + (X.junk > 0))
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", str(path), "--target", "label", "--weight-column", "weight",
                 "--time-budget", "20", "--verbose", "0", "--tracking-uri", store,
                 "--experiment", "importance", "--importance", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("column importance"))
    assert "4 columns, top 2" in lines[start]
    assert re.match(r"column importance \(drop in held-out accuracy from 0\.\d{4} when",
                    lines[start])
    assert [line.split()[0] for line in lines[start + 1:start + 3]] == ["signal", "weak"]
    # the run's time: the importances named apart from the rest
    done = re.search(r"done in ([0-9.]+)s: the search ([0-9.]+)s of its 20s budget, column "
                     r"importances ([0-9.]+)s \(after the fit, outside its budget\), reading "
                     r"the data, held-out scores, saving and tracking ([0-9.]+)s\n$", out)
    assert "(column importances:" not in out  # said once, on that line
    assert done and float(done[3]) > 0
    assert float(done[1]) == pytest.approx(sum(float(d) for d in done.groups()[1:]), abs=0.11)
    run_id = out.split("(run ")[1].split(")")[0]
    client = mlflow.MlflowClient(tracking_uri=store)
    logged = pd.read_csv(client.download_artifacts(run_id, "column_importance.csv", tmp_path))
    assert list(logged.columns) == ["feature", "importance", "std"]
    assert list(logged.feature)[0] == "signal" and set(logged.feature) == set(X.columns)


def test_importance_needs_a_positive_count(capsys):
    with pytest.raises(SystemExit):
        main(["run", "iris", "--importance", "0"])
    assert "--importance: '0' is not a whole number >= 1" in capsys.readouterr().err


class _SlowModel(LogisticRegression):
    """A real model whose predictions take at least 10 ms a thousand rows."""

    def predict(self, X):
        import time

        time.sleep(1e-5 * len(X))
        return super().predict(X)


def test_a_time_limit_takes_fewer_shuffles_then_fewer_rows():
    # one round (a shuffle of each of the 4 columns: 4,000 rows) takes >= 40 ms here
    X, y = _data(n=1000)
    model = _SlowModel().fit(X, y)
    plenty = permutation_importances(model, X, y, n_repeats=3, time_limit=60)
    assert (plenty.attrs["rows"], plenty.attrs["repeats"]) == (1000, 3)
    fewer = permutation_importances(model, X, y, n_repeats=5, time_limit=0.1)
    assert fewer.attrs["rows"] == 1000 and 1 <= fewer.attrs["repeats"] <= 2
    short = permutation_importances(model, X, y, n_repeats=5, time_limit=0.02)
    assert short.attrs["repeats"] == 1 and 200 <= short.attrs["rows"] <= 500
    assert short.feature[0] == "signal"


def test_a_lepton_metric_scores_the_shuffles_as_the_search_scores_validation():
    """scoring='log_loss' (lower is better): the importance is the rise of the log loss
    of the probabilities, whatever the calls; roc_auc's is its drop, and a scikit-learn
    scorer of the same metric gives the same importances a copy at a time."""
    import lepton.inspection as inspection
    from sklearn.metrics import get_scorer, log_loss, roc_auc_score

    X, y = _data(n=400)
    model = LogisticRegression().fit(X, y)
    table = permutation_importances(model, X, y, scoring="log_loss", n_repeats=1)
    assert table.attrs["baseline"] == pytest.approx(log_loss(y, model.predict_proba(X)))
    assert table.attrs["scoring"] == "log_loss" and table.attrs["lower_is_better"]
    rng = np.random.default_rng(0)
    by_hand = {c: log_loss(y, model.predict_proba(X.assign(**{c: X[c].to_numpy()[
        rng.permutation(400)]}))) - log_loss(y, model.predict_proba(X)) for c in X.columns}
    assert table.set_index("feature").importance.to_dict() == pytest.approx(by_hand)
    assert table.feature[0] == "signal" and table.importance[0] > 0.5
    with pytest.MonkeyPatch.context() as m:
        m.setattr(inspection, "CHUNK_ROWS", 1)  # a call a column
        pd.testing.assert_frame_equal(
            table, permutation_importances(model, X, y, scoring="log_loss", n_repeats=1))

    auc = permutation_importances(model, X, y, scoring="roc_auc", n_repeats=2)
    assert auc.attrs["baseline"] == pytest.approx(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    assert not auc.attrs["lower_is_better"] and auc.feature[0] == "signal"
    scorer = permutation_importances(model, X, y, scoring=get_scorer("roc_auc"), n_repeats=2)
    assert scorer.attrs["scoring"] is None
    pd.testing.assert_frame_equal(auc.set_index("feature")[["importance", "std"]],
                                  scorer.set_index("feature")[["importance", "std"]])


def test_a_regression_metric_where_lower_is_better_rises():
    from sklearn.linear_model import Ridge

    X, _ = _data(n=400)
    y = 3 * X.signal + X.weak
    model = Ridge().fit(X, y)
    table = permutation_importances(model, X, y, scoring="rmse", n_repeats=2)
    assert table.attrs["baseline"] < 0.01 and list(table.feature[:2]) == ["signal", "weak"]
    assert table.importance[0] > 3 and table.importance[1] > 0.9  # rmse rises by ~sqrt(2) sd
    lines = format_importances(table, 1, "r2")
    assert lines[0].startswith("column importance (rise in held-out rmse from 0.0")


def test_bad_scorings_are_refused_naming_the_argument():
    from sklearn.multioutput import MultiOutputClassifier

    X, y = _data(n=200)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=r"scoring='rmse' is not a classification metric; "
                                         r"choose one of accuracy, "):
        permutation_importances(model, X, y, scoring="rmse")
    with pytest.raises(ValueError, match=r"scoring='neg_log_loss' is not .*scikit-learn's "
                                         r"scorer 'neg_log_loss' ranks models as 'log_loss' "
                                         r"does; .* importance is then how much the log_loss"):
        permutation_importances(model, X, y, scoring="neg_log_loss")
    with pytest.raises(ValueError, match=r"scoring=3: give None \(the model's own score\), "
                                         r"the name of one of Lepton's metrics"):
        permutation_importances(model, X, y, scoring=3)
    from sklearn.svm import LinearSVC

    with pytest.raises(ValueError, match=r"scoring='roc_auc' scores probabilities, which this "
                                         r"LinearSVC does not give"):
        permutation_importances(LinearSVC().fit(X, y), X, y, scoring="roc_auc")
    # a frame of one label column is one label per row (it was taken for several outputs)
    one = permutation_importances(model, X, y.to_frame(), scoring="roc_auc", n_repeats=1)
    pd.testing.assert_frame_equal(one, permutation_importances(model, X, y, scoring="roc_auc",
                                                               n_repeats=1))
    Y = np.c_[y, 1 - y]
    several = MultiOutputClassifier(LogisticRegression()).fit(X, Y)
    with pytest.raises(ValueError, match=r"scoring='roc_auc': .* this MultiOutputClassifier "
                                         r"predicts several outputs"):
        permutation_importances(several, X, Y, scoring="roc_auc")


def test_a_class_the_model_never_saw_is_left_out_of_a_probability_metric():
    from sklearn.metrics import log_loss

    X, y = _data(n=400)
    model = LogisticRegression().fit(X, y)
    newer = np.where(np.arange(400) < 10, 5, y)
    with pytest.warns(UserWarning, match=r"column importances \(log_loss\): 10 row\(s\) of "
                                         r"class\(es\) the training rows lack \(5\) are left out"):
        table = permutation_importances(model, X, newer, scoring="log_loss", n_repeats=1)
    assert table.attrs["rows"] == 390
    assert table.attrs["baseline"] == pytest.approx(log_loss(y[10:], model.predict_proba(X[10:])))
    accuracy = permutation_importances(model, X, newer, scoring="accuracy", n_repeats=1)
    assert accuracy.attrs["rows"] == 400  # a metric of labels counts them as wrong
    assert accuracy.attrs["baseline"] == pytest.approx(model.score(X, newer))


def test_a_runs_importances_are_in_the_metric_its_search_optimised():
    """`lepton run --metric log_loss --importance`: the rise of the held-out log loss, not
    the drop of accuracy (which a column that moves the probabilities barely shows)."""
    from lepton import steps

    X, y = _data(n=600)
    split = steps.Split("table", "classification", X[:400], X[400:], y[:400], y[400:])
    model = LogisticRegression().fit(split.X_train, split.y_train)
    model.final_model_info_ = {"metric": "log_loss"}  # as a search records it
    table = steps.importances(model, split)
    assert table.attrs["scoring"] == "log_loss" and table.feature[0] == "signal"
    lines = format_importances(table, 2, split.default_metric)
    assert re.match(r"column importance \(rise in held-out log_loss from 0\.\d{4} when",
                    lines[0])
