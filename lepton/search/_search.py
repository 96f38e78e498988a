"""The adaptive search loop behind LeptonClassifier / LeptonRegressor.

``run_search`` is the whole "adaptive learning strategy", one named part each:

1. data-aware priors (:mod:`.priors`) pick the space family and its bounds;
2. warm start (:mod:`.portfolio`) enqueues strong known configurations first;
3. multi-fidelity: every epoch's validation metric goes to Optuna's Hyperband pruner
   through a training-loop callback (:class:`PruningReporter`), which asks it whether to
   stop at the epochs it judges (its rungs: 3, 9, 27, 81 ...);
4. model-based sampling: Optuna's multivariate TPE learns from finished trials;
5. budget control (:mod:`.budget`) plans and cuts trials so ``fit`` ends in time, and
   ``patience`` ends a search that stopped improving (:func:`trials_since_best`);
6. inside each trial, the core loop's LR schedule and early stopping.

Trials that diverge, run out of memory or raise are recorded as failed with their
reason (user attribute ``fail_reason``) and the search goes on; so is a trial whose
process died (killed, crashed) once its heartbeat goes stale (at once where that process
ran on this machine: :func:`process_gone`), and that trial is run again once (RDB storages:
Optuna's heartbeat, :func:`_rdb`; journals: :mod:`.heartbeat`). A
trial that the end of the search window cut short is recorded as pruned (its score
measured a few epochs, not the configuration), though its networks stay ensemble
candidates. Ctrl-C or SIGTERM stops the running trials after their current batch; they are
recorded as interrupted and queued to run again (:func:`retry_trial`), and the search
ends.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import logging
import math
import os
import re
import signal
import socket
import stat
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from torch import nn

try:
    # Optuna's base of journal file locks: JournalFileBackend's lock_obj takes one; the
    # module is private, the class is what its documentation names (stable since Optuna 4.0)
    from optuna.storages.journal._file import BaseJournalFileLock, get_lock_file
except ImportError:  # moved by a later Optuna: journal files keep its lock (_journal_lock)
    BaseJournalFileLock = object  # type: ignore[assignment,misc]
    get_lock_file = None

try:
    import fcntl
except ImportError:  # Windows: journal files keep Optuna's lock (_journal_lock)
    fcntl = None

from ..training import (
    DIVERGED, TIME_LIMIT, Callback, DivergedError, Task, TensorData, TrainingConfig, fit_model,
    free_memory,
)
from ..models.networks import rescale_outputs
from ..preprocessing import kept_columns
from ..tracking._store import disk_full, driver_url, process_instance, redact_uri
from ..tracking._store import process_gone as _process_gone
from .budget import Budget
from .metrics import Metric
from .portfolio import portfolio_params
from .priors import expected_epochs
from .spaces import SearchSpace

__all__ = ["Fold", "TrialModel", "SearchContext", "Objective", "PruningReporter", "FoldsRun",
           "train_on_folds", "TrialFailed", "StorageError", "make_storage",
           "check_storage_form", "create_study", "run_trials", "trials_since_best",
           "outputs_to_prediction", "retry_trial",
           "StopRequest", "Terminated", "stop_signals_set", "process_label",
           "process_gone", "stopped_reason", "trial_process_label", "JournalFileFlock",
           "FollowsRun", "DevicePool", "STUDY_UID_ATTR", "new_study_uid", "study_uid",
           "SignOfLife", "run_gone"]

log = logging.getLogger("lepton.search")

FAIL_REASON = "fail_reason"
#: Trial user attribute: the validation score of a trial the window's end cut short (its
#: networks'; it is pruned, and Optuna keeps its last epoch report as its value)
CUT_SCORE_ATTR = "lepton.validation_score"
#: Trial system attribute: how many of its ``retry_history`` entries were interrupts
INTERRUPTED_RETRIES = "lepton.interrupted_retries"
#: RDB storages: heartbeat period of a running trial and how stale it may get before the
#: trial counts as dead (Optuna's own defaults are off; 30 s tolerates a busy machine).
HEARTBEAT_INTERVAL_S = 5
HEARTBEAT_GRACE_S = 30
#: what the first Ctrl-C or SIGTERM of a search prints (see stop_signals_set)
CTRL_C_SEARCH = ("lepton: Ctrl-C: stopping the search; the running trials end after their "
                 "current batch and the final model comes from the finished ones "
                 "(Ctrl-C again to stop at once)")
#: Ctrl-C before a trial of this fit finished: there is nothing to build a model from
CTRL_C_SEARCH_BEFORE_A_TRIAL = (
    "lepton: Ctrl-C: stopping the search; no trial has finished yet, so once the running "
    "trials end after their current batch, fit raises KeyboardInterrupt without a model "
    "(Ctrl-C again to stop at once)")
#: A worker (``lepton worker``) builds no final model: its trials are the study's
CTRL_C_WORKER = ("lepton: Ctrl-C: stopping this worker; its running trials end after their "
                 "current batch and are queued to run again, and the trials it finished "
                 "stay in the study (Ctrl-C again to stop at once)")
SIGTERM_SEARCH = ("lepton: SIGTERM: stopping the search; the running trials end after their "
                  "current batch and are queued to run again, then the process exits "
                  "(SIGTERM again to exit at once)")
#: Trial user attribute: the process that ran it (:func:`process_label`)
PROCESS_ATTR = "lepton.process"
#: Trial user attribute: what tells, on the machine that ran it, whether its process still
#: runs (Linux): the trial's number (a retry copies its trial's attributes), the process's
#: label and its instance (start time, pid namespace and boot: :func:`process_gone`)
PROCESS_ID_ATTR = "lepton.process_id"
#: Trial user attribute: True on a trial Ctrl-C or SIGTERM stopped (FAIL, queued to run
#: again): not counted as a trial that ran to an end
INTERRUPTED_ATTR = "lepton.interrupted"
#: Trial user attribute: the device it trained on (:class:`DevicePool`)
DEVICE_ATTR = "lepton.device"
#: A trial the search window's end left unstarted (asked for just as it closed): FAIL, so
#: that no sampler learns from it nor n_trials and patience count it; not on the
#: leaderboard; a warm-start entry or retry it took is queued again.
UNSTARTED_ATTR = "lepton.unstarted"
#: Study user attributes a persistent search writes for ``lepton worker``: the run's recipe
#: (dataset and options, lepton.steps) and when (``time.time()``) its search window ends
RUN_ATTR = "lepton.run"
ENDS_AT_ATTR = "lepton.search_ends_at"
#: ... and, while its search runs, when (``time.time()``) it last gave a sign of life,
#: every ALIVE_EVERY_S: a run killed outright (SIGKILL, its machine lost) closes no window,
#: and its workers stop once the sign is ALIVE_GRACE_S old instead of searching on alone
ALIVE_AT_ATTR = "lepton.search_alive_at"
ALIVE_EVERY_S = 10.0
ALIVE_GRACE_S = 60.0
#: ... and where it tracks in MLflow (its tracking URI without secrets, experiment, search
#: run), so that a worker logs its trials under the run's search run
TRACKING_ATTR = "lepton.tracking"
#: Study user attribute: a persistent study's identity (a uuid4 hex), recorded by the fit
#: that created it. Its MLflow search run is tagged with it: a study name and storage text
#: can name another study (a relative file in another folder, a file deleted and created
#: again), whose search run the study must not continue.
STUDY_UID_ATTR = "lepton.study_uid"
#: how often run_trials restarts Optuna's loop after a trial-state race between workers
MAX_OPTIMIZE_RESTARTS = 20
DONE_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
#: the least share of one epoch a trial's network must have seen to be scored. Large tables
#: under tight budgets can have a first epoch longer than a trial's share of the budget
#: (benchmarks/results/tight_budget.md: 400,000 rows at 20-30 s); such a network is scored
#: on the validation rows like any cut trial. Below this share a trial fails (is pruned
#: when the end of the search window cut it: Objective._run).
MIN_EPOCH_SHARE = 0.25


class TrialFailed(RuntimeError):
    """A trial that cannot give a score (diverged, no finite predictions)."""


class TooLittleTrained(TrialFailed):
    """The clock cut every network of a trial before it saw ``MIN_EPOCH_SHARE`` of an epoch."""


@dataclass
class Fold:
    """One train/validation split, already preprocessed and on the device.

    ``scaled`` holds the same split preprocessed with each other ``input_scaling`` the
    space can draw (fitted on the same rows), so a trial never preprocesses anything.
    ``ranking`` orders the preprocessed columns, most informative first on the train rows
    (:func:`~lepton.preprocessing.feature_ranking`), where the space searches
    ``feature_fraction``; a trial keeping some takes :meth:`with_features`."""

    train: TensorData
    valid: TensorData
    val_idx: np.ndarray            # rows of the fit data used for validation
    preprocessor: Any              # TabularPreprocessor fitted on this fold's train rows
    scaled: dict[str, Fold] = field(default_factory=dict)
    ranking: np.ndarray | None = None
    # regression: the targets of this fold are standardised by its train rows alone (the
    # validation rows, future ones on a forward split, set neither the networks' starting
    # output nor their scale); this scaler maps them back to the fit's standardised
    # units, which its networks are given once trained (train_on_folds)
    y_scaler: Any = None

    def with_scaling(self, scaling: str) -> Fold:
        if scaling == self.preprocessor.scaling:
            return self
        return self.scaled[scaling]

    def with_features(self, fraction: float) -> Fold:
        """This split with only the ``fraction`` most informative of its columns (at least
        one), and a preprocessor that outputs those; all of them at 1.0."""
        columns = None if self.ranking is None else kept_columns(self.ranking, fraction)
        if columns is None:
            return self
        return Fold(train=self.train.columns(columns), valid=self.valid.columns(columns),
                    val_idx=self.val_idx, preprocessor=self.preprocessor.keeping(columns),
                    y_scaler=self.y_scaler)

    def to(self, device: torch.device) -> Fold:
        """This split (and its other scalings) held on ``device``."""
        out = Fold(train=self.train.to(device), valid=self.valid.to(device),
                   val_idx=self.val_idx, preprocessor=self.preprocessor, ranking=self.ranking,
                   y_scaler=self.y_scaler)
        # sparse input: every scaling is this same fold (estimators._make_folds)
        out.scaled = {k: out if v is self else v.to(device) for k, v in self.scaled.items()}
        return out


class DevicePool:
    """The devices a search's trials train on. Each trial takes the device running the
    fewest trials (the first of them on a tie), so ``n_jobs`` trials over k GPUs keep all
    k busy, and gives it back when it ends."""

    def __init__(self, devices: Sequence[torch.device]):
        self.devices = list(devices)  # resolve_devices: at least one, each once
        self.running = [0] * len(self.devices)
        self._lock = threading.Lock()

    @contextmanager
    def take(self):
        with self._lock:
            i = min(range(len(self.devices)), key=lambda j: (self.running[j], j))
            self.running[i] += 1
        try:
            yield self.devices[i]
        finally:
            with self._lock:
                self.running[i] -= 1


@dataclass
class TrialModel:
    """What a finished trial leaves for ensembling and the final model."""

    number: int
    value: float
    modules: list[nn.Module]
    preprocessors: list[Any]       # one per fold: the fitted scaling the modules were trained on
    val_pred: np.ndarray           # predictions on all validation rows (order of SearchContext.val_idx)
    model_config: dict[str, Any]
    training: dict[str, Any]
    best_epoch: int
    epoch_time: float
    #: False for a trial the end of the search window cut short (recorded as pruned):
    #: an ensemble candidate, never the best trial
    complete: bool = True


class SignOfLife:
    """While the block runs, record ``time.time()`` as the study's ALIVE_AT_ATTR every
    ``every`` seconds from a daemon thread (a run's search, for its workers: ``lepton
    worker``). A write that fails is logged once and tried again at the next beat."""

    def __init__(self, study: optuna.Study, every: float = ALIVE_EVERY_S):
        self.study, self.every = study, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lepton-sign-of-life",
                                        daemon=True)
        self._warned = False

    def _beat(self) -> None:
        while True:
            try:
                self.study.set_user_attr(ALIVE_AT_ATTR, time.time())
            except Exception as exc:  # noqa: BLE001 - workers then stop at the grace's end
                if not self._warned:
                    self._warned = True
                    # the driver's words: Optuna's own blamed 'invalid data in the commit,
                    # e.g. exceeding max length' for a stalled server (review helper-84)
                    root = _deepest(exc)
                    log.warning("could not record the search's sign of life in the study's "
                                "storage (%s: %s); the search goes on", type(root).__name__,
                                str(root).strip().splitlines()[0] if str(root).strip() else "")
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> SignOfLife:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def run_gone(attrs: dict[str, Any], now: float | None = None) -> float | None:
    """How long ago (seconds) the run searching a study last gave a sign of life, where
    that is longer than ALIVE_GRACE_S (it was killed without closing its window); None
    while it lives, or where it records none (a run from before signs of life)."""
    alive = attrs.get(ALIVE_AT_ATTR)
    if alive is None:
        return None
    ago = (time.time() if now is None else now) - float(alive)
    return ago if ago > ALIVE_GRACE_S else None


class StopRequest(threading.Event):
    """Set by a stop signal during a search or its final refit (:func:`stop_signals_set`);
    ``cause`` names the signal: 'Ctrl-C' (SIGINT) or 'SIGTERM'. Either way the running
    trials stop after their current batch. After Ctrl-C, ``fit`` builds the final model
    from the finished trials; SIGTERM asks the process to end (a scheduler cancelling a
    run, a container or a preempted machine stopping), so ``fit`` then exits
    (:class:`Terminated`) instead of going on to a final model."""

    def __init__(self) -> None:
        super().__init__()
        self.cause = "Ctrl-C"

    def set_by(self, cause: str) -> None:
        if not self.terminates:  # SIGTERM is not undone by a later Ctrl-C
            self.cause = cause
        self.set()

    @property
    def terminates(self) -> bool:
        return self.is_set() and self.cause == "SIGTERM"


class Terminated(SystemExit):
    """SIGTERM ended a fit once its study was left consistent (the interrupted trials
    recorded and queued to run again, the tracker's runs ended). Uncaught, Python exits
    with status 143 (128 + SIGTERM, what a shell reports for a process SIGTERM ended)."""

    def __init__(self, message: str) -> None:
        super().__init__(128 + signal.SIGTERM)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass
class SearchContext:
    """Everything a trial needs, shared read-only by parallel trials."""

    folds: list[Fold]
    task: Task
    metric: Metric
    space: SearchSpace
    budget: Budget
    y_val: np.ndarray              # targets of the validation rows: class indices or raw values (2-D)
    y_scaler: Any                  # regression only: StandardScaler of the targets
    seed: int
    n_all: int                     # rows of the whole fit data (for the refit cost estimate)
    input_shape: Sequence[int] | None
    tracker: Any
    keep_models: int = 10
    w_val: np.ndarray | None = None  # sample_weight of the validation rows (as y_val)
    w_all: np.ndarray | None = None  # sample_weight of every row (the refit's)
    models: dict[int, TrialModel] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    best_value: float | None = None
    heartbeat: Any = None          # journal storages: .heartbeat.TrialHeartbeat
    prune: bool = True             # report epochs to the pruner (estimators._may_prune)
    #: set by Ctrl-C or SIGTERM during the search: running trials stop after their
    #: current batch
    interrupt: StopRequest = field(default_factory=StopRequest)
    #: a ``lepton worker``'s search: returns when (``time.time()``) the search window of
    #: the run it joined ends, read again after each trial (None: not known)
    follow: Any = None
    #: numbers of the trials this process finished (any state), in the order they ended
    finished_here: list[int] = field(default_factory=list)
    #: each running trial's seconds of training (Objective._run), and when the last trial
    #: was told: a trial's bookkeeping is the rest (Budget.note_trial_overhead)
    trained_s: dict[int, float] = field(default_factory=dict)
    last_told: float | None = None
    #: the devices trials train on (None: the folds' own device)
    devices: DevicePool | None = None
    #: the seconds the work after the search needs as the machine is loaded now (the
    #: tracker's end), read as each trial starts: the fixed reserve rises to it (None: none)
    reserve_floor: Callable[[], float] | None = None
    #: the longest a trial of this fit took to start (from the objective's call to its
    #: training: labelling, sampling): a trial is not asked for with less time left
    start_s: float = 0.0
    #: called after each of the run's trials: records for its workers where the search
    #: window ends now, as the final model's reserve moves it (None: no workers to tell)
    window_moved: Callable[[], None] | None = None
    #: when this fit's search began (Optuna's naive local time, as its trials' datetimes):
    #: ``patience`` counts the trials finished since, so fitting a converged study again
    #: searches on; None (a worker): the whole study's, as the run it joined stopped on
    started: _dt.datetime | None = field(default_factory=_dt.datetime.now)
    _on_device: dict[str, list[Fold]] = field(default_factory=dict)
    _copy_lock: threading.Lock = field(default_factory=threading.Lock)
    #: seconds the last greedy ensemble selection took (``_BaseLepton._select_ensemble``)
    selection_s: float = 0.0
    #: that selection: (what it selected from, its result), for a second ask of the same
    last_selection: tuple | None = None

    @contextmanager
    def trial_device(self):
        """The device a trial trains on, taken from ``devices`` for as long as it runs."""
        if self.devices is None:
            yield self.folds[0].train.device
            return
        with self.devices.take() as device:
            yield device

    def folds_on(self, device: torch.device) -> list[Fold]:
        """The folds held on ``device``: the search's own on their device, a copy made on
        first use on any other (one per GPU, kept for the search)."""
        if device == self.folds[0].train.device:
            return self.folds
        with self._copy_lock:
            copies = self._on_device.get(str(device))
            if copies is None:
                copies = self._on_device[str(device)] = [f.to(device) for f in self.folds]
        return copies

    @property
    def train_rows(self) -> float:
        """Training rows of a fold, on average (a trial's ``epoch_time`` is its folds'
        mean; time-ordered folds differ in size)."""
        return float(np.mean([len(f.train) for f in self.folds]))

    def resume_reserve(self, study: optuna.Study) -> None:
        """Size the final model's reserve from the study's best trial where an earlier
        session (or another process) ran it: its networks are not here, so the final model
        is its refit until a trial of this fit beats it. The reserve was sized from this
        fit's own best trial, often a cheaper one: resumed fits refitted one seed of three,
        or cut the schedule (review helper-67). It leaves half the search time left to the
        search: a budget the checks passed was then refused, its MLflow run reopened and
        ended FAILED (review helper-68); the refit takes what it finds."""
        try:
            best = study.best_trial
        except ValueError:  # no complete trial yet
            return
        epoch_time = best.user_attrs.get("epoch_time")
        if best.value is None or not epoch_time:
            return
        with self.lock:
            self.best_value = best.value
        self._refit_reserve(float(epoch_time), int(best.user_attrs.get("best_epoch") or 1),
                            search_kept=0.5)

    def _refit_reserve(self, epoch_time: float, epochs: int, **kwargs: Any) -> None:
        """The budget's reserve for refitting a trial measured at ``epoch_time`` a fold's
        epoch and best at ``epochs``, on every row."""
        self.budget.update_reserve(epoch_time=epoch_time, epochs=epochs,
                                   data_ratio=self.n_all / max(1.0, self.train_rows), **kwargs)

    def keep(self, tm: TrialModel) -> None:
        """Keep the ``keep_models`` best trials' modules (the ensemble candidates)."""
        with self.lock:
            self.models[tm.number] = tm
            if len(self.models) > self.keep_models:
                order = sorted(self.models.values(), key=lambda m: m.value,
                               reverse=self.metric.direction == "maximize")
                for m in order[self.keep_models:]:
                    del self.models[m.number]
            improved = tm.complete and (self.best_value is None
                                        or self.metric.better(tm.value, self.best_value))
            if improved:
                self.best_value = tm.value
        if improved:
            self._refit_reserve(tm.epoch_time, tm.best_epoch)


def outputs_to_prediction(out: torch.Tensor, task: Task, y_scaler: Any) -> np.ndarray:
    """Network outputs -> class probabilities (of each label, multilabel) or values in the
    target's own units."""
    out = out.detach().float().cpu().double()  # on the CPU first: MPS has no float64
    if task.kind == "classification":
        return torch.softmax(out, dim=1).numpy()
    if task.kind == "multilabel":
        return torch.sigmoid(out).numpy()
    return y_scaler.inverse_transform(out.numpy())


def judged_epochs(pruner: optuna.pruners.BasePruner) -> Callable[[int], bool] | None:
    """Whether ``pruner`` can stop a trial at an epoch, for Hyperband (Lepton's pruner):
    its rungs are ``min_resource * reduction_factor**k`` whatever a trial's bracket (3, 9,
    27, 81 ...), and at any other epoch it lets the trial go on. Asking it at those epochs
    alone prunes the same trials at the same epochs. None (ask at every epoch): another
    pruner, or a Hyperband whose rungs are not known yet (``min_resource='auto'``)."""
    if not isinstance(pruner, optuna.pruners.HyperbandPruner):
        return None
    low = getattr(pruner, "_min_resource", None)
    factor = getattr(pruner, "_reduction_factor", None)
    if not (isinstance(low, int) and isinstance(factor, int) and low >= 1 and factor >= 2):
        return None

    def judged(epoch: int) -> bool:
        if epoch < low or epoch % low:
            return False
        share = epoch // low
        while share % factor == 0:
            share //= factor
        return share == 1

    return judged


class PruningReporter(Callback):
    """Reports each epoch's validation metric to the Optuna trial (and the tracker) and,
    at the epochs the pruner judges, raises ``optuna.TrialPruned`` when it says so."""

    def __init__(self, trial: optuna.Trial, metric: Metric, tracker: Any, *, prune: bool,
                 fold: int = 0):
        self.trial = trial
        self.field = metric.epoch_field
        self.sign = self.orientation(metric)
        self.tracker = tracker
        self.prune = prune
        # the tracker gets the epochs of the first fold only (step = epoch, as for a trial
        # on one split: curves line up across trials) and each fold's final score
        self.fold = fold
        # the pruner is asked at the epochs it judges only: each question reads the trial
        # back from the study's storage (with the reports, 196-261 ms of a 40-epoch
        # trial's on SQLite, 125-176 ms asked at its rungs: benchmarks/dev/pruner_reports.py)
        self.judged = judged_epochs(trial.study.pruner)

    @staticmethod
    def orientation(metric: Metric) -> float:
        """The sign of the values reported to the pruner. The pruner ranks reports in the
        study's direction: a loss tracked for a metric to maximise (roc_auc) goes to it
        negated, so that a lower loss ranks higher (reported as it was, before stop 22, the
        pruner stopped the trials with the lowest losses)."""
        return 1.0 if (metric.epoch_field == "val_score") == (metric.direction == "maximize") \
            else -1.0

    def on_epoch_end(self, record: dict[str, float], **kwargs: Any) -> None:
        if self.fold == 0:
            self.tracker.log_epoch(self.trial.number, record)
        if not self.prune:
            return
        value = record[self.field]
        if math.isfinite(value):
            self.trial.report(self.sign * value, record["epoch"])
            if (self.judged is None or self.judged(record["epoch"])) and self.trial.should_prune():
                self.trial.set_user_attr("epochs", int(record["epoch"]))  # for the leaderboard
                self.trial.set_user_attr("status", "pruned")
                raise optuna.TrialPruned(
                    f"pruned at epoch {record['epoch']} ({self.field}={value:.4g})")

    def on_train_end(self, result: Any, **kwargs: Any) -> None:
        # the fold's validation score of the weights training kept (early stopping's best
        # epoch): what its validation predictions, and so the trial's score, come from
        best = result.best_record
        if best is not None and math.isfinite(best.get("val_score", math.nan)):
            self.tracker.log_fold(self.trial.number, fold=self.fold,
                                  score=float(best["val_score"]))


class FollowsRun(Callback):
    """A worker's trials end with the search of the run it joined: after each epoch, if
    that search is over (``SearchContext.follow`` says its window ended: the run stopped
    early, on ``patience`` or Ctrl-C), the trial is pruned rather than trained on for a
    final model that no longer takes it."""

    def __init__(self, follow: Any):
        self.follow = follow

    def on_epoch_end(self, record: dict[str, float], **kwargs: Any) -> None:
        ends_at = self.follow()
        if ends_at is not None and time.time() >= ends_at:
            raise optuna.TrialPruned(f"the search this worker joined ended (epoch "
                                     f"{record['epoch']})")


class NoTimeLeft(Exception):
    """Raised for a trial the search window's end left unstarted (Optuna records it FAIL)."""


class Objective:
    """One Optuna trial: sample a configuration, train it on every fold, score it."""

    def __init__(self, ctx: SearchContext):
        self.ctx = ctx

    def __call__(self, trial: optuna.Trial) -> float:
        ctx = self.ctx
        t0 = time.perf_counter()
        # first, before sampling (which can take a while): a process killed from here on
        # leaves a trial that names it, which the next process to look fails at once
        _label_process(trial)
        if ctx.reserve_floor is not None:  # a load that rose since the fit started
            ctx.budget.hold_fixed_reserve(ctx.reserve_floor())
        if ctx.budget.trial_max_time() <= 0:  # asked for as the window closed
            self._unstarted(trial)
        try:
            model_cfg, training = ctx.space.sample(trial, task=ctx.task.kind)
            scaling = ctx.space.sample_scaling(trial)
            fraction = ctx.space.sample_features(trial)
            if ctx.budget.trial_max_time() <= 0:  # the window closed while sampling
                self._unstarted(trial)
            ctx.start_s = max(ctx.start_s, time.perf_counter() - t0)
            trial.set_user_attr("input_scaling", scaling)
            if fraction < 1.0:  # the share of the columns it keeps (the refit keeps as many)
                trial.set_user_attr("feature_fraction", fraction)
            trial.set_user_attr("model_config", json.dumps(model_cfg))
            trial.set_user_attr("training",
                                json.dumps({**training, "betas": list(training["betas"])}))
            ctx.tracker.start_trial(trial.number, params=dict(trial.params),
                                    model_config=model_cfg, training_config=training)
            with ctx.heartbeat.beat(trial) if ctx.heartbeat else contextlib.nullcontext(), \
                    ctx.trial_device() as device:
                trial.set_user_attr(DEVICE_ATTR, str(device))
                value = self._run(trial, model_cfg, training, scaling, t0, device,
                                  fraction=fraction)
        except NoTimeLeft:
            raise
        except optuna.TrialPruned as exc:
            trial.set_user_attr("duration", time.perf_counter() - t0)
            trial.set_user_attr(FAIL_REASON, str(exc) or "pruned")
            ctx.tracker.end_trial(trial.number, state="pruned", value=None,
                                  duration=time.perf_counter() - t0, reason=str(exc),
                                  **_training_outcome(trial))
            raise
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: no fault of the configuration. Recorded, and queued to
            # run again, so a resumed study still tries it (a warm-start entry would
            # otherwise be lost); Optuna then marks this trial FAIL and re-raises. (The
            # retry copies the trial as it is now, before its reason is set.)
            duration = time.perf_counter() - t0
            self._queue_again(trial, f"interrupted ({ctx.interrupt.cause}) after "
                                     f"{duration:.1f}s", duration)
            raise
        except Exception as exc:  # recorded, then Optuna marks the trial FAIL and goes on
            if is_storage_failure(exc):
                self._storage_failed(trial, exc, time.perf_counter() - t0)
                raise
            reason = _describe_failure(exc)
            trial.set_user_attr(FAIL_REASON, reason)
            trial.set_user_attr("duration", time.perf_counter() - t0)
            ctx.tracker.end_trial(trial.number, state="failed", value=None,
                                  duration=time.perf_counter() - t0, reason=reason,
                                  **_training_outcome(trial))
            if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
                free_memory(exc)
            raise
        ctx.tracker.end_trial(trial.number, state="complete", value=value,
                              duration=time.perf_counter() - t0, reason=None,
                              **_training_outcome(trial))
        return value

    def _storage_failed(self, trial: optuna.Trial, exc: BaseException,
                        duration: float) -> None:
        """The study's storage failed under the trial (a dropped connection, a server
        restarting): no fault of the configuration. Where the storage answers again, the
        trial is queued to run again as an interrupted one is (the failure, counted as the
        configuration's, lost two warm-start entries for good), and the search goes on;
        where it does not, Optuna's own record of the trial fails too and the search stops
        (:func:`_optimize`), the trial left running, which the next session fails and runs
        again at once (its process is gone)."""
        reason = f"the study's storage failed under it ({type(exc).__name__})"
        try:
            self._queue_again(trial, reason, duration)
        except Exception as again:  # noqa: BLE001 - still not answering: the next session
            log.debug("trial %d not queued again, the storage still fails: %s",
                      trial.number, again)
            self.ctx.tracker.end_trial(trial.number, state="interrupted", value=None,
                                       duration=duration, reason=reason)

    def _queue_again(self, trial: optuna.Trial, reason: str, duration: float) -> None:
        """A trial stopped by no fault of its configuration (a stop signal, its storage
        failing): queued to run again (the retry copies the trial as it is now, before its
        reason is set) and recorded as interrupted, not as a trial that ran to an end."""
        retry = retry_trial(trial.study, trial.study._storage.get_trial(trial._trial_id),
                            max_retry=None, interrupted=True)
        trial.set_user_attr(FAIL_REASON, reason)
        trial.set_user_attr(INTERRUPTED_ATTR, True)
        trial.set_user_attr("duration", duration)
        self.ctx.tracker.end_trial(trial.number, state="interrupted", value=None,
                                   duration=duration,
                                   reason=f"{reason}; queued to run again as trial {retry}")

    def _run(self, trial: optuna.Trial, model_cfg: dict, training: dict, scaling: str,
             t0: float, device: torch.device, *, fraction: float = 1.0) -> float:
        ctx = self.ctx
        folds = [fold.with_scaling(scaling).with_features(fraction)
                 for fold in ctx.folds_on(device)]
        max_time = ctx.budget.trial_max_time()
        if max_time <= 0:
            raise optuna.TrialPruned("no search time left in time_budget")
        t_train = time.perf_counter()
        try:
            run = train_on_folds(
                ctx, folds, model_cfg, training, seed=ctx.seed + trial.number, t0=t0,
                max_time=max_time,
                callbacks=lambda k: [PruningReporter(trial, ctx.metric, ctx.tracker,
                                                     prune=ctx.prune and k == 0, fold=k)]
                + ([FollowsRun(ctx.follow)] if ctx.follow is not None else []))
        except TooLittleTrained as exc:
            if ctx.budget.is_short(max_time):  # the search ran out of time, not the trial
                again = _queue_again(trial)  # a warm-start entry that never had its chance
                raise self._cut_short(max_time, str(exc) + (
                    "" if again is None else f"; queued again as trial {again}")) from None
            raise
        finally:
            ctx.trained_s[trial.number] = time.perf_counter() - t_train
        value = ctx.metric(ctx.y_val, run.val_pred, ctx.w_val)
        if not math.isfinite(value):
            raise TrialFailed(f"validation {ctx.metric.name} is {value}")
        statuses = run.statuses
        # Cut by the window's end with less time than the other trials had: its score is
        # that of a few epochs. Recorded as complete, it would rank the configuration on
        # the leaderboard and teach a resumed study's sampler from it; pruned, it stays an
        # ensemble candidate. The first trial to finish is kept complete either way.
        cut_short = (TIME_LIMIT in statuses and ctx.budget.is_short(max_time)
                     and _has_complete(trial.study))
        trial.set_user_attr("epochs", run.n_epochs)
        trial.set_user_attr("best_epoch", run.best_epoch)
        trial.set_user_attr("status", statuses[0] if len(set(statuses)) == 1 else ",".join(statuses))
        trial.set_user_attr("duration", time.perf_counter() - t0)
        trial.set_user_attr("epoch_time", run.epoch_time)
        ctx.keep(TrialModel(number=trial.number, value=value, modules=run.modules,
                            preprocessors=[fold.preprocessor for fold in folds],
                            val_pred=run.val_pred, model_config=model_cfg, training=training,
                            best_epoch=run.best_epoch, epoch_time=run.epoch_time,
                            complete=not cut_short))
        if cut_short:
            trial.set_user_attr(CUT_SCORE_ATTR, value)
            raise self._cut_short(max_time, f"{run.n_epochs} epochs, validation "
                                            f"{ctx.metric.name} {value:.4g} then")
        return value

    def _unstarted(self, trial: optuna.Trial) -> None:
        """A trial the window's end leaves unstarted: failed and marked (not a result), a
        queued configuration it took (warm start, retry) queued again, the search
        stopped; raises :class:`NoTimeLeft`."""
        reason = "no search time left in time_budget: not started"
        again = _queue_again(trial)
        if again is not None:
            reason += f"; its queued configuration is queued again as trial {again}"
        trial.set_user_attr(UNSTARTED_ATTR, True)
        trial.set_user_attr(FAIL_REASON, reason)
        trial.study.stop()
        raise NoTimeLeft(reason)

    def _cut_short(self, max_time: float, what: str) -> optuna.TrialPruned:
        return optuna.TrialPruned(
            f"cut short by the end of the search window ({max_time:.2f}s of a trial's "
            f"{self.ctx.budget.trial_cap():.2f}s): {what}")


def _training_outcome(trial: optuna.Trial) -> dict[str, Any]:
    """What the leaderboard shows of a trial's training, for the tracker's ``end_trial``:
    ``epochs`` (over all folds), ``best_epoch``, ``status`` (the training loop's, per
    fold); None where the trial did not get that far (a pruned trial has its epochs)."""
    attrs = trial.user_attrs
    return {key: attrs.get(key) for key in ("epochs", "best_epoch", "status")}


def _queue_again(trial: optuna.Trial) -> int | None:
    """A trial that took a queued configuration (a warm-start entry, enqueued with
    fixed_params; or a retry, queued with its params) and was left without a result for
    want of time: the same entry queued again, as it was; its number. None for a
    configuration the sampler drew."""
    frozen = trial.study._storage.get_trial(trial._trial_id)
    if "fixed_params" not in frozen.system_attrs and not frozen.system_attrs.get("retry_history"):
        return None
    return _queue_copy(trial.study, frozen, frozen.system_attrs)


def new_study_uid(study: optuna.Study) -> None:
    """Record the identity of a study this process has just created (before its seed, which
    the processes that join it wait for: they see both)."""
    study.set_user_attr(STUDY_UID_ATTR, uuid.uuid4().hex)


def study_uid(study: optuna.Study, role: str) -> str | None:
    """The identity of a persistent study, as a fit in ``role`` ('created', 'joined',
    'resumed': ``LeptonClassifier._seed``) finds it: the one its creator recorded; a new
    one, given now, for a study resumed without one (created before identities were
    recorded, or outside Lepton); None where the process creating the study this moment
    has not recorded it yet (its search run is then recognised by name and storage)."""
    uid = study.user_attrs.get(STUDY_UID_ATTR)
    if uid is None and role == "resumed":
        new_study_uid(study)
        # read back: another process resuming the same study this moment may have written
        # its own a moment later (the last write is the study's)
        uid = study.user_attrs.get(STUDY_UID_ATTR)
    return None if uid is None else str(uid)


def process_label() -> str:
    """``host:pid`` of this process: which of the processes searching one study (a run and
    its workers) ran a trial."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _label_process(trial: optuna.Trial) -> None:
    """Record the process running ``trial``: its label (:data:`PROCESS_ATTR`), and on Linux
    what tells whether it still runs (:data:`PROCESS_ID_ATTR`)."""
    label = process_label()
    trial.set_user_attr(PROCESS_ATTR, label)
    instance = process_instance()
    if instance:
        trial.set_user_attr(PROCESS_ID_ATTR,
                            {"trial": trial.number, "label": label, "instance": instance})


def _own_process(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """``trial``'s :data:`PROCESS_ID_ATTR`, where it is the trial's own: a retry (and a
    queued-again entry) carries the attributes of the trial it copies until its own
    process records itself."""
    ran = trial.user_attrs.get(PROCESS_ID_ATTR)
    return ran if isinstance(ran, dict) and ran.get("trial") == trial.number else None


def process_gone(trial: optuna.trial.FrozenTrial) -> str | None:
    """The label (``host:pid``) of the process that ran ``trial``, where that process is
    known to have stopped: it ran on this machine (same host, kernel boot and pid
    namespace) and no process with its pid and start time is alive now (a zombie is not;
    :func:`..tracking._store.process_gone`). Such a trial is stale at once, without
    waiting out the heartbeat's grace period. None where the process may still run: alive,
    on another machine or in another container, or not known (not Linux; the trial has
    not recorded its process yet, or was recorded by a Lepton that did not)."""
    ran = _own_process(trial)
    if ran is None or not ran.get("instance") or not ran.get("label"):
        return None
    label = str(ran["label"])
    return label if _process_gone(label, str(ran["instance"])) else None


def stopped_reason(label: str | None, silence: str | None = None) -> str:
    """The fail reason of a trial whose process stopped mid-trial: that process, where
    known, and ``silence`` ('no heartbeat for 35s') where its stale heartbeat told."""
    who = f" ({label})" if label else ""
    return (f"its process{who} stopped mid-trial (killed or crashed)"
            + (f": {silence}" if silence else ""))


def process_stopped(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the study failed ``trial`` because its process stopped mid-trial
    (:func:`stopped_reason`)."""
    return (trial.state == optuna.trial.TrialState.FAIL
            and str(trial.user_attrs.get(FAIL_REASON, "")).startswith("its process"))


def trial_process_label(trial: optuna.trial.FrozenTrial) -> str | None:
    """The label of the process running ``trial``, where the trial recorded its own."""
    ran = _own_process(trial)
    return None if ran is None or not ran.get("label") else str(ran["label"])


def _has_complete(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


@dataclass
class FoldsRun:
    """One configuration trained on every fold: networks, and their predictions on the
    validation rows in fold order."""

    modules: list[nn.Module]
    val_pred: np.ndarray
    best_epoch: int                # mean over the folds of each fold's best epoch
    epoch_time: float
    n_epochs: int
    statuses: list[str]


def train_on_folds(ctx: SearchContext, folds: Sequence[Fold], model_cfg: dict, training: dict,
                   *, seed: int, t0: float, max_time: float, callbacks=None) -> FoldsRun:
    """Train one configuration on each fold (early stopping on the fold's validation
    rows), each fold getting an equal share of what is left of ``max_time`` seconds
    counted from ``t0``. ``callbacks(k)`` gives fold ``k``'s training-loop callbacks.
    Raises :class:`DivergedError` or :class:`TrialFailed` for a configuration that gives
    no usable networks."""
    epochs = training["epochs"]
    modules, preds, best_epochs, epoch_times, n_epochs, statuses = [], [], [], [], 0, []
    for k, fold in enumerate(folds):
        fold_time = (max_time - (time.perf_counter() - t0)) / (len(folds) - k)
        config = TrainingConfig(
            **training, early_stopping=True, patience=min(20, max(5, epochs // 8)),
            max_time=max(fold_time, 1e-6))  # out of time: one batch, then the cut
        module, result = fit_model(model_cfg, fold.train, fold.valid, ctx.task, config,
                                   seed=seed, input_shape=ctx.input_shape,
                                   callbacks=callbacks(k) if callbacks else (),
                                   interrupt=ctx.interrupt)
        if result.status == DIVERGED:
            raise DivergedError(f"diverged: {result.message}")
        if result.epochs_done < MIN_EPOCH_SHARE:
            raise TooLittleTrained(
                f"time limit: {result.epochs_done:.0%} of one epoch fitted in {max_time:.2f}s "
                f"of trial time (a trial needs {MIN_EPOCH_SHARE:.0%})")
        # the outputs the training loop validated the kept weights with (early stopping
        # restored them): predicting the rows again cost a second pass (2.3 s on 40,000
        # rows of 3,680 inputs)
        outputs = result.val_outputs
        if fold.y_scaler is not None:  # trained in the fold's target units: into the fit's
            rescale_outputs(module, fold.y_scaler.scale_, fold.y_scaler.mean_)
            outputs = torch.from_numpy(fold.y_scaler.inverse_transform(
                outputs.detach().float().cpu().double().numpy()))  # MPS has no float64
        preds.append(outputs_to_prediction(outputs, ctx.task, ctx.y_scaler))
        modules.append(module.cpu() if fold.train.device.type != "cpu" else module)
        best_epochs.append(result.best_epoch or len(result.history))
        seconds = [r["epoch_time"] for r in result.history]
        # seconds per epoch: the mean over the epochs run (a cut last epoch among them, as
        # the refit planning was tuned with); a trial cut inside its first epoch counts
        # for the share of rows it saw (its one record is a fraction of an epoch)
        epoch_times.append(float(np.mean(seconds)) if result.complete_epochs
                           else sum(seconds) / result.epochs_done)
        n_epochs += len(result.history)
        statuses.append(result.status)
    return FoldsRun(modules=modules, val_pred=np.concatenate(preds),
                    best_epoch=int(round(float(np.mean(best_epochs)))),
                    epoch_time=float(np.mean(epoch_times)), n_epochs=n_epochs,
                    statuses=statuses)


def retry_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, *,
                max_retry: int | None, interrupted: bool = False) -> int | None:
    """Queue ``trial``'s parameters to run again as a new (WAITING) trial and return its
    number; None once ``max_retry`` retries of the first attempt exist. The new trial has
    the system attributes Optuna's ``RetryHeartbeatStaleTrialCallback`` writes
    (``failed_trial``, ``retry_history``), so Optuna's helpers and the leaderboard read it
    the same way; unlike the callback, this returns the number. Retries of
    ``interrupted`` trials (Ctrl-C, SIGTERM: no fault of the configuration) are counted
    apart (``INTERRUPTED_RETRIES``) and not against ``max_retry``: a configuration
    interrupted once and then killed mid-trial is still run again."""
    system_attrs = {"failed_trial": trial.number, "retry_history": [], **trial.system_attrs}
    system_attrs["retry_history"] = [*system_attrs["retry_history"], trial.number]
    if interrupted:
        system_attrs[INTERRUPTED_RETRIES] = system_attrs.get(INTERRUPTED_RETRIES, 0) + 1
    crashes = len(system_attrs["retry_history"]) - system_attrs.get(INTERRUPTED_RETRIES, 0)
    if max_retry is not None and crashes > max_retry:
        return None
    return _queue_copy(study, trial, system_attrs)


#: Trial user attribute: the last time (seconds since the epoch, the storage's clock) its
#: process was alive, where Lepton beats (journal file, Redis: lepton.search.heartbeat)
HEARTBEAT_ATTR = "lepton.heartbeat"
#: user attributes of one attempt at a configuration, which a retry of it does not copy
_ATTEMPT_ATTRS = (FAIL_REASON, INTERRUPTED_ATTR, PROCESS_ID_ATTR, HEARTBEAT_ATTR)


def _queue_copy(study: optuna.Study, trial: optuna.trial.FrozenTrial,
                system_attrs: dict) -> int:
    """A WAITING trial with ``trial``'s params and user attributes, and ``system_attrs``:
    its number. Not the attributes of how that attempt ended (:data:`_ATTEMPT_ATTRS`): an
    RDB storage gives its heartbeat's retry a trial whose fail reason is set."""
    template = optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=trial.params,
        distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k not in _ATTEMPT_ATTRS},
        system_attrs=system_attrs)
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    return study._storage.get_trial_number_from_id(trial_id)


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return f"out of memory: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, (DivergedError, TrialFailed)) else text


# -- storage and study -------------------------------------------------------------------------

class StorageError(RuntimeError):
    """The study storage that ``storage=`` names cannot be opened: its server does not
    answer, its database does not exist, its file cannot be created, or the database's
    Python driver is not installed; or it stopped answering mid-search."""


def make_storage(storage: Any) -> optuna.storages.BaseStorage | None:
    """None -> in memory; an RDB URL or a ``.db``/``.sqlite`` path -> RDBStorage with
    heartbeats (a killed worker's running trial is failed and retried on resume);
    ``redis://host:6379/0?prefix=name`` -> journal storage on Redis under the key prefix
    (default ``lepton``); a ``.log``/``.jsonl`` path -> journal file.

    A storage that cannot be opened, or whose database driver is not installed, raises
    :class:`StorageError` naming the storage, its password hidden, and the database's own
    words for what went wrong (or what to install)."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, (str, os.PathLike)):
        raise ValueError(
            f"storage={storage!r} must be None, an Optuna storage, a database URL "
            "(sqlite:///..., postgresql://..., mysql://..., redis://...) or a file path.")
    text = os.fspath(storage)
    check_storage_form(text)
    path = _study_file(text)
    made = path is not None and not os.path.exists(path)
    try:
        return _open_checked(text)
    except BaseException:
        if made:  # a study that could not be created leaves no empty file (a full disk)
            with contextlib.suppress(OSError):
                if os.path.getsize(path) == 0:
                    os.remove(path)
        raise


def _study_file(text: str) -> str | None:
    """The file a study storage given as ``text`` lives in (a path, or a ``sqlite:///``
    URL); None for a server's."""
    if text.startswith("sqlite:///"):
        return text[len("sqlite:///"):].split("?", 1)[0] or None
    return None if "://" in text else text


def _open_checked(text: str) -> optuna.storages.BaseStorage:
    try:
        return _open_storage(text)
    except ImportError as exc:
        raise StorageError(f"storage={redact_uri(text)!r} needs a database driver that is not "
                           f"installed: {_driver_hint(text)}.") from exc
    except Exception as exc:
        from sqlalchemy.exc import ArgumentError  # an unknown scheme: NoSuchModuleError

        if isinstance(exc, ArgumentError):
            raise _unrecognised(text, exc) from exc
        if not _is_unreachable(exc):
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0].rstrip(".")
        refused = False  # a Redis server that answered, refusing the URL (its database)
        if text.startswith(("redis://", "rediss://")):
            import redis.exceptions

            refused = isinstance(exc, redis.exceptions.ResponseError)
        check = ("that the disk that holds it has free space"
                 if _disk_failure(getattr(exc, "orig", None) or exc) else
                 "that the file's folder exists and is writable"
                 if text.startswith("sqlite:") or "://" not in text else
                 "that the server has the database the URL names (a Redis server has 16 "
                 "unless configured otherwise: /0 to /15)" if refused else
                 "that the server is running and the database exists (Lepton creates "
                 "tables, not databases)")
        if refused:
            reason = f"the Redis server answered {reason!r}"
        raise StorageError(
            f"storage={redact_uri(text)!r} cannot be opened: {reason}. Check {check}.") from exc


def check_storage_form(storage: Any) -> None:
    """Refuse at once a ``storage=`` of no storage's form (a path that names neither a
    database nor a journal file, a URL whose scheme no database answers to), without
    opening it: ``lepton run`` says so before its data loads, ``lepton worker`` before it
    waits for the file a run would create."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return
    text = os.fspath(storage)
    if text.startswith(("redis://", "rediss://")):
        return
    if "://" not in text:
        if not text.lower().endswith(_DB_SUFFIXES + _JOURNAL_SUFFIXES):
            raise _unrecognised(text)
        _check_folder(text, text)
        return
    lowered = text.lower().split("?", 1)[0]
    if lowered in ("sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite://:memory:"):
        # each connection its own empty database: nothing kept, and the heartbeat's commit
        # failed with a line of noise (review helper-80)
        raise ValueError(f"storage={text!r} is an in-memory SQLite database, which keeps "
                         "nothing to resume and no worker can reach: give a file "
                         "(sqlite:///study.db, or study.db), or storage=None for a study in "
                         "this process's memory.")
    if text.lower().startswith("sqlite:///") and text[len("sqlite:///"):] not in ("", ":memory:"):
        # `lepton run` loaded its data, then said how workers join this storage, then failed
        # to open it (review helper-62)
        _check_folder(text, text[len("sqlite:///"):].split("?", 1)[0])
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(driver_url(text)).get_dialect()
    except ArgumentError as exc:  # an unknown scheme (NoSuchModuleError), or no URL at all
        raise _unrecognised(text, exc) from exc
    except ImportError:  # a driver missing: make_storage says what to install
        pass


def _check_folder(text: str, path: str) -> None:
    """The folder a storage's file is to be made in exists (``text``: the storage as given)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"storage={redact_uri(text)!r}: the folder {parent!r} does not exist; "
                         "create it or give another path.")


def _unrecognised(text: str, exc: BaseException | None = None) -> ValueError:
    why = f" ({str(exc).splitlines()[0].rstrip('.')})" if exc is not None else ""
    return ValueError(f"storage={redact_uri(text)!r} is not a recognised storage{why}: "
                      f"{_STORAGES}.")


class RedisJournalStorage(optuna.storages.JournalStorage):
    """Optuna's journal storage on Redis, with the Redis server's clock
    (:meth:`server_time`). Lepton's heartbeats (:mod:`.heartbeat`) compare times written by
    processes on several machines; one clock makes them immune to the machines' clocks
    disagreeing, as Optuna's RDB heartbeat uses the database server's clock."""

    def __init__(self, backend, url: str):
        super().__init__(backend)
        self._clock_url = url
        self._clock_client = None

    def server_time(self) -> float:
        """Seconds since the epoch on the Redis server (its TIME command)."""
        if self._clock_client is None:
            import redis

            self._clock_client = redis.Redis.from_url(self._clock_url)
        seconds, microseconds = self._clock_client.time()
        return seconds + microseconds / 1e6

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_clock_client"] = None  # a connection does not pickle; reopened on use
        return state


def _open_storage(text: str) -> optuna.storages.BaseStorage:
    if text.startswith("redis://") or text.startswith("rediss://"):
        from optuna.storages.journal import JournalRedisBackend

        url, prefix = _split_prefix(text)
        with warnings.catch_warnings():  # experimental since Optuna 3.1, stable in use here
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RedisJournalStorage(JournalRedisBackend(url, prefix=prefix), url)
    if "://" in text:
        return _rdb(text)
    lower = text.lower()
    _check_folder(text, text)
    if lower.endswith(_DB_SUFFIXES):
        return _rdb("sqlite:///" + os.path.abspath(text))
    if lower.endswith(_JOURNAL_SUFFIXES):
        path = os.path.abspath(text)
        backend = _journal_backend(path, _journal_lock(path))
        try:
            return optuna.storages.JournalStorage(backend)
        except ValueError as exc:  # json's JSONDecodeError, or Optuna's 'Invalid log format.'
            _mend_journal(path, backend, exc)  # raises where it cannot
            return optuna.storages.JournalStorage(backend)
    raise _unrecognised(text)


def _journal_backend(path: str, lock: BaseJournalFileLock | None) -> JournalFileBackend:
    """Optuna's journal file backend, whose appends leave no torn record
    (:class:`_WholeRecordJournal`) where this Optuna's lock helper is known."""
    if get_lock_file is None:
        return JournalFileBackend(path, lock)
    return _WholeRecordJournal(path, lock)


class _WholeRecordJournal(JournalFileBackend):
    """Optuna's ``JournalFileBackend`` whose appends leave whole records only. Optuna's
    append writes its line and keeps what a failed write left: on a disk that filled
    mid-search the journal ended in half a record (a trial's COMPLETE cut at its value),
    and the next append, once space was freed, went on after it, gluing a record to the
    half one: every later read of the study raised JSONDecodeError, all its trials
    unreadable (review helper-87). Here, under the journal's lock, a torn end a killed or
    failed writer left (bytes after the last newline, which no reader takes as a record)
    is cut before the append, and a write that fails is cut back to where it began, so the
    error is the storage's (the file named) and the journal stays readable and resumable.
    """

    def read_logs(self, log_number_from: int):
        """Optuna's read, once more from where it stopped where a line did not decode: a
        reader in another process, without the lock, whose buffer ended inside a torn end
        as an append cut it and wrote after it, joined the torn bytes to the new records
        (review helper-93); read again, the file holds whole records there."""
        read = 0
        try:
            for record in super().read_logs(log_number_from):
                read += 1
                yield record
        except ValueError:  # JSONDecodeError, or Optuna's 'Invalid log format.'
            yield from super().read_logs(log_number_from + read)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        payload = text.encode("utf-8")
        with get_lock_file(self._lock):
            fd = os.open(self._file_path, os.O_RDWR | os.O_CREAT, 0o666)  # as Optuna's "ab"
            failed = None
            try:
                end = _whole_records_end(fd)
                try:
                    written = 0  # unbuffered: a failed write is known, and cut below
                    while written < len(payload):
                        written += os.pwrite(fd, payload[written:], end + written)
                    os.fsync(fd)
                except OSError as exc:
                    with contextlib.suppress(OSError):  # cutting frees space: it succeeds
                        os.ftruncate(fd, end)
                    failed = exc
            finally:
                os.close(fd)
        if failed is not None:  # the file named, the deepest error of its chain, as the
            # storage's failure is said (_storage_stopped)
            raise OSError(failed.errno, failed.strerror, self._file_path)


def _whole_records_end(fd: int) -> int:
    """The end of the last whole record (newline-ended line) of the journal open as ``fd``,
    cutting off any bytes after it."""
    size = os.fstat(fd).st_size
    end, block = size, 4096
    while end > 0:
        start = max(0, end - block)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
    return end


#: the start of each record Optuna's journal writes (json.dumps with its separators)
_RECORD_START = b'{"op_code":'


def _mend_journal(path: str, backend: JournalFileBackend, error: ValueError) -> None:
    """A journal Optuna cannot read: where its damage is records that an earlier append
    glued to torn ones (Optuna's own appends, and Lepton's before they kept whole records,
    on a disk that filled: :class:`_WholeRecordJournal`), each torn start, a record never
    read, is cut, the file as it was kept beside it (``<journal>.damaged-<time>-<pid>``), and the
    study reads as before the failed write. Any other damage raises a StorageError naming
    the line."""
    with get_lock_file(backend._lock) if get_lock_file is not None else \
            contextlib.nullcontext():
        with open(path, "rb") as f:
            data = f.read()
        *lines, tail = data.split(b"\n")  # tail: after the last newline, a torn end or b""
        mended, glued = [], 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():  # no record: Optuna reads none there either
                continue
            try:
                json.loads(line)
                mended.append(line)
                continue
            except ValueError:
                pass
            start = line.rfind(_RECORD_START)
            try:
                if start <= 0:
                    raise ValueError(line[:80])
                json.loads(line[start:])
            except ValueError:
                raise StorageError(
                    f"the journal file {path} cannot be read: its line {number} is damaged "
                    f"({type(error).__name__}: {error}), not a record glued to a torn one, "
                    "which Lepton mends. Restore the file from a backup, or delete that line "
                    "and those after it to keep the trials before it.") from error
            mended.append(line[start:])
            glued += 1
        if not glued:
            # read again under the lock: another process mended it meanwhile (workers that
            # opened the study together: both mended, the second overwriting the first's
            # copy of the damaged file with the mended one; review helper-93), or the
            # error was no glued record: Optuna's next read says it
            return
        # the copy's name is this process's own, made only if new
        kept = f"{path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        try:
            with open(kept, "xb") as f:
                f.write(data)
            with open(path + ".mending", "wb") as f:
                f.write(b"".join(line + b"\n" for line in mended))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(path + ".mending", stat.S_IMODE(os.stat(path).st_mode))  # a group's
            os.replace(path + ".mending", path)
        except OSError as exc:
            raise StorageError(
                f"the journal file {path} holds a record glued to one a failed write cut "
                f"short, which Lepton mends, but could not write the mended file ({exc}); "
                "free space beside it and fit again.") from exc
    backend._log_number_offset = {0: 0}
    log.warning("the journal file %s held a record glued to one a failed write had cut "
                "short (a full disk?): the torn part, never read as a record, is cut; the "
                "file as it was is kept as %s", path, kept)


#: The file beside a journal file that its writers lock (:class:`JournalFileFlock`)
FLOCK_SUFFIX = ".flock"
#: flock's errors where the file system takes no locks
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP)
#: File system types (/proc/self/mountinfo's) whose flock excludes every process that opens
#: the file: local disks, memory, a container's layers. On others a flock may exclude the
#: processes of one client only: NFS mounted ``nolock`` or ``local_lock=flock|all`` (nfs(5)),
#: FUSE file systems that keep flocks locally, and file systems not known here
_LOCAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs",
                       "f2fs", "vfat", "exfat", "ntfs3", "ramfs"})
_journal_mutexes: dict[str, threading.Lock] = {}
_journal_mutexes_lock = threading.Lock()


def _journal_lock(path: str) -> BaseJournalFileLock | None:
    """The lock of the journal file at ``path``: :class:`JournalFileFlock` where it lies on
    a local file system (:data:`_LOCAL_FS`), else None: Optuna's symlink lock, which an NFS
    server makes atomic across its clients (also without ``fcntl``: Windows; without /proc:
    macOS; and where Optuna moved its lock's base class)."""
    if fcntl is None or BaseJournalFileLock is object:
        return None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            mountinfo = f.read()
    except OSError:
        return None
    if _mount_type(os.path.realpath(path), mountinfo) not in _LOCAL_FS:
        return None
    return JournalFileFlock(path)


def _mount_type(path: str, mountinfo: str) -> str | None:
    """The type of the file system that the absolute, resolved ``path`` lies on, as
    ``mountinfo`` (the text of /proc/self/mountinfo, proc(5)) gives it: that of the longest
    mount point that is ``path`` or a folder above it (of two on one point, the later: it
    hides the other); None where none is."""
    found, longest = None, -1
    for line in mountinfo.splitlines():
        fields, sep, rest = line.partition(" - ")  # fields, optional ones, " - ", type ...
        fields, rest = fields.split(), rest.split()
        if not sep or len(fields) < 5 or not rest:
            continue
        # spaces, tabs, newlines and backslashes in the mount point are written as \ooo
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = point == "/" or path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= longest:
            found, longest = rest[0], len(point)
    return found


def _journal_mutex(lock_file: str) -> threading.Lock:
    with _journal_mutexes_lock:
        return _journal_mutexes.setdefault(lock_file, threading.Lock())


class JournalFileFlock(BaseJournalFileLock):
    """The lock a journal file's writers take to append, that its holder's death releases:
    ``fcntl.flock`` on ``<journal><FLOCK_SUFFIX>`` (``study.log.flock``, an empty file
    left beside the journal: deleting a lock file races with its next holder).

    Optuna's default lock is a symlink ``<journal>.lock`` made and removed around each
    append: a process killed mid-append (SIGKILL, the OOM killer) left it, and every
    process after waited out its 30 s grace period before breaking it, inside the fit's
    time budget ('time_budget=20s is too small: preparing the data took 31.06s'). The
    kernel releases a flock when the holder's file closes, by exit or kill. Only the lock
    differs from Optuna's: the journal's format is Optuna's, and journals written before
    resume. So:

    - a ``.lock`` symlink an older Lepton or plain Optuna left is ignored (and kept: a live
      process of theirs may hold it). Such processes do not see this lock nor this one
      theirs: they must not write the journal at the same time as this Lepton;
    - it is taken only on a file system known to be local (:data:`_LOCAL_FS`: ext4, xfs,
      tmpfs, overlay, ...; the journal's mount read from /proc/self/mountinfo), where a
      flock excludes every process that opens the file. Elsewhere a flock is not refused
      but may exclude only the processes of one client (NFS mounted ``nolock`` or
      ``local_lock=flock|all``, nfs(5); FUSE file systems that keep flocks locally): two
      machines appending to a shared ``study.log`` would both hold it. There, as on
      network and unknown file systems, without /proc (macOS) and without fcntl (Windows),
      journals keep Optuna's symlink lock, which an NFS server makes atomic
      (:func:`_journal_lock`);
    - a mutex per journal serialises this process's own storages of it (threads of a fit,
      two storages opened on one file) before they take the flock;
    - where flock is refused all the same, it falls back to Optuna's symlink lock, saying
      so.

    Holds strings only while released, so a storage using it pickles as Optuna's does."""

    def __init__(self, journal_path: str) -> None:
        self._journal = journal_path
        self._lock_file = journal_path + FLOCK_SUFFIX
        self._fd: int | None = None
        self._fallback: BaseJournalFileLock | None = None

    def acquire(self) -> bool:
        mutex = _journal_mutex(self._lock_file)
        mutex.acquire()
        try:
            if self._fallback is None:
                self._fd = self._flock()
            if self._fallback is not None:
                self._fallback.acquire()
        except BaseException:
            mutex.release()
            raise
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # closing the only descriptor of the file releases its flock
            elif self._fallback is not None:
                self._fallback.release()
        finally:
            _journal_mutex(self._lock_file).release()

    def _flock(self) -> int | None:
        """The locked lock file's descriptor; None where flock is refused (the fallback is
        set then)."""
        # read-write: NFS takes an exclusive flock only on a file open for writing
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits while a live process appends
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _NO_FLOCK:
                raise
            log.warning("the file system of %s takes no flock (%s): its writers lock it "
                        "with Optuna's symlink lock instead", self._journal, exc)
            self._fallback = JournalFileSymlinkLock(self._journal)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd


#: File paths taken as a storage: SQLite databases, and journal files
_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")


_STORAGES = ("use a URL (sqlite:///study.db, postgresql://host/db, mysql+pymysql://host/db, "
             "redis://host:6379) or a path ending in .db/.sqlite (SQLite) or .log/.jsonl "
             "(journal file)")


#: What to install for a storage URL's scheme when its driver is missing.
_DRIVERS = {"postgresql": "pip install psycopg2-binary",
            "postgres": "pip install psycopg2-binary",
            "mysql": "pip install pymysql and write the URL as mysql+pymysql://host/db",
            "redis": "pip install redis", "rediss": "pip install redis"}


def _driver_hint(url: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    base = scheme.split("+", 1)[0]
    if "+" in scheme:
        return f"install the Python package of the {scheme.split('+', 1)[1]!r} driver"
    return _DRIVERS.get(base, f"install a SQLAlchemy driver for {base!r}")


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, is the study storage's failing
    mid-search (:func:`_is_unreachable`, or Optuna's StorageInternalError around a
    commit that lost its connection) rather than a fault of the search."""
    return _storage_cause(exc) is not None


def _deepest(exc: BaseException) -> BaseException:
    """The first error of ``exc``'s chain: the one the others were raised from."""
    seen = {id(exc)}
    while (exc.__cause__ or exc.__context__) is not None and \
            id(exc.__cause__ or exc.__context__) not in seen:
        exc = exc.__cause__ or exc.__context__
        seen.add(id(exc))
    return exc


def _storage_cause(exc: BaseException | None) -> BaseException | None:
    """The storage's own error in ``exc``'s chain (the deepest: a driver's message, where
    Optuna wrapped it, or failed on after it: "cannot access local variable
    'updated_state'"), else None."""
    found, seen = None, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if _is_unreachable(exc) or isinstance(exc, optuna.exceptions.StorageInternalError):
            found = exc
        exc = exc.__cause__ or exc.__context__
    return found


def _is_unreachable(exc: BaseException) -> bool:
    """A server that does not answer, a database that does not exist, a file that cannot be
    opened: the storage's fault, not the search's."""
    import sqlalchemy.exc

    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                        ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:  # a journal file's disk
        return True
    try:
        import redis.exceptions
    except ImportError:
        return False
    # ResponseError: the server refused the connection's setup (a database index it
    # does not have: 'DB index is out of range')
    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                            redis.exceptions.AuthenticationError,
                            redis.exceptions.ResponseError))


def _split_prefix(url: str) -> tuple[str, str]:
    """``redis://host:6379/0?prefix=team-a`` -> (``redis://host:6379/0``, ``team-a``): the
    journal's keys live under the prefix, so several projects can share one Redis."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    prefix = query.pop("prefix", "lepton")
    return urlunsplit(parts._replace(query=urlencode(query))), prefix


#: libpq's limits on a PostgreSQL connection (each unless the URL's query sets it): a
#: server that accepted the connection and never answered held `lepton run` for good (killed
#: after 100 s of a 10 s budget); a peer gone mid-search (a partition, a failover) is
#: noticed by TCP keepalives and unacknowledged writes, seconds rather than the kernel's
#: two hours. A server that acknowledges but never answers a query mid-search is not.
PG_CONNECTION_LIMITS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10,
                        "keepalives_interval": 5, "keepalives_count": 3,
                        "tcp_user_timeout": 30_000}


def _connection_limits(url: str) -> dict[str, Any]:
    """``connect_args`` for an RDB storage's engine: :data:`PG_CONNECTION_LIMITS` on
    PostgreSQL (those the URL does not set itself), a connect timeout on MySQL."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    given = set(parse_qs(parts.query))
    if parts.scheme.startswith("postgres"):
        return {k: v for k, v in PG_CONNECTION_LIMITS.items() if k not in given}
    if parts.scheme.startswith("mysql") and "connect_timeout" not in given:
        return {"connect_timeout": 10}
    return {}


#: Attempts at opening an RDB storage whose schema another process is creating.
SCHEMA_RACE_ATTEMPTS = 5


def _rdb(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage, with heartbeats: a trial whose process died (crash, kill,
    preemption) is marked FAIL once its heartbeat is older than the grace period, and
    retried once as a new trial.

    Opening a database that has no Optuna schema yet creates it (tables, PostgreSQL enum
    types, version rows). Several processes starting a search on the same new database at
    once race there, and the losers fail with a duplicate-object error from the database;
    they retry, and then find the schema the winner made."""
    import sqlalchemy.exc

    url = driver_url(url)
    engine_kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {
        "pool_pre_ping": True, "connect_args": _connection_limits(url)}
    for attempt in range(SCHEMA_RACE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _HeartbeatRDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL_S,
                    grace_period=HEARTBEAT_GRACE_S,
                    heartbeat_stale_trial_callback=_retry_stale_trial)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.OperationalError) as exc:
            if attempt + 1 == SCHEMA_RACE_ATTEMPTS or not _is_schema_race(exc):
                raise
            log.debug("another process is creating the Optuna schema; retrying: %s", exc)
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


class _HeartbeatRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, whose stale trials also include

    - the running trials that never beat: Optuna skips a running trial without a
      heartbeat, and a process killed between creating a trial (``study.ask``) and its
      heartbeat thread's first beat left that trial RUNNING for good, never retried (a
      warm-start entry so lost; seen once, in CI, as tests/search/test_resume.py's killed
      trial left RUNNING). Such a trial is stale once it started more than the grace
      period ago (by this machine's clock, as Optuna dates trials);
    - at once, the running trials whose process ran on this machine and is gone
      (:func:`process_gone`): a search started again right after a crash no longer sees
      the crashed trial as running for the grace period, nor leaves it unrun.

    Each stale trial gets its fail reason (:func:`stopped_reason`) before Optuna fails it
    (a failed trial takes no more attributes); Optuna's own rule records none.

    A beat the database does not take (a dropped connection, a restarting server) is
    missed, not the end of the trial's heartbeat: Optuna's heartbeat thread ended at its
    first failed beat, and a trial that lived through a 6 s outage never beat again, so a
    peer failed it as stale while it still ran (a review's repro)."""

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:  # noqa: BLE001 - the next beat tries again
            log.debug("heartbeat of trial id %s not recorded: %s", trial_id, exc)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        silent = f"no heartbeat for over {float(self.grace_period):g}s"
        try:
            from optuna.storages._rdb import models

            cutoff = _dt.datetime.now() - _dt.timedelta(seconds=float(self.grace_period))
            with self.scoped_session() as session:
                running = (session.query(models.TrialModel)
                           .filter(models.TrialModel.study_id == study_id,
                                   models.TrialModel.state == optuna.trial.TrialState.RUNNING)
                           .all())
                # datetime_start: naive local time, however this Optuna stores it
                never_beat = [t.trial_id for t in running if not t.heartbeats
                              and t.datetime_start is not None and t.datetime_start < cutoff]
            trials = self.get_all_trials(study_id, deepcopy=False,
                                         states=(optuna.trial.TrialState.RUNNING,))
        except Exception as exc:  # noqa: BLE001 - Optuna's internals moved: its rule stands
            log.debug("could not look for trials that never beat: %s", exc)
            return stale
        reasons = {trial_id: silent for trial_id in stale + never_beat}
        labels = {}
        for trial in trials:
            gone = process_gone(trial)
            if gone is not None:
                reasons[trial._trial_id], labels[trial._trial_id] = None, gone
            elif trial._trial_id in reasons:
                labels[trial._trial_id] = trial_process_label(trial)
        for trial_id, silence in reasons.items():
            try:
                self.set_trial_user_attr(trial_id, FAIL_REASON,
                                         stopped_reason(labels.get(trial_id), silence))
            except Exception as exc:  # noqa: BLE001 - finished meanwhile (another process)
                log.debug("trial id %s: fail reason not written: %s", trial_id, exc)
        return list(reasons)


def _retry_stale_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """RDB storages' heartbeat callback: a trial whose process died is run again once, as
    Optuna's ``RetryHeartbeatStaleTrialCallback(max_retry=1)`` does, except that earlier
    retries of interrupts do not count (:func:`retry_trial`)."""
    retry_trial(study, trial, max_retry=1)


def _is_schema_race(exc: BaseException) -> bool:
    """A duplicate table, type or version row, or a locked SQLite file: what a process
    creating the schema concurrently with another one gets."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("already exists", "duplicate key", "unique constraint",
                                   "database is locked"))


def create_study(*, storage: Any, study_name: str, metric: Metric, space: SearchSpace,
                 seed: int, n_startup_trials: int) -> optuna.Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                             n_startup_trials=n_startup_trials)
    # The first rung is at epoch 3, not 1: with a learning-rate warmup, epoch-1 scores rank
    # slow starters (low or warming-up learning rates) below fast ones that end worse.
    # Trials meet at equal epochs whatever their schedule's length: comparing them at equal
    # shares of their schedules ranked them no better against their final scores
    # (benchmarks/results/dev/pruning_fidelity_stop17.md).
    max_epochs = expected_epochs(space)
    pruner = optuna.pruners.HyperbandPruner(min_resource=min(3, max_epochs),
                                            max_resource=max_epochs, reduction_factor=3)
    return optuna.create_study(storage=storage, study_name=study_name, sampler=sampler,
                               pruner=pruner, direction=metric.direction, load_if_exists=True)


def enqueue_portfolio(study: optuna.Study, space: SearchSpace, *, size: int,
                      wait_s: float = 0.0) -> int:
    """Enqueue the warm-start portfolio once per study (resume-safe). ``wait_s``: a process
    that joined a study another one is creating waits that long for the creator to
    enqueue it, so the two do not both enqueue it; it enqueues it itself if it is still
    missing then."""
    deadline = time.monotonic() + wait_s
    while not study.user_attrs.get("lepton.portfolio_enqueued") and time.monotonic() < deadline:
        time.sleep(0.1)
    if study.user_attrs.get("lepton.portfolio_enqueued"):
        return 0
    configs = portfolio_params(space, size=size)
    for params in configs:
        study.enqueue_trial(params, skip_if_exists=True)
    study.set_user_attr("lepton.portfolio_enqueued", True)
    return len(configs)


def trials_since_best(study: optuna.Study, since: _dt.datetime | None = None) -> int:
    """Finished (complete or pruned) trials after the study's best one (``since``: of those,
    the ones finished since then, a fit's own): how long the search has gone without
    improving its validation score."""
    try:
        best = study.best_trial.number
    except ValueError:  # no complete trial yet
        return 0
    return sum(t.number > best and (since is None or t.datetime_complete is None
                                    or t.datetime_complete >= since)
               for t in study.get_trials(deepcopy=False, states=DONE_STATES))


def run_trials(study: optuna.Study, objective: Objective, ctx: SearchContext, *,
               n_trials: int | None, n_jobs: int, progress: Any = None,
               patience: int | None = None) -> None:
    """Run trials until the budget's search window closes, ``n_trials`` have finished, or
    (``patience``) that many finished trials in a row brought no better score. Ctrl-C
    or SIGTERM stops the search (see :func:`stop_signals_set`) and raises
    KeyboardInterrupt."""
    budget = ctx.budget

    def stop_when_done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        now, trained = time.perf_counter(), ctx.trained_s.pop(trial.number, None)
        if n_jobs == 1 and trained is not None and ctx.last_told is not None:
            # from the last trial's tell to this one's: its ask, sampling, storage and
            # tracker calls, training and tell; all but the training is bookkeeping
            budget.note_trial_overhead(now - ctx.last_told - trained)
        ctx.last_told = now
        if not trial.user_attrs.get(UNSTARTED_ATTR):
            ctx.finished_here.append(trial.number)
            if progress is not None:
                progress(study, trial)
        if ctx.follow is not None:  # a worker: the run it joined may have moved its end
            ends_at = ctx.follow()
            if ends_at is not None:
                budget.move_deadline(budget.clock() + ends_at - time.time())
        elif ctx.window_moved is not None:  # the run: its workers follow its window
            ctx.window_moved()
        # Stop if the next trial could not even fit a few epochs of the fastest trial seen.
        # (On a large table this leaves the rest of the window to the final refit: tried
        # in stop 13, starting trials that can fit only part of an epoch instead ran
        # trials too short to win and left too little time for the refit:
        # benchmarks/results/tight_budget.md.)
        times = [m.epoch_time for m in ctx.models.values()]
        min_needed = 2 * min(times) if times else 0.0
        # nor a trial's start (its sampling; with n_jobs=2, the other thread's before it):
        # asked for as the window ended, the trial found it closed once sampled and was
        # recorded FAIL, unstarted (3 of 4 n_jobs=2 fits; review helper-93)
        if budget.trial_max_time() <= max(min_needed, 3 * ctx.start_s, 0.01):
            study.stop()
        if n_trials is not None and len(
                study.get_trials(deepcopy=False, states=DONE_STATES)) >= n_trials:
            study.stop()
        if patience is not None and trials_since_best(study, ctx.started) >= patience:
            study.stop()
        if ctx.interrupt.is_set():
            study.stop()

    def ctrl_c_message() -> str:
        """Said when Ctrl-C arrives: a fit that has finished no trial raises without a
        model, where the search's message promised one from the finished trials."""
        if ctx.follow is not None:
            return CTRL_C_WORKER
        try:  # in a signal handler: this process's record only, no storage call
            finished = any(m.complete for m in list(ctx.models.values()))
        except RuntimeError:  # a trial thread changed the dict meanwhile: one finished
            finished = True
        return CTRL_C_SEARCH if finished else CTRL_C_SEARCH_BEFORE_A_TRIAL

    with _one_ask_at_a_time(study, n_jobs), \
            stop_signals_set(ctx.interrupt, ctrl_c_message, SIGTERM_SEARCH):
        _optimize(study, objective, ctx, n_trials=n_trials, n_jobs=n_jobs, patience=patience,
                  callback=stop_when_done)
    if ctx.interrupt.is_set():  # a signal between two trials: the search stopped after one
        raise KeyboardInterrupt(f"the search was interrupted ({ctx.interrupt.cause})")


@contextmanager
def stop_signals_set(event: StopRequest,
                     ctrl_c_message: str | Callable[[], str] | None = None,
                     sigterm_message: str | None = None):
    """For the block, the first Ctrl-C (SIGINT) or SIGTERM sets ``event`` instead of
    raising (or, SIGTERM, ending the process) wherever the main thread happens to be. In
    a search (``SearchContext.interrupt``) the running trials then stop after their
    current batch (the training loop checks it, in worker threads too, which never see a
    signal) and are recorded as interrupted, no new trial starts, and :func:`run_trials`
    raises KeyboardInterrupt once the search has wound down; the final refit stops
    likewise. The handler of that signal then steps aside, so a second Ctrl-C interrupts
    at once and a second SIGTERM ends the process at once. The signal's message goes to
    stderr when it arrives, so the user knows it was heard (written with ``os.write``: a
    signal handler must not re-enter the buffered stream a progress line may be writing;
    a callable message is called then, to say what the stop leaves).
    Each signal is left alone where it does not have Python's default handling (ignored,
    or a handler of the caller's: a scheduler's own SIGTERM handling stays in charge), and
    both off the main thread, where signals cannot be handled: a KeyboardInterrupt there
    is recorded by the trial it hits (:class:`Objective`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    causes = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
    messages = {signal.SIGINT: ctrl_c_message, signal.SIGTERM: sigterm_message}
    ours = [s for s, default in defaults.items() if signal.getsignal(s) is default]

    def on_signal(signum: int, frame: Any) -> None:
        signal.signal(signum, defaults[signum])
        event.set_by(causes[signum])
        text = messages[signum]
        if callable(text):
            text = text()
        if text:
            with contextlib.suppress(OSError):
                os.write(2, f"\n{text}\n".encode())

    for signum in ours:
        signal.signal(signum, on_signal)
    try:
        yield
    finally:
        for signum in ours:
            signal.signal(signum, defaults[signum])


@contextmanager
def _one_ask_at_a_time(study: optuna.Study, n_jobs: int):
    """Serialise ``study.ask`` between this process's worker threads for the block.

    Optuna's RDB storage pops an enqueued (WAITING) trial by reading it and then marking
    it RUNNING, without a row lock on SQLite: two threads asking at once could both get
    the same portfolio trial (one then fails its `tell`; CI saw Optuna's own
    "Should not reach" assertion escape from that path once). One ask at a time lets the
    second thread see the trial as RUNNING and take the next one. Training is not
    serialised, only the ask."""
    if n_jobs <= 1:
        yield
        return
    lock = threading.Lock()
    ask = study.ask

    def locked_ask(*args: Any, **kwargs: Any) -> optuna.Trial:
        with lock:
            return ask(*args, **kwargs)

    study.ask = locked_ask  # an instance attribute: Optuna's workers call study.ask()
    try:
        yield
    finally:
        del study.ask


def _optimize(study: optuna.Study, objective: Objective, ctx: SearchContext, *,
              n_trials: int | None, n_jobs: int, patience: int | None, callback) -> None:
    budget = ctx.budget
    for _ in range(MAX_OPTIMIZE_RESTARTS + 1):
        if ctx.interrupt.is_set():
            return
        try:
            already = len(study.get_trials(deepcopy=False, states=DONE_STATES))
            converged = patience is not None and trials_since_best(study, ctx.started) >= patience
        except Exception as exc:  # a stalled Redis raised its raw TimeoutError here (review
            if is_storage_failure(exc):  # helper-84), where optimize's says how to resume
                raise _storage_stopped(exc) from exc
            raise
        remaining_trials = None if n_trials is None else n_trials - already
        if remaining_trials is not None and remaining_trials <= 0:
            return
        if converged:
            return
        if budget.search_remaining() <= 0:
            return
        # the bookkeeping measured from here (a trial-state race skipped a trial's callback:
        # the next trial's measure held its whole training; review helper-86)
        ctx.trained_s.clear()
        ctx.last_told = time.perf_counter()
        try:
            # The window's end is the callback's to say (run_trials' stop_when_done), after
            # each trial, as the final model's reserve follows the best trial: a timeout
            # fixed here kept the first reserve (10% of the budget), and searches whose refit
            # needed less ended 8-9% of their budget early (review helper-85). Optuna's
            # timeout is only the deadline, where no trial may start in any case.
            study.optimize(objective, n_trials=remaining_trials, timeout=budget.remaining(),
                           n_jobs=n_jobs, catch=(Exception,), callbacks=[callback])
            return
        except Exception as exc:
            if is_storage_failure(exc):  # asking for a trial, recording one, reading them
                raise _storage_stopped(exc) from exc
            # Parallel workers on one RDB study can race on a trial's state (a heartbeat
            # failing a trial that then reports, or workers of several processes popping
            # the same enqueued trial): Optuna raises from `tell`, outside the objective.
            # The study itself is consistent, so the search goes on with what is left of
            # the budget.
            if not (isinstance(exc, (ValueError, RuntimeError)) and _is_trial_state_race(exc)):
                raise
            log.debug("continuing the search after an Optuna trial-state race: %s", exc)


def _storage_stopped(exc: BaseException) -> StorageError:
    """The error a search stops with where its storage stopped answering (asking for a
    trial, recording one, reading the study): it ended in 600 lines of Optuna's and
    SQLAlchemy's tracebacks, from wherever the failure landed."""
    cause = _storage_cause(exc) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else "no message"
    if _disk_failure(cause):  # said as a dead server's, it named neither (review helper-87)
        return StorageError(
            f"the study's storage could not be written mid-search ({type(cause).__name__}: "
            f"{text}). The trials finished so far are in the study: free space on the disk "
            "that holds it (or make it writable), then fit again with the same storage and "
            "study_name (lepton run: the same command) to resume; a trial it cut off runs "
            "again.")
    return StorageError(
        f"the study's storage stopped answering mid-search ({type(cause).__name__}: "
        f"{text}). The trials finished "
        "so far are in the study: fit again with the same storage and study_name (lepton "
        "run: the same command) to resume; a trial it cut off runs again.")


#: a file storage's errors that are its disk's, not the search's: full, over quota,
#: read-only, failing
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})


def _disk_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a study file's disk failing: a journal's OSError, or SQLite's
    'database or disk is full' / 'disk I/O error' / 'attempt to write a readonly
    database'."""
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return True
    text = str(exc)
    return disk_full(text) or any(said in text.lower() for said in ("disk i/o error",
                                                                    "readonly database"))


def _is_trial_state_race(exc: BaseException) -> bool:
    text = str(exc)
    return "Cannot tell a" in text or "has already finished and can not be updated" in text
