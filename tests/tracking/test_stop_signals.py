"""Ctrl-C and SIGTERM after the search, while its MLflow run is logged (the seconds at the
end of a tracked fit where a scheduler's cancel often lands) and while ``lepton run``
scores, saves, records and promotes. Before, the signal raised wherever it landed: the
parent run stayed RUNNING, the logged model PENDING for good, and a ``--save`` after it
was never written. The signals are real (raised in this process, on the main thread,
where the handlers are installed) at a chosen point of the logging."""

from __future__ import annotations

import signal
import threading

import joblib
import pytest
from sklearn.datasets import load_iris

from lepton import LeptonClassifier
from lepton.search import Terminated
from lepton.tracking import MLflowTracker

SPACE = {"base": "mlp", "parameters": {
    "n_layers": 1, "width": {"type": "int", "low": 8, "high": 16, "per_layer": True},
    "epochs": 8, "batch_size": 16,
}}


@pytest.fixture
def default_signals():
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("needs the main thread and default SIGTERM handling (raising SIGTERM "
                    "here would end the test process)")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _fit(uri: str, experiment: str, **kwargs) -> LeptonClassifier:
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=60, n_trials=2, search_space=SPACE, cv=None,
                           tracking_uri=uri, experiment_name=experiment, random_state=0,
                           **kwargs)
    return clf.fit(X, y)


def _runs_and_models(uri: str, experiment: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    parents = [r for r in client.search_runs([experiment_id])
               if "mlflow.parentRunId" not in r.data.tags]
    models = client.search_logged_models(experiment_ids=[experiment_id])
    return parents, {m.name: str(m.status) for m in models}


def test_ctrl_c_while_the_run_is_logged_returns_the_fitted_model_and_ends_the_run(
        sqlite_uri, monkeypatch, default_signals, capfd):
    logged = MLflowTracker._log_summary

    def summary_then_ctrl_c(self, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # heard, not raised: the summary goes on
        return logged(self, *args, **kwargs)

    monkeypatch.setattr(MLflowTracker, "_log_summary", summary_then_ctrl_c)
    with pytest.warns(UserWarning, match="Ctrl-C stopped the MLflow logging at the end of fit"):
        clf = _fit(sqlite_uri, "ctrl-c-logging", registered_model_name="ctrl-c-logging")
    assert "lepton: Ctrl-C: the model is fitted; stopping its MLflow logging" in capfd.readouterr().err
    assert clf.tracker_.stopped == "Ctrl-C" and clf.predict(load_iris().data[:3]).shape == (3,)
    assert not clf.search_interrupted_  # the search itself ran to its end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handed back
    [parent], models = _runs_and_models(sqlite_uri, "ctrl-c-logging")
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["lepton.stopped"] == (
        "Ctrl-C during the end-of-search logging; not logged: the model and its "
        "registration, the tables and plots")
    assert parent.data.metrics["n_trials_complete"] >= 1  # the summary, under way, was kept
    assert models == {}  # nothing half-logged, nothing registered
    assert clf.tracker_.registered_version is None


def test_a_second_ctrl_c_while_the_model_is_logged_fails_it_instead_of_leaving_it_pending(
        sqlite_uri, monkeypatch, default_signals):
    created = MLflowTracker._new_logged_model
    calls = []

    def created_then_two_ctrl_c(self, name):
        model_id = created(self, name)
        calls.append(name)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # heard: the logging would finish
            signal.raise_signal(signal.SIGINT)  # again: stop at once
        return model_id

    monkeypatch.setattr(MLflowTracker, "_new_logged_model", created_then_two_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        _fit(sqlite_uri, "two-ctrl-c")
    [parent], models = _runs_and_models(sqlite_uri, "two-ctrl-c")
    assert parent.info.status == "KILLED"
    assert parent.data.tags["lepton.error"].startswith("KeyboardInterrupt")
    assert models == {"model": "FAILED"}


def test_sigterm_while_the_run_is_logged_ends_it_killed_and_the_fit_exits(
        sqlite_uri, monkeypatch, default_signals):
    logged = MLflowTracker._log_summary

    def summary_then_sigterm(self, *args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return logged(self, *args, **kwargs)

    monkeypatch.setattr(MLflowTracker, "_log_summary", summary_then_sigterm)
    with pytest.warns(UserWarning, match="SIGTERM stopped the MLflow logging"), \
            pytest.raises(Terminated) as stopped:
        _fit(sqlite_uri, "sigterm-logging")
    assert stopped.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    [parent], models = _runs_and_models(sqlite_uri, "sigterm-logging")
    assert parent.info.status == "KILLED"
    assert parent.data.tags["lepton.stopped"].startswith("SIGTERM during the end-of-search")
    assert models == {}


@pytest.mark.slow
def test_lepton_run_saves_the_model_when_ctrl_c_comes_after_the_search(
        tmp_path, monkeypatch, default_signals, capsys):
    """Ctrl-C while the held-out rows are scored: the model is saved (first, now), the
    record and the promotion are left out and said so; the registered version stays
    'pending' and the champion alias does not move; exit status 130."""
    import mlflow

    from lepton import steps
    from lepton.cli import main

    scored = steps.evaluate

    def ctrl_c_then_score(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return scored(*args, **kwargs)

    monkeypatch.setattr(steps, "evaluate", ctrl_c_then_score)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = tmp_path / "model.joblib"
    assert main(["run", "iris", "--time-budget", "25", "--register", "stopped-iris",
                 "--tracking-uri", store, "--save", str(path), "--verbose", "0"]) == 130
    err = capsys.readouterr().err
    assert (f"lepton: interrupted (Ctrl-C) after the search: the model is saved to {path}; "
            "left out: MLflow record, promotion (version 1 of 'stopped-iris' stays 'pending': "
            "the champion alias did not move)") in err, err
    assert joblib.load(path).predict(load_iris(as_frame=True).data.iloc[:2]).shape == (2,)
    client = mlflow.MlflowClient(store)
    assert client.get_model_version("stopped-iris", "1").tags["lepton.promotion"].startswith(
        "pending")
    assert not client.get_registered_model("stopped-iris").aliases


@pytest.mark.slow
def test_lepton_run_saves_the_model_when_sigterm_stops_the_end_of_fit_logging(
        tmp_path, monkeypatch, default_signals, capsys):
    """SIGTERM while fit logs the search's run: fit raises Terminated (the process is to
    end), which carries the fitted model; `lepton run --save` writes it before exiting
    143. Before, the model was lost (saved only after fit returned)."""
    from lepton.cli import main

    logged = MLflowTracker._log_summary

    def summary_then_sigterm(self, *args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return logged(self, *args, **kwargs)

    monkeypatch.setattr(MLflowTracker, "_log_summary", summary_then_sigterm)
    path = tmp_path / "model.joblib"
    assert main(["run", "iris", "--time-budget", "25", "--verbose", "0", "--register", "term",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                 "--save", str(path)]) == 143
    err = capsys.readouterr().err
    assert (f"lepton: terminated (SIGTERM) after the search: the model is saved to {path}; "
            "left out: held-out scores, MLflow record") in err, err
    saved = joblib.load(path)
    assert saved.predict(load_iris(as_frame=True).data.iloc[:2]).shape == (2,)
    assert saved.fit_time_ > 0 and not hasattr(saved, "_new_study")
    # the model was registered before the plots the signal stopped: its version is named
    monkeypatch.setattr(MLflowTracker, "_log_summary", logged)
    monkeypatch.setattr(_artifacts_module(), "write_tables", _then_sigterm(
        _artifacts_module().write_tables))
    assert main(["run", "iris", "--time-budget", "25", "--verbose", "0", "--register", "term",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                 "--save", str(path)]) == 143
    assert ("left out: held-out scores, MLflow record, promotion (version 1 of 'term' stays "
            "'pending': the champion alias did not move)") in capsys.readouterr().err


def _artifacts_module():
    from lepton.tracking import _artifacts

    return _artifacts


def _then_sigterm(function):
    def then_sigterm(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return function(*args, **kwargs)
    return then_sigterm


def test_a_stop_during_the_plots_names_them_and_a_resumed_session_drops_the_tag(
        sqlite_uri, tmp_path, monkeypatch, default_signals):
    """Ctrl-C as the tables and plots are written: the plots left are named in the tag and
    in plots/skipped.json as stopped (they read 'no time left in time_budget', and the tag
    'not logged: nothing'). The next session of the study resumes the run and finishes:
    the tag goes with the session it describes."""
    import json

    from mlflow import MlflowClient

    from lepton.tracking import _artifacts

    tables = _artifacts.write_tables

    def tables_then_ctrl_c(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return tables(*args, **kwargs)

    monkeypatch.setattr(_artifacts, "write_tables", tables_then_ctrl_c)
    study = dict(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="plots")
    with pytest.warns(UserWarning, match="Ctrl-C stopped the MLflow logging"):
        first = _fit(sqlite_uri, "stopped-plots", **study)
    client = MlflowClient(sqlite_uri)
    run = client.get_run(first.tracking_run_id_)
    assert run.data.tags["lepton.stopped"] == (
        "Ctrl-C during the end-of-search logging; not logged: the optimization history "
        "plot, the parameter importances plot, the parallel coordinate plot, the learning "
        "curves plot, the evaluation plot of the validation predictions")
    skipped = json.loads(open(client.download_artifacts(run.info.run_id,
                                                        "plots/skipped.json")).read())
    assert set(skipped.values()) == {"stopped (Ctrl-C)"}, skipped
    monkeypatch.setattr(_artifacts, "write_tables", tables)
    again = _fit(sqlite_uri, "stopped-plots", **study)
    run = client.get_run(again.tracking_run_id_)
    assert run.info.run_id == first.tracking_run_id_ and "lepton.stopped" not in run.data.tags
