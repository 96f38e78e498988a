"""Heartbeats of running trials on journal storages (a journal file, Redis).

Optuna's RDB storages keep a heartbeat per running trial: a trial whose process died is
failed once its heartbeat is older than a grace period, and retried once
(``lepton.search._search._rdb``). Journal storages have no heartbeat in Optuna, so a trial
that was running when its process was killed stayed RUNNING for good: never scored, never
retried (a warm-start entry running at the kill was lost to the study). For them Lepton
writes its own heartbeat, the time as a user attribute of each running trial of the
process (:class:`TrialHeartbeat`), and each trial, as it starts, fails the trials whose
heartbeat went stale and retries each once with its parameters, as Optuna's own retry
callback does (:func:`fail_stale_trials`): a resumed search, or a worker beside one that
died, picks them up as Optuna does on RDB storages. A trial whose process ran on this
machine and is gone is failed at once, heartbeat or not (:func:`._search.process_gone`).

Beats and the staleness check read one clock (:func:`storage_clock`): on Redis the
server's, so workers on machines whose clocks disagree do not fail each other's live
trials (Optuna's RDB heartbeat reads the database's clock likewise); on a journal file the
local clock, so processes sharing a journal file over a network file system need clocks
that agree to within the grace period (30 s), as NTP keeps them.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import optuna

from . import _search
from ._search import FAIL_REASON, HEARTBEAT_ATTR

__all__ = ["HEARTBEAT_ATTR", "uses_lepton_heartbeat", "storage_clock", "TrialHeartbeat",
           "fail_stale_trials"]

log = logging.getLogger("lepton.search")


def uses_lepton_heartbeat(storage) -> bool:
    """True for the storages Optuna gives no heartbeat: journal file and Redis."""
    return isinstance(storage, optuna.storages.JournalStorage)


def storage_clock(storage) -> Callable[[], float]:
    """The clock a storage's heartbeats are read and written with: the Redis server's
    for Lepton's Redis journal, else this machine's ``time.time``."""
    server_time = getattr(storage, "server_time", None)
    return server_time if callable(server_time) else time.time


class TrialHeartbeat:
    """One thread per fit: every ``interval`` seconds it writes the time to each running
    trial of this process (``with heartbeat.beat(trial):`` around the trial)."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: float | None = None):
        self.storage = storage
        self.clock = storage_clock(storage)
        self.interval = _search.HEARTBEAT_INTERVAL_S if interval is None else interval
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TrialHeartbeat:
        self._thread = threading.Thread(target=self._run, name="lepton-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:  # a beat stuck on a storage that stopped answering
            self._thread.join(timeout=1.0)  # must not hold up the fit: the thread is a daemon

    @contextmanager
    def beat(self, trial: optuna.Trial) -> Iterator[None]:
        """Beat for ``trial`` while the block runs; first fail the trials of processes that
        stopped (as Optuna does for RDB storages when a trial starts)."""
        trial_id = trial._trial_id
        with self._lock:
            self._trials.add(trial_id)
            self._write(trial_id)
        try:
            fail_stale_trials(trial.study)
        except Exception as exc:  # noqa: BLE001 - the next trial's start tries again
            log.debug("stale trials not checked: %s", exc)
        try:
            yield
        finally:  # before Optuna tells the trial's state: no beat lands on a finished trial
            with self._lock:
                self._trials.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                for trial_id in list(self._trials):
                    self._write(trial_id)

    def _write(self, trial_id: int) -> None:
        try:
            self.storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, self.clock())
        except Exception as exc:  # noqa: BLE001 - a missed beat must not stop the trial
            log.debug("heartbeat of trial id %s not written: %s", trial_id, exc)


def fail_stale_trials(study: optuna.Study, *, grace: float | None = None,
                      now: float | None = None) -> list[int]:
    """Fail the running trials whose heartbeat (or, without one, start) is older than
    ``grace`` seconds (default: the RDB storages' grace period), and at once those whose
    process ran on this machine and is gone (:func:`._search.process_gone`). Each is
    retried once as a new trial with its parameters (:func:`._search.retry_trial`, as
    Optuna's RDB storages do). Returns the numbers of the trials this call failed; one
    another process failed first is skipped (it retries it).
    ``now`` defaults to the storage's clock (:func:`storage_clock`)."""
    storage = study._storage
    now = storage_clock(storage)() if now is None else now
    grace = _search.HEARTBEAT_GRACE_S if grace is None else grace
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # its last beat (the storage's clock), or before the first (written as the trial
        # starts) its start (the starting machine's clock). The newest of the two counted,
        # as a retry carried the stale beat of the trial it copied (no longer copied): a
        # machine whose clock ran 600 s ahead kept its dead trial running for 600 s.
        beat = trial.user_attrs.get(HEARTBEAT_ATTR)
        last = beat if beat is not None else (
            trial.datetime_start.timestamp() if trial.datetime_start else None)
        gone = _search.process_gone(trial)
        if gone is None and (last is None or now - last <= grace):
            continue
        snapshot = copy.deepcopy(trial)  # what the retry copies: before the reason is set
        reason = (_search.stopped_reason(gone) if gone is not None else
                  _search.stopped_reason(_search.trial_process_label(trial),
                                         f"no heartbeat for {now - last:.0f}s"))
        try:
            storage.set_trial_user_attr(trial._trial_id, FAIL_REASON, reason)
            if not storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL):
                continue
        except RuntimeError as exc:  # another process failed it first, and retries it
            log.debug("stale trial %d already handled: %s", trial.number, exc)
            continue
        _search.retry_trial(study, snapshot, max_retry=1)
        failed.append(trial.number)
    if failed:
        log.info("trials %s were left running by a process that stopped: failed, and retried "
                 "unless a retry themselves", failed)
    return failed
