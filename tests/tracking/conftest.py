"""Tracking fixtures: one embedded SQLite store and one finished search per session, and
a real ``mlflow server`` on a fresh PostgreSQL database (started once, stopped after)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from _procs import children
from lepton.tracking import MLflowTracker
from lepton.tracking._store import quiet_mlflow_env
from lepton._servers import stop
from lepton.tracking.ui import free_port

from ._drive import drive_search, finish

TEAM_SCRIPT = Path(__file__).resolve().parents[2] / "mlflow" / "start_team_server.sh"
# mlflow server / mlflow models serve answered after 9-25 s on a busy 2-core machine.
SERVER_TIMEOUT = 120


def wait_for(proc: subprocess.Popen, url: str, what: str, timeout: float = SERVER_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")[-3000:] if proc.stdout else ""
            pytest.fail(f"{what} exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    stop(proc)
    pytest.fail(f"{what} did not answer {url} within {timeout}s")


def writer_children() -> list[int]:
    """Pids of this process's children running the tracker's writer script (Linux /proc)."""
    return children(os.getpid(), b"_writer.py")


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def popen(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, env={**os.environ, **quiet_mlflow_env(), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def pg_store_uri(fresh_postgres_url) -> str:
    """An empty PostgreSQL database of this test alone, as an MLflow store URI (SQLAlchemy
    2.1 maps a bare postgresql:// to psycopg 3; the test environment has psycopg2)."""
    return fresh_postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture(scope="session")
def sqlite_uri(tmp_path_factory) -> str:
    """An embedded store shared by the tracking tests (creating one costs ~10 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-store') / 'mlflow.db'}"


@pytest.fixture(scope="session")
def iris_search(sqlite_uri):
    """A finished 4-trial search (trial 1 fails, trial 2 is pruned) registered as
    'iris-nn' with validation score 0.9."""
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="iris",
                            registered_model_name="iris-nn", strict=True)
    study, best, X, y = drive_search(tracker, study_name="iris", n_trials=4, fail_trial=1,
                                     prune_trial=2)
    finish(tracker, study, best, X, y, score=0.9)
    return SimpleNamespace(tracker=tracker, study=study, best=best, X=X, y=y,
                           client=tracker.client)


@pytest.fixture(scope="session")
def team_server(tmp_path_factory):
    """URL of a real ``mlflow server`` (started by mlflow/start_team_server.sh) on 127.0.0.1 backed by a fresh PostgreSQL database;
    the server is stopped and the database dropped at session end."""
    from conftest import postgres_database  # tests/conftest.py: skip/fail policy included

    artifacts = tmp_path_factory.mktemp("team-artifacts")
    with postgres_database() as db_url:
        # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the test environment has psycopg2
        db_url = db_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        port = free_port()
        proc = popen(["bash", str(TEAM_SCRIPT)],
                     env={"MLFLOW_BACKEND_STORE_URI": db_url, "PYTHON": sys.executable,
                          "MLFLOW_ARTIFACTS_DESTINATION": str(artifacts),
                          "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1"})
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(proc, url + "/health", "mlflow server")
            yield url
        finally:
            stop(proc)
