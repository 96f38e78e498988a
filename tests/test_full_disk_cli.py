"""`lepton run` on a full disk: the held-out scores are printed, then the step that failed
is said in a line (its path or store, its cause) and the exit status is 1, with no
traceback (review helper-87: a save ended in joblib's 170-line traceback naming no path; a
store that filled during a --register run, in MLflow's). The disk is simulated (CI does
not run as root to mount a small tmpfs); /tmp/rev_90 has the real repro."""

from __future__ import annotations

import errno

import joblib
import pytest

from lepton import steps
from lepton.cli import main

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def _full_disk(monkeypatch):
    """joblib.dump as it fails on a full disk: part of the file written, then ENOSPC."""
    def dump(value, filename, **kwargs):
        with open(filename, "wb") as f:
            f.write(b"part of a model")
        raise ENOSPC

    monkeypatch.setattr(joblib, "dump", dump)


def test_save_names_the_path_and_the_cause_and_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"earlier model")
    _full_disk(monkeypatch)
    with pytest.raises(steps.SaveError, match=(
            rf"^could not save the model to {path}: no space left on device \(OSError errno "
            r"28\); the file there before is unchanged$")) as raised:
        steps.save({"version": 2}, str(path))
    assert raised.value.errno == errno.ENOSPC  # an OSError still: the flow retries it
    assert path.read_bytes() == b"earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]  # no partial left
    with pytest.raises(steps.SaveError, match="; nothing was written there$"):
        steps.save({"version": 2}, str(tmp_path / "new.joblib"))


def test_run_save_on_a_full_disk_prints_the_scores_then_the_error(tmp_path, monkeypatch,
                                                                  capsys):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"earlier model")
    _full_disk(monkeypatch)
    assert main(["run", "iris", "--time-budget", "4", "--no-tracking", "--verbose", "0",
                 "--save", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "held-out accuracy: " in out and "saved the fitted model" not in out
    assert err.strip().splitlines()[-1] == (
        f"lepton: error: could not save the model to {path}: no space left on device "
        "(OSError errno 28); the file there before is unchanged; free some space on that "
        "disk, or --save to another one, and run again")
    assert "Traceback" not in err
    assert path.read_bytes() == b"earlier model"


def _store_full(statement: str):
    """The exception MLflow's SQL store raised when its SQLite disk filled (MLflow 3)."""
    import sqlite3

    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
    from sqlalchemy.exc import OperationalError

    cause = OperationalError(statement, ("649c93c87b864029af7fd60f0c19c2e1", 1.0),
                             sqlite3.OperationalError("database or disk is full"))
    return MlflowException(message=cause, error_code=TEMPORARILY_UNAVAILABLE)


class _FullStoreTracker:
    """A tracker whose store's disk filled during the search, as the real run left it:
    the end-of-search registration failed (a warning, collected), no version exists, and
    recording the held-out scores raises MLflow's error."""

    enabled, registered_version, stopped, registry_uri = True, None, None, None
    experiment_name, parent_run_id = "lepton-iris", "649c93c87b864029af7fd60f0c19c2e1"

    def __init__(self, store: str):
        from lepton.tracking._mlflow import _describe

        self.tracking_uri, self.registered_model_name = store, "full-nn"
        failed = _store_full("INSERT INTO registered_models (name) VALUES (?)")
        self.tracking_errors = [f"MLflow tracking: end_search (models) failed: "
                                f"{_describe(failed)}"]

    def log_test_metrics(self, metrics):
        raise _store_full('INSERT INTO metrics ("key", value) VALUES (?, ?)')


def _run_on_a_full_store(store: str, monkeypatch, **tracker) -> int:
    """`lepton run iris --register full-nn`, its store full after the search. The search
    runs untracked (a new SQLite store took 7 s to create), its tracker replaced by one
    left as the real run's was (``tracker``: attributes changed)."""
    build, search = steps.build_estimator, steps.search

    def untracked(split, **options):
        return build(split, **{**options, "tracking": False, "register": None,
                               "tracking_uri": None, "experiment": None})

    def searched(model, split):
        model = search(model, split)
        model.tracker_ = _FullStoreTracker(store)
        vars(model.tracker_).update(tracker)
        return model

    monkeypatch.setattr(steps, "build_estimator", untracked)
    monkeypatch.setattr(steps, "search", searched)
    return main(["run", "iris", "--time-budget", "4", "--tracking-uri", store,
                 "--register", "full-nn", "--verbose", "0"])


def test_run_register_with_the_store_full_says_it_could_not_register(tmp_path, monkeypatch,
                                                                      capsys):
    """The store's disk filled during the search: the version was not registered, and
    recording the held-out scores raised MLflow's error out of `lepton run` (exit 1, the
    "could not register" line never printed)."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert _run_on_a_full_store(store, monkeypatch) == 1
    out, err = capsys.readouterr()
    assert "held-out accuracy: " in out
    assert err.strip().splitlines()[-2:] == [
        "lepton: error: could not record the held-out scores in MLflow run "
        f"649c93c87b864029af7fd60f0c19c2e1 of {store} (MlflowException: "
        "(sqlite3.OperationalError) database or disk is full); the store's disk is full: "
        "free some space there",
        f"lepton: error: --register full-nn: could not register the model in {store}: no "
        "version was registered: MLflow tracking: end_search (models) failed: "
        "MlflowException: (sqlite3.OperationalError) database or disk is full; the "
        "champion is unchanged"]
    assert "Traceback" not in err and "[SQL:" not in err


def test_a_version_registered_before_the_store_filled_stays_pending(tmp_path, monkeypatch,
                                                                    capsys):
    """The held-out scores could not be recorded: the run fails, and its version is not
    promoted (as the flow leaves it when its record task fails)."""
    def promote(model, split):
        raise AssertionError("promoted after the run failed")

    monkeypatch.setattr(steps, "promote", promote)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert _run_on_a_full_store(store, monkeypatch, registered_version="3", tracking_errors=[],
                                promotion="pending: to be decided on the run's held-out "
                                          "rows") == 1
    out, err = capsys.readouterr()
    assert "registered as 'full-nn' version 3: pending" in out
    assert err.strip().splitlines()[-1] == (
        "lepton: error: --register full-nn: version 3 stays 'pending', the champion "
        "unchanged: the run failed after registering it (said above)")
