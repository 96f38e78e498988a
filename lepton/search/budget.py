"""Budget control: plan and cut trials so the whole ``fit`` ends within ``time_budget``.

The budget is one wall-clock deadline for everything ``fit`` does. Out of it the search
reserves time for the final model; the reserve starts at 10% of the budget and is
re-estimated from the best trial's measured epoch time as trials finish
(``epoch_time * best_epoch * n_all / n_train`` times ``final_copies``: the final refit
trains that many seeds and averages them; plus a 20% margin, ``REFIT_MARGIN_S`` at least,
and ``FINAL_SLACK`` for the work after it), capped at ``MAX_RESERVE`` of the budget, so
fast data keeps most of the budget for searching. The search window ends where the reserve
now begins: it grows as the reserve shrinks. Each trial gets
``max_time`` = what is left of the search window, capped at a third of the window so one
slow configuration cannot eat the whole search (at ``1/k`` of it when ``n_trials`` leaves
only ``k < 3`` trials to run: a lone trial may use the whole window); the training loop
checks it after every batch. A trial the end of the window cuts with less than
``SHORT_SHARE`` of that cap (``is_short``) was not given what the others were: the search
records it as pruned. A fixed reserve (``add_fixed_reserve``: the tracker's end-of-search
logging) comes after the final model, which must not use it (``final_remaining``).
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["Budget"]


class Budget:
    """Thread-safe deadline bookkeeping for one ``fit`` call."""

    #: fraction of the budget held back for the final model before any trial has run
    INITIAL_RESERVE = 0.10
    #: the reserve never exceeds this fraction of the budget
    MAX_RESERVE = 0.35
    #: fixed slack for work after the search (predictions, ensemble selection, bookkeeping)
    MIN_SLACK_S = 0.05
    #: and a share of the budget for the same work after the final model (its validation
    #: against the ensemble's, predictions on the held-out rows)
    FINAL_SLACK = 0.02
    #: the least margin over a refit's estimated cost: the last trial's end past the
    #: window's and the ensemble selection before the refit come out of it (with 20% alone,
    #: iris' 0.43 s refit of three seeds had 0.427 s left, and trained two)
    REFIT_MARGIN_S = 0.25
    #: a trial may use at most this fraction of the search window
    TRIAL_SHARE = 1 / 3
    #: a trial given less than this share of a trial's cap was cut short by the window's end
    SHORT_SHARE = 0.9

    def __init__(self, time_budget: float, *, start: float | None = None,
                 clock=time.perf_counter, final_copies: int = 1):
        self.clock = clock
        self.final_copies = max(1, int(final_copies))
        self.start = clock() if start is None else start
        self.time_budget = float(time_budget)
        self.deadline = self.start + self.time_budget
        self._lock = threading.Lock()
        self.fixed_reserve = 0.0  # known costs after the search, e.g. logging to MLflow
        self.reserve = self.INITIAL_RESERVE * self.time_budget + self.MIN_SLACK_S
        self._window_start: float | None = None
        self._window: float | None = None
        self._trial_share = self.TRIAL_SHARE
        self._overheads: list[float] = []  # the last trials' bookkeeping (trial_overhead)

    # -- queries ---------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def final_remaining(self) -> float:
        """Seconds left for the final model: to the deadline, less the fixed reserve (the
        work after it, such as the tracker's end-of-search logging)."""
        with self._lock:
            return self.deadline - self.fixed_reserve - self.clock()

    def refit_remaining(self) -> float:
        """Seconds a final refit may take: to the deadline, less the fixed reserve and the
        slack for the work after the refit (the rest of :meth:`update_reserve`'s estimate)."""
        return self.final_remaining() - self.MIN_SLACK_S - self.FINAL_SLACK * self.time_budget

    def search_remaining(self) -> float:
        with self._lock:
            return self.deadline - self.reserve - self.clock()

    def open_search_window(self, trials: int | None = None) -> float:
        """Start the search; returns the seconds available to it. ``trials``: how many
        trials the search may still run (``n_trials`` less those a resumed study finished),
        None for no limit; fewer than three widen each trial's share of the window."""
        with self._lock:
            self._trial_share = (self.TRIAL_SHARE if trials is None
                                 else max(self.TRIAL_SHARE, 1 / max(1, trials)))
            self._window_start = self.clock()
            self._window = max(0.0, self.deadline - self.reserve - self._window_start)
            return self._window

    def trial_cap(self) -> float:
        """The most any trial may train: ``TRIAL_SHARE`` of the search window, or more when
        fewer than three trials are to run (no cap before the window opens)."""
        return math.inf if self._window is None else max(self._trial_share * self._window, 0.0)

    def trial_max_time(self) -> float:
        """Seconds the next trial may train (<= 0 means: do not start one): what the window
        has left less a trial's measured bookkeeping, which follows its training."""
        return min(self.search_remaining() - self.trial_overhead, self.trial_cap())

    def note_trial_overhead(self, seconds: float) -> None:
        """A finished trial's seconds outside its training. Unplanned, a slow study storage's
        round trips (25 ms each way: about 1.5 s a trial) ran each fit past its budget
        (review helper-84); the lower median of the last 5 trials, from the third on, so
        one pause is no rule (the upper of two was: review helper-86)."""
        with self._lock:
            self._overheads = [*self._overheads[-4:], max(0.0, float(seconds))]

    @property
    def trial_overhead(self) -> float:
        """Seconds a trial spends outside its training (sampling, the study storage's and
        the tracker's calls): see :meth:`note_trial_overhead`; 0 before the third trial."""
        noted = sorted(self._overheads)
        return noted[(len(noted) - 1) // 2] if len(noted) >= 3 else 0.0

    def is_short(self, max_time: float) -> bool:
        """Whether a trial given ``max_time`` seconds got markedly less than the cap
        because the search window was ending."""
        cap = self.trial_cap()
        return math.isfinite(cap) and max_time < self.SHORT_SHARE * cap

    # -- updates ---------------------------------------------------------------------
    def add_fixed_reserve(self, seconds: float) -> None:
        """Hold back ``seconds`` more for work after the search (tracking's final logging)."""
        with self._lock:
            self.fixed_reserve += max(0.0, seconds)
            self.reserve += max(0.0, seconds)

    def hold_fixed_reserve(self, seconds: float) -> None:
        """Hold back at least ``seconds`` for the work after the search, raising (never
        lowering) the fixed reserve: that work is re-estimated as the machine's load
        changes (processes that started after this fit, such as workers joining it)."""
        with self._lock:
            more = seconds - self.fixed_reserve
            if more > 0:
                self.fixed_reserve += more
                self.reserve += more

    def release_final_reserve(self, keep: float = 0.0) -> None:
        """The final model needs no training (an ensemble of trained trials): keep only
        the fixed reserve, ``keep`` seconds (its assembly's) and a little slack for
        predictions, give the rest to the search."""
        with self._lock:
            self.reserve = (self.fixed_reserve + keep + self.MIN_SLACK_S
                            + self.FINAL_SLACK * self.time_budget)

    def move_deadline(self, deadline: float) -> None:
        """Set the deadline (on ``clock``) to ``deadline``: a ``lepton worker`` follows the
        search window of the run it joined, which can end later (the run handed its final
        model's reserve to the search) or sooner (the run's search stopped)."""
        with self._lock:
            self.deadline = deadline

    def update_reserve(self, *, epoch_time: float, epochs: int, data_ratio: float,
                       search_kept: float = 0.0) -> None:
        """Re-estimate the final model's cost from a measured trial, with ``FINAL_SLACK``
        for the work after it (which a refit leaves to it: its time is
        :meth:`refit_remaining`). ``search_kept``: the share of the search time now left that
        a larger reserve must leave to the search (a resumed study's best trial, measured
        before the window opens: a budget that passed the checks is not to be refused for
        it)."""
        cost = epoch_time * max(1, epochs) * max(1.0, data_ratio) * self.final_copies
        estimate = (max(1.2 * cost, cost + self.REFIT_MARGIN_S) + self.MIN_SLACK_S
                    + self.FINAL_SLACK * self.time_budget)
        with self._lock:
            reserve = self.fixed_reserve + min(
                estimate, self.MAX_RESERVE * self.time_budget + self.MIN_SLACK_S)
            if search_kept > 0 and reserve > self.reserve:
                left = max(0.0, self.deadline - self.reserve - self.clock())
                reserve = min(reserve, self.reserve + (1 - search_kept) * left)
            self.reserve = reserve
