"""A tracking store whose disk fills (review helper-87, helper-90): the search's run is
never left RUNNING, and what failed is said in a line, without MLflow's SQL dumps and
tracebacks. The store's failures are raised as MLflow raised them on a full disk."""

from __future__ import annotations

import logging

import pytest

from lepton.tracking import MLflowTracker, TrackingError

from ._drive import drive_search, leaderboard

SQL_DUMP = ("(raised as a result of Query-invoked autoflush; consider using a "
            "session.no_autoflush block if this flush is occurring prematurely)\n"
            "(sqlite3.OperationalError) database or disk is full\n"
            "[SQL: INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)]\n"
            "[parameters: ('settings.storage', 'None', 'c1fef3bf')]\n"
            "(Background on this error at: https://sqlalche.me/e/21/e3q8)")


class _Records(logging.Handler):
    """What a logger let through its filters."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _full(*args, **kwargs):
    from mlflow.exceptions import MlflowException

    logging.getLogger("mlflow.store.db.utils").error(
        "SQLAlchemy database error. The following exception is caught.\n%s", SQL_DUMP)
    raise MlflowException(SQL_DUMP)


def test_a_search_run_that_cannot_start_is_said_in_a_line_and_not_left_running(
        sqlite_uri, monkeypatch):
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="full-start",
                            log_models=False)
    monkeypatch.setattr(tracker.client, "log_batch", _full)  # the params, after create_run
    logged = _Records()
    store_logger = logging.getLogger("mlflow.store.db.utils")  # (MLflow's do not propagate)
    store_logger.addHandler(logged)
    try:
        with pytest.raises(TrackingError) as raised:
            tracker.start_search(study_name="full", meta_features={}, search_space={},
                                 settings={"storage": None})
    finally:
        store_logger.removeHandler(logged)
    said = str(raised.value)
    assert said.startswith(f"MLflow store at tracking_uri={sqlite_uri!r} could not start "
                           "the search's run: MlflowException: ")
    assert "database or disk is full" in said and said.endswith("free some space there")
    assert "[SQL:" not in said and "\n" not in said
    assert not logged.records  # MLflow's log of it (its SQL, its traceback), left out
    run = tracker.client.get_run(tracker.parent_run_id)
    assert run.info.status == "FAILED"


def test_a_search_run_ends_though_its_tracking_errors_cannot_be_tagged(sqlite_uri,
                                                                        monkeypatch):
    """On a full disk the tag of the tracking errors failed, and the run's end with it: the
    run stayed RUNNING (review helper-90)."""
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="full-end",
                            log_models=False)
    study, best, X, _ = drive_search(tracker, study_name="full-end", n_trials=2, epochs=2)
    tracker.tracking_errors.append("MLflow tracking: a trial write failed: disk full")
    set_tag = tracker.client.set_tag

    def tag(run_id, key, value, **kwargs):
        if key == "lepton.tracking_errors":
            _full()
        return set_tag(run_id, key, value, **kwargs)

    monkeypatch.setattr(tracker.client, "set_tag", tag)
    with pytest.warns(RuntimeWarning, match=r"end_search \(tracking errors\) failed: "
                                            r"MlflowException: .*database or disk is full"):
        tracker.end_search(estimator=best, X_sample=X.iloc[:5], study=study,
                           leaderboard=leaderboard(study),
                           final={"choice": "refit", "metric": "accuracy",
                                  "validation_score": study.best_value})
    assert tracker.client.get_run(tracker.parent_run_id).info.status == "FINISHED"
    collected = tracker.tracking_errors[-1]
    assert "database or disk is full" in collected and "[SQL:" not in collected
