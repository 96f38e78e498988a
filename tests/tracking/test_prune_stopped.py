"""`lepton prune` stopped by an error (a full disk) exits 1 and says so in a line: it
printed "stopped by" with SQLAlchemy's SQL dump and exited 0, so a cron job saw a success
(review helper-87). The full disk is simulated: CI does not run as root to mount a small
tmpfs; /tmp/rev_90/b.sh has the real repro."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from lepton.cli import main
from lepton.tracking.prune import plan_prune


def _disk_full(statement: str):
    """What MLflow's SQL store raised, and logged with its traceback, when the SQLite
    database's disk was full (MLflow 3)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
    from sqlalchemy.exc import OperationalError

    cause = OperationalError(statement, (1796665479571, "deleted", "9f924e6a4c30"),
                             sqlite3.OperationalError("database or disk is full"))
    logging.getLogger("mlflow.store.db.utils").exception(
        "SQLAlchemy database error. The following exception is caught.\n%s", cause)
    return MlflowException(message=cause, error_code=TEMPORARILY_UNAVAILABLE)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Three finished searches of an experiment, and a store whose disk is full."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    searches = []
    for name in ("a", "b", "c"):
        parent = client.create_run(exp_id, run_name=name,
                                   tags={"lepton.role": "search"}).info.run_id
        trial = client.create_run(exp_id, tags={"lepton.role": "trial",
                                                "mlflow.parentRunId": parent}).info.run_id
        for run_id in (trial, parent):
            client.set_terminated(run_id)
        searches.append((parent, trial))

    def full(self, run_id):
        raise _disk_full("UPDATE runs SET deleted_time=?, lifecycle_stage=? "
                         "WHERE runs.run_uuid = ?")

    monkeypatch.setattr(SqlAlchemyStore, "delete_run", full)
    return uri, client, searches, tmp_path / "mlflow.db"


def test_prune_stopped_by_a_full_disk_exits_1_and_says_what_to_do(store, capsys, caplog):
    uri, client, searches, db = store
    assert main(["prune", "--keep", "1", "--yes", "--tracking-uri", uri]) == 1
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-2:] == [
        "deleted 0 runs, 0 logged models; freed 0 bytes of files",
        "stopped by MlflowException: (sqlite3.OperationalError) database or disk is full; "
        f"the disk of {db} is full, and SQLite needs free space on it even to delete rows "
        "(it journals each change): free some space on that disk first, then run the "
        "prune again for the rest"]
    assert "[SQL:" not in out + err  # nor MLflow's own log of it, with its traceback
    assert "SQLAlchemy database error" not in caplog.text
    for parent, trial in searches:  # nothing was deleted
        assert client.get_run(parent).info.lifecycle_stage == "active"


def test_a_full_disk_on_an_orphan_stops_the_prune_too(store):
    """Orphans' errors were all taken for 'deleted meanwhile' and passed over."""
    from mlflow.tracking import _get_store

    uri, client, searches, _ = store
    parent, trial = searches[0]
    _get_store(uri)._hard_delete_run(parent)  # its trial is an orphan now
    plan = plan_prune(uri, keep=5)
    assert plan.delete == [] and plan.orphans["e"] == [trial]
    result = plan.execute()
    assert result.stopped and result.runs == 0
    assert "database or disk is full; the disk of" in result.describe()


def test_one_line_leaves_the_sql_out():
    from lepton.tracking._store import one_line

    text = ("(raised as a result of Query-invoked autoflush; consider using a "
            "session.no_autoflush block if this flush is occurring prematurely)\n"
            "(sqlite3.OperationalError) database or disk is full\n"
            "[SQL: INSERT INTO runs (run_uuid, name)\nVALUES (?, ?)]\n"
            "[parameters: ('638b461d', 'trial-0')]\n"
            "(Background on this error at: https://sqlalche.me/e/21/e3q8)")
    assert one_line(text) == "(sqlite3.OperationalError) database or disk is full"
