"""Searches compared in the MLflow UI, against a real embedded (SQLite) store: each study
has its own search run (a study name and storage text can name another study), the
per-epoch curves of cross-validated trials line up, and the runs say what they searched,
who ran them, how their trials trained and the best value so far."""

from __future__ import annotations

import getpass
import json
import sys

import optuna
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, load_wine

import lepton
from lepton import LeptonClassifier
from lepton.cli import main
from lepton.tracking import MLflowTracker

from ._drive import drive_search

pytestmark = pytest.mark.slow

STUDY_UID_ATTR = "lepton.study_uid"  # lepton.search._search's study user attribute

SPACE = {"base": "mlp", "parameters": {
    "n_layers": 1, "width": {"type": "int", "low": 8, "high": 32, "per_layer": True},
    "epochs": {"type": "int", "low": 8, "high": 16}, "batch_size": 16,
}}


def _search_runs(client, experiment_id):
    return client.search_runs([experiment_id], filter_string="tags.`lepton.role` = 'search'",
                              max_results=1000, order_by=["attributes.start_time ASC"])


def _children(client, run):
    runs = client.search_runs(
        [run.info.experiment_id], max_results=1000,
        filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    return {int(r.data.tags["lepton.trial_number"]): r for r in runs}


def _fit(X, y, **kwargs):
    return LeptonClassifier(time_budget=60, n_trials=2, search_space=SPACE, cv=None,
                            random_state=0, study_name="nightly", **kwargs).fit(X, y)


# -- 1. a study's own search run --------------------------------------------------------------
def test_a_new_study_named_as_another_gets_its_own_search_run(sqlite_uri, tmp_path,
                                                             monkeypatch):
    """storage='study.db' (relative) in two project folders, and a study file deleted and
    created again: the same study name and storage text, other studies. Each got the
    other's search run (trial-0, trial-1 twice under it, its params from the first data
    set); now each has its own, and resuming a study still finds its own."""
    tracking = dict(tracking_uri=sqlite_uri, experiment_name="same-name", storage="study.db")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    wine = _fit(*load_wine(return_X_y=True), **tracking)
    monkeypatch.chdir(tmp_path / "b")
    cancer = _fit(*load_breast_cancer(return_X_y=True), **tracking)
    (tmp_path / "b" / "study.db").unlink()  # start over: the same file name, a new study
    again = _fit(*load_iris(return_X_y=True), **tracking)
    resumed = LeptonClassifier(time_budget=60, n_trials=3, search_space=SPACE, cv=None,
                               random_state=0, study_name="nightly",
                               **tracking).fit(*load_iris(return_X_y=True))

    client = wine.tracker_.client
    runs = {r.info.run_id: r for r in _search_runs(client, wine.tracker_.experiment_id)}
    ids = [m.tracking_run_id_ for m in (wine, cancer, again)]
    assert len(set(ids)) == 3 and set(ids) == set(runs)
    assert resumed.tracking_run_id_ == again.tracking_run_id_
    for model, rows in ((wine, 178), (cancer, 569), (again, 150)):
        run = client.get_run(model.tracking_run_id_)
        uid = model.study_.user_attrs[STUDY_UID_ATTR]
        assert len(uid) == 32 and run.data.tags["lepton.study_uid"] == uid
        assert run.data.params["meta.n_rows"] == str(rows)
    assert client.get_run(again.tracking_run_id_).data.tags["lepton.resume_count"] == "1"
    for run in runs.values():  # no trial twice under one search run
        assert sorted(_children(client, run)) == list(range(len(_children(client, run))))
    assert sorted(_children(client, runs[ids[2]])) == [0, 1, 2]


def test_a_search_run_from_before_study_identities_is_resumed_and_tagged(sqlite_uri,
                                                                         tmp_path):
    """A search run without lepton.study_uid (logged before identities were recorded) is
    resumed by its study, which tags it with its identity; a study with another identity
    then gets its own run. A study with no identity yet (its creator has not recorded it)
    takes the matching run whatever its identity."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    settings = {"storage": storage, "metric": "accuracy", "time_budget": 15.0}

    def start(uid, created=False, name="old", settings=settings):
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="legacy",
                                log_models=False, strict=True, writer="thread")
        tracker.start_search(study_name=name, meta_features={}, search_space={},
                             settings=settings, study_uid=uid, study_created=created)
        tracker.fail_search(error=KeyboardInterrupt())
        return tracker

    legacy = start(None)  # as a search run of an earlier Lepton was logged
    client = legacy.client
    assert "lepton.study_uid" not in client.get_run(legacy.parent_run_id).data.tags
    # a study created now (its file deleted and made again) is not that run's study
    gone = start(None, name="gone")
    assert start("c" * 32, created=True, name="gone").parent_run_id != gone.parent_run_id
    # an earlier Lepton logged whole-number floats as '2.0': the same setting as '2' now,
    # not a 'changed' one
    floats = start(None, name="floats")
    client.log_param(floats.parent_run_id, "settings.extra", "2.0")
    again = start("d" * 32, name="floats", settings={**settings, "extra": 2.0})
    assert again.parent_run_id == floats.parent_run_id
    assert not [k for k in client.get_run(floats.parent_run_id).data.tags
                if k.startswith("lepton.resumed.")]
    resumed = start("a" * 32)
    assert resumed.parent_run_id == legacy.parent_run_id
    assert client.get_run(legacy.parent_run_id).data.tags["lepton.study_uid"] == "a" * 32
    other = start("b" * 32)
    assert other.parent_run_id != legacy.parent_run_id
    assert start(None).parent_run_id == other.parent_run_id  # the latest matching run
    # whole-number settings are written as integers: 15.0 (the CLI's float) reads '15'
    assert client.get_run(other.parent_run_id).data.params["settings.time_budget"] == "15"


def test_a_study_gets_its_identity_from_the_fit_that_creates_or_first_resumes_it():
    from lepton.search._search import study_uid

    study = optuna.create_study()  # made outside Lepton, or by an earlier Lepton
    assert study_uid(study, "joined") is None  # its creator may be recording one now
    uid = study_uid(study, "resumed")
    assert len(uid) == 32 and study.user_attrs[STUDY_UID_ATTR] == uid
    assert study_uid(study, "resumed") == uid == study_uid(study, "joined")


def test_whole_number_float_params_are_written_as_integers(sqlite_uri):
    """--time-budget 15 reaches the search as 15.0 from the CLI and 15 from Python: logged
    '15.0' and '15', the one setting fell into two groups in the runs table."""
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="whole-numbers",
                            log_models=False, writer="thread")
    tracker.start_search(study_name="floats", meta_features={"ratio": 2.0},
                         search_space={"dropout": [0.0, 0.5]},
                         settings={"storage": None, "time_budget": 15.0, "n_trials": 3,
                                   "validation_fraction": 0.25, "huge": 1e20,
                                   "nan": float("nan"), "flag": True})
    tracker.fail_search(error=KeyboardInterrupt())
    params = tracker.client.get_run(tracker.parent_run_id).data.params
    assert {key: params[key] for key in (
        "settings.time_budget", "settings.n_trials", "settings.validation_fraction",
        "settings.huge", "settings.nan", "settings.flag", "meta.ratio", "space.dropout")} == {
        "settings.time_budget": "15", "settings.n_trials": "3",
        "settings.validation_fraction": "0.25", "settings.huge": "1e+20",
        "settings.nan": "nan", "settings.flag": "True", "meta.ratio": "2",
        "space.dropout": "[0.0, 0.5]"}


# -- 2, 4, 5, 6: a cross-validated search ------------------------------------------------------
@pytest.fixture(scope="module")
def cv_search(sqlite_uri):
    X, y = load_iris(return_X_y=True)
    return LeptonClassifier(time_budget=60, n_trials=3, search_space=SPACE, cv=3,
                            random_state=0, tracking_uri=sqlite_uri,
                            experiment_name="cv-curves").fit(X, y)


def test_cross_validated_curves_are_the_first_folds_epochs_and_folds_score_apart(cv_search):
    """Each fold's curve was logged shifted by fold * the trial's own epochs (fold 1 of a
    16-epoch trial at steps 17-32): curves did not line up across trials."""
    client = cv_search.tracker_.client
    parent = client.get_run(cv_search.tracking_run_id_)
    children = _children(client, parent)
    complete = [t for t in cv_search.study_.trials
                if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete
    for trial in complete:
        run = children[trial.number]
        epochs = int(run.data.params["training.epochs"])
        for key in ("train_loss", "val_loss", "val_score", "lr"):
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert steps == list(range(1, len(steps) + 1)) and 1 <= len(steps) <= epochs, key
        # the three folds' epochs, summed (the leaderboard's): more than the first's alone
        assert len(steps) < trial.user_attrs["epochs"]
        folds = sorted(client.get_metric_history(run.info.run_id, "fold_val_score"),
                       key=lambda m: m.step)
        assert [m.step for m in folds] == [0, 1, 2]
        assert all(0.0 <= m.value <= 1.0 for m in folds)
    curves = json.loads(open(client.download_artifacts(
        parent.info.run_id, "plots/learning_curves.json")).read())
    for number, records in curves.items():
        logged = client.get_metric_history(children[int(number)].info.run_id, "val_score")
        assert [r["epoch"] for r in records] == sorted(m.step for m in logged)


def test_trial_runs_record_their_epochs_best_epoch_and_training_status(cv_search, tmp_path):
    client = cv_search.tracker_.client
    parent = client.get_run(cv_search.tracking_run_id_)
    board = pd.read_csv(client.download_artifacts(parent.info.run_id, "search/leaderboard.csv",
                                                  str(tmp_path)))
    children = _children(client, parent)
    checked = 0
    for row in board.itertuples():
        run = children[int(row.trial)]
        if pd.notna(row.epochs):
            assert run.data.metrics["epochs"] == row.epochs
            checked += 1
        if pd.notna(row.best_epoch):
            assert run.data.metrics["best_epoch"] == row.best_epoch
        if pd.notna(row.status):
            assert run.data.tags["lepton.status"] == row.status
    assert checked


def test_the_search_run_shows_the_best_trial_value_so_far(cv_search):
    client = cv_search.tracker_.client
    run_id = cv_search.tracking_run_id_
    values = sorted(client.get_metric_history(run_id, "trial_value"), key=lambda m: m.step)
    best = client.get_metric_history(run_id, "best_trial_value")
    assert values
    at = {}  # step -> the values logged there (the end of the search logs the study's best
    for m in best:  # once more, at its last trial's step)
        at.setdefault(m.step, []).append(m.value)
    running = [max(m.value for m in values[:i + 1]) for i in range(len(values))]
    for m, expected in zip(values, running):  # accuracy: maximised
        assert expected == pytest.approx(at[m.step][0]), (m.step, at)
    assert max(at) == max(t.number for t in cv_search.study_.trials)
    assert client.get_run(run_id).data.metrics["best_trial_value"] == \
        pytest.approx(max(m.value for m in values))


def test_search_and_trial_runs_say_who_ran_them_from_what_and_with_which_lepton(cv_search):
    client = cv_search.tracker_.client
    parent = client.get_run(cv_search.tracking_run_id_)
    for run in [parent, *_children(client, parent).values()]:
        tags = run.data.tags
        assert tags["mlflow.user"] == getpass.getuser()
        assert tags["mlflow.source.name"] == sys.argv[0]
        assert tags["mlflow.source.type"] == "LOCAL"
        assert tags["lepton.version"] == lepton.__version__
    # the estimator API keeps its run name; no dataset is known to it
    assert parent.info.run_name == "search-lepton-classification"
    assert "lepton.dataset" not in parent.data.tags


def test_a_resumed_study_keeps_the_best_value_of_its_earlier_sessions(sqlite_uri, tmp_path):
    """A minimised metric (log_loss): the best so far is the lowest, over both sessions."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for session in range(2):  # two trials each
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="best-so-far",
                                log_models=False, strict=True)
        drive_search(tracker, study_name="best", storage=storage, n_trials=2, epochs=2,
                     seed=session, metric="log_loss")
        tracker.fail_search(error=KeyboardInterrupt())
    client = tracker.client
    values = sorted(client.get_metric_history(tracker.parent_run_id, "trial_value"),
                    key=lambda m: m.step)
    best = sorted(client.get_metric_history(tracker.parent_run_id, "best_trial_value"),
                  key=lambda m: m.step)
    assert [m.step for m in values] == [0, 1, 2, 3]
    running = [min(m.value for m in values[:i + 1]) for i in range(len(values))]
    assert [m.value for m in best] == pytest.approx(running)


# -- 3, 7: lepton run -------------------------------------------------------------------------
def test_lepton_run_names_its_search_run_after_the_dataset(tmp_path, capsys):
    from mlflow import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # 25 s: at 15 a machine loaded to 3-4 refused the budget as too small (the tracking
    # reserve follows the load: 10.4 s of it, and 4.9 s to start the tracking)
    assert main(["run", "iris", "--time-budget", "25", "--tracking-uri", store,
                 "--experiment", "cli-names", "--verbose", "0"]) == 0
    client = MlflowClient(store)
    [run] = _search_runs(client, client.get_experiment_by_name("cli-names").experiment_id)
    assert run.info.run_name == "search-iris"
    assert run.data.tags["lepton.dataset"] == "iris"
    # the CLI's --time-budget is a float: logged as the estimator API logs 15
    assert run.data.params["settings.time_budget"] == "25"
    assert run.data.tags["mlflow.source.name"] == sys.argv[0]
