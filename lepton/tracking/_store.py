"""Where tracking data goes, and checking that it can go there (no mlflow import here).

The embedded default store, used when tracking is asked for without a tracking URI:

    $LEPTON_HOME/mlflow/mlflow.db      SQLite backend (runs, metrics, model registry)
    $LEPTON_HOME/mlflow/artifacts/     artifacts (plots, models), one folder per experiment

``LEPTON_HOME`` defaults to ``~/.lepton``. ``lepton ui`` opens the MLflow UI on it.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._base import TrackingError

__all__ = ["lepton_home", "default_store_dir", "default_tracking_uri", "check_tracking_uri",
           "artifact_root_for", "quiet_mlflow_env", "redact_uri", "store_lock"]

# Schemes MLflow's tracking client understands without plugins.
_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_HTTP_SCHEMES = ("http", "https")
# Seconds: a tracking store that does not answer within this is reported as unreachable.
PROBE_TIMEOUT = 5.0


def quiet_mlflow_env() -> dict[str, str]:
    """Environment for MLflow (in-process defaults and child processes): no telemetry, no
    background job runner, and HTTP calls that give up after seconds, not minutes
    (MLflow's default is 7 retries with exponential backoff and a 120 s timeout)."""
    return {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
        # a progress bar per artifact download (input-example checks) is noise in a search
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # with an http:// store, MLflow prints "View run ... at: http://..." and "View
        # experiment ..." as each run ends: two lines per trial across the progress bar
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }


def lepton_home() -> Path:
    return Path(os.environ.get("LEPTON_HOME") or Path.home() / ".lepton").expanduser()


def default_store_dir() -> Path:
    return lepton_home() / "mlflow"


def default_tracking_uri() -> str:
    return f"sqlite:///{(default_store_dir() / 'mlflow.db').resolve()}"


def redact_uri(uri: str) -> str:
    """``uri`` without a password, for error messages and tags."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _scheme(uri: str) -> str:
    return urlsplit(uri).scheme.split("+", 1)[0].lower()


def _sqlite_file(uri: str) -> str:
    """The database file of a ``sqlite:///`` URI; '' for other schemes, in-memory or bare."""
    if _scheme(uri) != "sqlite" or "///" not in uri:
        return ""
    path = uri.split("///", 1)[1]
    return "" if path == ":memory:" else path


def artifact_root_for(tracking_uri: str) -> Path | None:
    """Folder under which Lepton creates experiments' artifact locations, or None where the
    store decides (a tracking server proxies or assigns artifact storage itself)."""
    scheme = _scheme(tracking_uri)
    if scheme == "sqlite":
        db = _sqlite_file(tracking_uri)
        return (Path(db).parent if db else default_store_dir()) / "artifacts"
    if scheme in _DB_SCHEMES:
        return default_store_dir() / "artifacts"
    return None


#: PostgreSQL advisory-lock key of Lepton's store lock (any fixed 64-bit number: the key
#: space is per database, and only Lepton takes this one)
PG_LOCK_KEY = 0x4C6570746F6E


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock on a SQLite or PostgreSQL store: while it is opened, and
    while a registration decides whether to move the champion alias.

    Opening a new store creates its schema by running MLflow's migrations. Two processes
    doing that at once (two scheduled ``lepton run`` jobs on a fresh machine, workers of
    one study) both migrate: one or both failed ('duplicate column name', 'table
    _alembic_tmp_tags already exists'), 3 times in 3 tries, possibly leaving the store half
    migrated. With the lock the second opens the store the first finished. SQLite: a file
    lock (``<store>.db.lock`` beside it); PostgreSQL: a session advisory lock in that
    database. Either goes with the process that holds it, even if it dies. Other stores
    (a tracking server migrates once, at its start) are not locked here."""
    if _scheme(uri) == "postgresql":
        with _pg_advisory_lock(uri):
            yield
        return
    path = _sqlite_file(uri)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        fcntl = None
    if not path or fcntl is None:
        yield
        return
    with open(f"{path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _pg_advisory_lock(uri: str) -> Iterator[None]:
    from sqlalchemy import text

    with _db_connection(uri) as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})


@contextmanager
def _db_connection(uri: str, **engine_args: Any) -> Iterator[Any]:
    """One connection to the database at ``uri``, its engine disposed of afterwards."""
    import sqlalchemy  # an MLflow dependency; imported only for database URIs

    engine = sqlalchemy.create_engine(uri, **engine_args)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def check_tracking_uri(uri: str, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`TrackingError` naming ``uri`` unless a store there answers quickly.

    Cheap probes, no retries: ``GET /health`` on a tracking server, one connection to a
    database, a writable folder for SQLite. Runs before any training time is spent.
    """
    shown = redact_uri(uri)
    scheme = _scheme(uri)
    if scheme in _HTTP_SCHEMES:
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http only)
                if resp.status != 200:
                    raise TrackingError(f"MLflow tracking server at tracking_uri={shown!r} "
                                        f"answered {resp.status} on /health.")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingError(
                f"MLflow tracking server at tracking_uri={shown!r} is unreachable ({reason}). "
                "Start it (see mlflow/README.md), fix the URI, or leave tracking_uri unset "
                "for the embedded store under $LEPTON_HOME/mlflow.") from exc
        return
    if scheme == "sqlite":
        path = _sqlite_file(uri)
        if path:
            folder = Path(path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TrackingError(f"tracking_uri={shown!r}: cannot create the folder "
                                    f"{str(folder)!r} for the SQLite store ({exc}).") from exc
            if not os.access(folder, os.W_OK):
                raise TrackingError(f"tracking_uri={shown!r}: folder {str(folder)!r} is not "
                                    "writable.")
        return
    if scheme in _DB_SCHEMES:
        from sqlalchemy import text

        connect_args = {"connect_timeout": int(timeout)} if scheme in ("postgresql", "mysql") else {}
        try:
            with _db_connection(uri, connect_args=connect_args) as conn:
                conn.execute(text("SELECT 1"))
        except ModuleNotFoundError as exc:
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; many installs have psycopg2
            raise TrackingError(
                f"tracking_uri={shown!r}: the database driver is not installed ({exc}). Name "
                "the driver you have in the scheme, e.g. 'postgresql+psycopg2://...', or "
                "install it.") from exc
        except Exception as exc:  # refused, auth, unknown database ...
            raise TrackingError(
                f"tracking_uri={shown!r}: cannot connect to the database "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}).") from exc
        return
    if scheme == "databricks" or scheme.startswith("databricks"):
        return  # authenticated by the Databricks SDK; no cheap probe
    if scheme in ("", "file"):
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() == "true":
            return
        raise TrackingError(
            f"tracking_uri={shown!r} is a plain file store, which MLflow 3 no longer supports "
            "by default. Use 'sqlite:///path/to/mlflow.db', an http(s):// tracking server, or "
            "leave tracking_uri unset for the embedded store under $LEPTON_HOME/mlflow.")
    raise TrackingError(
        f"tracking_uri={shown!r} has an unsupported scheme {scheme!r}; accepted: "
        "http://, https://, sqlite:///, postgresql://, mysql://, mssql://, databricks. "
        "Leave it unset for the embedded store under $LEPTON_HOME/mlflow.")
