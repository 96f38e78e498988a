"""A SQLite store whose schema upgrade was interrupted opens again, its runs kept (review
helper-87: after a full disk stopped MLflow's upgrade, every `lepton run` failed with
'table _alembic_tmp_params already exists')."""

from __future__ import annotations

import contextlib
import sqlite3
import warnings

import pytest
import sqlalchemy

from lepton.tracking import MLflowTracker, TrackingError

# the upgrade step the full disk stopped in review helper-87 (params.value to 500 chars:
# one alembic batch step), and the revision before it
STOPPED = "cc1f77228345"
BEFORE = "0c779009ac13"


def _old_store(path) -> str:
    """A store at revision BEFORE, made by MLflow's own migrations, holding 2 runs with
    params and a registered model (rows written as that schema has them)."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    uri = f"sqlite:///{path}"
    engine = sqlalchemy.create_engine(uri)
    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(uri)
    with engine.begin() as conn, warnings.catch_warnings():
        # SQLAlchemy 2.1's deprecation of a loader MLflow's models use (see mlflow_client)
        warnings.filterwarnings("ignore", message=".*noload.*deprecated")
        config.attributes["connection"] = conn
        command.upgrade(config, BEFORE)
    engine.dispose()
    with sqlite3.connect(path) as con:
        con.execute(f"INSERT INTO experiments VALUES (0, 'Default', '{path.parent}/0', 'active')")
        for n in range(2):
            run = f"{n:032x}"
            con.execute("INSERT INTO runs (run_uuid, name, source_type, user_id, status, "
                        "start_time, lifecycle_stage, artifact_uri, experiment_id) VALUES "
                        "(?, ?, 'LOCAL', 'me', 'FINISHED', 1, 'active', '', 0)", (run, f"old-{n}"))
            con.executemany("INSERT INTO params VALUES (?, ?, ?)",
                            [(f"p{i}", "v" * 200, run) for i in range(50)])
        con.execute("INSERT INTO registered_models VALUES ('old-model', 1, 1, 'kept')")
    return uri


@contextlib.contextmanager
def _disk_full_at_step():
    """Opening a store fails the way the full disk did: 'database or disk is full' as the
    upgrade records revision STOPPED, after the step's copy, drop and rename."""
    def full(conn, cursor, statement, *args):
        if statement.startswith("UPDATE alembic_version") and STOPPED in statement:
            raise sqlite3.OperationalError("database or disk is full")

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", full)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", full)


def _state(path) -> tuple:
    with sqlite3.connect(path) as con:
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master")}
        return (con.execute("SELECT version_num FROM alembic_version").fetchone()[0],
                sorted(t for t in tables if t.startswith("_alembic_tmp")),
                con.execute("SELECT count(*) FROM params").fetchone()[0])


def test_interrupted_upgrade_resumes_and_keeps_runs(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = _old_store(db)
    # (Lepton drops the leftover and tries once more, stopped again by the disk: it warns)
    with _disk_full_at_step(), pytest.raises(TrackingError, match="database or disk is full"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLflowTracker(tracking_uri=uri, experiment_name="e")
    # what the full disk left (review helper-87's file): the step's copy of params, empty,
    # beside params itself, whole; the revision before the step
    assert _state(db) == (BEFORE, ["_alembic_tmp_params"], 100)

    with pytest.warns(Warning, match="_alembic_tmp_params it left were dropped"):
        tracker = MLflowTracker(tracking_uri=uri, experiment_name="e")
    revision, leftovers, params = _state(db)
    assert revision != BEFORE and not leftovers and params == 100

    client = tracker.client
    runs = client.search_runs(["0"], order_by=["attributes.run_name"])
    assert [r.info.run_name for r in runs] == ["old-0", "old-1"]
    assert runs[0].data.params["p7"] == "v" * 200
    assert client.get_registered_model("old-model").description == "kept"
    # and it takes new runs, with params of up to 500 characters (what the step was for)
    run = client.create_run(tracker.experiment_id)
    client.log_param(run.info.run_id, "long", "x" * 500)
    assert client.get_run(run.info.run_id).data.params["long"] == "x" * 500


def test_prune_and_ui_open_a_store_whose_upgrade_was_interrupted(tmp_path):
    """`lepton prune` and `lepton ui` opened such a store into MLflow's error; only a
    tracked fit mended it (helper-89)."""
    from lepton.tracking.prune import plan_prune
    from lepton.tracking.ui import latest_search_experiment

    for opens in (lambda uri: plan_prune(uri, keep=1), latest_search_experiment):
        db = tmp_path / f"{len(list(tmp_path.iterdir()))}.db"
        uri = _old_store(db)
        with _disk_full_at_step(), pytest.raises(TrackingError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLflowTracker(tracking_uri=uri, experiment_name="e")
        assert _state(db)[1] == ["_alembic_tmp_params"]
        with pytest.warns(Warning, match="_alembic_tmp_params it left were dropped"):
            opens(uri)
        revision, leftovers, params = _state(db)
        assert revision != BEFORE and not leftovers and params == 100
