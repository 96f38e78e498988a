"""MLflowTracker against a real embedded (SQLite) store: runs, metrics, artifacts, models,
registry, resume, concurrency, `mlflow models serve` and `lepton ui`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import warnings

import numpy as np
import optuna
import pytest

from lepton.tracking import MLflowTracker
from lepton.tracking.ui import free_port, start_ui

from ._drive import drive_search, finish, iris_frame, leaderboard
from .conftest import popen, stop, wait_for

pytestmark = pytest.mark.slow


def _runs(client, experiment_id, role):
    return client.search_runs([experiment_id], filter_string=f"tags.`lepton.role` = '{role}'",
                              max_results=1000)


def test_parent_and_child_runs(iris_search):
    client, tracker = iris_search.client, iris_search.tracker
    parent = client.get_run(tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["lepton.study_name"] == "iris"
    assert parent.data.tags["lepton.final_choice"] == "refit"
    assert parent.data.params["settings.time_budget"] == "30"
    assert parent.data.params["meta.n_classes"] == "3"
    assert parent.data.metrics["validation_score"] == 0.9
    assert parent.data.metrics["n_trials_complete"] == 2

    children = {int(r.data.tags["lepton.trial_number"]): r
                for r in _runs(client, tracker.experiment_id, "trial")
                if r.data.tags["mlflow.parentRunId"] == tracker.parent_run_id}
    assert sorted(children) == [0, 1, 2, 3]
    assert {n: (r.info.status, r.data.tags["lepton.state"]) for n, r in children.items()} == {
        0: ("FINISHED", "complete"), 1: ("FAILED", "failed"), 2: ("KILLED", "pruned"),
        3: ("FINISHED", "complete")}
    assert children[1].data.tags["lepton.reason"] == "diverged: loss is NaN"
    assert "hyperband" in children[2].data.tags["lepton.reason"]

    done = children[0]
    trial = iris_search.study.trials[0]
    assert done.data.params["width"] == str(trial.params["width"])
    assert done.data.params["model.layers.0.width"] == str(trial.params["width"])
    assert json.loads(done.data.params["model_config"])["family"] == "mlp"
    assert done.data.params["training.epochs"] == "4"
    assert done.data.metrics["objective_value"] == pytest.approx(trial.value)
    assert done.data.metrics["duration"] > 0
    for key in ("train_loss", "val_loss", "val_score", "lr"):
        history = client.get_metric_history(done.info.run_id, key)
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2, 3, 4], key  # epochs count from 1
    # the parent's progress metric: one step per complete trial
    steps = sorted(m.step for m in client.get_metric_history(parent.info.run_id, "trial_value"))
    assert steps == [0, 3]


def test_experiment_opens_as_classic_ml(iris_search):
    exp = iris_search.client.get_experiment(iris_search.tracker.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert exp.artifact_location.startswith("file://")


def test_artifacts(iris_search):
    client, run_id = iris_search.client, iris_search.tracker.parent_run_id

    def names(path):
        return {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, path)}

    assert {"leaderboard.csv", "search_space.yaml", "search_space.json",
            "meta_features.json", "settings.json"} <= names("search")
    assert {"optimization_history.png", "param_importances.png", "parallel_coordinate.png",
            "learning_curves.png", "learning_curves.json"} <= names("plots")
    assert "confusion_matrix.png" in names("evaluation")
    curves = json.loads(open(client.download_artifacts(run_id, "plots/learning_curves.json")).read())
    assert set(curves) == {"0", "3"} and len(curves["0"]) == 4


def test_out_of_budget_the_end_logs_the_model_and_tables_and_leaves_the_plots(sqlite_uri):
    """A tracked run with workers beside it on two cores overran a 30 s budget by 3-11 s,
    8.7 s of it in the plots: with no time left, the summary, the tables and the model
    (registered) are logged, and the plots and the torch copy are said to be left out."""
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="late",
                            registered_model_name="late-nn", strict=True)
    study, best, X, y = drive_search(tracker, study_name="late", n_trials=3, epochs=2)
    tracker.end_search(estimator=best, X_sample=X.iloc[:5], study=study,
                       leaderboard=leaderboard(study), holdout=(y, best.predict(X)),
                       final={"choice": "refit", "metric": "accuracy",
                              "validation_score": 0.9}, time_left=0.0)
    client, run_id = tracker.client, tracker.parent_run_id

    def names(path):
        return {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, path)}

    assert {"leaderboard.csv", "settings.json"} <= names("search")
    assert names("plots") == {"skipped.json"} and not names("evaluation")
    skipped = json.loads(open(client.download_artifacts(run_id, "plots/skipped.json")).read())
    assert skipped == dict.fromkeys(["torch_module", "optimization_history", "param_importances",
                                     "parallel_coordinate", "learning_curves", "evaluation"],
                                    "no time left in time_budget")
    run = client.get_run(run_id)
    assert "lepton.model_uri" in run.data.tags and "lepton.torch_module_uri" not in run.data.tags
    assert run.data.metrics["validation_score"] == 0.9 and run.info.status == "FINISHED"
    assert tracker.promotion == "first champion"


def test_registered_pyfunc_predicts_like_the_estimator(iris_search):
    import mlflow.pyfunc
    import mlflow.pytorch
    import torch

    client = iris_search.client
    champion = client.get_model_version_by_alias("iris-nn", "champion")
    assert champion.tags["lepton.validation_score"] == "0.9"
    assert champion.tags["lepton.metric"] == "accuracy"
    assert iris_search.tracker.registered_version == str(champion.version)

    mlflow.set_tracking_uri(iris_search.tracker.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/iris-nn@champion")
    X = iris_search.X
    np.testing.assert_array_equal(model.predict(X), iris_search.best.predict(X))
    assert model.metadata.signature is not None
    assert model.metadata.get_input_schema().input_names() == list(X.columns)

    # the torch module, pickled (not the slow torch.export default), loads as the nn.Module
    run = client.get_run(iris_search.tracker.parent_run_id)
    module = mlflow.pytorch.load_model(run.data.tags["lepton.torch_module_uri"])
    assert isinstance(module, torch.nn.Module) and not isinstance(module, torch.fx.GraphModule)
    xt = torch.as_tensor(np.asarray(iris_search.best.preprocessor_.transform(X), dtype=np.float32))
    with torch.no_grad():
        out = module(xt).argmax(1).numpy()
    np.testing.assert_array_equal(iris_search.best.classes_[out], iris_search.best.predict(X))


def test_models_are_filed_under_the_search_experiment(iris_search):
    """MLflow's Model.log puts a logged model in the fluent API's experiment: left to it,
    both models went to the Default experiment, with artifacts under ./mlruns of the
    working directory (a registered model then pointed into whatever folder the search ran
    in)."""
    tracker, client = iris_search.tracker, iris_search.client
    models = client.search_logged_models(experiment_ids=[tracker.experiment_id])
    assert sorted(m.name for m in models) == ["model", "torch_module"]
    root = client.get_experiment(tracker.experiment_id).artifact_location
    for model in models:
        assert model.source_run_id == tracker.parent_run_id
        assert model.artifact_location.startswith(root), (model.artifact_location, root)
        assert model.params  # the search's parameters, as Model.log copies them
    pyfunc = next(m for m in models if m.name == "model")
    assert client.get_model_version_by_alias("iris-nn", "champion").source == \
        f"models:/{pyfunc.model_id}"


def test_log_test_metrics(iris_search):
    iris_search.tracker.log_test_metrics({"accuracy": 0.93})
    run = iris_search.client.get_run(iris_search.tracker.parent_run_id)
    assert run.data.metrics["test_accuracy"] == 0.93
    version = iris_search.client.get_model_version("iris-nn", iris_search.tracker.registered_version)
    assert version.tags["lepton.test_accuracy"] == "0.93"


def test_champion_moves_only_on_a_better_score(iris_search, sqlite_uri):
    client = iris_search.client
    def champion():
        return str(client.get_model_version_by_alias("iris-nn", "champion").version)

    first = champion()

    worse = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="iris",
                          registered_model_name="iris-nn", strict=True)
    study, best, X, y = drive_search(worse, study_name="iris-worse", n_trials=1, epochs=2)
    finish(worse, study, best, X, y, score=0.5)
    assert champion() == first
    assert client.get_model_version("iris-nn", worse.registered_version).tags[
        "lepton.promotion"].startswith("not promoted")
    # one complete trial: no parameter importances, said so instead of failing
    skipped = json.loads(open(client.download_artifacts(worse.parent_run_id,
                                                        "plots/skipped.json")).read())
    assert "param_importances" in skipped

    failed = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="iris",
                           registered_model_name="iris-nn", strict=True)
    study, best, X, y = drive_search(failed, study_name="iris-failed", n_trials=1, epochs=2)
    n_versions = len(client.search_model_versions("name='iris-nn'"))
    failed.fail_search(error=RuntimeError("out of time"))
    run = client.get_run(failed.parent_run_id)
    assert run.info.status == "FAILED" and run.data.tags["lepton.error"] == "RuntimeError: out of time"
    assert len(client.search_model_versions("name='iris-nn'")) == n_versions
    assert champion() == first

    better = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="iris",
                           registered_model_name="iris-nn", strict=True, log_models=True)
    study, best, X, y = drive_search(better, study_name="iris-better", n_trials=1, epochs=2)
    finish(better, study, best, X, y, score=0.95)
    assert champion() == better.registered_version != first


def test_a_champion_the_data_outgrew_is_replaced_whatever_its_score(sqlite_uri):
    """Scheduled retraining: a champion fitted before a class appeared never predicts it,
    and one that needs a column the data lost cannot score it; their validation scores
    came from other data. Either was kept where it scored higher (1.0 on two classes
    against 0.98 on three, the old model 0.71 on the new data)."""
    from lepton import NeuralNetworkClassifier

    def register(X, y, score):
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="drift",
                                registered_model_name="drift-nn", strict=True)
        study, _, _, _ = drive_search(tracker, study_name=f"drift-{score}", n_trials=1,
                                      epochs=2)
        est = NeuralNetworkClassifier(epochs=2, random_state=0).fit(X, y)
        finish(tracker, study, est, X, y, score=score)
        return tracker

    X, y = iris_frame()
    two = register(X[y < 2], y[y < 2], 1.0)
    assert two.promotion == "first champion"
    three = register(X, y, 0.98)
    assert three.promotion == (
        f"promoted: champion v{two.registered_version} was fitted without the classes ['2'] "
        "of this model's data (it never predicts them); its accuracy 1 does not compare with "
        "this model's 0.98")
    fewer = register(X.drop(columns="petal_width"), y, 0.9)
    assert fewer.promotion.startswith(
        f"promoted: champion v{three.registered_version} needs the columns ['petal_width'], "
        "which this model's data lacks (it cannot score that data)")
    # a column the champion leaves out (an identifier) is no column it needs
    ids = X.drop(columns="petal_width").assign(flower=[f"f{i:03d}" for i in range(len(X))])
    with_id = register(ids, y, 0.95)
    assert with_id.promotion.startswith("promoted: accuracy=0.95 vs champion")
    worse = register(X.drop(columns="petal_width"), y, 0.8)  # comparable: the scores decide
    assert worse.promotion == (
        f"not promoted: accuracy=0.8 vs champion v{with_id.registered_version} 0.95")
    client = worse.client
    assert str(client.get_model_version_by_alias("drift-nn", "champion").version) == \
        with_id.registered_version


def test_scheduled_runs_decide_the_champion_on_held_out_rows_new_to_both(sqlite_uri):
    """``lepton run --register`` and the flow (``defer_promotion``): a champion fitted on an
    older, smaller table that validated 1.0 was kept against a better model of today's
    table that validated 0.9. Both are scored on today's held-out rows now, leaving out
    those the champion was fitted on (a random split of a grown table holds some out)."""
    from lepton import NeuralNetworkClassifier
    from lepton.steps import _held_out

    X, y = iris_frame()
    order = np.random.RandomState(0).permutation(len(X))
    train, test = order[:100], order[100:]

    def register(est, rows, score, defer=True, name="held-out-nn"):
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="held-out",
                                registered_model_name=name, strict=True,
                                defer_promotion=defer)
        study, _, _, _ = drive_search(tracker, study_name=f"held-out-{score}", n_trials=1,
                                      epochs=2)
        est.fit(X.iloc[rows], y[rows])
        tracker.end_search(estimator=est, X_sample=X.iloc[:5], study=study,
                           leaderboard=leaderboard(study), fit_rows=(X.iloc[rows], y[rows]),
                           final={"choice": "refit", "metric": "accuracy",
                                  "validation_score": score})
        return tracker, est

    def promote(tracker, est, rows):
        return tracker.promote_on_held_out(
            est, X.iloc[rows], y[rows], metric="accuracy", direction="maximize",
            scorer=lambda model, X_, y_, w: _held_out(model, X_, y_, "accuracy",
                                                      "classification", w))

    def champion():
        return str(client.get_model_version_by_alias("held-out-nn", "champion").version)

    def weak():  # one epoch at a tiny learning rate
        return NeuralNetworkClassifier(epochs=1, learning_rate=1e-4, random_state=0)

    old, _ = register(weak(), train[:60], 1.0, defer=False)  # the estimator API decides
    client = old.client
    assert old.promotion == "first champion"
    new, est = register(NeuralNetworkClassifier(epochs=60, random_state=0), train, 0.9)
    assert new.promotion == "pending: to be decided on the run's held-out rows"
    assert champion() == old.registered_version  # not before the held-out rows decide
    # held out today: 50 rows new to both, and 10 the old champion was fitted on
    held_out = np.concatenate([test, train[:10]])
    why = promote(new, est, held_out)
    assert re.fullmatch(rf"promoted: held-out accuracy=0\.9\d* vs champion "
                        rf"v{old.registered_version} 0\.[0-5]\d* on the 50 held-out rows "
                        "neither was fitted on", why.replace(",", "")), why
    assert champion() == new.registered_version
    assert client.get_model_version("held-out-nn", new.registered_version).tags[
        "lepton.promotion"] == why
    assert promote(new, est, held_out) == why  # a retried step decides nothing again

    worse, worse_est = register(weak(), train, 0.99)  # a better validation score, no better
    assert promote(worse, worse_est, held_out).startswith(
        "not promoted: held-out accuracy=0.")
    assert champion() == new.registered_version
    # too few held-out rows new to the champion: the validation scores decide, and say why
    few = register(weak(), train, 0.85)[0]
    assert promote(few, worse_est, np.concatenate([test[:5], train[:40]])) == (
        f"not promoted: accuracy=0.85 vs champion v{new.registered_version} 0.9 "
        f"(validation scores: 5 of the 45 held-out rows are new to champion "
        f"v{new.registered_version} (fewer than 20))")
    # today's table lost a column the champion needs: it cannot score today's rows
    lost = X.drop(columns="petal_width")
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="held-out",
                            registered_model_name="held-out-nn", strict=True,
                            defer_promotion=True)
    study, _, _, _ = drive_search(tracker, study_name="held-out-lost", n_trials=1, epochs=2)
    est = weak().fit(lost.iloc[train], y[train])
    tracker.end_search(estimator=est, X_sample=lost.iloc[:5], study=study,
                       leaderboard=leaderboard(study), fit_rows=(lost.iloc[train], y[train]),
                       final={"choice": "refit", "metric": "accuracy", "validation_score": 0.5})
    assert tracker.promote_on_held_out(
        est, lost.iloc[test], y[test], metric="accuracy", direction="maximize",
        scorer=lambda model, X_, y_, w: _held_out(model, X_, y_, "accuracy", "classification",
                                                  w)).startswith(
        f"promoted: champion v{new.registered_version} needs the columns ['petal_width']")
    # a champion registered before its classes were tagged: read off the loaded model
    two, _ = register(weak(), train[y[train] < 2], 1.0, defer=False, name="classes-nn")
    client.delete_model_version_tag("classes-nn", two.registered_version, "lepton.classes")
    three, est = register(weak(), train, 0.5, name="classes-nn")
    assert promote(three, est, test) == (
        f"promoted: champion v{two.registered_version} was fitted without the classes ['2'] "
        "of the held-out rows (it never predicts them)")


def test_held_out_promotion_where_the_rows_cannot_decide(sqlite_uri):
    """A class neither model knows is no reason to promote; a score undefined on the new
    rows (NaN), or a comparison that fails, leaves the decision to the validation scores
    or says so in the version's tag; an identifier the champion left out and today's table
    lacks does not make its rows look new (rows are hashed over the columns a model reads)."""
    from lepton import NeuralNetworkClassifier
    from lepton.steps import _held_out

    X, y = iris_frame()
    order = np.random.RandomState(1).permutation(len(X))
    train, test = order[:100], order[100:]

    def scorer(model, X_, y_, w):
        return _held_out(model, X_, y_, "accuracy", "classification", w)

    def register(Xf, rows, score, name, defer=True):
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="edge",
                                registered_model_name=name, strict=False,
                                defer_promotion=defer)
        study, _, _, _ = drive_search(tracker, study_name=f"{name}-{score}", n_trials=1,
                                      epochs=2)
        est = NeuralNetworkClassifier(epochs=20, random_state=0).fit(Xf.iloc[rows], y[rows])
        tracker.end_search(estimator=est, X_sample=Xf.iloc[:5], study=study,
                           leaderboard=leaderboard(study), fit_rows=(Xf.iloc[rows], y[rows]),
                           final={"choice": "refit", "metric": "accuracy",
                                  "validation_score": score})
        return tracker, est

    two = train[y[train] < 2]
    register(X, two, 0.9, "unknown-nn", defer=False)
    new, est = register(X, two, 0.8, "unknown-nn")  # neither knows class 2 of the rows
    assert re.match(r"(not )?promoted: held-out accuracy=",
                    promote_reason(new, est, X.iloc[test], y[test], scorer)), new.promotion

    old, _ = register(X, train, 0.9, "nan-nn", defer=False)
    nan, est = register(X, train, 0.95, "nan-nn")
    why = promote_reason(nan, est, X.iloc[test], y[test], lambda *a: float("nan"))
    assert re.fullmatch(
        rf"promoted: accuracy=0\.95 vs champion v{old.registered_version} 0\.9 \(validation "
        rf"scores: accuracy is undefined on the (49|50) held-out rows new to champion "
        rf"v{old.registered_version} \(ours nan, its nan\)\)", why), why

    def broken(*a):
        raise RuntimeError("store hiccup")

    failed, est = register(X, train, 0.99, "nan-nn")
    with pytest.warns(RuntimeWarning, match="deciding the champion on the held-out rows"):
        why = promote_reason(failed, est, X.iloc[test], y[test], broken)
    assert why == "not promoted: the comparison failed (RuntimeError: store hiccup)"
    assert failed.client.get_model_version("nan-nn", failed.registered_version).tags[
        "lepton.promotion"] == why

    # the champion's run deleted with its files (a clean-up): its hashes cannot be read,
    # and the reason says so (it said the champion "keeps no hashes": review helper-74)
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    kept, _ = register(X, train, 0.9, "gone-nn", defer=False)
    champion = kept.client.get_model_version("gone-nn", kept.registered_version)
    rows = Path(unquote(urlparse(kept.client.get_run(champion.run_id).info.artifact_uri).path))
    (rows / champion.tags["lepton.training_rows"]).unlink()
    later, est = register(X, train, 0.95, "gone-nn")
    why = promote_reason(later, est, X.iloc[test], y[test], scorer)
    assert re.fullmatch(
        rf"promoted: accuracy=0\.95 vs champion v{kept.registered_version} 0\.9 \(validation "
        rf"scores: the hashes of the rows champion v{kept.registered_version} was fitted on "
        rf"\(lepton/training_rows_\w+\.npy of run {champion.run_id}\) could not be read: "
        r"\w+: .*\)", why), why

    ids = X.assign(customer=[f"c{i:04d}" for i in range(len(X))])  # left out: an identifier
    first, _ = register(ids, train, 0.9, "ids-nn", defer=False)
    assert first.promotion == "first champion"
    later, est = register(X, train, 0.9, "ids-nn")  # today's file has no customer column
    rows = np.concatenate([test, train[:10]])  # 10 of them the champion's
    assert re.search(r"on the (49|50) held-out rows neither was fitted on$",
                     promote_reason(later, est, X.iloc[rows], y[rows], scorer)), later.promotion


def promote_reason(tracker, est, X, y, scorer):
    return tracker.promote_on_held_out(est, X, y, scorer=scorer, metric="accuracy",
                                       direction="maximize")


def test_a_champion_of_another_metric_is_said_before_the_search(iris_search, sqlite_uri,
                                                                recwarn):
    """A champion scored with another metric is never replaced: the search's model became a
    version never promoted, said only in its tag; now the tracker says so as the search
    starts, and ``promotion`` (what `lepton run` prints) says why after."""
    client = iris_search.client
    first = client.get_model_version_by_alias("iris-nn", "champion").version
    same = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="iris",
                         registered_model_name="iris-nn", strict=True, log_models=False)
    finish(same, *drive_search(same, study_name="iris-same-metric", n_trials=1, epochs=2))
    assert not [w for w in recwarn if "registered_model_name" in str(w.message)]
    other = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="iris",
                          registered_model_name="iris-nn", strict=True)
    with pytest.warns(UserWarning, match=(
            rf"registered_model_name='iris-nn': its champion \(version {first}\) was scored "
            r"with 'accuracy' and this search optimises 'f1_macro'; .* never made champion")):
        study, best, X, y = drive_search(other, study_name="iris-f1", n_trials=1, epochs=2,
                                         metric="f1_macro")
    finish(other, study, best, X, y, score=0.99, metric="f1_macro")
    assert other.promotion == (f"not promoted: champion v{first} was scored with 'accuracy', "
                               "this model with 'f1_macro'")
    assert client.get_model_version_by_alias("iris-nn", "champion").version == first


def test_resume_continues_under_the_same_parent_run(sqlite_uri, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="resume", log_models=False,
                          strict=True)
    drive_search(first, study_name="resumable", storage=storage, n_trials=2, epochs=2)
    first.fail_search(error=KeyboardInterrupt())  # interrupted ...
    assert first.client.get_run(first.parent_run_id).info.status == "KILLED"

    second = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="resume", log_models=False,
                           strict=True)
    filters = []  # the runs the resumed session looks for
    search_runs = second.client.search_runs
    second.client.search_runs = lambda *a, **kw: (filters.append(kw.get("filter_string", "")),
                                                  search_runs(*a, **kw))[1]
    study, best, X, y = drive_search(second, study_name="resumable", storage=storage,
                                     n_trials=2, epochs=2)  # ... and resumed
    finish(second, study, best, X, y)
    # never every trial run of the search (3-9 s at thousands of trials, at the start and
    # again at the end: a 20 s resumed fit ran no trial): only an earlier session's trial
    # whose curve it draws, by its number
    children = [f for f in filters if "mlflow.parentRunId" in f and "RUNNING" not in f]
    assert children and all("lepton.trial_number" in f for f in children), filters
    assert second.parent_run_id == first.parent_run_id
    client = second.client
    parent = client.get_run(second.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["lepton.resume_count"] == "1"
    parents = _runs(client, second.experiment_id, "search")
    assert len(parents) == 1
    numbers = sorted(int(r.data.tags["lepton.trial_number"])
                     for r in _runs(client, second.experiment_id, "trial"))
    assert numbers == [0, 1, 2, 3]
    # learning curves cover the best trials of both sessions
    curves = json.loads(open(client.download_artifacts(parent.info.run_id,
                                                       "plots/learning_curves.json")).read())
    assert {int(k) for k in curves} == {t.number for t in study.trials}

    # an in-memory study cannot be resumed: a new search gets a new parent run
    third = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="resume", log_models=False)
    third.start_search(study_name="resumable", meta_features={}, search_space={},
                       settings={"storage": None})
    assert third.parent_run_id != first.parent_run_id


@pytest.fixture(params=["sqlite", "postgresql"])
def race_store(request, sqlite_uri):
    """The MLflow store the racing trackers share: the embedded SQLite one, or a
    PostgreSQL database as a team's machines would share it."""
    return sqlite_uri if request.param == "sqlite" else request.getfixturevalue("pg_store_uri")


def test_resume_count_counts_sessions_that_resume_at_once(sqlite_uri, tmp_path):
    """Two workers resuming one study at once both found the parent with resume_count 0;
    the count must still end at 2 (a tag read and incremented by each would say 1)."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"

    def tracker():
        return MLflowTracker(tracking_uri=sqlite_uri, experiment_name="resume-race",
                             log_models=False, strict=True)

    first = tracker()
    drive_search(first, study_name="raced", storage=storage, n_trials=1, epochs=1)
    first.fail_search(error=KeyboardInterrupt())
    a, b = tracker(), tracker()
    stale = a.client.get_run(first.parent_run_id)  # what both workers found
    assert stale.data.tags["lepton.resume_count"] == "0"
    for worker in (a, b):
        worker._find_parent = lambda *args, found=stale: found
        drive_search(worker, study_name="raced", storage=storage, n_trials=1, epochs=1)
        worker.fail_search(error=KeyboardInterrupt())
    assert a.parent_run_id == b.parent_run_id == first.parent_run_id
    parent = a.client.get_run(first.parent_run_id)
    assert parent.data.tags["lepton.resume_count"] == "2"
    starts = a.client.get_metric_history(first.parent_run_id, "lepton.session_start")
    assert len(starts) == 3


def test_resume_count_continues_from_a_parent_without_session_rows(sqlite_uri, tmp_path):
    """A parent run written before sessions were recorded as rows (its tag says 2
    resumes, no rows) counts on from its tag."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="resume-old",
                            log_models=False, strict=True)
    old = tracker.client.create_run(tracker.experiment_id, tags={
        "lepton.role": "search", "lepton.study_name": "old", "lepton.storage": storage,
        "lepton.resume_count": "2"})
    drive_search(tracker, study_name="old", storage=storage, n_trials=1, epochs=1)
    tracker.fail_search(error=KeyboardInterrupt())
    assert tracker.parent_run_id == old.info.run_id
    parent = tracker.client.get_run(old.info.run_id)
    assert parent.data.tags["lepton.resume_count"] == "3"


def test_processes_starting_one_new_study_at_once_share_one_parent_run(race_store, tmp_path):
    """Workers of one study on a shared storage each look for its parent run, find none
    and create one: every worker must end up under the same parent, the others deleted."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    workers = [MLflowTracker(tracking_uri=race_store, experiment_name="race", log_models=False,
                             strict=True, writer="thread") for _ in range(3)]
    looked = threading.Barrier(len(workers))
    for tracker in workers:  # every lookup misses the others' parents: the race
        find = tracker._find_parent

        def find_then_wait(*args, _find=find):
            found = _find(*args)
            looked.wait(timeout=60)
            return found
        tracker._find_parent = find_then_wait
    errors = []

    def start(tracker):
        try:
            tracker.start_search(study_name="shared", meta_features={}, search_space={},
                                 settings={"storage": storage})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=start, args=(t,)) for t in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    client = workers[0].client
    parents = _runs(client, workers[0].experiment_id, "search")  # active runs only
    assert len(parents) == 1
    assert {t.parent_run_id for t in workers} == {parents[0].info.run_id}
    deleted = client.search_runs([workers[0].experiment_id], run_view_type=2,  # DELETED_ONLY
                                 filter_string="tags.`lepton.role` = 'search'")
    assert len(deleted) == len(workers) - 1
    for tracker in workers:
        tracker.fail_search(error=KeyboardInterrupt())

    # a later session of the study (a resume) still finds that one parent
    later = MLflowTracker(tracking_uri=race_store, experiment_name="race", log_models=False,
                          writer="thread")
    later.start_search(study_name="shared", meta_features={}, search_space={},
                       settings={"storage": storage})
    assert later.parent_run_id == parents[0].info.run_id
    later.fail_search(error=KeyboardInterrupt())


def test_concurrent_trials_never_mix_metrics(sqlite_uri):
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="threads", strict=True)
    tracker.start_search(study_name="threads", meta_features={}, search_space={},
                         settings={"storage": None, "n_jobs": 4})
    barrier = threading.Barrier(4)

    def objective(trial):
        tracker.start_trial(trial.number, params={"x": trial.suggest_float("x", 0, 1)},
                            model_config={}, training_config={})
        if trial.number < 4:
            barrier.wait(timeout=30)  # four trials really are in flight at once
        for epoch in range(6):
            tracker.log_epoch(trial.number, {"epoch": epoch, "val_score": trial.number * 100 + epoch,
                                             "train_loss": 1.0, "lr": 0.1})
        tracker.end_trial(trial.number, state="complete", value=float(trial.number),
                          duration=0.01)
        return float(trial.number)

    tracker.flush_interval = 0.0  # also exercise the periodic flush from several threads
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=8, n_jobs=4)
    tracker.flush()  # trial writes are queued for one writer (a child process)
    runs = _runs(tracker.client, tracker.experiment_id, "trial")
    assert len(runs) == 8
    for run in runs:
        number = int(run.data.tags["lepton.trial_number"])
        values = sorted(m.value for m in tracker.client.get_metric_history(run.info.run_id,
                                                                           "val_score"))
        assert values == [number * 100 + e for e in range(6)]
        assert run.data.params["x"] == str(study.trials[number].params["x"])


def _post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # a refused request: its JSON error
        return exc.code, json.loads(exc.read())


def test_models_serve_answers_a_scoring_request(iris_search):
    port = free_port()
    proc = popen([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                  "models:/iris-nn@champion", "--env-manager", "local", "--host", "127.0.0.1",
                  "--port", str(port)],
                 env={"MLFLOW_TRACKING_URI": iris_search.tracker.tracking_uri,
                      # the server execs `uvicorn` from PATH: this interpreter's, even when
                      # its environment is not activated
                      "PATH": os.pathsep.join([os.path.dirname(sys.executable),
                                               os.environ.get("PATH", "")])})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(proc, url + "/ping", "mlflow models serve")
        X = iris_search.X.iloc[:20].copy()
        X.iloc[0, 0] = np.nan  # sent as null: imputed, as predict does (the schema allows it)
        split = {"dataframe_split": X.to_dict(orient="split")}
        answers = [_post(url, split),
                   # probabilities (the params were dropped: labels were served)
                   _post(url, {**split, "params": {"predict_method": "predict_proba"}}),
                   # a value Lepton refuses: its message (it was a generic one, Lepton's at
                   # the end of the stack trace)
                   _post(url, {"dataframe_split": X.iloc[:1].astype(object).assign(
                       sepal_length="abc").to_dict(orient="split")})]
    finally:
        stop(proc)
    assert answers[0] == (200, {"predictions": iris_search.best.predict(X).tolist()})
    status, proba = answers[1]
    assert status == 200 and list(proba["predictions"][0]) == ["proba_0", "proba_1", "proba_2"]
    # the champion may be a later test's version: its probabilities, its labels' argmax
    proba = np.array([list(row.values()) for row in proba["predictions"]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.argmax(axis=1).tolist() == answers[0][1]["predictions"]
    status, error = answers[2]
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert ("Column 'sepal_length' was numeric during fit but holds values that are not "
            "numbers: ['abc']") in error["message"]


def test_ctrl_c_stops_lepton_ui_and_its_server_without_a_traceback(tmp_path):
    """A terminal's Ctrl-C goes to the whole foreground group: the server got it too and
    printed uvicorn's 39-line traceback, after an INFO line per page request."""
    import signal

    env = {**os.environ, "LEPTON_HOME": str(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    # SIGINT as a terminal leaves it (a CI job run in the background ignores it, and its
    # children inherit that)
    proc = subprocess.Popen([sys.executable, "-m", "lepton.cli", "ui"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    try:
        while not lines or not lines[-1].startswith("http://"):
            line = proc.stdout.readline()
            assert line, "".join(lines)  # it ended before printing its URL
            lines.append(line)
        base = lines[-1].strip().split("/#")[0]
        for _ in range(3):
            with urllib.request.urlopen(base + "/", timeout=10) as resp:
                assert resp.status == 200
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    said = "".join(lines) + out
    assert proc.returncode == 0, said
    assert "Traceback" not in said and "GET /" not in said, said
    assert "StarletteDeprecationWarning" not in said, said
    # MLflow's advice on options lepton ui lacks, a new store's table creation (review
    # helper-77)
    assert "Security middleware enabled with default settings" not in said, said
    assert "Creating initial MLflow database tables" not in said, said
    with pytest.raises(OSError):  # the server is gone
        urllib.request.urlopen(base + "/health", timeout=5)


def test_a_ui_served_beyond_this_machine_answers_to_the_machines_name():
    """Served on 0.0.0.0, MLflow's default Host check refused the machine's own name ('403
    Invalid Host header'), and the URL printed was http://0.0.0.0:PORT."""
    import socket

    from mlflow.server.security_utils import get_default_allowed_hosts

    from lepton.tracking.ui import _allowed_hosts

    name = socket.gethostname()
    assert _allowed_hosts("127.0.0.1", 5000) == get_default_allowed_hosts()
    wide = _allowed_hosts("0.0.0.0", 5000)
    assert {name, f"{name}:5000"} <= set(wide)
    assert set(get_default_allowed_hosts()) < set(wide)
    assert {"myhost.example", "myhost.example:5000"} <= set(_allowed_hosts("myhost.example",
                                                                           5000))


def test_a_ui_served_beyond_this_machine_is_warned_of(sqlite_uri, monkeypatch):
    """`lepton ui --host 0.0.0.0` was taken without a word, though the UI has no sign-in
    (security review helper-75). Warned before anything starts (no server is started
    here: the next step is stopped)."""
    import lepton.tracking.ui as ui

    def stop_here(uri):
        raise RuntimeError("not started")

    monkeypatch.setattr(ui, "latest_search_experiment", stop_here)
    for host in ("0.0.0.0", "192.0.2.7", "::", "myhost.example"):
        with pytest.warns(UserWarning, match=rf"host={re.escape(repr(host))} serves the MLflow "
                                             r"UI beyond this machine, and it has no sign-in"), \
                pytest.raises(RuntimeError, match="not started"):
            start_ui(tracking_uri=sqlite_uri, host=host)
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RuntimeError, match="not started"):
                start_ui(tracking_uri=sqlite_uri, host=host)


def test_lepton_ui_points_at_the_latest_search(iris_search, sqlite_uri):
    latest = iris_search.client.search_runs(
        [e.experiment_id for e in iris_search.client.search_experiments()],
        filter_string="tags.`lepton.role` = 'search'", order_by=["attributes.start_time DESC"],
        max_results=1)[0]
    proc, url = start_ui(tracking_uri=sqlite_uri, quiet=True)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith(f"/#/experiments/{latest.info.experiment_id}/runs")
        with urllib.request.urlopen(url.split("/#")[0] + "/health", timeout=10) as resp:
            assert resp.status == 200
    finally:
        stop(proc)


def test_lepton_ui_keeps_the_users_own_allowed_hosts(sqlite_uri, monkeypatch):
    """`lepton ui` passed its own --allowed-hosts, which overrode the user's
    MLFLOW_SERVER_ALLOWED_HOSTS (review helper-79)."""
    monkeypatch.setenv("MLFLOW_SERVER_ALLOWED_HOSTS", "mlflow.team.example:*")
    proc, url = start_ui(tracking_uri=sqlite_uri, quiet=True)
    try:
        base = url.split("/#")[0]

        def status(host: str) -> int:
            request = urllib.request.Request(base + "/", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    return resp.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status("mlflow.team.example:5000") == 200
        assert status(base.removeprefix("http://")) == 403  # the user's list alone
    finally:
        stop(proc)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_store_opens_under_warnings_as_errors(store, tmp_path, request):
    """Under ``python -W error`` (pytest's ``filterwarnings = error`` alike), SQLAlchemy
    2.1's deprecation of a loading option MLflow's tables declare was raised as the store
    opened: a tracked fit failed (review helper-83). Mapped once, with it ignored."""
    uri = (f"sqlite:///{tmp_path / 'w.db'}" if store == "sqlite"
           else request.getfixturevalue("pg_store_uri"))
    script = ("import sys\n"
              "from lepton.tracking import MLflowTracker\n"
              "from lepton.tracking.prune import plan_prune\n"
              "tracker = MLflowTracker(tracking_uri=sys.argv[1], experiment_name='w')\n"
              "print(tracker.experiment_id, plan_prune(sys.argv[1], keep=1).empty)\n")
    done = subprocess.run([sys.executable, "-W", "error", "-c", script, uri],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LEPTON_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "True"


def test_a_bare_postgresql_tracking_uri_takes_the_installed_driver(pg_store_uri, tmp_path):
    """storage='postgresql://...' worked where tracking_uri= the same failed: SQLAlchemy
    2.1 maps the bare scheme to psycopg 3, not installed beside psycopg2 (review
    helper-84)."""
    import importlib.util

    from lepton.tracking.prune import plan_prune

    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg 3 is installed: the bare scheme is SQLAlchemy's own")
    bare = "postgresql://" + pg_store_uri.split("://", 1)[1]
    tracker = MLflowTracker(tracking_uri=bare, experiment_name="bare")
    assert tracker.tracking_uri.startswith("postgresql+psycopg2://")
    assert tracker.client.get_experiment(tracker.experiment_id).name == "bare"
    assert plan_prune(bare, keep=1).empty
