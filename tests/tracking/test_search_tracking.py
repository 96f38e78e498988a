"""A real LeptonClassifier search tracked in an embedded MLflow store: parallel trials
land in their own child runs, a resumed study continues under the same parent run, the
champion is registered, and the fitted, tracked estimator pickles."""

from __future__ import annotations

import pickle
import re

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from lepton import LeptonClassifier

from .conftest import is_running, writer_children

SPACE = {"base": "mlp", "parameters": {
    "n_layers": 1, "width": {"type": "int", "low": 8, "high": 32, "per_layer": True},
    "epochs": {"type": "int", "low": 8, "high": 16}, "batch_size": 16,
}}


@pytest.fixture(scope="module")
def tracked(sqlite_uri, tmp_path_factory):
    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'study.db'}"
    X, y = load_iris(return_X_y=True)
    X = pd.DataFrame(X)  # columns named 0-3, as pd.DataFrame(array) names them
    kwargs = dict(time_budget=120, search_space=SPACE, cv=None, n_jobs=2, storage=storage,
                  study_name="tracked-iris", tracking_uri=sqlite_uri, experiment_name="e2e",
                  registered_model_name="e2e-iris", random_state=0)
    first = LeptonClassifier(n_trials=6, **kwargs).fit(X, y)
    first_parent = first.tracker_.parent_run_id
    second = LeptonClassifier(n_trials=9, **kwargs).fit(X, y)  # resume: 3 more trials
    return first, first_parent, second, X


def _children(client, parent_id):
    runs = client.search_runs(
        [client.get_run(parent_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=1000)
    return {int(r.data.tags["lepton.trial_number"]): r for r in runs}


def test_parallel_trials_each_log_into_their_own_child_run(tracked):
    first, _, second, _ = tracked
    client = second.tracker_.client
    children = _children(client, second.tracker_.parent_run_id)
    finished = [t for t in second.study_.trials if t.state.is_finished()]
    assert set(children) == {t.number for t in finished}
    for t in finished:
        run = children[t.number]
        assert run.data.tags["lepton.state"] == {"COMPLETE": "complete", "PRUNED": "pruned",
                                                 "FAIL": "failed"}[t.state.name]
        if t.state == optuna.trial.TrialState.COMPLETE:
            # every epoch of this trial, and nothing from another trial running beside it
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
            assert sorted(steps) == list(range(1, t.user_attrs["epochs"] + 1))
            assert float(run.data.params["learning_rate"]) == pytest.approx(t.params["learning_rate"])


def test_a_writer_process_wrote_the_trials_and_exited_with_the_fit(tracked):
    first, _, second, _ = tracked
    for fitted in (first, second):
        tracker = fitted.tracker_
        proc = tracker.writer_process  # the default writer: a child process per search
        assert proc is not None and proc.returncode == 0  # it ran, and fit waited for it
        assert not is_running(proc.pid) and proc.pid not in writer_children()
        assert tracker.writer_fallback is None and tracker.tracking_errors == []
        # its flush replies gave every trial of this session its run id
        assert all(t.run_id for t in tracker._trials.values()) and tracker._trials


def test_resumed_study_continues_under_the_same_parent_run(tracked):
    first, first_parent, second, _ = tracked
    assert second.tracker_.parent_run_id == first_parent
    parent = second.tracker_.client.get_run(first_parent)
    assert parent.data.tags["lepton.resume_count"] == "1"
    assert len([t for t in second.study_.trials if t.state.is_finished()]) >= 9


def test_final_model_is_registered_and_the_tracked_estimator_pickles(tracked):
    _, _, second, X = tracked
    client = second.tracker_.client
    champion = client.get_model_version_by_alias("e2e-iris", "champion")
    assert champion.run_id == second.tracker_.parent_run_id
    # the registered model scores the DataFrame the search was given (its schema named the
    # columns '0'-'3', which MLflow then found missing from it)
    import mlflow.pyfunc

    mlflow.set_tracking_uri(second.tracker_.tracking_uri)
    # the second fit's own version: the champion may be the first's (the better of two)
    model = mlflow.pyfunc.load_model(f"models:/e2e-iris/{second.tracker_.registered_version}")
    assert model.metadata.get_input_schema().input_names() == [0, 1, 2, 3]
    np.testing.assert_array_equal(model.predict(X), second.predict(X))
    clone = pickle.loads(pickle.dumps(second))
    np.testing.assert_array_equal(clone.predict_proba(X), second.predict_proba(X))
    assert clone.tracking_run_id_ == second.tracker_.parent_run_id
    assert not clone.tracker_.enabled
    # the tracker itself pickles too, without its (exited) writer process
    tracker = pickle.loads(pickle.dumps(second.tracker_))
    assert tracker.writer_process is None and tracker.parent_run_id == clone.tracking_run_id_


def test_fitting_again_logs_a_model_that_names_its_own_run(sqlite_uri):
    """The model a fit logs is the estimator as that fit left it: fitted again, it named
    the previous fit's run (and carried that fit's fit_time_)."""
    import mlflow.pyfunc

    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=60, n_trials=2, search_space=SPACE, cv=None,
                           tracking_uri=sqlite_uri, experiment_name="fit-again", random_state=0)
    first = clf.fit(X, y).tracking_run_id_
    second = clf.fit(X, y).tracking_run_id_
    assert first != second and clf.fit_time_ > 0
    run = clf.tracker_.client.get_run(second)
    mlflow.set_tracking_uri(sqlite_uri)
    logged = mlflow.pyfunc.load_model(run.data.tags["lepton.model_uri"]).unwrap_python_model()
    assert logged.estimator.tracking_run_id_ == second
    assert not hasattr(logged.estimator, "fit_time_")  # set once the logging is done


def test_a_fit_that_failed_before_any_trial_leaves_its_run_and_the_next_starts_afresh(
        sqlite_uri, tmp_path, monkeypatch):
    """A fit that failed after its search run was opened, before any trial, removes its
    new study; the next fit of that study took the failed run over (resume count 1, the
    failed attempt's settings as params, its error tag on a finished run). It starts a
    run of its own now; and a resumed session drops the last session's error. A budget
    too small is refused before the run opens (review helper-65): no run at all."""
    from mlflow.tracking import MlflowClient

    import lepton.search.estimators as estimators

    X, y = load_iris(return_X_y=True)
    kwargs = dict(search_space=SPACE, cv=None, tracking_uri=sqlite_uri, random_state=0,
                  experiment_name="failed-first", storage=str(tmp_path / "study.db"),
                  study_name="s")
    with pytest.raises(ValueError, match="too small"):
        LeptonClassifier(time_budget=5, **kwargs).fit(X, y)
    client = MlflowClient(sqlite_uri)
    experiment = client.get_experiment_by_name("failed-first")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []

    def failing(*args, **kwargs):
        raise RuntimeError("the search failed before its first trial")

    monkeypatch.setattr(estimators, "run_trials", failing)
    with pytest.raises(RuntimeError, match="before its first trial"):
        LeptonClassifier(time_budget=60, n_trials=2, **kwargs).fit(X, y)
    monkeypatch.undo()
    experiment = client.get_experiment_by_name("failed-first").experiment_id
    [failed] = client.search_runs([experiment])
    assert failed.info.status == "FAILED"
    clf = LeptonClassifier(time_budget=60, n_trials=2, **kwargs).fit(X, y)
    assert clf.tracking_run_id_ != failed.info.run_id
    run = client.get_run(clf.tracking_run_id_)
    assert run.data.tags["lepton.resume_count"] == "0" and "lepton.error" not in run.data.tags
    client.set_tag(run.info.run_id, "lepton.error", "an earlier session's error")
    again = LeptonClassifier(time_budget=60, n_trials=3, **kwargs).fit(X, y)
    run = client.get_run(again.tracking_run_id_)
    assert run.info.run_id == clf.tracking_run_id_ and run.data.tags["lepton.resume_count"] == "1"
    assert "lepton.error" not in run.data.tags and run.info.status == "FINISHED"


def test_a_budget_too_small_for_tracking_says_what_the_reserve_is_for(sqlite_uri):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"time_budget=5s is too small: .* a reserve of "
                                         r"[\d.]+s \(([\d.]+)s of it for the tracker's "
                                         r"end-of-search logging") as tracked:
        LeptonClassifier(time_budget=5, search_space=SPACE, cv=None, tracking_uri=sqlite_uri,
                         experiment_name="too-small").fit(X, y)
    # 7 s on an idle machine, more on a busy one (tests/search: test_tracking_reserve...)
    reserve = re.search(r"\(([\d.]+)s of it for the tracker's", str(tracked.value))
    assert float(reserve.group(1)) >= 7.0
    with pytest.raises(ValueError, match=r"too small") as untracked:
        LeptonClassifier(time_budget=0.001, search_space=SPACE, cv=None).fit(X, y)
    assert "tracker" not in str(untracked.value)


def test_an_interrupted_trial_shows_as_killed_and_the_search_as_interrupted(sqlite_uri,
                                                                           monkeypatch):
    """Ctrl-C in trial 2's training (raised there as the signal would; the real signal:
    tests/search/test_interrupt.py): its child run ends KILLED with the reason and the
    trial that reruns it, the parent run finishes with the model of trials 0-1, tagged."""
    from lepton.search import _search

    real = _search.PruningReporter.on_epoch_end

    def on_epoch_end(self, record, **kwargs):
        if self.trial.number == 2 and record["epoch"] == 3:
            raise KeyboardInterrupt
        return real(self, record, **kwargs)

    monkeypatch.setattr(_search.PruningReporter, "on_epoch_end", on_epoch_end)
    X, y = load_iris(return_X_y=True)
    with pytest.warns(UserWarning, match=r"search interrupted \(Ctrl-C\) after 2 finished"):
        clf = LeptonClassifier(time_budget=120, n_trials=6, search_space=SPACE, cv=None,
                               tracking_uri=sqlite_uri, experiment_name="interrupted",
                               random_state=0).fit(X, y)
    assert clf.search_interrupted_ and clf.final_choice_ in ("ensemble", "best_trial")
    client = clf.tracker_.client
    parent = client.get_run(clf.tracking_run_id_)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["lepton.search_interrupted"] == "true"
    children = _children(client, clf.tracking_run_id_)
    assert sorted(children) == [0, 1, 2]
    run = children[2]
    assert run.info.status == "KILLED" and run.data.tags["lepton.state"] == "interrupted"
    assert run.data.tags["lepton.reason"].startswith("interrupted (Ctrl-C) after ")
    match = re.search(r"; queued to run again as trial (\d+)$", run.data.tags["lepton.reason"])
    retry = clf.study_.trials[int(match.group(1))]
    assert retry.state == optuna.trial.TrialState.WAITING
    assert retry.params == clf.study_.trials[2].params


def test_a_table_with_named_columns_logs_its_model_without_pandas_warnings(sqlite_uri):
    """With pandas 3, MLflow's input-example code compares the frame's column names with
    a range and warns ('Operation with range is deprecated'): every `lepton run` on a table
    printed it as 'lepton: warning: Pandas4Warning: ...'."""
    import warnings

    X, y = load_iris(return_X_y=True, as_frame=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = LeptonClassifier(time_budget=60, n_trials=1, search_space=SPACE, cv=None,
                               tracking_uri=sqlite_uri, experiment_name="named-columns",
                               random_state=0).fit(X, y)
    assert clf.tracker_.client.get_run(clf.tracking_run_id_).data.tags["lepton.model_uri"]
    assert not [str(w.message) for w in caught if "range" in str(w.message)]


def test_a_tracked_fit_leaves_the_root_logger_as_the_caller_set_it():
    """With pytorch-lightning installed, `import mlflow.pytorch` (the torch copy of the
    network) ran logging.basicConfig(level=ERROR): a notebook's warnings and its own
    basicConfig(level=INFO) went silent after the first tracked fit."""
    import importlib.util
    import logging
    import sys

    from lepton.tracking._mlflow import _import_mlflow_pytorch

    if importlib.util.find_spec("pytorch_lightning") is None and \
            importlib.util.find_spec("lightning") is None:
        pytest.skip("pytorch-lightning is not installed: mlflow.pytorch leaves logging alone")
    for name in [m for m in sys.modules if m == "mlflow.pytorch" or
                 m.startswith("mlflow.pytorch.")]:
        sys.modules.pop(name)  # imported afresh, as in a new kernel
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        root.setLevel(logging.WARNING)
        root.handlers[:] = []
        _import_mlflow_pytorch()
        assert (root.level, root.handlers) == (logging.WARNING, [])
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def test_importing_mlflows_torch_flavour_leaves_the_environment_as_it_was():
    """lightning_fabric's import (under mlflow.pytorch) set PYTORCH_NVML_BASED_CUDA_CHECK
    for the rest of the user's process (review helper-83). A new process: it is set once."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("lightning_fabric") is None:
        pytest.skip("lightning is not installed: mlflow.pytorch leaves the environment alone")
    script = ("import os\n"
              "from lepton.tracking._mlflow import _import_mlflow_pytorch\n"
              "before = dict(os.environ)\n"
              "_import_mlflow_pytorch()\n"
              "import lightning_fabric\n"  # (it was imported: no-op)
              "print(sorted(set(os.environ.items()) ^ set(before.items())))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_tracked_fit_quiets_mlflow_for_its_own_calls_only(sqlite_uri, monkeypatch):
    """Telemetry off and HTTP calls that give up in seconds while Lepton talks to MLflow;
    the caller's environment as it was after: a notebook's own MLflow uploads gave up
    after 30 s and 2 retries for the rest of the session, other tools saw DO_NOT_TRACK.
    A value the caller set is kept throughout."""
    import os

    from lepton.tracking import MLflowTracker
    from lepton.tracking._store import quiet_mlflow_env

    for key in quiet_mlflow_env():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    seen = []
    summary = MLflowTracker._log_summary

    def observed(self, *args, **kwargs):
        seen.append({key: os.environ.get(key) for key in quiet_mlflow_env()})
        return summary(self, *args, **kwargs)

    monkeypatch.setattr(MLflowTracker, "_log_summary", observed)
    X, y = load_iris(return_X_y=True)
    LeptonClassifier(time_budget=60, n_trials=1, search_space=SPACE, cv=None,
                     tracking_uri=sqlite_uri, experiment_name="quiet-env",
                     random_state=0).fit(X, y)
    assert seen == [{**quiet_mlflow_env(), "MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}]
    assert {key: os.environ.get(key) for key in quiet_mlflow_env()} == {
        **{key: None for key in quiet_mlflow_env()}, "MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}


def test_a_failed_trials_child_run_says_why(sqlite_uri, monkeypatch):
    """Only interrupted and crashed trials' reasons were checked (mutation review
    helper-82: a failed trial's run without its reason survived)."""
    from lepton.search import _search

    real = _search.fit_model

    def flaky_fit(*args, **kwargs):
        if not hasattr(flaky_fit, "done"):
            flaky_fit.done = True
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        return real(*args, **kwargs)

    monkeypatch.setattr(_search, "fit_model", flaky_fit)
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=60, n_trials=2, search_space=SPACE, cv=None,
                           tracking_uri=sqlite_uri, experiment_name="failing",
                           random_state=0).fit(X, y)
    run = _children(clf.tracker_.client, clf.tracking_run_id_)[0]
    assert run.data.tags["lepton.state"] == "failed"
    assert run.data.tags["lepton.reason"] == \
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied"
