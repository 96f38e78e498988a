"""Shared fixtures: fixed seeds, one torch thread, offline env, PostgreSQL and Redis.

The suite runs as ``python -m pytest -n 2`` on 2 cores, so every worker trains with one
thread (two threads per worker on two cores made training 10-40x slower, see
/work/shared/LIBRARY-NOTES.md). Nothing may reach the internet: telemetry is off and
Prefect / MLflow keep their state in a temporary directory.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
import torch

# -- session start: before any test module imports lepton, mlflow or prefect -------------
_STATE_DIR = tempfile.mkdtemp(prefix="lepton-tests-")
os.environ.update({
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": os.path.join(_STATE_DIR, "prefect"),
    # Lepton's embedded MLflow store (sqlite + artifacts) lives under LEPTON_HOME.
    "LEPTON_HOME": os.path.join(_STATE_DIR, "lepton"),
})
# A tracking server configured in the caller's shell must not receive test runs; tests
# that track pass a tmp-dir tracking URI explicitly.
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PREFECT_API_URL"):
    os.environ.pop(_var, None)
torch.set_num_threads(1)

SEED = 0
POSTGRES_URL = os.environ.get("LEPTON_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LEPTON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_STATE_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fixed_seeds() -> None:
    """Every test starts from the same numpy, random and torch RNG state."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri() -> Iterator[None]:
    """``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI, which turns tracking
    on for every later LeptonClassifier in the same worker. A test that called it left
    the next estimator test tracking to a team server that had already been stopped (it
    hung in end_search). Restore the variables and MLflow's module setting after each
    test."""
    import sys

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.get(name) for name in names}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if "mlflow" in sys.modules:
        from mlflow.tracking._tracking_service import utils

        utils._tracking_uri = saved["MLFLOW_TRACKING_URI"]


# -- services ------------------------------------------------------------------------
def _unavailable(service: str, url: str, exc: BaseException) -> None:
    """Skip (or fail with LEPTON_REQUIRE_SERVICES=1) when a service cannot be reached."""
    reason = (f"{service} is not reachable at {url} ({type(exc).__name__}: {exc}); start it "
              f"or point LEPTON_TEST_{service.upper()}_URL at one")
    if os.environ.get("LEPTON_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (LEPTON_REQUIRE_SERVICES=1 makes this an error)", pytrace=False)
    pytest.skip(reason)


def _worker_tag() -> str:
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"


@contextmanager
def postgres_database(server_url: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh database on ``server_url``: yields its URL, then drops it together with
    any connections a test left open."""
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"lepton_test_{_worker_tag()}"
    try:
        admin = psycopg2.connect(server_url, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        _unavailable("postgres", server_url, exc)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path="/" + name))
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


class RedisURL(str):
    """A Redis URL (use it wherever a URL string goes) that carries ``prefix``: the key
    prefix this session owns, e.g. for optuna's ``JournalRedisBackend(url, prefix=...)``."""

    prefix: str


@contextmanager
def redis_namespace(server_url: str = REDIS_URL) -> Iterator[RedisURL]:
    """``server_url`` with a unique ``.prefix``; keys under the prefix are deleted after."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(server_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        _unavailable("redis", server_url, exc)
    url = RedisURL(server_url)
    url.prefix = f"lepton_test:{_worker_tag()}:"
    try:
        yield url
    finally:
        keys = list(client.scan_iter(match=url.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL database of this session (one per xdist worker), dropped at the
    end. Skips when PostgreSQL is unreachable, fails instead with LEPTON_REQUIRE_SERVICES=1."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test alone (nothing in it yet), dropped after it."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[RedisURL]:
    """Redis URL whose ``.prefix`` this session (xdist worker) owns; its keys are deleted at
    the end. Skips when Redis is unreachable, fails instead with LEPTON_REQUIRE_SERVICES=1."""
    with redis_namespace() as url:
        yield url


# -- processes started together ---------------------------------------------------------
def _release_together(scripts: list[list[str]], go: str, *, env: dict | None = None,
                      timeout: float = 180.0) -> list[tuple[int, str]]:
    """Run ``python -c SCRIPT ARGS...`` for each of ``scripts`` (script, then arguments).
    Each process must create ``{go}.ready{k}`` (k: its index) once its imports are done and
    then wait for ``go`` to exist; ``go`` is created when all are ready, so they reach what
    follows at the same moment. Returns each process's (return code, output)."""
    import subprocess
    import sys
    import time

    procs = [subprocess.Popen([sys.executable, "-c", *script], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for script in scripts]
    try:
        deadline = time.monotonic() + timeout
        while not all(os.path.exists(f"{go}.ready{k}") for k in range(len(procs))):
            assert all(p.poll() is None for p in procs), [p.stdout.read() for p in procs]
            assert time.monotonic() < deadline, "the processes never got ready"
            time.sleep(0.01)
        open(go, "w").close()
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
        return [(p.returncode, out) for p, out in zip(procs, outputs)]
    finally:
        for p in procs:
            p.kill()


@pytest.fixture
def release_together():
    """Start scripts as subprocesses released together (see ``_release_together``)."""
    return _release_together
