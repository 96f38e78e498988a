"""Trial writes of the MLflow tracker, done in a child process (or, as a fallback, a thread).

Why a process: a trial's writes cost MLflow's SQLAlchemy store ~1.5 ms of CPU per metric
row and 20-30 ms per run (benchmarks/results/tracking_overhead.md). On a writer thread
that CPU shares the GIL with training; in a child process it runs on another core, and
the training process only pickles a few small messages per trial.

One implementation of the writes, :class:`RunWriter`, runs in either place:

- in the child (the default): ``MLflowTracker.start_search`` starts this file as a plain
  script, ``python -P _writer.py`` (``-P``: this folder is not put on ``sys.path``), and
  :class:`WriterProcess` streams commands to it;
- in the tracker's own writer thread, when asked for (``writer='thread'``), when the
  child cannot start, or after it died.

Run as a script this module imports only the standard library and mlflow: ``import
lepton`` would pull in torch and scikit-learn (~5 s) for nothing. Keep it that way.

Protocol: length-prefixed pickle frames, each a ``(command, payload)`` pair, on the
child's stdin; replies on the child's stdout, which carries nothing else (the child points
its file descriptor 1 at stderr before importing mlflow, so prints go there)::

    ("init", {tracking_uri, registry_uri, experiment_id, parent_run_id, study_name,
              context_tags, direction, best_value})                             first
    ("trial", batch)   a trial's writes (see RunWriter.trial); no reply
    ("flush", None)    reply {"runs": {trial number: run id}, "errors": [(what, WriteError)]}
    ("close", None)    write what is buffered and exit; no reply

End of stdin (the parent exited, or was killed mid-search) counts as "close": the child
writes what it already received and exits, so it never outlives its parent for long.
It ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the parent
still flushes and closes the child when its search stops. Once mlflow is imported it runs
at a lower priority (``NICENESS``): on a machine whose cores are all busy the writes
wait, not the training.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

# Tags Lepton writes on trial runs (re-exported by _mlflow, read by `lepton ui` and tests).
TAG_ROLE = "lepton.role"  # 'search' | 'trial'
TAG_STUDY = "lepton.study_name"
TAG_TRIAL = "lepton.trial_number"
TAG_STATE = "lepton.state"
# The search run's progress, one step per complete trial (step = trial number): the trial's
# value, and the best value so far in the study's direction (the runs table shows a
# metric's latest step: trial_value is then the last trial's, best_trial_value the best).
METRIC_TRIAL = "trial_value"
METRIC_BEST = "best_trial_value"

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_sql_mapped = threading.Lock()  # (Python's warning filters are the process's)


def mlflow_client(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """An ``MlflowClient`` of these stores. Before the first of a SQL store in this process,
    MLflow's table classes are mapped with SQLAlchemy's deprecation warning of one of them
    (SQLAlchemy 2.1 deprecates its ``lazy='noload'``) ignored: under ``python -W error`` or
    pytest's ``filterwarnings = error``, opening the store raised it, and a tracked fit
    failed (review helper-83). SQLAlchemy warns once, as it maps: later calls do not."""
    import warnings
    from urllib.parse import urlsplit

    from mlflow.tracking import MlflowClient

    schemes = {urlsplit(uri or "").scheme.split("+", 1)[0].lower()
               for uri in (tracking_uri, registry_uri)}
    if schemes & set(SQL_SCHEMES):
        with _sql_mapped, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*noload.*deprecated")
            from mlflow.store.tracking.dbmodels import models  # noqa: F401
            from sqlalchemy.orm import configure_mappers

            configure_mappers()
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


PARENT_BATCH = 20  # trials whose trial_value steps are written to the parent run at once
_HEADER = struct.Struct("!I")  # frame length, bytes
CLOSE_TIMEOUT = 30.0  # seconds a child gets to write what it holds and exit, then SIGKILL
NICENESS = 10  # the child's scheduling priority below training's (`man 2 nice`)


def log_batch(client: Any, run_id: str, *, metrics=(), params=(), tags=()) -> None:
    """``client.log_batch`` within MLflow's per-request limits (1000 metrics, 100 params,
    100 tags)."""
    metrics, params, tags = list(metrics), list(params), list(tags)
    while metrics or params or tags:
        client.log_batch(run_id, metrics=metrics[:1000], params=params[:100], tags=tags[:100])
        metrics, params, tags = metrics[1000:], params[100:], tags[100:]


class WriteError(Exception):
    """A write that failed in the writer process, carried back to the tracker: the
    original exception's type name (``kind``) and message."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class WriterDied(RuntimeError):
    """The writer process exited or stopped reading; the tracker falls back to a thread."""


class RunWriter:
    """Executes the tracker's serialisable trial writes against one ``MlflowClient``.

    Not thread safe: one caller at a time (the child's main loop, or the tracker's writer
    thread). Errors do not raise; they are collected and handed back by :meth:`flush`.
    """

    def __init__(self, client: Any, *, experiment_id: str, parent_run_id: str,
                 study_name: str, context_tags: dict | None = None,
                 direction: str = "maximize", best_value: float | None = None):
        """``context_tags``: set on every trial run it creates (user, source, version);
        ``direction``: the study's ('maximize' or 'minimize'), ``best_value``: the best
        trial value earlier sessions logged (None: none), for ``best_trial_value``."""
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.study_name = study_name
        self.context_tags = dict(context_tags or {})
        self.minimize = direction == "minimize"
        self.best_value = best_value
        self._best_step = -1  # best_trial_value's steps only rise: trials end out of order
        self.run_ids: dict[int, str] = {}
        self.errors: list[tuple[str, BaseException]] = []
        self._params: dict[int, dict] = {}  # sent once; kept until the run exists
        self._parent_metrics: list = []

    def trial(self, batch: dict) -> None:
        """One batch of a trial's writes. ``batch`` keys: ``what`` (names the write in
        error messages), ``number``, ``start_ms``, ``params`` (first batch only),
        ``metrics`` [(key, value, timestamp ms, step)], ``tags``, and on the trial's last
        batch ``status`` (MLflow run status) and ``value`` (objective value or None).

        The run is created with the trial's first batch, with that batch's tags."""
        from mlflow.entities import Metric, Param, RunTag

        number = batch["number"]
        if batch.get("params"):
            self._params[number] = batch["params"]
        try:
            tags = dict(batch.get("tags") or {})
            params = []
            run_id = self.run_ids.get(number)
            if run_id is None:
                run_tags = {**self.context_tags,
                            "mlflow.parentRunId": self.parent_run_id, TAG_ROLE: "trial",
                            TAG_TRIAL: str(number), TAG_STUDY: self.study_name,
                            TAG_STATE: "running", **tags}
                run = self.client.create_run(self.experiment_id, run_name=f"trial-{number}",
                                             start_time=batch["start_ms"], tags=run_tags)
                run_id = self.run_ids[number] = run.info.run_id
                tags = {}  # already on the run
                params = [Param(k, v) for k, v in self._params.pop(number, {}).items()]
            log_batch(self.client, run_id, metrics=[Metric(*m) for m in batch.get("metrics", ())],
                      params=params, tags=[RunTag(k, v) for k, v in tags.items()])
            if batch.get("status") is None:
                return
            self.client.set_terminated(run_id, status=batch["status"])
            value = batch.get("value")
            if value is not None:  # the search's progress, one step per trial
                now = int(time.time() * 1000)
                if value == value and (self.best_value is None or (
                        value < self.best_value if self.minimize else value > self.best_value)):
                    self.best_value = value  # (a NaN value is never the best)
                self._parent_metrics.append(Metric(METRIC_TRIAL, value, now, number))
                self._best_step = max(self._best_step, number)
                if self.best_value is not None:
                    self._parent_metrics.append(Metric(METRIC_BEST, self.best_value, now,
                                                       self._best_step))
        except Exception as exc:
            self.errors.append((batch.get("what", "trial"), exc))
            return
        if len({m.step for m in self._parent_metrics}) >= PARENT_BATCH:
            self._write_parent_metrics()

    def _write_parent_metrics(self) -> None:
        metrics, self._parent_metrics = self._parent_metrics, []
        try:
            log_batch(self.client, self.parent_run_id, metrics=metrics)
        except Exception as exc:
            self.errors.append((METRIC_TRIAL, exc))

    def flush(self) -> dict:
        """Write what is buffered; return the run id of every trial written so far and the
        errors collected since the last flush."""
        if self._parent_metrics:
            self._write_parent_metrics()
        errors, self.errors = self.errors, []
        return {"runs": dict(self.run_ids), "errors": errors}


# -- frames ------------------------------------------------------------------------------
def write_frame(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at end of stream (also on a frame cut short)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


# -- parent side ---------------------------------------------------------------------------
class WriterProcess:
    """The child process, seen from the tracker: start, send, flush, close.

    Used from one thread at a time (the tracker's writer thread). A child that exited or
    stopped reading raises :class:`WriterDied` from :meth:`send` and :meth:`flush`."""

    def __init__(self, init: dict, *, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-P", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        #: trial batches sent since the last flush reply: lost if the child dies now
        self.unconfirmed = 0
        self.send("init", init)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, command: str, payload: Any = None) -> None:
        try:
            write_frame(self.proc.stdin, (command, payload))
        except (OSError, ValueError) as exc:  # BrokenPipeError; ValueError: stdin closed
            raise WriterDied(self._why()) from exc
        if command == "trial":
            self.unconfirmed += 1

    def flush(self) -> dict:
        """Wait until the child has written everything sent so far; its reply."""
        self.send("flush")
        try:
            reply = read_frame(self.proc.stdout)
        except (OSError, ValueError, pickle.UnpicklingError) as exc:
            raise WriterDied(f"{self._why()} ({type(exc).__name__}: {exc})") from exc
        if reply is None:
            raise WriterDied(self._why())
        self.unconfirmed = 0
        return {"runs": reply["runs"],
                "errors": [(what, WriteError(kind, message))
                           for what, kind, message in reply["errors"]]}

    def close(self, timeout: float = CLOSE_TIMEOUT) -> int:
        """Ask the child to finish, wait up to ``timeout`` s, kill it after; its exit code."""
        try:
            self.send("close")
        except WriterDied:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def _why(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return f"writer process (pid {self.pid}) stopped reading its commands"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"writer process (pid {self.pid}) was killed by {name}"
        return f"writer process (pid {self.pid}) exited with code {code}"


class StoreErrorsUnlogged(logging.Filter):
    """Leaves out MLflow's SQL store's log of each failed statement ('SQLAlchemy database
    error', at ERROR, with its traceback, before it raises): the error itself is what
    Lepton says, in a line; on a full disk `lepton run --register` printed 21 such
    tracebacks (review helper-90). MLflow's other messages pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SQLAlchemy database error")


#: MLflow's SQL store's logger (mlflow/store/db/utils.py)
STORE_LOGGER = "mlflow.store.db.utils"


# -- child side ----------------------------------------------------------------------------
def _portable(reply: dict) -> dict:
    """A flush reply of plain types: it unpickles in the parent whatever the errors'
    types were (here, this module is ``__main__``)."""
    return {"runs": reply["runs"],
            "errors": [(what, type(exc).__name__, str(exc)) for what, exc in reply["errors"]]}


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    commands = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    try:
        os.dup2(2, 1)  # anything printed from here on goes to stderr, not into the replies
    except OSError:  # no stderr
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    first = read_frame(commands)
    if first is None:
        return 0
    _, init = first
    # what fails is sent to the parent, which says it (or printed below, in a line)
    logging.getLogger(STORE_LOGGER).addFilter(StoreErrorsUnlogged())
    # (mlflow is imported now: after the parent's first trial started)
    client = mlflow_client(init["tracking_uri"], init["registry_uri"])
    writer = RunWriter(client, experiment_id=init["experiment_id"],
                       parent_run_id=init["parent_run_id"], study_name=init["study_name"],
                       context_tags=init.get("context_tags"),
                       direction=init.get("direction", "maximize"),
                       best_value=init.get("best_value"))
    if hasattr(os, "nice"):
        # Where the cores are all busy, training goes first: the writes wait (and are
        # drained at the search's end) rather than slow the trials down. Only from here:
        # at nice 10 beside two busy cores, importing mlflow (~3 s of CPU) took minutes.
        os.nice(NICENESS)
    while True:
        message = read_frame(commands)
        if message is None or message[0] == "close":
            # the parent has had every earlier flush reply; what fails now can only be told
            for what, exc in writer.flush()["errors"]:
                print(f"lepton MLflow writer: {what} failed: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
            # Everything is written (each write is its own committed request): skip the
            # interpreter's teardown of mlflow and SQLAlchemy, which at low priority beside
            # two busy cores kept the parent's end_search waiting 8.8 s for this exit.
            sys.stderr.flush()
            os._exit(0)
        command, payload = message
        if command == "trial":
            writer.trial(payload)
        elif command == "flush":
            try:
                write_frame(replies, _portable(writer.flush()))
            except OSError:  # the parent is gone; keep writing what was received
                pass


if __name__ == "__main__":
    sys.exit(main())
