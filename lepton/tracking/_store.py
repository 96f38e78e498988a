"""Where tracking data goes, and checking that it can go there (no mlflow import here).

The embedded default store, used when tracking is asked for without a tracking URI:

    $LEPTON_HOME/mlflow/mlflow.db      SQLite backend (runs, metrics, model registry)
    $LEPTON_HOME/mlflow/artifacts/     artifacts (plots, models), one folder per experiment

``LEPTON_HOME`` defaults to ``~/.lepton``. ``lepton ui`` opens the MLflow UI on it.

Also what a process killed outright leaves behind is told by: which process made a run
(:func:`process_instance`, :func:`process_gone`), and Lepton's temporary folders, one per
process under ``<tmp>/lepton-<uid>`` (:func:`scratch_dir`), removed once it has ended
(:func:`clear_dead_scratch`).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.request
import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ._base import TrackingError

T = TypeVar("T")
from ._writer import (  # (the writer runs without the package: defined there)
    SQL_SCHEMES, STORE_LOGGER, StoreErrorsUnlogged,
)

__all__ = ["lepton_home", "default_store_dir", "default_tracking_uri", "check_tracking_uri",
           "artifact_root_for", "quiet_mlflow_env", "redact_uri", "store_lock",
           "check_tracking_uri_form",
           "process_instance", "process_gone", "scratch_dir", "scratch_tempdir",
           "clear_dead_scratch", "mlflow_env", "repair_interrupted_upgrade",
           "unfinished_upgrade", "open_locked", "open_client"]

# Schemes MLflow's tracking client understands without plugins.
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


class _Held:
    """A change to process-wide state held while any block (of any thread) is open: the
    first block in makes it (``apply()`` returns what ``undo`` needs to restore what it
    found), the last out undoes it; blocks that overlap share it."""

    def __init__(self, apply: Any, undo: Any) -> None:
        self._apply, self._undo = apply, undo
        self._lock = threading.Lock()
        self._users = 0
        self.found: Any = None  # what the first block found, while any is open

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self.found = self._apply()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._undo(self.found)
                    self.found = None


def _quiet_env() -> dict[str, str | None]:
    found = {key: os.environ.get(key) for key in quiet_mlflow_env()}
    for key, value in quiet_mlflow_env().items():
        os.environ.setdefault(key, value)
    return found


def _restore_env(found: dict[str, str | None]) -> None:
    for key, value in found.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_mlflow_env = _Held(_quiet_env, _restore_env)


def mlflow_env() -> Any:
    """:func:`quiet_mlflow_env` in this process's environment for the block, where the
    caller has not set a value: Lepton's own MLflow calls (telemetry off, HTTP calls that
    give up in seconds). As found again once the last block open (of any thread) ends: a
    notebook's own MLflow calls after a tracked fit keep MLflow's HTTP settings. (MLflow
    decides on telemetry once, as it is imported: imported first by Lepton, inside such a
    block, it stays off for the process.)"""
    return _mlflow_env()


def lepton_home() -> Path:
    return Path(os.environ.get("LEPTON_HOME") or Path.home() / ".lepton").expanduser()


def default_store_dir() -> Path:
    return lepton_home() / "mlflow"


def default_tracking_uri() -> str:
    return f"sqlite:///{(default_store_dir() / 'mlflow.db').resolve()}"


def driver_url(url: str) -> str:
    """A bare ``postgresql://`` URL means psycopg 3 to SQLAlchemy 2.1; use psycopg2 when
    that is the driver installed (the one Lepton's test extra ships). For a study storage
    and a tracking store alike: ``tracking_uri='postgresql://...'`` failed ('No module
    named psycopg') where ``storage=`` took the same URL (review helper-84)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def resolve_tracking_uri(uri: str | None) -> str:
    """The store a tracking call uses: ``uri``, else MLFLOW_TRACKING_URI, else the default
    under $LEPTON_HOME; a bare postgresql:// with the driver installed (:func:`driver_url`)."""
    return driver_url(uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri())


# -- processes of this machine ----------------------------------------------------------
# A run left RUNNING by a killed process, and the scratch folders it left, are recognised
# by the process that made them: a pid alone can be given to another process later, so the
# pid goes with the process's start time (clock ticks since boot, Linux's /proc/<pid>/stat)
# and, for runs in a store that many machines share, the boot and pid namespace it ran in.


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (the state first); None where
    it cannot be read: no such process, no /proc (not Linux), or another user's process
    where /proc is mounted ``hidepid=1|2`` (which hides it, live or not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # the command name (field 2) may hold spaces and parentheses: fields after it
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def _start_ticks(pid: int) -> str | None:
    """Process ``pid``'s start time (clock ticks since boot, field 22 of /proc/<pid>/stat);
    None where there is no such process (or only its exit status, a zombie), or its stat
    cannot be read (:func:`_stat`)."""
    fields = _stat(pid)
    return None if fields is None or fields[0] in (b"Z", b"X") else fields[19].decode()


def _pid_gone(pid: int) -> bool:
    """Whether no process has pid ``pid``, by the kernel (signal 0): another user's is
    alive (EPERM); False where that cannot be asked (Windows)."""
    if os.name == "nt":  # os.kill there stops the process (signal 0 is CTRL_C_EVENT)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: another user's process
        return False
    return False


def _machine() -> str:
    """This kernel boot and pid namespace ('' without /proc): processes that see the same
    pids. A container's pid namespace is its own; a host name can be shared (a container
    on the host's network, a pod name given again)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""
    return f"{namespace}@{boot}"


def process_instance(pid: int | None = None) -> str:
    """What tells process ``pid`` (this one by default) from another given the same pid
    later: ``'<start ticks>/<pid namespace>@<boot id>'``; '' without /proc (not Linux)."""
    ticks = _start_ticks(os.getpid() if pid is None else pid)
    machine = _machine()
    return f"{ticks}/{machine}" if ticks and machine else ""


def process_gone(label: str | None, instance: str | None) -> bool:
    """Whether the process a run names has ended: ``label`` as
    ``lepton.search.process_label`` wrote it (``host:pid``), ``instance`` as
    :func:`process_instance` did. Only a process of this machine (the same host name and,
    where recorded, the same boot and pid namespace) can be known to have ended; one of
    another machine, or one this machine cannot tell about, is not (False). Another
    user's process that /proc hides (``hidepid``) is alive while the kernel knows its pid."""
    host, _, pid = (label or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) <= 0:
        return False
    if instance:
        ticks, _, machine = instance.partition("/")
        if machine != _machine():  # another container, or a boot since: not ours to judge
            return False
        fields = _stat(int(pid))
        if fields is None:  # ended, or another user's hidden by hidepid: the kernel says
            return _pid_gone(int(pid))
        # a zombie has ended; another start time: its pid is another process's now
        return fields[0] in (b"Z", b"X") or fields[19].decode() != ticks
    # recorded without /proc: the pid alone (a pid given again reads as alive)
    return _pid_gone(int(pid))


def _scratch_root() -> Path | None:
    """This user's folder of Lepton's scratch folders (``<tmp>/lepton-<uid>``); None where
    it cannot be made, or is not this user's own (made by another user beforehand)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    # Python's own temporary folder, never a scratch folder of a scratch_tempdir block
    found = _scratch_tempdir.found
    base = found[1] if found else tempfile.gettempdir()
    root = Path(base) / f"lepton-{'user' if uid is None else uid}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(root)
    except OSError:
        return None
    if root.is_symlink() or (uid is not None and info.st_uid != uid):
        return None
    return root


def _scratch_name(pid: int) -> str | None:
    """The name of process ``pid``'s folder in the scratch root: its pid, start time and
    pid namespace (the same pid in another container is another process)."""
    instance = process_instance(pid)
    if not instance:
        return None
    ticks, _, machine = instance.partition("/")
    return f"{machine.partition('@')[0]}-{pid}-{ticks}"


_SCRATCH_MADE: set[Path] = set()


def _process_scratch() -> Path | None:
    """This process's own folder of the scratch root (made now, removed at an exit that
    is not a kill); None where there is none (not Linux)."""
    root, name = _scratch_root(), _scratch_name(os.getpid())
    if root is None or name is None:
        return None
    folder = root / name
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    if folder not in _SCRATCH_MADE:
        _SCRATCH_MADE.add(folder)
        atexit.register(shutil.rmtree, folder, True)
    return folder


@contextmanager
def scratch_dir(prefix: str) -> Iterator[str]:
    """A temporary folder (``tempfile.TemporaryDirectory``), removed at the block's end.
    It lies in this process's own folder of the scratch root, so that what a killed
    process leaves there (a pickle of a whole estimator, as a model is logged) is removed
    by the next tracker that starts (:func:`clear_dead_scratch`); a plain temporary
    folder where there is none (not Linux)."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_process_scratch()) as tmp:
        yield tmp


@contextmanager
def scratch_tempdir() -> Iterator[None]:
    """Python's temporary folder (``tempfile.tempdir``) set to this process's scratch
    folder for the block, for the temporary folders other libraries make: MLflow copies a
    model into one as it logs or loads it (the estimator's pickle again), and takes no
    folder to make it in. This process's temporary files go there while the block lasts,
    from every thread: keep it short. Blocks of several threads may overlap: the first
    in sets it, the last out restores the value the first found."""
    if _process_scratch() is None:
        yield
        return
    with _scratch_tempdir():
        yield


def _point_tempdir() -> tuple[str | None, str]:
    """tempfile.tempdir set to this process's scratch folder; returns (the value found, the
    temporary folder it meant: where the scratch root lies)."""
    found = (tempfile.tempdir, tempfile.gettempdir())
    folder = _process_scratch()
    tempfile.tempdir = found[0] if folder is None else str(folder)
    return found


def _restore_tempdir(found: tuple[str | None, str]) -> None:
    tempfile.tempdir = found[0]


_scratch_tempdir = _Held(_point_tempdir, _restore_tempdir)


def clear_dead_scratch() -> list[str]:
    """Remove the scratch folders (:func:`scratch_dir`) of this user's processes that have
    ended; returns the folders removed. A live process's folder is never touched; one of
    another pid namespace (a container sharing the temporary folder) is left alone."""
    root = _scratch_root()
    machine = _machine()
    if root is None or not machine:
        return []
    namespace = machine.partition("@")[0]
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        theirs, _, rest = entry.name.partition("-")
        pid, _, ticks = rest.partition("-")
        if theirs != namespace or not pid.isdigit() or not ticks:
            continue
        if _start_ticks(int(pid)) == ticks:  # alive
            continue
        shutil.rmtree(entry, ignore_errors=True)  # another tracker may be removing it too
        removed.append(str(entry))
    return removed


def user_part(uri: str) -> tuple[str, str, str] | None:
    """``(scheme://, user part, rest)`` of a URL that names a user: the user part runs to
    the last '@', since SQLAlchemy and redis-py take a password as written, '@', '/', '?'
    and '#' included (``urlsplit`` ended it at the first '/' or '?' and so showed the
    password: review helper-76); None without one, or for a file path (sqlite, file)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest or scheme.split("+")[0].lower() in ("sqlite", "file"):
        return None
    user, _, after = rest.rpartition("@")
    return f"{scheme}://", user, after


#: query parameters that hold a secret: libpq's and Redis' password, a token's names
_SECRET_PARAMS = r"password|passwd|pwd|token|access_token|secret"


def redact_uri(uri: str) -> str:
    """``uri`` without a password, for error messages and tags: the one in its user part
    (``user:secret@host``, as written: an IPv6 address keeps its []; an HTTP URL's bare
    token ``token@host``) and a ``password=`` or ``token=`` in its query (libpq's and
    Redis' URIs take one there too). The same text where there is none."""
    shown = uri
    parts = user_part(uri)
    if parts is not None:
        start, user, after = parts
        if ":" in user:
            shown = f"{start}{user.split(':', 1)[0]}:***@{after}"
        elif start.lower().startswith(("http://", "https://")) and user != "***":
            shown = f"{start}***@{after}"
    return re.sub(rf"(?i)([?&](?:{_SECRET_PARAMS})=)[^&#]*", r"\1***", shown)


def redact_text(text: str) -> str:
    """``text`` (an error's message) with every URL in it passed through
    :func:`redact_uri`: an HTTP client's error quotes the URL it asked for, password and
    all, and a promotion's reason keeps the error (review helper-76)."""
    return re.sub(r"[A-Za-z][\w+.-]*://\S+", lambda m: redact_uri(m.group(0)), text)



@contextmanager
def store_errors_unlogged() -> Iterator[None]:
    """MLflow's SQL store's log of each failed statement left out for the block
    (:class:`._writer.StoreErrorsUnlogged`): what failed is said in a line (``one_line``),
    or collected as a tracking error; on a full disk a prune printed 80 such lines. A
    filter, not a level: the logger's other messages, and others' loggers, are left."""
    logger, muted = logging.getLogger(STORE_LOGGER), StoreErrorsUnlogged()
    logger.addFilter(muted)
    try:
        yield
    finally:
        logger.removeFilter(muted)


#: what SQLAlchemy appends to an error's message: the statement (on one line or several),
#: its parameters (a run's id, a metric's value) and a link; a line of advice before it
_SQL_DUMP = re.compile(r"\n\[SQL: .*", re.S)
_SQL_NOISE = re.compile(r"\(Background on this error at: [^)]*\)|\(raised as a result of "
                        r"Query-invoked autoflush;[^)]*\)")


def one_line(text: str) -> str:
    """A tracking store's error in a line, URLs' passwords hidden: SQLAlchemy's SQL dump
    and advice left out (a full disk's error during `lepton prune` was 4 lines, its
    statement and parameters among them; the cause is the line '(sqlite3.OperationalError)
    database or disk is full')."""
    text = _SQL_NOISE.sub("", _SQL_DUMP.sub("", text))
    return redact_text(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def disk_full(text: str) -> bool:
    """Whether an error's message says the disk (of a SQLite store, or a file) is full."""
    return any(sign in text for sign in ("database or disk is full", "[Errno 28]",
                                         "No space left on device"))


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
    if scheme in SQL_SCHEMES:
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


# -- a SQLite store whose schema upgrade was interrupted --------------------------------
# MLflow upgrades a SQLite store's schema with alembic's batch mode: to change table X it
# creates _alembic_tmp_X, copies X's rows into it, drops X, renames the copy to X and
# records the new revision in alembic_version. Python's sqlite3 runs a CREATE TABLE outside
# a transaction (committed at once) and opens one at the INSERT, so a failure after the
# CREATE rolls back the copy, the drop, the rename and the revision, and leaves the empty
# _alembic_tmp_X beside X, intact. Seen with a full disk ('database or disk is full' at
# the UPDATE of alembic_version, review helper-87); MLflow's next try then stopped at its
# own CREATE TABLE ('table _alembic_tmp_params already exists'), and so did every later
# `lepton run`. An upgrade step whose first change is no batch (an added column, new
# tables) is committed in part the same way ('duplicate column name: step' next time):
# repaired on a store being created (no rows yet), an error saying what to do on one with
# runs. Measured on a 2 MB tmpfs (review helper-89), 30 fills of a new store and 18 of one
# with 3 runs at revision 0c779009ac13: 29 left an empty _alembic_tmp_X beside X, none a
# copy holding rows or without its X; of those retried, 8 of 8 new stores and 5 of 8 with
# runs opened after the repair (3 had stopped in a step adding tables: the error).
_ALEMBIC_TMP = "_alembic_tmp_"


def _sqlite_tables(con: Any) -> dict[str, int]:
    """Rows of each table of a SQLite database (SQLite's own tables left out)."""
    names = [name for (name,) in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite^_%' "
        "ESCAPE '^'")]
    return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in names}


def _holds(rows: dict[str, int]) -> str:
    runs, models = rows.get("runs", 0), rows.get("registered_models", 0)
    return f"{runs} run{'s' * (runs != 1)} and {models} registered model{'s' * (models != 1)}"


def _what_to_do(path: str, rows: dict[str, int]) -> str:
    """What a user can do with a store that cannot be opened, by what it holds."""
    if not rows.get("runs") and not rows.get("registered_models"):
        return (f"It holds no runs or registered models: delete it (rm '{path}') and run "
                "again for a new store.")
    return (f"It holds {_holds(rows)}, which Lepton does not risk: restore '{path}' from a "
            f"backup (cp BACKUP '{path}'), or move it aside for a new store (mv '{path}' "
            f"'{path}.interrupted') and keep it for its runs; `mlflow db upgrade "
            f"sqlite:///{path}` shows where the upgrade stops.")


def repair_interrupted_upgrade(uri: str) -> str | None:
    """Make a SQLite store whose schema upgrade by MLflow was interrupted (a full disk)
    openable again, where nothing is lost; return what was done, or None where nothing
    was: not a SQLite MLflow store, no sign of an interrupted upgrade, or the file busy.
    Call it after MLflow failed to open the store, with :func:`store_lock` held.

    - A store that holds no rows at all (its creation was interrupted: MLflow writes the
      Default experiment once the schema is complete): its tables are dropped, in place
      (a connection MLflow pooled as it failed still points at the file), and MLflow
      creates them anew.
    - Empty ``_alembic_tmp_X`` tables beside their ``X`` (see above): dropped, so that
      MLflow's upgrade runs that step again from ``X``, whose rows it never changed.

    Raises :class:`TrackingError` naming the file and what to do where such a table cannot
    be dropped without loss (it holds rows, or its ``X`` is gone); the store is left as
    found.
    """
    import sqlite3

    path = _sqlite_file(uri)
    if not path or not Path(path).is_file():
        return None
    try:
        con = sqlite3.connect(path, timeout=PROBE_TIMEOUT, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        # the write lock before reading: another tool's upgrade step under way (it takes
        # no store_lock) commits or rolls back first
        con.execute("BEGIN IMMEDIATE")
        rows = _sqlite_tables(con)
        if not {"alembic_version", "experiments", "runs"} <= rows.keys():
            con.execute("ROLLBACK")
            return None  # no MLflow store (one whose first step failed opens as it is)
        leftovers = sorted(name for name in rows if name.startswith(_ALEMBIC_TMP))
        if not any(n for name, n in rows.items() if name != "alembic_version"):
            for name in rows:
                con.execute(f'DROP TABLE "{name}"')
            con.execute("COMMIT")
            return (f"the creation of SQLite store '{path}' was interrupted: its tables, all "
                    "empty, were dropped for MLflow to create them anew")
        if not leftovers:
            con.execute("ROLLBACK")
            return None
        unsafe = [f"{name!r} holds {rows[name]} rows" if rows[name] else
                  f"{name!r} is there without {name[len(_ALEMBIC_TMP):]!r}"
                  for name in leftovers
                  if rows[name] or name[len(_ALEMBIC_TMP):] not in rows]
        if unsafe:
            con.execute("ROLLBACK")
            raise TrackingError(
                f"SQLite store '{path}': its schema upgrade by MLflow was interrupted (e.g. "
                f"by a full disk) and left {'; '.join(unsafe)}, which Lepton cannot drop "
                f"without losing rows. {_what_to_do(path, rows)}")
        for name in leftovers:
            con.execute(f'DROP TABLE "{name}"')
        con.execute("COMMIT")
        return (f"the schema upgrade of SQLite store '{path}' was interrupted: the empty "
                f"table(s) {', '.join(leftovers)} it left were dropped, for MLflow to run "
                "that step again")
    except sqlite3.Error:  # locked by another writer, read-only, a disk still full ...
        return None  # (the connection's close rolls back what was begun)
    finally:
        con.close()


def open_locked(uris: Sequence[str], open_store: Callable[[], T]) -> T:
    """``open_store()`` (which opens the MLflow stores ``uris`` name, creating or upgrading
    their schema) with each store locked (:func:`store_lock`); where it fails and
    :func:`repair_interrupted_upgrade` repaired one, warned and called once more. The
    tracker, `lepton prune` and `lepton ui` open stores so: the last two opened a store
    whose upgrade a full disk had interrupted into MLflow's error (review helper-89), and
    without the lock that keeps two processes from migrating one new store at once."""
    from .._warn import TrackingWarning, warn_at_caller

    stores = tuple(dict.fromkeys(uris))
    with contextlib.ExitStack() as stack:
        for uri in stores:
            stack.enter_context(store_lock(uri))  # a new store is created once
        try:
            return open_store()
        except Exception:
            repaired = [done for uri in stores if (done := repair_interrupted_upgrade(uri))]
            if not repaired:
                raise
            warn_at_caller(f"{'; '.join(repaired)}.", TrackingWarning)
            return open_store()


def open_client(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """An MLflow client of these stores, opened (MLflow creates or upgrades a store's
    schema as it first reads it) as :func:`open_locked` opens stores: for `lepton prune`
    and `lepton ui`, which opened a store whose upgrade a full disk had cut into MLflow's
    error (helper-89)."""
    from ._writer import mlflow_client

    def opened() -> Any:
        client = mlflow_client(tracking_uri, registry_uri)
        client.search_experiments(max_results=1)
        return client

    return open_locked((tracking_uri, registry_uri or tracking_uri), opened)


def unfinished_upgrade(uri: str) -> str:
    """Why a SQLite store failed to open, where its schema is not at this MLflow's revision
    (its upgrade did not finish), and what to do; '' for any other store."""
    import sqlite3

    path = _sqlite_file(uri)
    if not path or not Path(path).is_file():
        return ""
    try:  # (private to MLflow: where it moved, the message goes without the hint)
        from mlflow.store.db.utils import _get_latest_schema_revision

        head = _get_latest_schema_revision()
    except Exception:
        return ""
    try:
        con = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True,
                              timeout=PROBE_TIMEOUT)
        try:
            rows = _sqlite_tables(con)
            found = (con.execute("SELECT version_num FROM alembic_version").fetchone()
                     if "alembic_version" in rows else None)
        finally:
            con.close()
    except sqlite3.Error:
        return ""
    revision = found[0] if found else None
    if revision == head or not {"experiments", "runs"} <= rows.keys():
        return ""
    return (f" SQLite store '{path}' is at schema revision {revision or 'none'}, this MLflow "
            f"needs {head}: its upgrade did not finish (interrupted, e.g. by a full disk). "
            "Where the disk is full, free space and run again: Lepton drops what an "
            "interrupted upgrade leaves, where that loses nothing. Where it fails again: "
            f"{_what_to_do(path, rows)}")


def _elsewhere(uri: str) -> str:
    """Where the default store cannot be written (a read-only or full home): the ways
    around it, which the error named none of (review helper-87)."""
    if uri != default_tracking_uri():
        return ""
    return (f" It is the default store, under LEPTON_HOME ({lepton_home()}): set LEPTON_HOME "
            "to a writable folder, pass a tracking_uri (--tracking-uri), or search untracked "
            "(lepton run --no-tracking).")


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
                                    f"{str(folder)!r} for the SQLite store ({exc})."
                                    f"{_elsewhere(uri)}") from exc
            if not os.access(folder, os.W_OK):
                raise TrackingError(f"tracking_uri={shown!r}: folder {str(folder)!r} is not "
                                    f"writable.{_elsewhere(uri)}")
        return
    if scheme in SQL_SCHEMES:
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
    check_tracking_uri_form(uri)  # databricks (no cheap probe), or what is no store


def check_tracking_uri_form(uri: str) -> None:
    """Raise :class:`TrackingError` for a tracking URI of no store's form, without
    connecting: a scheduled deployment checks this when it is made (each run then checks
    the store itself; one given 'not a uri' was served, every run to fail: review
    helper-80)."""
    scheme = _scheme(uri)
    if scheme in (*_HTTP_SCHEMES, *SQL_SCHEMES) or scheme.startswith("databricks"):
        return
    shown = redact_uri(uri)
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
