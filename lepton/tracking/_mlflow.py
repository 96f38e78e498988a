"""MLflowTracker: one parent run per search, one nested child run per trial.

mlflow is imported inside this module's functions only, so ``import lepton.tracking``
stays light. All writes go through one ``MlflowClient`` with explicit run ids: trials
run in several threads at once, and MLflow's fluent "active run" is thread-local.

Cost per trial (measured budget: <= 5% of a search on the embedded SQLite store): epoch
records are buffered in memory; at its end a trial sends one batch (params, metric steps,
state tags, status), which becomes one ``create_run``, one ``log_batch`` and one
``set_terminated``, plus a ``log_batch`` of ``trial_value`` on the parent every 20 trials.
Long trials send their buffer every ``flush_interval`` seconds so the UI shows them
progressing. The writes run in a child process (``_writer.py``), so MLflow's store
(~1.5 ms CPU per metric row, 20-30 ms per run) runs on another core instead of sharing
the GIL with training: trial threads only append to memory and enqueue a batch, one
writer thread pickles it down a pipe, and the store sees one writer. The child runs at a
lower priority: where every core is busy its writes wait until the trials are done
(benchmarks/results/tracking_overhead.md). ``end_search`` logs the summary, artifacts
and model while the child drains (with ``strict``, once it has: a failed trial write
stops the search before a model is logged), then flushes (the child replies with the
trials' run ids and any errors) and closes the child; ``fail_search`` flushes and closes.
Neither waits longer than ``drain_timeout`` for a store that stopped answering. Where the
child cannot start, or dies, the same writes run on the writer thread in this process
(``writer='thread'`` asks for that from the start).

Resume: a search with persistent Optuna storage is identified by the parent run's tags
``lepton.study_name`` and ``lepton.storage`` and, as these two can name another study (a
relative file in another folder, a file deleted and created again), ``lepton.study_uid``,
the study's identity (``_same_study``); ``start_search`` continues under that run
(status set back to RUNNING, ``lepton.resume_count`` incremented; every session also adds
a row to the parent's ``lepton.session_start`` metric, which counts sessions that start at
once, see ``_count_resume``), so all trials of a study, across processes and restarts,
are children of one parent run. Processes that start the same new study at once and each
create a parent keep the earliest one and delete their own (``_race_winner``). An
in-memory study (``storage`` None) cannot be resumed and always gets a new parent run.

A process killed outright (SIGKILL, out of memory) ends none of its runs: search and trial
runs name their process (``lepton.process``, ``lepton.process_start``), and the next
``start_search`` of the experiment on that machine marks those of ended processes KILLED
(``_close_dead_runs``); the trial runs of other machines' processes are closed by the end
of the study's next session once the study failed their trial for a stopped process, or
their trial ended more than ``UNCLOSED_AFTER_S`` before (``_close_ended_trials``). A
registered version is created with its tags (promotion pending, training rows); model
files are written in scratch folders that the next tracker removes once their process
has ended (``_store.scratch_dir``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import functools
import hashlib
import logging
import json
import math
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from .._servers import LOOPBACK, loopback_without_proxy
from .._warn import TrackingWarning, warn_at_caller
from ._base import SearchTracker, TrackingError
from ._store import (
    _Held, artifact_root_for, check_tracking_uri, clear_dead_scratch, disk_full, driver_url,
    mlflow_env, one_line, process_gone, process_instance, quiet_mlflow_env, redact_text,
    open_locked, redact_uri, resolve_tracking_uri, scratch_dir, scratch_tempdir,
    store_errors_unlogged, store_lock, unfinished_upgrade,
)
from ._writer import (
    METRIC_BEST, METRIC_TRIAL, TAG_ROLE, TAG_STATE, TAG_STUDY, TAG_TRIAL, RunWriter, WriterDied,
    WriterProcess, mlflow_client,
)
from ._writer import log_batch as _log_batch

__all__ = ["MLflowTracker", "DEFAULT_EXPERIMENT", "CHAMPION_ALIAS"]

DEFAULT_EXPERIMENT = "lepton"
CHAMPION_ALIAS = "champion"
# MLflow 3's UI opens experiments without this tag on the GenAI overview page; this value
# (mlflow/server/js: ExperimentKind.CUSTOM_MODEL_DEVELOPMENT) makes it a classic ML
# experiment that opens on the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Parents of one study started this close together (ms, start_time as each process's
# clock saw it) may have raced each other; see MLflowTracker._race_winner.
RACE_WINDOW_MS = 60_000
RACE_RECHECK_S = 0.25

# Tags Lepton writes (also what `lepton ui` and the tests read back); those of trial runs
# are defined in _writer.py, which the writer process runs without importing lepton.
TAG_STORAGE = "lepton.storage"
#: a persistent study's identity (its user attribute lepton.study_uid, a uuid4 hex); a
#: search run from before identities were recorded has none
TAG_STUDY_UID = "lepton.study_uid"
TAG_DATASET = "lepton.dataset"  # set by `lepton run` and the Prefect flow (lepton.steps)
TAG_VERSION = "lepton.version"  # the Lepton that ran the search or trial
TAG_TRAINING_STATUS = "lepton.status"  # a trial's training-loop status (the leaderboard's)
METRIC_FOLD = "fold_val_score"  # a trial's score on each fold (step = fold index)
TAG_REASON = "lepton.reason"
TAG_SCORE = "lepton.validation_score"  # on registered model versions
TAG_METRIC = "lepton.metric"
TAG_RESUME_COUNT = "lepton.resume_count"  # sessions of the study after the first
METRIC_SESSIONS = "lepton.session_start"  # one row per session: its start (Unix time)
TAG_DIRECTION = "lepton.direction"
TAG_CLASSES = "lepton.classes"  # on registered model versions: the classes, as JSON
#: on registered model versions: the artifact (of the version's run) that holds the hashes
#: of the rows it was fitted on (_rows.row_fingerprints), for promote_on_held_out
TAG_ROWS = "lepton.training_rows"
TAG_PROMOTION = "lepton.promotion"
#: a version's TAG_PROMOTION until it is decided (a version is created with it: a process
#: killed before the decision leaves a version that says so)
PENDING_HELD_OUT = "pending: to be decided on the run's held-out rows"
PENDING_VALIDATION = "pending: to be decided on the validation scores"
#: on search and trial runs: the process that made them (lepton.search.process_label,
#: 'host:pid') and what tells it from a later process given the same pid
#: (_store.process_instance): a run it left RUNNING when it was killed is closed by the
#: next search of the experiment on that machine (MLflowTracker._close_dead_runs)
TAG_PROCESS = "lepton.process"
TAG_PROCESS_START = "lepton.process_start"
#: what end_search leaves out once the fit's budget is spent (plots/skipped.json)
NO_TIME = "no time left in time_budget"
#: why a part was left out after a stop signal (plots/skipped.json, "stopped (Ctrl-C)")
STOPPED = "stopped"
_SKIPPED_PARTS = {"torch_module": "the mlflow.pytorch copy of the network",
                  "learning_curves": "the learning curves plot",
                  "evaluation": "the evaluation plot of the validation predictions",
                  "optimization_history": "the optimization history plot",
                  "param_importances": "the parameter importances plot",
                  "parallel_coordinate": "the parallel coordinate plot"}
#: end_search's parts, as the tag lepton.stopped names those a stop signal left out
_END_PARTS = {"summary": "the search's summary", "models": "the model and its registration",
              "artifacts": "the tables and plots"}
#: the seconds end_search keeps for the artifacts' upload and the run's end
END_MARGIN_S = 1.0
#: a trial run still RUNNING this long after its trial ended in the study is closed KILLED
#: by the study's next session (its process died before its writer ended the run)
UNCLOSED_AFTER_S = 300.0
#: the fewest held-out rows, new to the champion, that a held-out comparison is made on
MIN_SHARED_ROWS = 20
#: Tags of a search run that say how its latest session ended: removed when the study's
#: next session resumes the run (a resumed search that finishes keeps no earlier error)
SESSION_TAGS = ("lepton.error", "lepton.search_interrupted", "lepton.tracking_errors",
                "lepton.stopped")

# What the issue asks for as per-epoch steps. Each metric row costs ~1.5 ms of MLflow/SQLite
# CPU (benchmarks/results/tracking_overhead*.md), so elapsed/epoch_time are not logged per
# epoch: the trial's duration and epoch count are logged once.
_EPOCH_KEYS = ("train_loss", "val_loss", "val_score", "lr")
_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED",
           "interrupted": "KILLED"}
_MAX_PARAM_LEN = 6000  # MLflow's limit on a param value
_MAX_TAG_LEN = 5000
_BAD_KEY = re.compile(r"[^\w\-. /]")
_WRITERS = ("process", "thread")
DEFAULT_DRAIN_TIMEOUT = 120.0


def _drain_timeout(value: float | None) -> float:
    source = "drain_timeout"
    if value is None:
        source, value = "LEPTON_MLFLOW_DRAIN_TIMEOUT", os.environ.get("LEPTON_MLFLOW_DRAIN_TIMEOUT")
        if not value:
            return DEFAULT_DRAIN_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not seconds >= 0:
        raise ValueError(f"{source}={value!r} is not valid: give the seconds end_search may "
                         "wait for trial writes, a number >= 0.")
    return seconds


@dataclass
class _WriterState:
    """Where one writer thread sends its writes: the child process, or (without one, or
    after it died) a RunWriter in this process."""

    process: WriterProcess | None = None
    local: RunWriter | None = None


@dataclass
class _Trial:
    run_id: str | None  # set by flush() from the writer's reply
    number: int = -1
    params: dict = field(default_factory=dict)   # flattened, sent with the first batch
    params_sent: bool = False
    start_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    records: list[dict] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    flushed: int = 0  # records[:flushed] are sent to the writer
    last_flush: float = field(default_factory=time.monotonic)
    value: float | None = None
    state: str | None = None
    folds: list[tuple[int, float, int]] = field(default_factory=list)  # (fold, score, ms)
    folds_flushed: int = 0


def context_tags() -> dict[str, str]:
    """The run context MLflow's fluent ``start_run`` records (``client.create_run`` records
    none): who ran the search, the script or command it ran from, and Lepton's version;
    and which process ran it (TAG_PROCESS, TAG_PROCESS_START). Nothing here may be slow or
    reach the network (no git lookup)."""
    import getpass
    import sys

    from .. import __version__
    from ..search._search import process_label

    source = sys.argv[0] if sys.argv and sys.argv[0] else "<console>"
    tags = {"mlflow.source.name": _truncate(source, _MAX_TAG_LEN),
            "mlflow.source.type": "LOCAL", TAG_VERSION: __version__,
            TAG_PROCESS: process_label(), TAG_PROCESS_START: process_instance()}
    try:
        tags["mlflow.user"] = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (a container's uid without one)
        pass
    return tags


def _metric_direction(metric: Any) -> str:
    """The direction of a search metric, by its name (Lepton's metrics); 'maximize' for
    one it does not know."""
    try:
        from ..search.metrics import METRICS
    except ImportError:
        return "maximize"
    known = METRICS.get(str(metric))
    return known.direction if known is not None else "maximize"


def _check_model_name(name: str) -> None:
    """The model registry's rule for a name (MLflow 3: not blank, no '/' or ':'), checked
    before the search: the registry would refuse the name only after it, and the model
    would go unregistered. Written out here: MLflow's own check is a private function."""
    if not name.strip() or "/" in name or ":" in name or name in (".", ".."):
        raise ValueError(f"registered_model_name={name!r} is not a valid MLflow model name: "
                         "it must not be blank, '.' or '..', nor contain '/' or ':'.")


def _in_mlflow_env(method):
    """The tracker's MLflow calls run in :func:`._store.mlflow_env` (telemetry off, HTTP
    calls that give up in seconds); the caller's environment is left as it was (it was
    changed for the rest of the process before: a notebook's own MLflow uploads then gave
    up after 30 s and 2 retries)."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # what fails is collected (_guard) or raised, in a line: not also logged by MLflow
        with mlflow_env(), store_errors_unlogged():
            return method(*args, **kwargs)
    return wrapper


class MLflowTracker(SearchTracker):
    """Records a search in MLflow (see the module docstring for the layout).

    Parameters
    ----------
    tracking_uri : str, default=None
        MLflow tracking URI; None uses ``MLFLOW_TRACKING_URI`` or the embedded SQLite
        store under ``$LEPTON_HOME/mlflow``. Checked at construction: an unreachable or
        misconfigured store raises :class:`TrackingError` within seconds.
    experiment_name : str, default='lepton'
    registered_model_name : str, default=None
        Register the final model under this name and move alias 'champion' to it when its
        validation score beats the current champion's.
    registry_uri : str, default=None
        Model registry URI; defaults to the tracking URI.
    defer_promotion : bool, default=False
        Register the final model without deciding whether it becomes champion:
        :meth:`promote_on_held_out` decides later, on held-out rows (``lepton run
        --register`` and the Prefect flow do).
    log_models : bool, default=True
    strict : bool, default=False
        Raise tracking errors that happen during the search instead of warning (the
        search itself never depends on tracking once it has started).
    flush_interval : float, default=30.0
    n_learning_curves : int, default=5
    writer : {'process', 'thread'}, default=None
        Where trial writes run: a child process (the default; ``LEPTON_MLFLOW_WRITER``
        overrides it) or a thread of this process, which shares the GIL with training.
    drain_timeout : float, default=None
        120 s unless ``LEPTON_MLFLOW_DRAIN_TIMEOUT`` says otherwise. The longest
        ``end_search`` / ``fail_search`` wait for the trial writes still queued: a store
        that stops answering (each HTTP request may take 90 s to fail) holds
        ``fit`` this long at most. Writes still going then finish in the background
        (recorded in ``tracking_errors``): the writer process completes what it received
        even after this process exits; what was still queued in this process (or, with
        the thread writer, everything pending) is lost if this process exits first.

    Attributes
    ----------
    parent_run_id : str or None
    tracking_errors : list of str
        Writes that failed during the search (the search itself went on).
    writer_process : subprocess.Popen or None
        The writer process of the latest search, kept after it exits (pid, returncode);
        None where the writes ran in this process.
    writer_fallback : str or None
        Why trial writes moved to the writer thread mid-search (the writer process died).
    """

    enabled = True

    @property
    def finalize_seconds(self) -> float:
        # Measured end_search (benchmarks/results/tracking_overhead*.md): idle 2-core
        # machines 2.9-5.5 s; both cores saturated by other processes 17.1 s median while
        # the writer child's exit waited on its interpreter teardown at nice 10, 6.3 s in
        # one run since it leaves with os._exit (stop-7 closing note). The search holds
        # back more on a busy machine (search.estimators._tracking_reserve).
        return 7.0 if self.log_models else 3.5

    @_in_mlflow_env
    def __init__(self, *, tracking_uri: str | None = None, experiment_name: str | None = None,
                 registered_model_name: str | None = None, registry_uri: str | None = None,
                 log_models: bool = True, strict: bool = False, flush_interval: float = 30.0,
                 n_learning_curves: int = 5, writer: str | None = None,
                 drain_timeout: float | None = None, defer_promotion: bool = False):
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.registry_uri = driver_url(registry_uri) if registry_uri else self.tracking_uri
        if any(urlsplit(uri).scheme in ("http", "https") and urlsplit(uri).hostname in LOOPBACK
               for uri in (self.tracking_uri, self.registry_uri)):
            # a tracking server on this machine, behind a proxy setting; NO_PROXY is left as
            # it was for any other store (review helper-83: a SQLite store's fit changed it)
            loopback_without_proxy()
        self.experiment_name = experiment_name or DEFAULT_EXPERIMENT
        self.registered_model_name = registered_model_name
        self.defer_promotion = defer_promotion
        self.log_models = log_models
        self.strict = strict
        self.flush_interval = flush_interval
        self.n_learning_curves = n_learning_curves
        self.drain_timeout = _drain_timeout(drain_timeout)
        self.writer = writer or os.environ.get("LEPTON_MLFLOW_WRITER") or "process"
        if self.writer not in _WRITERS:
            source = "writer" if writer else "LEPTON_MLFLOW_WRITER"
            raise ValueError(f"{source}={self.writer!r} is not one of {', '.join(_WRITERS)}: "
                             "'process' writes from a child process, 'thread' from a thread "
                             "of this process.")

        if registered_model_name is not None:
            _check_model_name(registered_model_name)
        clear_dead_scratch()  # what killed processes left while logging their models
        check_tracking_uri(self.tracking_uri)
        if self.registry_uri != self.tracking_uri:
            check_tracking_uri(self.registry_uri)
        # a new SQL store announces its table creation and migrations at INFO: noise in
        # front of every first `lepton run` (errors still show)
        stores = tuple(dict.fromkeys((self.tracking_uri, self.registry_uri)))
        try:
            with _muted_loggers("mlflow.store.db.utils", "alembic"):
                open_locked(stores, self._open_store)
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(
                f"MLflow store at tracking_uri={redact_uri(self.tracking_uri)!r} failed while "
                f"opening experiment {self.experiment_name!r}: {type(exc).__name__}: {exc}"
                f"{''.join(unfinished_upgrade(uri) for uri in stores)}") from exc

        self.parent_run_id: str | None = None
        self.registered_version: str | None = None
        #: why the registered version was made champion or not ('first champion',
        #: 'promoted: accuracy=0.97 vs champion v2 0.95', 'not promoted: ...')
        self.promotion: str | None = None
        self.tracking_errors: list[str] = []
        self._deadline: float | None = None  # end_search's: the fit's budget (time.monotonic)
        self._skipped: dict[str, str] = {}  # what end_search left out for want of time
        self._stop: Any = None  # end_search's StopRequest: a Ctrl-C or SIGTERM cuts it short
        #: the signal ('Ctrl-C', 'SIGTERM') that cut the end-of-search logging short; None
        self.stopped: str | None = None
        self._logged_models: list[str] = []  # ids of the logged models this search made
        self._trials: dict[int, _Trial] = {}
        # trials that earlier sessions or workers logged, read as needed (_other_child)
        self._known_children: dict[int, str | None] = {}
        self._lock = threading.Lock()
        self._deferred: list[tuple[str, Exception]] = []  # writer errors, raised by flush()
        self._search: dict[str, Any] = {}
        self.writer_process: subprocess.Popen | None = None
        self.writer_fallback: str | None = None
        self._init: dict = {}  # what a RunWriter needs besides the client (start_search)
        self._detached: threading.Thread | None = None  # a writer left to finish (end_search)
        self._joined = False  # logs into another process's search run (join_search)
        #: what the writer needs of this search besides where to write (start_search)
        self._writer_init: dict = {}
        self._reset_writer()

    def _reset_writer(self) -> None:
        # Live state of the writer: its queue and thread (started by _start_writer), the
        # child process, or the in-process RunWriter once writes run here.
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._state = _WriterState()
        self._pending: Future | None = None  # a flush reply end_search stopped waiting for

    def __getstate__(self) -> dict:
        # A copy (pickle, deepcopy) keeps the record of the search, not the live client,
        # locks, writer thread or child process; it opens a client of its own.
        state = dict(self.__dict__)
        for key in ("client", "_lock", "_queue", "_thread", "_state", "_pending", "_detached",
                    "writer_process", "_stop"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        try:
            from mlflow.tracking import MlflowClient
        except ModuleNotFoundError:  # a saved model loaded where MLflow is not installed:
            self.client = None       # it predicts; this record of its search cannot log
        else:
            self.client = MlflowClient(tracking_uri=self.tracking_uri,
                                       registry_uri=self.registry_uri)
        self._lock = threading.Lock()
        self.writer_process = None
        self._detached = None
        self._stop = None
        self._reset_writer()

    def __repr__(self) -> str:
        return (f"MLflowTracker(tracking_uri={redact_uri(self.tracking_uri)!r}, "
                f"experiment_name={self.experiment_name!r}, "
                f"registered_model_name={self.registered_model_name!r})")

    # -- setup -----------------------------------------------------------------------
    def _open_store(self) -> None:
        """The client and experiment id, the stores locked (:func:`open_locked`: a SQLite
        store whose schema upgrade a full disk interrupted failed to open ever after, in
        6 s, review helper-87; what such an upgrade left is dropped where that loses
        nothing, and the store opened once more)."""
        self.client = mlflow_client(self.tracking_uri, self.registry_uri)
        self.experiment_id = self._ensure_experiment()

    def _ensure_experiment(self) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is None:
            root = artifact_root_for(self.tracking_uri)
            location = None
            if root is not None:
                # no leading dot: '..' and '.' named the store's folder and the artifacts
                # root itself (security review helper-75)
                safe = (re.sub(r"[^\w.-]+", "_", self.experiment_name).strip("_").lstrip(".")
                        or "experiment")
                folder, n = (root / safe).resolve(), 1
                # a folder holding files is another experiment's (one renamed, or deleted
                # and garbage-collected, whose logged models stay): not shared with it
                while folder.is_dir() and any(folder.iterdir()):
                    n += 1
                    folder = (root / f"{safe}-{n}").resolve()
                folder.mkdir(parents=True, exist_ok=True)
                location = folder.as_uri()
            try:
                return self.client.create_experiment(
                    self.experiment_name, artifact_location=location,
                    tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, "lepton.created_by": "lepton"})
            except MlflowException:  # created meanwhile by another worker
                exp = self.client.get_experiment_by_name(self.experiment_name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            raise TrackingError(
                f"the experiment {self.experiment_name!r} is deleted in "
                f"{redact_uri(self.tracking_uri)!r}; restore it (`mlflow experiments restore "
                f"--experiment-id {exp.experiment_id}`) or choose another experiment "
                "(experiment_name=; on the command line --experiment).")
        if EXPERIMENT_KIND_TAG not in exp.tags:
            self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return exp.experiment_id

    def _guard(self, what: str, exc: Exception, *, deferred: bool = False) -> None:
        """A tracking write failed mid-search: raise when strict (from the writer: at the
        next ``flush``), else warn once per kind."""
        message = f"MLflow tracking: {what} failed: {_describe(exc)}"
        first = not any(m.startswith(f"MLflow tracking: {what} ") for m in self.tracking_errors)
        self.tracking_errors.append(message)
        if self.strict:
            if deferred:
                self._deferred.append((what, exc))
                return
            raise TrackingError(message) from exc
        if first:
            goes_on = ("the search's end goes on" if what.startswith("end_search")
                       else "the search goes on")
            warnings.warn(message + f" ({goes_on}; later failures of this kind are "
                          "collected in tracker.tracking_errors)", TrackingWarning, stacklevel=3)

    # -- search ----------------------------------------------------------------------
    @_in_mlflow_env
    def start_search(self, **kwargs: Any) -> None:
        """``study_uid``: the persistent study's identity (None: in memory, or not known
        yet); ``study_created``: this fit created the study (no search run from before
        identities is its run); ``direction``: the study's, for ``best_trial_value``
        (default: the metric's).

        A store that fails here raises :class:`TrackingError`, before any training time is
        spent: the store and MLflow's error in a line (on a full disk `lepton run` ended in
        three tracebacks of SQL; review helper-90), and the search run, where it was
        created, ended FAILED (else left RUNNING)."""
        try:
            self._start_search(**kwargs)
        except TrackingError:
            raise
        except Exception as exc:
            if self.parent_run_id is not None:
                with contextlib.suppress(Exception):
                    self.client.set_terminated(self.parent_run_id, status="FAILED")
            why = _describe(exc)
            raise TrackingError(
                f"MLflow store at tracking_uri={redact_uri(self.tracking_uri)!r} could not "
                f"start the search's run: {why}"
                + ("; the store's disk is full: free some space there" if disk_full(why)
                   else "")) from exc

    def _start_search(self, *, study_name: str, meta_features: dict, search_space: dict,
                      settings: dict, study_uid: str | None = None, study_created: bool = False,
                      direction: str | None = None, **kwargs: Any) -> None:
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        storage = settings.get("storage")
        storage_label = redact_uri(str(storage)) if storage is not None else None
        self._search = {"study_name": study_name, "meta_features": meta_features,
                        "search_space": search_space, "settings": settings, **kwargs}
        params = {**_flatten(settings, "settings"), **_flatten(meta_features, "meta")}
        space_params = _flatten(search_space, "space")
        if len(space_params) <= 200:
            params.update(space_params)
        context = context_tags()
        tags = {TAG_ROLE: "search", TAG_STUDY: study_name, "lepton.task": str(settings.get("task")),
                TAG_METRIC: str(settings.get("metric")),
                TAG_STORAGE: storage_label or "in-memory", **context}
        if study_uid and storage_label:  # also tags a run from before identities, resumed
            tags[TAG_STUDY_UID] = study_uid
        self._writer_init = {"context_tags": context,
                             "direction": direction or _metric_direction(settings.get("metric")),
                             "best_value": None}

        self._known_children.clear()
        self._study_created = study_created
        try:
            self._close_dead_runs()
        except Exception as exc:  # housekeeping: the search goes on without it
            self._guard("closing the runs of processes that ended", exc)
        parent = (self._find_parent(study_name, storage_label, study_uid) if storage_label
                  else None)
        if parent is None:
            run = self.client.create_run(self.experiment_id, run_name=f"search-{study_name}",
                                         tags={**tags, TAG_RESUME_COUNT: "0"})
            if storage_label:
                parent = self._race_winner(study_name, storage_label, run, study_uid)
        if parent is None:
            self.parent_run_id = run.info.run_id
            if storage_label:  # resumable: later sessions count this one
                self._log_session_start()
            existing: dict[str, str] = {}
        else:
            self.parent_run_id = parent.info.run_id
            for stale in SESSION_TAGS:  # the last session's outcome, not this one's
                if stale in parent.data.tags:
                    self.client.delete_tag(self.parent_run_id, stale)
            self._count_resume(parent)
            self._writer_init["best_value"] = self._best_so_far()
            existing = dict(parent.data.params)
        for attempt in range(3):
            new = {k: v for k, v in params.items() if k not in existing}
            # params are immutable: a resumed search records changed settings as tags
            changed = {f"lepton.resumed.{k}": v for k, v in params.items()
                       if k in existing and not _same_param(existing[k], v)}
            try:
                _log_batch(self.client, self.parent_run_id,
                           params=[Param(k, v) for k, v in new.items()],
                           tags=[RunTag(k, v) for k, v in {**tags, **changed}.items()])
                break
            except MlflowException:
                # another process of the study logged the same params a moment earlier
                # (the store refuses a param key twice): log what is still missing
                if attempt == 2:
                    raise
                existing = dict(self.client.get_run(self.parent_run_id).data.params)
        if parent is not None:
            # once the run names this process (TAG_PROCESS): a RUNNING run that still named
            # the killed process it resumes would be closed by another search meanwhile
            self.client.update_run(self.parent_run_id, status="RUNNING")
        if self.registered_model_name:
            self._warn_unpromotable(str(settings.get("metric")))
        # now: the child's `import mlflow` (~2 s) overlaps the first trial
        self._start_writer()

    def _warn_unpromotable(self, metric: str) -> None:
        """Said before the search rather than found later in a version's tag: a champion
        scored with another metric is never replaced (two metrics' scores do not compare),
        so this search's model would become a version that is never promoted."""
        from mlflow.exceptions import MlflowException

        name = self.registered_model_name
        try:
            champion = self.client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException:
            return  # no champion yet (or no such model): this search's model will be one
        theirs = champion.tags.get(TAG_METRIC)
        if theirs is not None and theirs != metric:
            warn_at_caller(
                f"registered_model_name={name!r}: its champion (version {champion.version}) "
                f"was scored with {theirs!r} and this search optimises {metric!r}; the two "
                "scores do not compare, so this search's model will be registered as a new "
                "version but never made champion. Register under another name, or delete "
                f"the alias first (MlflowClient().delete_registered_model_alias({name!r}, "
                f"{CHAMPION_ALIAS!r})) to start this name over with {metric!r}.", TrackingWarning)

    @_in_mlflow_env
    def join_search(self, parent_run_id: str, *, study_name: str) -> None:
        """Log this process's trials as children of the search run ``parent_run_id`` that
        another process (the ``lepton run`` a ``lepton worker`` joined) created and will
        finish: no search run of its own; its status, summary, artifacts and models stay
        the run's. End with :meth:`leave_search` (``fail_search`` does the same here)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(parent_run_id)
        except MlflowException as exc:
            raise TrackingError(
                f"MLflow store at tracking_uri={redact_uri(self.tracking_uri)!r} has no run "
                f"{parent_run_id} (the search run to log trials under): {exc}") from exc
        self.experiment_id = run.info.experiment_id
        self.parent_run_id = parent_run_id
        self._joined = True
        self._search = {"study_name": study_name}
        self._writer_init = {"context_tags": context_tags(),
                             "direction": _metric_direction(run.data.tags.get(TAG_METRIC))}
        self._writer_init["best_value"] = self._best_so_far()
        self._start_writer()

    @_in_mlflow_env
    def leave_search(self) -> None:
        """A joined search's end (:meth:`join_search`): this process's trials written (a
        trial still open is closed as killed), the writer stopped."""
        if self.parent_run_id is None:
            return
        since = time.monotonic()
        self._close_open_trials("KILLED", "the worker stopped before the trial reported its end")
        self._finish_writes(since)

    def _log_session_start(self) -> None:
        now = time.time()
        self.client.log_metric(self.parent_run_id, METRIC_SESSIONS, now,
                               timestamp=int(now * 1000), step=0)

    def _count_resume(self, parent) -> None:
        """Record this session on the resumed ``parent`` run and set ``lepton.resume_count``.

        Each session appends one row (its start time) to the parent's ``METRIC_SESSIONS``
        history: rows are only ever added, so sessions that start at once are all counted.
        The tag is then set from the rows, and set again while more rows appear (a session
        that read fewer rows may have written its smaller count after ours): the last tag
        written was read after every session's row. A parent from before the history
        existed counts the sessions its tag says (as found)."""
        self._log_session_start()
        at_least = int(parent.data.tags.get(TAG_RESUME_COUNT, "0")) + 2  # this one included
        rows = len(self.client.get_metric_history(self.parent_run_id, METRIC_SESSIONS))
        while True:
            self.client.set_tag(self.parent_run_id, TAG_RESUME_COUNT,
                                str(max(rows, at_least) - 1))
            again = len(self.client.get_metric_history(self.parent_run_id, METRIC_SESSIONS))
            if again == rows:
                return
            rows = again

    def _best_so_far(self) -> float | None:
        """The best trial value the search run's earlier sessions (or the other processes
        of the search) logged, in the study's direction; None where there is none."""
        values = [m.value for m in self.client.get_metric_history(self.parent_run_id,
                                                                  METRIC_TRIAL)
                  if not math.isnan(m.value)]
        if not values:
            return None
        return min(values) if self._writer_init.get("direction") == "minimize" else max(values)

    def _same_study(self, run, study_name: str, storage_label: str,
                    study_uid: str | None) -> bool:
        """Whether ``run`` is a search run of this study: the same study name and storage
        text, and the same identity where both have one. A run without an identity is from
        before identities were recorded (the study that resumes it tags it), never the run
        of a study this fit created; a study without one is being created by another
        process this moment, which has not recorded it yet."""
        tags = run.data.tags
        if tags.get(TAG_STUDY) != study_name or tags.get(TAG_STORAGE) != storage_label:
            return False
        theirs = tags.get(TAG_STUDY_UID)
        if theirs is None:
            return study_uid is None or not getattr(self, "_study_created", False)
        return study_uid is None or theirs == study_uid

    def _find_parent(self, study_name: str, storage_label: str, study_uid: str | None = None):
        def quoted(s: str) -> bool:
            return "'" not in s and "\\" not in s

        flt = f"tags.`{TAG_ROLE}` = 'search'"
        if quoted(study_name) and quoted(storage_label):
            flt += f" AND tags.`{TAG_STUDY}` = '{study_name}' AND tags.`{TAG_STORAGE}` = '{storage_label}'"
        runs = self.client.search_runs([self.experiment_id], filter_string=flt, max_results=1000,
                                       order_by=["attributes.start_time DESC"])
        for run in runs:
            if self._same_study(run, study_name, storage_label, study_uid) and \
                    not self._abandoned(run):
                return run
        return None

    def _abandoned(self, run) -> bool:
        """The search run of a fit that failed before any trial (its new study was removed
        with it): not the study's run to resume; the next fit starts its own."""
        return run.info.status == "FAILED" and not self.client.search_runs(
            [self.experiment_id], max_results=1,
            filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")

    def _race_winner(self, study_name: str, storage_label: str, mine,
                     study_uid: str | None = None):
        """After creating a parent run: the parent of this study that another process
        created at the same moment and that wins over ``mine`` (deleted then), or None.

        Several processes (workers of one study on a shared storage) can each look for the
        study's parent, find none and create one. Each then waits RACE_RECHECK_S, so that
        the runs created at the same moment are stored by then, and looks again: among
        the parents started within RACE_WINDOW_MS of its own, the earliest (then the
        smallest run id) is the study's, so every process keeps the same one. (MLflow has
        no compare-and-set; two parents remain only if a store takes longer than
        RACE_RECHECK_S to show a created run.)"""
        start = mine.info.start_time
        flt = (f"tags.`{TAG_ROLE}` = 'search' AND attributes.start_time >= "
               f"{start - RACE_WINDOW_MS} AND attributes.start_time <= {start + RACE_WINDOW_MS}")
        time.sleep(RACE_RECHECK_S)
        runs = [r for r in self.client.search_runs([self.experiment_id], filter_string=flt,
                                                   max_results=1000)
                if self._same_study(r, study_name, storage_label, study_uid)
                and not self._abandoned(r)]
        first = min(runs, key=lambda r: (r.info.start_time, r.info.run_id), default=None)
        if first is None or first.info.run_id == mine.info.run_id:
            return None
        self.client.delete_run(mine.info.run_id)
        return first

    def _child_run(self, number: int) -> str | None:
        """The run id of trial ``number``'s run under the search run (another process's:
        an earlier session's, a worker's), or None. One query of that trial alone: listing
        every child run took 3.1-3.5 s at 2,010 trials and 7.0-8.9 s at 5,000, at a
        resumed fit's start and again at its end, and stopped at 5,000 (review
        helper-67: a 20 s resumed fit ran no trial and took 24 s)."""
        runs = self.client.search_runs(
            [self.experiment_id], max_results=1,
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_run_id}' AND "
                          f"tags.`{TAG_TRIAL}` = '{int(number)}'")
        return runs[0].info.run_id if runs else None

    def _close_dead_runs(self) -> list[str]:
        """Mark KILLED the runs of the experiment that a process of this machine left
        RUNNING as it died (SIGKILL, out of memory, a closed terminal): nothing else ever
        ends them. Search and trial runs name their process (TAG_PROCESS,
        TAG_PROCESS_START; :func:`context_tags`), found here in one query of the RUNNING
        runs of this host's processes. A run of another machine, of a live process, or
        without these tags (not Lepton's, or from a Lepton before them) is left as it is.
        Returns the run ids closed."""
        import socket

        from ..search._search import process_label

        host = socket.gethostname()
        if "'" in host or "\\" in host:
            return []
        # (LIKE's '_' matches any character: process_gone compares the host exactly)
        runs = self.client.search_runs(
            [self.experiment_id], max_results=5000,
            filter_string=f"attributes.status = 'RUNNING' AND tags.`{TAG_PROCESS}` LIKE '{host}:%'")
        gone: dict[tuple, bool] = {}
        closed, me = [], process_label()
        for run in runs:
            tags = run.data.tags
            process = (tags.get(TAG_PROCESS), tags.get(TAG_PROCESS_START))
            if process not in gone:
                gone[process] = process_gone(*process)
            if not gone[process]:
                continue
            what = "search" if tags.get(TAG_ROLE) == "search" else "trial"
            why = (f"killed: the process that ran this {what} ({process[0]}) ended without "
                   f"closing its run; closed by {me} at {time.strftime('%Y-%m-%d %H:%M:%S')}")
            self._kill_run(run.info.run_id, {"lepton.error": why} if what == "search"
                           else {TAG_STATE: "killed", TAG_REASON: why})
            closed.append(run.info.run_id)
        return closed

    def _kill_run(self, run_id: str, tags: dict[str, str]) -> None:
        """End a run its process left RUNNING as KILLED, with tags saying why."""
        from mlflow.entities import RunTag

        _log_batch(self.client, run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.set_terminated(run_id, status="KILLED")

    def _close_ended_trials(self, study: Any) -> list[str]:
        """Mark KILLED the search's trial runs still RUNNING whose trial the study failed
        because its process stopped mid-trial (killed, its machine lost: the fail reason
        'its process ... stopped'), on a machine :meth:`_close_dead_runs` cannot judge. Not
        a trial that ended otherwise: another machine's writer, asynchronous, may not have
        ended the run of a trial just completed there yet. Not this process's trials
        (closed by :meth:`_close_open_trials`), nor a live process's of this machine.
        Returns the run ids closed."""
        runs = self.client.search_runs(
            [self.experiment_id], max_results=5000,
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_run_id}' AND "
                          "attributes.status = 'RUNNING'")
        if not runs:
            return []
        import socket

        from ..search._search import process_stopped

        # A trial the study failed for a stopped process; or one that ended long enough
        # ago that its process's writer, however slow, would have ended its run (its
        # process was killed between the trial's end and the run's).
        long_ago = _dt.datetime.now() - _dt.timedelta(seconds=UNCLOSED_AFTER_S)
        why_closed = {}
        for t in study.get_trials(deepcopy=False):
            if process_stopped(t):
                why_closed[t.number] = "stopped mid-trial, and the study failed the trial"
            elif t.state.is_finished() and t.datetime_complete is not None and \
                    t.datetime_complete < long_ago:
                why_closed[t.number] = (f"never ended the run of its trial, which ended "
                                        f"{t.state.name} over {UNCLOSED_AFTER_S:g}s before")
        host = socket.gethostname()
        closed = []
        for run in runs:
            tags = run.data.tags
            number = tags.get(TAG_TRIAL, "")
            if not number.isdigit() or int(number) not in why_closed or \
                    int(number) in self._trials:
                continue
            label = tags.get(TAG_PROCESS) or ""
            if label.rpartition(":")[0] == host and \
                    not process_gone(label, tags.get(TAG_PROCESS_START)):
                continue
            why = f"killed: its process ({label or 'not recorded'}) {why_closed[int(number)]}"
            self._kill_run(run.info.run_id, {TAG_STATE: "killed", TAG_REASON: why})
            closed.append(run.info.run_id)
        return closed

    # -- trials (concurrent) ---------------------------------------------------------
    def start_trial(self, trial_number: int, *, params: dict, model_config: dict,
                    training_config: dict, **kwargs: Any) -> None:
        if self.parent_run_id is None:
            return
        flat = {**_flatten(params, ""), **_flatten(model_config, "model"),
                **_flatten(training_config, "training")}
        flat["model_config"] = _truncate(json.dumps(model_config, default=str), _MAX_PARAM_LEN)
        trial = _Trial(run_id=None, number=trial_number, params=flat)
        with self._lock:
            self._trials[trial_number] = trial
        # Nothing is written yet: the run is created with the trial's first batch, at its
        # end (or at a periodic flush of a long trial): one create_run, one log_batch and
        # one set_terminated per trial, in the writer.

    def log_epoch(self, trial_number: int, record: dict, **kwargs: Any) -> None:
        trial = self._trials.get(trial_number)
        if trial is None:
            return
        trial.records.append(dict(record))
        trial.timestamps.append(int(time.time() * 1000))
        if time.monotonic() - trial.last_flush >= self.flush_interval:
            trial.last_flush = time.monotonic()
            self._send(trial, "log_epoch")

    def log_fold(self, trial_number: int, *, fold: int, score: float, **kwargs: Any) -> None:
        trial = self._trials.get(trial_number)
        value = _as_float(score)
        if trial is None or value is None or not math.isfinite(value):
            return
        trial.folds.append((int(fold), value, int(time.time() * 1000)))  # sent at its end

    def end_trial(self, trial_number: int, *, state: str, value: float | None, duration: float,
                  reason: str | None = None, epochs: int | None = None,
                  best_epoch: int | None = None, status: str | None = None,
                  **kwargs: Any) -> None:
        trial = self._trials.get(trial_number)
        if trial is None:
            return
        trial.state, trial.value = state, _as_float(value)
        tags = {TAG_STATE: state}
        if reason:
            tags[TAG_REASON] = _truncate(str(reason), _MAX_TAG_LEN)
        if status:
            tags[TAG_TRAINING_STATUS] = _truncate(str(status), _MAX_TAG_LEN)
        self._send(trial, "end_trial", tags=tags, status=_STATUS.get(state, "FAILED"),
                   extra={"duration": _as_float(duration), "objective_value": trial.value,
                          "epochs": _as_float(epochs), "best_epoch": _as_float(best_epoch)})

    def _send(self, trial: _Trial, what: str, *, tags: dict | None = None,
              status: str | None = None, extra: dict | None = None) -> None:
        """Hand the trial's records not sent yet (and its params, the first time) to the
        writer as one batch (see ``RunWriter.trial``). Called from the trial's thread."""
        upto, folds_upto = len(trial.records), len(trial.folds)
        metrics = []
        for record, ts in zip(trial.records[trial.flushed:upto],
                              trial.timestamps[trial.flushed:upto]):
            step = int(record.get("epoch", 0))
            for key in _EPOCH_KEYS:
                value = _as_float(record.get(key))
                if value is not None:
                    metrics.append((key, value, ts, step))
        metrics += [(METRIC_FOLD, value, ts, fold)
                    for fold, value, ts in trial.folds[trial.folds_flushed:folds_upto]]
        now = int(time.time() * 1000)
        metrics += [(k, v, now, 0) for k, v in (extra or {}).items() if v is not None]
        batch = {"what": what, "number": trial.number, "start_ms": trial.start_ms,
                 "metrics": metrics, "tags": tags or {}, "status": status,
                 "value": trial.value if status else None}
        if not trial.params_sent:
            batch["params"], trial.params_sent = trial.params, True
        trial.flushed, trial.folds_flushed = upto, folds_upto
        self._submit("trial", batch)

    # -- the writer ------------------------------------------------------------------
    def _start_writer(self) -> None:
        """Start the writer thread and, unless writer='thread', the writer process."""
        self._close_writer()  # a tracker reused for another search
        if self._detached is not None:  # the previous search's writer, left to finish
            self._detached.join(timeout=self.drain_timeout)
            self._detached = None
        init = {"experiment_id": self.experiment_id, "parent_run_id": self.parent_run_id,
                "study_name": self._search.get("study_name", ""),
                **getattr(self, "_writer_init", {})}  # (a tracker pickled before it)
        process = None
        if self.writer == "process":
            try:
                process = WriterProcess({**init, "tracking_uri": self.tracking_uri,
                                         "registry_uri": self.registry_uri},
                                        env={**quiet_mlflow_env(), **os.environ})
            except (OSError, WriterDied) as exc:
                warnings.warn(f"MLflow tracking: cannot start the writer process "
                              f"({_describe(exc)}); trial writes run in a thread of this "
                              "process instead.", TrackingWarning, stacklevel=3)
        with self._lock:
            self._reset_writer()
            self._state.process = process
            self.writer_process = process.proc if process is not None else None
            self.writer_fallback = None
            self._init = init
            self._thread = threading.Thread(target=self._write_loop,
                                            args=(self._queue, self._state),
                                            daemon=True, name="lepton-mlflow-writer")
            self._thread.start()

    def _submit(self, command: str, payload: Any) -> None:
        """Queue a command for the writer thread: trial threads never wait for the store
        (nor for a pipe). FIFO order keeps a trial's run creation before its metrics."""
        if self._thread is None:  # a copy of a tracker, used without start_search
            self._start_writer()
        self._queue.put((command, payload))

    def _write_loop(self, commands: queue.Queue, state: _WriterState) -> None:
        # ``state`` is this thread's own: a writer left to finish in the background
        # (end_search's drain timed out) never touches the next search's.
        while True:
            command, payload = commands.get()
            if command == "close":
                if state.process is not None:
                    state.process.close()
                    state.process = None
                return
            try:
                result = self._write(state, command, payload)
            except BaseException as exc:  # a bug here must not leave flush() waiting
                if command == "flush":
                    payload.set_exception(exc)
                continue
            if command == "flush":
                payload.set_result(result)

    def _write(self, state: _WriterState, command: str, payload: Any) -> dict | None:
        """Writer thread: one command, to the writer process (its environment is set when
        it starts) or, without one, here (in :func:`._store.mlflow_env`)."""
        process = state.process
        if process is not None:
            try:
                if command == "flush":
                    return process.flush()
                process.send(command, payload)
                return None
            except WriterDied as exc:
                self._fall_back(state, exc)
        with mlflow_env():
            if state.local is None:
                state.local = RunWriter(self.client, **self._init)
            if command == "flush":
                return state.local.flush()
            state.local.trial(payload)
        return None

    def _fall_back(self, state: _WriterState, exc: WriterDied) -> None:
        """The writer process died: write from this process for the rest of the search."""
        process = state.process
        lost = process.unconfirmed
        process.close(timeout=5.0)
        state.process = None
        self.writer_fallback = str(exc)
        what = ("; the trials it had not confirmed may be missing from MLflow or incomplete"
                f" ({lost} batch{'es' if lost != 1 else ''} sent since the last flush)"
                if lost else "")
        self._guard("writer process", WriterDied(
            f"{exc}{what}; trial writes run in a thread of this process from now on"),
            deferred=True)

    @_in_mlflow_env
    def flush(self, timeout: float | None = None, *, since: float | None = None) -> bool:
        """Wait until every write handed to the writer is in the store (end_search /
        fail_search do); record the trials' run ids and the writes that failed.

        With ``timeout`` (seconds), stop waiting then: the writes go on, the delay is
        recorded as a tracking error, and the result is False (True: all written).
        ``since`` (time.monotonic) is when the caller began waiting, for that message."""
        drained = True
        since = time.monotonic() if since is None else since
        if self._thread is not None:
            reply: Future = Future()
            self._submit("flush", reply)
            try:
                result = reply.result(timeout=timeout)
            except FutureTimeout:
                drained, self._pending = False, reply
                queued = self._queue.qsize()
                result = {"runs": {}, "errors": [("trial writes", TimeoutError(
                    f"still being written after {time.monotonic() - since:.1f}s "
                    f"({self._writer_label()}; "
                    f"{queued} more batch{'es' if queued != 1 else ''} queued here); they go "
                    "on in the background and appear in MLflow when done, unless this "
                    "process exits first"))]}
            for number, run_id in result["runs"].items():
                trial = self._trials.get(number)
                if trial is not None:
                    trial.run_id = run_id
            for what, exc in result["errors"]:
                self._guard(what, exc, deferred=True)
        if self.strict and self._deferred:
            what, exc = self._deferred[0]
            self._deferred.clear()
            raise TrackingError(f"MLflow tracking: {what} failed: {_describe(exc)}") from exc
        return drained

    def _writer_label(self) -> str:
        process = self._state.process
        return (f"writer process pid {process.pid}" if process is not None
                else "writer thread of this process")

    def _close_writer(self, *, wait: bool = True) -> None:
        """Stop the writer thread and, after what it holds is written, the writer process
        (end_search / fail_search, after flush). ``wait=False`` leaves a writer that is
        still busy to stop by itself; the next search joins it before starting its own."""
        with self._lock:
            thread, commands, self._thread = self._thread, self._queue, None
        if thread is not None:
            commands.put(("close", None))
            if wait:
                thread.join()
            else:
                self._detached = thread

    def _finish_writes(self, since: float) -> None:
        """Wait for the writer until ``drain_timeout`` after ``since`` (time.monotonic) and
        stop it; one still busy then is left to finish in the background."""
        self._pending = None
        try:
            self.flush(timeout=max(0.0, since + self.drain_timeout - time.monotonic()),
                       since=since)
        finally:
            self._close_writer(wait=self._pending is None or self._pending.done())

    # -- end -------------------------------------------------------------------------
    @_in_mlflow_env
    def end_search(self, *, estimator: Any, X_sample: Any, study: Any, leaderboard: Any,
                   final: dict, holdout: tuple | None = None, fit_rows: tuple | None = None,
                   time_left: float | None = None, stop: Any = None, **kwargs: Any) -> None:
        """``fit_rows``: the (X, y) the estimator was fitted on; a registered version keeps
        their hashes (:mod:`._rows`), for :meth:`promote_on_held_out`. ``time_left``: the
        seconds the fit has left (its ``time_budget``'s); the summary, the tables and the
        model (and its registration) are logged whatever it says, the plots and the
        ``mlflow.pytorch`` copy of the network only while it lasts (``plots/skipped.json``
        names those left out). ``stop``: a ``StopRequest`` a Ctrl-C or SIGTERM sets (the
        fit's ``stop_signals_set``): the part being logged then finishes, the rest is left
        out (the tag ``lepton.stopped`` names it, and :attr:`stopped` the signal), and the
        run ends FINISHED after Ctrl-C (the model is fitted), KILLED after SIGTERM."""
        if self.parent_run_id is None:
            return
        ended = time.monotonic()
        self._deadline = None if time_left is None else ended + time_left
        self._skipped = {}
        self._stop = stop
        self._logged_models = []
        try:
            self._end_search(estimator, X_sample, study, leaderboard, final, holdout, fit_rows,
                             ended)
        finally:
            self._stop = None

    def _end_search(self, estimator: Any, X_sample: Any, study: Any, leaderboard: Any,
                    final: dict, holdout: tuple | None, fit_rows: tuple | None,
                    ended: float) -> None:
        self._close_open_trials("KILLED", "search ended before the trial reported its end")
        if self.strict:  # a failed trial write raises here, before any model is logged
            self._finish_writes(ended)
        direction = _direction(final, study)
        score = _as_float(final.get("validation_score"))
        metric = str(final.get("metric") or self._search.get("settings", {}).get("metric"))
        # the model before the plots: on a busy machine the plots are what the budget drops
        steps = [("summary", lambda: self._log_summary(final, study, score, metric, direction)),
                 ("trial runs left open", lambda: self._close_ended_trials(study))]
        if self.log_models:
            steps.append(("models", lambda: self._log_models(estimator, X_sample, score, metric,
                                                             direction, fit_rows)))
        steps.append(("artifacts", lambda: self._log_artifacts(estimator, study, leaderboard,
                                                               holdout, metric, direction)))
        left_out = []
        for what, step in steps:
            if self._stopping() and what in _END_PARTS:  # the others are quick and needed
                left_out.append(_END_PARTS[what])
                continue
            try:
                step()
            except Exception as exc:
                self._guard(f"end_search ({what})", exc)
        if not self.strict:  # the writer drained while this thread logged the rest
            self._finish_writes(ended)
        status = "FINISHED"
        if self.tracking_errors:
            try:  # apart from the run's end: on a full disk it failed, and the run was left
                # RUNNING (review helper-90)
                self.client.set_tag(self.parent_run_id, "lepton.tracking_errors",
                                    _truncate("\n".join(self.tracking_errors), _MAX_TAG_LEN))
            except Exception as exc:
                self._guard("end_search (tracking errors)", exc)
        try:
            if self._stopping():
                self.stopped = self._stop.cause
                status = "KILLED" if self._stop.terminates else "FINISHED"
                left_out[:0] = [_SKIPPED_PARTS.get(name, name) for name, why in
                                self._skipped.items() if why.startswith(STOPPED)]
                self.client.set_tag(
                    self.parent_run_id, "lepton.stopped",
                    f"{self.stopped} during the end-of-search logging; not logged: "
                    + (", ".join(left_out) or "nothing (it came as the logging ended)"))
            self.client.set_terminated(self.parent_run_id, status=status)
        except Exception as exc:
            self._guard("end_search", exc)

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    @_in_mlflow_env
    def fail_search(self, *, error: BaseException, **kwargs: Any) -> None:
        if self.parent_run_id is None:
            return
        if self._joined:  # the search run is the run's: only this worker's trials end here
            try:
                self.leave_search()
            except TrackingError:
                pass
            return
        # Ctrl-C, or SIGTERM (lepton.search's Terminated, a SystemExit): stopped, not failed
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
        try:
            self._close_open_trials("KILLED", f"search stopped: {type(error).__name__}")
            self._finish_writes(time.monotonic())
        except TrackingError:
            pass  # already collected in tracking_errors; the search's own error matters here
        try:
            self.client.set_tag(self.parent_run_id, "lepton.error",
                                _truncate(f"{type(error).__name__}: {error}", _MAX_TAG_LEN))
            self.client.set_terminated(self.parent_run_id,
                                       status="KILLED" if interrupted else "FAILED")
        except Exception as exc:
            self._guard("fail_search", exc)
        try:  # after the run's end, which matters more
            self._fail_open_models()
        except Exception as exc:
            self._guard("fail_search (logged models)", exc)

    def _fail_open_models(self) -> None:
        """A logged model whose logging the failure cut short (a second Ctrl-C during
        end_search) is left PENDING by MLflow for good: marked FAILED."""
        from mlflow.entities import LoggedModelStatus

        for model_id in self._logged_models:
            if self.client.get_logged_model(model_id).status == LoggedModelStatus.PENDING:
                self.client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)

    @_in_mlflow_env
    def log_test_metrics(self, metrics: dict, **kwargs: Any) -> None:
        if self.parent_run_id is None:
            raise TrackingError("log_test_metrics needs a search: call it after fit.")
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        named = {(k if k.startswith("test") else f"test_{k}"): _as_float(v) for k, v in metrics.items()}
        _log_batch(self.client, self.parent_run_id,
                   metrics=[Metric(k, v, now, 0) for k, v in named.items() if v is not None])
        if self.registered_model_name and self.registered_version:
            for k, v in named.items():
                self.client.set_model_version_tag(self.registered_model_name,
                                                  self.registered_version, f"lepton.{k}", str(v))

    @_in_mlflow_env
    def tag_search(self, tags: dict[str, str]) -> None:
        if self.parent_run_id is None:
            raise TrackingError("tag_search needs a search: call it after fit.")
        from mlflow.entities import RunTag

        _log_batch(self.client, self.parent_run_id,
                   tags=[RunTag(key, str(value)) for key, value in tags.items()])

    @_in_mlflow_env
    def log_table(self, frame: Any, artifact_file: str) -> None:
        if self.parent_run_id is None:
            raise TrackingError("log_table needs a search: call it after fit.")
        self.client.log_text(self.parent_run_id, frame.to_csv(index=False), artifact_file)

    # -- end_search parts ------------------------------------------------------------
    def _close_open_trials(self, status: str, reason: str) -> None:
        with self._lock:
            open_trials = [t for t in self._trials.values() if t.state is None]
        for trial in open_trials:  # the writer creates the run if the trial never flushed
            trial.state = "killed"
            self._send(trial, "closing open trials", tags={TAG_STATE: "killed", TAG_REASON: reason},
                       status=status)

    def _log_summary(self, final: dict, study: Any, score: float | None, metric: str,
                     direction: str) -> None:
        from mlflow.entities import Metric, RunTag
        from optuna.trial import TrialState

        now = int(time.time() * 1000)
        metrics = {"validation_score": score, f"validation_{metric}": score}
        for key in ("best_trial_score", "ensemble_score"):
            metrics[key] = _as_float(final.get(key))
        trials = study.get_trials(deepcopy=False)
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            metrics[f"n_trials_{state.name.lower()}"] = float(sum(t.state == state for t in trials))
        tags = {"lepton.final_choice": str(final.get("choice")), TAG_METRIC: metric,
                TAG_DIRECTION: direction,
                "lepton.final": _truncate(json.dumps(final, default=str), _MAX_TAG_LEN)}
        if final.get("best_trial") is not None:
            tags["lepton.best_trial"] = str(final["best_trial"])
        if final.get("interrupted"):  # Ctrl-C cut the search or the final refit short
            tags["lepton.search_interrupted"] = "true"
        rows = [Metric(k, v, now, 0) for k, v in metrics.items() if v is not None]
        values = [t.value for t in trials if t.state == TrialState.COMPLETE
                  and t.value is not None and not math.isnan(t.value)]
        if values:  # the study's best, every process's trials, at its last trial's step: the
            # value the runs table shows (each process logged its own best so far)
            best = max(values) if direction == "maximize" else min(values)
            rows.append(Metric(METRIC_BEST, float(best), now, max(t.number for t in trials)))
        _log_batch(self.client, self.parent_run_id, metrics=rows,
                   tags=[RunTag(k, v) for k, v in tags.items()])

    def _log_artifacts(self, estimator: Any, study: Any, leaderboard: Any, holdout: tuple | None,
                       metric: str, direction: str) -> None:
        from . import _artifacts

        skipped = self._skipped
        with scratch_dir("lepton-mlflow-") as tmp:
            root = Path(tmp)
            _artifacts.write_tables(root / "search", leaderboard=leaderboard,
                                    search_space=self._search.get("search_space"),
                                    meta_features=self._search.get("meta_features"),
                                    settings=self._search.get("settings"))
            _artifacts.write_study_plots(study, root / "plots", skipped,
                                         no_room=self._no_room)
            if self._no_room():
                skipped["learning_curves"] = self._no_room()
            else:
                curves, values = self._best_curves(study, direction)
                _artifacts.write_learning_curves(curves, values, root / "plots", metric=metric)
            if holdout is not None and self._no_room():
                skipped["evaluation"] = self._no_room()
            elif holdout is not None:
                _artifacts.write_holdout_plot(holdout[0], holdout[1], _task_of(estimator, self._search),
                                              root / "evaluation", skipped)
            if skipped:
                (root / "plots").mkdir(exist_ok=True)
                (root / "plots" / "skipped.json").write_text(json.dumps(skipped, indent=1))
            self.client.log_artifacts(self.parent_run_id, tmp)

    def _no_room(self) -> str | None:
        """Why another plot (or the torch copy) is left out: a stop signal, or the fit's
        budget (END_MARGIN_S kept for the upload and the run's end); None: there is room."""
        if self._stopping():
            return f"{STOPPED} ({self._stop.cause})"
        if self._deadline is not None and time.monotonic() >= self._deadline - END_MARGIN_S:
            return NO_TIME
        return None

    def _best_curves(self, study: Any, direction: str) -> tuple[dict, dict]:
        from optuna.trial import TrialState

        complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if t.value is not None and not math.isnan(t.value)]
        complete.sort(key=lambda t: t.value, reverse=direction == "maximize")
        curves, values = {}, {}
        for t in complete[: self.n_learning_curves]:
            trial = self._trials.get(t.number)
            if trial is not None:
                records = trial.records
            elif (run_id := self._other_child(t.number)) is not None:
                records = self._records_from_run(run_id)  # a resumed session's or a worker's
            else:
                continue
            if records:
                curves[t.number], values[t.number] = records, t.value
        return curves, values

    def _other_child(self, number: int) -> str | None:
        """The run id of trial ``number`` that another process logged (an earlier session,
        a worker beside this one), or None; None too where the store cannot say."""
        if number not in self._known_children:
            try:
                self._known_children[number] = self._child_run(number)
            except Exception as exc:  # noqa: BLE001 - curves are a nicety
                self._guard("reading the other processes' trial runs", exc)
                return None
        return self._known_children[number]

    def _records_from_run(self, run_id: str) -> list[dict]:
        # step = epoch (of the first fold, with cross-validation), as log_epoch got them
        by_step: dict[int, dict] = {}
        for key in _EPOCH_KEYS:
            for m in self.client.get_metric_history(run_id, key):
                by_step.setdefault(m.step, {"epoch": m.step})[key] = m.value
        return [by_step[s] for s in sorted(by_step)]

    def _log_models(self, estimator: Any, X_sample: Any, score: float | None, metric: str,
                    direction: str, fit_rows: tuple | None = None) -> None:
        from . import _pyfunc  # noqa: F401 (first: it imports mlflow.pyfunc without warnings)
        import mlflow.pyfunc
        _import_mlflow_pytorch()
        import mlflow.pytorch  # imported now: this binds the name
        from mlflow.models import Model

        from ._pyfunc import ESTIMATOR_ARTIFACT, LeptonEstimatorModel

        # scratch folders (theirs too: MLflow copies the model into its own): what a kill
        # leaves is removed by the next tracker (_store.clear_dead_scratch)
        with scratch_dir("lepton-model-") as tmp, scratch_tempdir(), \
                _fluent_tracking_uri(self.tracking_uri):
            path = Path(tmp) / "estimator.pkl"
            from ..search.estimators import saved_form

            path.write_bytes(pickle.dumps(saved_form(estimator),
                                          protocol=pickle.HIGHEST_PROTOCOL))
            sample = _head(X_sample, 5)
            from ..estimators._base import left_out_columns
            from ._pyfunc import named_prediction

            signature = model_signature(
                sample, named_prediction(estimator, estimator.predict(sample)),
                optional=left_out_columns(estimator))
            # MLflow warns on every pyfunc log that python_model is cloudpickled and logs the
            # input-example validation: advice for hand-written models, noise at the end of
            # every Lepton search. With pandas 3, MLflow's input-example code compares a
            # frame's named columns with a range: a deprecation warning for MLflow to fix,
            # shown to every user of a table with named columns ("lepton: warning: ...").
            with _muted_loggers("mlflow.pyfunc", "mlflow.models"), \
                    warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Operation with range is deprecated")
                info = Model.log(
                    artifact_path=None, name="model", flavor=mlflow.pyfunc,
                    python_model=LeptonEstimatorModel(), artifacts={ESTIMATOR_ARTIFACT: str(path)},
                    signature=signature, input_example=input_example(sample),
                    pip_requirements=_requirements(),
                    run_id=self.parent_run_id, model_id=self._new_logged_model("model"))
            if self._no_room():
                self._skipped["torch_module"] = self._no_room()
            else:
                self._log_torch_module(estimator, sample)
            self.client.set_tag(self.parent_run_id, "lepton.model_uri", info.model_uri)
            if self.registered_model_name:
                # inside the block: the SQL registry resolves models:/ sources through the
                # fluent tracking URI
                self._register(info, score, metric, direction, data=_data_of(estimator),
                               fit_rows=None if fit_rows is None else
                               (_used_columns(estimator, fit_rows[0]), fit_rows[1]))

    def _new_logged_model(self, name: str) -> str:
        """A logged model of the search's experiment, for ``Model.log(model_id=...)``.
        Left to itself, ``Model.log`` files the model under the fluent API's experiment:
        the Default one (artifacts in ``./mlruns`` of the working directory, so a registered
        model pointed into whatever folder the search happened to run in), or whichever
        experiment the caller's session had set."""
        params = self.client.get_run(self.parent_run_id).data.params
        model_id = self.client.create_logged_model(
            experiment_id=self.experiment_id, name=name, source_run_id=self.parent_run_id,
            params={key: str(value) for key, value in params.items()}).model_id
        self._logged_models.append(model_id)
        return model_id

    def _log_torch_module(self, estimator: Any, sample: Any) -> None:
        _import_mlflow_pytorch()
        import mlflow.pytorch  # imported now: this binds the name
        import numpy as np
        import torch
        from mlflow.models import Model

        best = getattr(estimator, "best_estimator_", estimator)
        module = getattr(best, "module_", None)
        if module is None:
            return
        example = None
        try:  # the module's own input: preprocessed float32 rows, (n, features)
            xt = best.preprocessor_.transform(sample)
            xt = xt.toarray() if hasattr(xt, "toarray") else np.asarray(xt)
            example = xt.astype(np.float32)
        except Exception:
            pass
        # Pickle, not the pt2 default (2.5 s export, loads back as a GraphModule): the
        # module is Lepton's own and is meant to load back as an nn.Module. MLflow warns
        # about pickle on every call; that warning is for untrusted models, so it is muted.
        with _muted_loggers("mlflow.pytorch"):
            info = Model.log(artifact_path=None, name="torch_module", flavor=mlflow.pytorch,
                             pytorch_model=copy.deepcopy(module).cpu(),
                             serialization_format="pickle", input_example=example,
                             pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
                             run_id=self.parent_run_id,
                             model_id=self._new_logged_model("torch_module"))
        self.client.set_tag(self.parent_run_id, "lepton.torch_module_uri", info.model_uri)

    def _register(self, info: Any, score: float | None, metric: str, direction: str, *,
                  data: dict | None = None, fit_rows: tuple | None = None) -> None:
        """A new version of the registered model; the champion alias moves to it when it
        validates better than the champion (:meth:`_beats_champion`), unless
        ``defer_promotion`` leaves that to :meth:`promote_on_held_out`. ``data``: the
        columns and classes the model was fitted on (``_data_of``); ``fit_rows``: its
        training rows, whose hashes the version keeps."""
        from mlflow.exceptions import MlflowException

        name = self.registered_model_name
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if "already exists" not in str(exc).lower() and \
                    getattr(exc, "error_code", "") not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        tags = {TAG_METRIC: metric, TAG_DIRECTION: direction,
                TAG_STUDY: self._search.get("study_name", "")}
        if score is not None:
            tags[TAG_SCORE] = repr(score)
        data = data or {}
        if data.get("classes") is not None:
            text = json.dumps(data["classes"])
            if len(text) <= _MAX_TAG_VALUE:  # else not compared (thousands of classes)
                tags[TAG_CLASSES] = text
        # The version is created with every tag it needs (one request): a process killed
        # right after it leaves a version that says it is undecided and whose rows it
        # names, not one that reads as decided or whose rows are unknown.
        rows = None if fit_rows is None else self._log_training_rows(*fit_rows)
        if rows is not None:
            tags[TAG_ROWS] = rows
        tags[TAG_PROMOTION] = PENDING_HELD_OUT if self.defer_promotion else PENDING_VALIDATION
        version = self.client.create_model_version(
            name, source=info.model_uri, run_id=self.parent_run_id, tags=tags,
            model_id=getattr(info, "model_id", None))
        self.registered_version = str(version.version)
        if self.defer_promotion:
            self._record_promotion(name, str(version.version), False, PENDING_HELD_OUT)
            return
        # Check, then move: two searches registering under one name at once could both
        # beat the old champion and the worse one move the alias last. On a SQLite or
        # PostgreSQL registry the store lock makes the pair atomic across processes; a
        # tracking server offers no compare-and-set: there the last of two moves wins.
        try:
            with store_lock(self.registry_uri):
                promote, why = self._beats_champion(name, score, metric, direction, data=data)
                if promote:
                    self.client.set_registered_model_alias(name, CHAMPION_ALIAS,
                                                           version.version)
        except Exception as exc:  # not left 'pending' for good: nothing decides it later
            with contextlib.suppress(Exception):
                self._record_promotion(name, str(version.version), False,
                                       f"not promoted: the comparison failed: {_describe(exc)}")
            raise
        self._record_promotion(name, str(version.version), promote, why)

    def _record_promotion(self, name: str, version: str, promote: bool, why: str) -> None:
        self.promotion = why
        self.client.set_model_version_tag(name, version, TAG_PROMOTION, why)
        self.client.set_tag(self.parent_run_id, "lepton.registered_model",
                            f"{name}/{version}" + (f"@{CHAMPION_ALIAS}" if promote else ""))

    def _log_training_rows(self, X: Any, y: Any) -> str | None:
        """Log the hashes of the rows a version is fitted on as an artifact of the search
        run, before the version exists; returns its path, for the version's TAG_ROWS tag
        (None: sparse input keeps none). Named by its content: a resumed study registers
        several versions from one run, and those fitted on the same rows share a file."""
        from ._rows import row_fingerprints

        hashes = row_fingerprints(X, y)
        if hashes is None:
            return None
        digest = hashlib.sha256(np.ascontiguousarray(hashes).tobytes()).hexdigest()[:16]
        with scratch_dir("lepton-rows-") as tmp:
            path = Path(tmp) / f"training_rows_{digest}.npy"
            np.save(path, hashes)
            self.client.log_artifact(self.parent_run_id, str(path), "lepton")
        return f"lepton/{path.name}"

    def _beats_champion(self, name: str, score: float | None, metric: str, direction: str,
                        *, data: dict | None = None) -> tuple[bool, str]:
        """Whether this model replaces the champion, and why. Validation scores decide,
        when they compare: not across metrics (never promoted), and not where the data
        changed under the champion: a champion that needs a column this model's data lacks
        cannot score that data at all, and one fitted without some of its classes never
        predicts them (its score came from data without them); this model, of the current
        data, is promoted then (:meth:`_outdated`)."""
        from mlflow.exceptions import MlflowException

        if score is None:
            return False, "no validation score: not promoted"
        try:
            champion = self.client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException:
            return True, "first champion"
        return self._versus(name, champion, score, metric, direction,
                            outdated=self._outdated(name, champion, data or {}))

    def _versus(self, name: str, champion: Any, score: float | None, metric: str,
                direction: str, *, outdated: str | None) -> tuple[bool, str]:
        """:meth:`_beats_champion` for a ``champion`` read already, with what
        :meth:`_outdated` said of it (each a read of the registry)."""
        if score is None:
            return False, "no validation score: not promoted"
        old = _as_float(champion.tags.get(TAG_SCORE))
        if old is None:
            return True, f"champion v{champion.version} has no {TAG_SCORE} tag"
        if champion.tags.get(TAG_METRIC) != metric:
            return False, (f"not promoted: champion v{champion.version} was scored with "
                           f"{champion.tags.get(TAG_METRIC)!r}, this model with {metric!r}")
        if outdated is not None:
            return True, (f"promoted: champion v{champion.version} {outdated}; its {metric} "
                          f"{old:.6g} does not compare with this model's {score:.6g}")
        better = score > old if direction == "maximize" else score < old
        verdict = "promoted" if better else "not promoted"
        return better, f"{verdict}: {metric}={score:.6g} vs champion v{champion.version} {old:.6g}"

    def _outdated(self, name: str, champion: Any, data: dict) -> str | None:
        """How the champion's data differs from this model's, where that makes their scores
        incomparable (None: it does not, or it cannot be told). Classes from the versions'
        tags (a champion registered before they were tagged is not compared); columns from
        the champion's signature (a model fitted on an array has none)."""
        classes = data.get("classes")
        theirs = champion.tags.get(TAG_CLASSES)
        if classes is not None and theirs is not None:
            unknown = [c for c in classes if c not in set(json.loads(theirs))]
            if unknown:
                return (f"was fitted without the classes {_few(unknown)} of this model's data "
                        "(it never predicts them)")
        columns = data.get("columns")
        if columns is not None:
            needed = _input_columns(f"models:/{name}/{champion.version}")
            missing = [c for c in needed or [] if c not in set(columns)]
            if missing:
                return (f"needs the columns {_few(missing)}, which this model's data lacks "
                        "(it cannot score that data)")
        return None

    # -- promotion on held-out rows (lepton run --register, the Prefect flow) -------------
    @_in_mlflow_env
    def promote_on_held_out(self, estimator: Any, X: Any, y: Any, *, scorer: Any,
                            metric: str, direction: str, sample_weight: Any = None) -> str:
        """Decide whether the version this search registered (with ``defer_promotion``)
        becomes champion, on held-out rows the search never saw: both models are scored
        with ``scorer(model, X, y, sample_weight)`` (the search's ``metric``) on those of
        the rows the champion was not fitted on either (the hashes its version keeps).
        Scores on the same rows compare whatever data each was fitted on: a champion
        fitted on an older, smaller or easier table is kept only where it still scores
        better on today's rows. Where that cannot be done (the champion keeps no hashes, or
        fewer than MIN_SHARED_ROWS rows are new to it), the validation scores decide as in
        :meth:`_beats_champion`, and the reason says so. Returns the reason; never raises
        (a failure leaves the version unpromoted and is a tracking error)."""
        name, version = self.registered_model_name, self.registered_version
        if not name or version is None:
            return str(self.promotion)
        try:
            # models:/ URIs (the champion's model and signature) resolve through the fluent
            # API's store: this one's, not MLflow's default (a stray ./mlflow.db)
            with _fluent_tracking_uri(self.tracking_uri), store_lock(self.registry_uri), \
                    _muted_loggers("mlflow", "mlflow.store.db.utils", "alembic"), \
                    scratch_tempdir():  # the champion's model, downloaded to load it
                promote, why = self._challenge(name, version, estimator, X, y, scorer,
                                               metric, direction, sample_weight)
                if promote:
                    self.client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
            self._record_promotion(name, version, promote, why)
        except Exception as exc:
            why = (f"not promoted: the comparison failed ({type(exc).__name__}: "
                   f"{redact_text(str(exc))})")
            self.promotion = why
            try:  # the version's tag says so too, not "pending" for ever
                self._record_promotion(name, version, False, why)
            except Exception:  # noqa: BLE001 - the store is what failed, most likely
                pass
            self._guard("deciding the champion on the held-out rows", exc)
        return self.promotion

    def _challenge(self, name: str, version: str, estimator: Any, X: Any, y: Any,
                   scorer: Any, metric: str, direction: str,
                   sample_weight: Any) -> tuple[bool, str]:
        from mlflow.exceptions import MlflowException

        own = _as_float(self.client.get_model_version(name, version).tags.get(TAG_SCORE))
        try:
            champion = self.client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException:
            return True, "first champion"
        if str(champion.version) == version:  # a retried step: decided already (the
            # tag says why, unless the step that moved the alias ended before writing it)
            why = str(champion.tags.get(TAG_PROMOTION, ""))
            return True, why if why and not why.startswith("pending") else "champion"
        outdated = self._outdated(name, champion, _data_of(estimator))
        if champion.tags.get(TAG_METRIC) != metric or outdated is not None:
            return self._versus(name, champion, own, metric, direction, outdated=outdated)

        def by_validation(why_not: str) -> tuple[bool, str]:
            promote, why = self._versus(name, champion, own, metric, direction, outdated=None)
            return promote, f"{why} (validation scores: {why_not})"

        theirs = self._champion_estimator(name, champion)
        if isinstance(theirs, str):
            return by_validation(f"champion v{champion.version} could not be loaded: {theirs}")
        classes = getattr(theirs, "classes_", None)
        ours_ = getattr(estimator, "classes_", None)
        if classes is not None and np.ndim(classes) == 1 and np.ndim(y) == 1 and \
                ours_ is not None and np.ndim(ours_) == 1:
            # the held-out rows' classes this model predicts and the champion never does (a
            # class only the held-out rows hold, neither model knows: scored as usual)
            known, ours_ = {str(c) for c in classes}, {str(c) for c in ours_}
            unknown = [str(c) for c in np.unique(np.asarray(y).astype(str))
                       if c not in known and c in ours_]
            if unknown:
                return True, (f"promoted: champion v{champion.version} was fitted without "
                              f"the classes {_few(unknown)} of the held-out rows (it never "
                              "predicts them)")
        new = self._rows_new_to(champion, theirs, X, y)
        if isinstance(new, str):
            return by_validation(new)
        if new.sum() < MIN_SHARED_ROWS:
            return by_validation(
                f"{int(new.sum())} of the {len(new)} held-out rows are new to champion "
                f"v{champion.version} (fewer than {MIN_SHARED_ROWS})")
        from sklearn.utils import _safe_indexing

        index = np.flatnonzero(new)
        X_new, y_new = _safe_indexing(X, index), _safe_indexing(y, index)
        w_new = None if sample_weight is None else np.asarray(sample_weight)[index]
        ours = float(scorer(estimator, X_new, y_new, w_new))
        try:
            with warnings.catch_warnings():  # its unseen categories: not this run's news
                warnings.simplefilter("ignore")
                score = float(scorer(theirs, _used_columns(theirs, X_new, left_out=True),
                                     y_new, w_new))
        except Exception as exc:  # noqa: BLE001 - a model that cannot read today's rows
            return True, (f"promoted: champion v{champion.version} cannot score the held-out "
                          f"rows ({type(exc).__name__}: {_truncate(str(exc), 200)})")
        if not (math.isfinite(ours) and math.isfinite(score)):
            return by_validation(
                f"{metric} is undefined on the {len(index)} held-out rows new to champion "
                f"v{champion.version} (ours {ours:.6g}, its {score:.6g})")
        better = ours > score if direction == "maximize" else ours < score
        return better, (f"{'promoted' if better else 'not promoted'}: held-out {metric}="
                        f"{ours:.6g} vs champion v{champion.version} {score:.6g}, on the "
                        f"{len(index)} held-out rows neither was fitted on")

    def _champion_estimator(self, name: str, champion: Any) -> Any:
        """The champion's fitted Lepton estimator, from its pyfunc model; where it cannot be
        loaded (its files deleted, not a Lepton model, one this version cannot unpickle),
        why, as text for the reason."""
        import mlflow.pyfunc

        try:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{champion.version}")
            return model.unwrap_python_model().estimator
        except Exception as exc:  # noqa: BLE001 - said in the reason instead
            return f"{type(exc).__name__}: {_truncate(redact_text(str(exc)), 200)}"

    def _rows_new_to(self, champion: Any, theirs: Any, X: Any, y: Any) -> np.ndarray | str:
        """Which rows of (X, y) the champion was not fitted on (a boolean mask), hashed
        over the champion's columns in its order; why not, as text for the reason, where
        it keeps no hashes or they cannot be read (its run deleted: it said "keeps no
        hashes", review helper-74)."""
        from ._rows import row_hashes

        artifact = champion.tags.get(TAG_ROWS)
        if not artifact or champion.run_id is None:
            return (f"champion v{champion.version} keeps no hashes of the rows it was fitted "
                    "on")
        try:
            with scratch_dir("lepton-rows-") as tmp:
                seen = np.load(self.client.download_artifacts(champion.run_id, artifact, tmp))
        except Exception as exc:  # noqa: BLE001 - said in the reason instead
            return (f"the hashes of the rows champion v{champion.version} was fitted on "
                    f"({artifact} of run {champion.run_id}) could not be read: "
                    f"{type(exc).__name__}: {_truncate(redact_text(str(exc)), 200)}")
        hashes = row_hashes(_used_columns(theirs, X), y)
        if hashes is None:
            return "sparse rows are not hashed"
        return ~np.isin(hashes, seen)


# -- helpers ---------------------------------------------------------------------------
#: the longest classes list kept as a version tag (MLflow's limit on a tag value is 5,000)
_MAX_TAG_VALUE = 4000


def _data_of(estimator: Any) -> dict:
    """The columns (names, for a model fitted on a DataFrame) and classes (as text, for a
    single-label classifier) a fitted estimator takes and predicts; None where it has none."""
    names = getattr(estimator, "feature_names_in_", None)
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        classes = np.asarray(classes, dtype=object)
        classes = [str(c) for c in classes] if classes.ndim == 1 else None
    return {"columns": None if names is None else [str(c) for c in names],
            "classes": classes}


def _same_param(logged: str, value: str) -> bool:
    """A param as logged before and as this session logs it: the same, or the same number
    (sessions before whole-number floats were written as integers logged ``0.0``)."""
    if logged == value:
        return True
    try:
        return float(logged) == float(value)
    except ValueError:
        return False


def _used_columns(estimator: Any, X: Any, *, left_out: bool = False) -> Any:
    """``X``'s columns a fitted estimator reads, in its order: the columns a row is hashed
    over (:mod:`._rows`), so that a column the model leaves out (an identifier), added to
    the table since or moved, does not make a row it was fitted on look new. With
    ``left_out``, those it leaves out too (empty where ``X`` lacks them), as its
    ``predict`` takes them. ``X`` as it is where the model was fitted on an array."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or not hasattr(X, "columns"):
        return X
    from ..estimators._base import left_out_columns

    dropped = set() if left_out else {str(c) for c in left_out_columns(estimator)}
    X = X.set_axis([str(c) for c in X.columns], axis=1)
    return X.reindex(columns=[str(c) for c in names if str(c) not in dropped])


def _input_columns(model_uri: str) -> list[str] | None:
    """The columns a logged model's input schema requires (not those it leaves out, such
    as an identifier); None without a schema (array input), or where the model cannot be
    read."""
    import mlflow.models
    from mlflow.exceptions import MlflowException

    try:
        schema = mlflow.models.get_model_info(model_uri).signature
    except (MlflowException, OSError):
        return None
    inputs = None if schema is None else schema.inputs
    if inputs is None or not getattr(inputs, "has_input_names", lambda: False)():
        return None
    return [str(name) for name in inputs.required_input_names()]  # not the left-out ones


def _few(values: list, n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:n])
    return f"[{shown}]" if len(values) <= n else f"[{shown}, ...] ({len(values)})"


_MUTED_LOCK = threading.Lock()
_MUTED: dict[str, _Held] = {}  # per logger: its muting, held while any block mutes it


def _muter(name: str) -> _Held:
    logger = logging.getLogger(name)

    def mute() -> int:
        level = logger.level
        logger.setLevel(logging.ERROR)
        return level

    return _Held(mute, logger.setLevel)


@contextlib.contextmanager
def _muted_loggers(*loggers: str):
    """MLflow's advice (these loggers below ERROR) off for the block: model logging, and
    a new store's table creation.

    (Its "add type hints to predict" UserWarning is raised at class creation, under its
    own ``simplefilter("once")``: ``_pyfunc.LeptonEstimatorModel`` avoids it with a hint.)"""
    with _MUTED_LOCK:  # held, not saved and restored: fits in threads overlap (helper-83)
        for name in loggers:
            if name not in _MUTED:
                _MUTED[name] = _muter(name)
        held = [_MUTED[name] for name in loggers]
    with contextlib.ExitStack() as stack:
        for muting in held:
            stack.enter_context(muting())
        yield


_SET_BY_LIGHTNING = ("PYTORCH_NVML_BASED_CUDA_CHECK",)  # lightning_fabric/__init__.py


def _import_mlflow_pytorch() -> None:
    """``import mlflow.pytorch`` with the root logger kept as the caller set it: where
    pytorch-lightning is installed, that import runs ``logging.basicConfig(level=ERROR)``,
    and a notebook's own warnings and ``basicConfig(level=INFO)`` went silent after the
    first tracked fit. The variable lightning_fabric's import sets for the rest of the
    process (``PYTORCH_NVML_BASED_CUDA_CHECK=1``) is taken back (review helper-83); that
    one only: a copy of the whole environment, put back, undid what other threads' fits
    set meanwhile (an MLflow tracking URI: review helper-86)."""
    if "mlflow.pytorch" in sys.modules:
        return
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    had = {key: os.environ.get(key) for key in _SET_BY_LIGHTNING}
    try:
        import mlflow.pytorch  # noqa: F401
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
        for key, value in had.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: held while MLflow's fluent tracking URI is pointed at a tracker's store: the URI is the
#: process's, and two fits in threads logging to two stores at once each logged into the
#: other's (review helper-83: "Logged model ... not found", a model lost from each, and
#: the URI left at one of them). Taken before a store_lock, never after one.
_FLUENT_LOCK = threading.RLock()


@contextlib.contextmanager
def _fluent_tracking_uri(uri: str):
    """Point MLflow's fluent API (used by ``Model.log``) at ``uri`` for the block, then
    restore both the module setting and the MLFLOW_TRACKING_URI variable exactly."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    with _FLUENT_LOCK:
        old_module, old_env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            utils._tracking_uri = old_module
            if old_env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = old_env


def _describe(exc: BaseException) -> str:
    """'TypeName: message', with the original type of an error from the writer process,
    without terminal colour codes (MLflow colours its warnings)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", one_line(str(exc)))  # (SQLAlchemy's SQL dump out)
    return f"{getattr(exc, 'kind', None) or type(exc).__name__}: {text}"


def _flatten(obj: Any, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in obj):
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}.{i}"))
    else:
        key = _BAD_KEY.sub("_", prefix or "value")[:250]
        if isinstance(obj, (list, tuple)):
            value = json.dumps(list(obj))
        elif isinstance(obj, (float, np.floating)) and float(obj).is_integer() \
                and abs(obj) < 2**53:
            # a whole number reads the same whether it came as 15 or 15.0 (the CLI parses
            # floats): '15' both ways, so one setting groups together in the runs table
            # (beyond 2**53 a float is not an exact integer: 1e+20 stays as it is)
            value = str(int(obj))
        else:
            value = str(obj)
        out[key] = _truncate(value, 500)
    return out


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _direction(final: dict, study: Any) -> str:
    if final.get("direction") in ("maximize", "minimize"):
        return final["direction"]
    try:
        return "minimize" if study.direction.name == "MINIMIZE" else "maximize"
    except Exception:
        return "maximize"


def _task_of(estimator: Any, search: dict) -> str:
    task = search.get("settings", {}).get("task")
    if task in ("classification", "regression"):
        return task
    return "classification" if hasattr(estimator, "predict_proba") else "regression"


def model_signature(sample: Any, prediction: Any, *, optional: Any = ()) -> Any:
    """The pyfunc model's signature, inferred from a few training rows, except that for a
    DataFrame every column takes any type and is required, and an array has no input
    schema (MLflow's tensor spec takes one dtype only).

    MLflow's schema check casts nothing: a column inferred as ``long`` refuses a missing
    value or a float (an integer column of the training data could not score a row with
    that value missing: "Can not safely convert float64 to int64"), one inferred as
    ``double`` refuses integers, a ``string`` column refuses a batch in which it is all
    missing (float64 NaN, as read_csv gives it) and a pandas ``category`` (so a model
    fitted on one was never logged: its input example failed the check), a ``datetime``
    column refuses dates as text. Lepton's preprocessing reads all of these as ``predict``
    does, and refuses what it cannot read naming the column, so every column is typed
    ``any``. Every column is required, as the preprocessing needs each (MLflow makes a
    column optional when the sample holds a missing value in it, and then lets a request
    omit it), except those in ``optional``: the columns the model leaves out (identifiers),
    which a request may lack as a file for ``lepton predict`` may.

    Its params (:func:`~lepton.tracking._pyfunc.params_schema`) let a request ask for a
    classifier's probabilities: ``params={"predict_method": "predict_proba"}``."""
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    from ._pyfunc import params_schema

    with warnings.catch_warnings():  # its advice on integer columns is what is done here
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        # on a duration or decimal column inference fails, and MLflow typed the input as
        # one unnamed column, which then reached predict alone: the example's types infer
        signature = infer_signature(input_example(sample), prediction)
    if not isinstance(sample, pd.DataFrame):
        # an array's tensor spec would refuse every other dtype (uint8 images, int or
        # float32 arrays, lists) that predict takes: no input schema, the estimator's own
        # checks (the width, the values) apply
        return ModelSignature(inputs=None, outputs=signature.outputs, params=params_schema())
    optional = {str(name) for name in optional}
    specs = [ColSpec(AnyType(), spec.name, required=str(spec.name) not in optional)
             for spec in signature.inputs.inputs]
    return ModelSignature(inputs=Schema(specs), outputs=signature.outputs,
                          params=params_schema())


def input_example(sample: Any) -> Any:
    """``sample`` as MLflow can write it as the model's JSON input example: durations
    (timedelta64, Arrow duration, timedelta objects) as the text pandas writes them
    ('0 days 01:30:00', which Lepton's preprocessing reads back as durations), decimals
    (Arrow decimal128, Decimal objects) as floats. Either made ``Model.log`` fail ("Object
    of type Timedelta is not JSON serializable"): a tracked search of such a table logged
    no model and registered nothing, with a warning only (review helper-78)."""
    import datetime
    import decimal

    import pandas as pd

    if not isinstance(sample, pd.DataFrame):
        return sample
    fixes = {}
    for i, dtype in enumerate(sample.dtypes):
        column = sample.iloc[:, i]
        arrow = getattr(dtype, "pyarrow_dtype", None)
        if dtype.kind == "m":  # timedelta64, Arrow duration
            fixes[i] = column.astype("timedelta64[ns]").astype(object).map(
                lambda v: None if pd.isna(v) else str(v))
        elif arrow is not None and str(arrow).startswith("decimal"):
            fixes[i] = column.astype("float64")
        elif dtype == object and column.map(
                lambda v: isinstance(v, (decimal.Decimal, datetime.timedelta))).any():
            fixes[i] = column.map(
                lambda v: float(v) if isinstance(v, decimal.Decimal)
                else str(pd.Timedelta(v)) if isinstance(v, datetime.timedelta) else v)
    if not fixes:
        return sample
    sample = sample.copy()
    for i, column in fixes.items():
        sample.isetitem(i, column)
    return sample


def _head(X: Any, n: int) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[:n]
    return X[:n]


def _requirements() -> list[str]:
    """Pinned requirements of the pyfunc model, given explicitly: MLflow's inference
    would import-trace the model for 4-8 s per call."""
    from importlib import metadata

    reqs = []
    for dist in ("mlflow", "torch", "scikit-learn", "pandas", "numpy", "scipy", "optuna",
                 "cloudpickle", "pyyaml", "lepton-automl"):
        try:
            reqs.append(f"{dist}=={metadata.version(dist).split('+')[0]}")
        except metadata.PackageNotFoundError:
            reqs.append(dist)
    return reqs
