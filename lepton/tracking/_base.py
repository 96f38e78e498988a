"""The tracker contract: what the search loop tells a tracker, and when.

Call order, for one ``fit`` of a search estimator::

    start_search(...)                       # once, before the first trial
    start_trial(n, ...)                     # per trial ...
        log_epoch(n, record)                #   ... once per epoch (of the first fold)
        log_fold(n, fold=k, score=...)      #   ... once per fold trained to its end
    end_trial(n, state=..., ...)            #   ... once, whatever happened
    end_search(...)  or  fail_search(...)   # once
    log_test_metrics(...)                   # optionally, any time after end_search

Thread safety: ``start_trial`` / ``log_epoch`` / ``log_fold`` / ``end_trial`` are called
concurrently from several threads for *different* trial numbers (``n_jobs > 1``); an
implementation keys all per-trial state by trial number and never relies on thread-local
state. The other methods are called from the thread that runs ``fit``.

Every method takes ``**kwargs`` so the search loop can pass new information without
breaking existing trackers. :class:`SearchTracker` itself records nothing: it is what
``make_tracker`` returns when tracking was not asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SearchTracker", "TrackingError"]


class TrackingError(RuntimeError):
    """The tracking store is unreachable or misconfigured (raised before training starts)."""


class SearchTracker:
    """No-op tracker; subclass and override what you need."""

    enabled = False
    #: Seconds ``end_search`` is expected to take; the search reserves them in its budget
    #: so that ``fit`` including tracking ends inside ``time_budget``.
    finalize_seconds = 0.0

    def start_search(self, *, study_name: str, meta_features: dict, search_space: dict,
                     settings: dict, study_uid: str | None = None, **kwargs: Any) -> None:
        """A search starts (or resumes: same ``study_name`` and ``settings['storage']``,
        and the same ``study_uid``, the persistent study's identity, where it has one)."""

    def start_trial(self, trial_number: int, *, params: dict, model_config: dict,
                    training_config: dict, **kwargs: Any) -> None:
        """Trial ``trial_number`` starts with the sampled ``params`` and resolved configs."""

    def log_epoch(self, trial_number: int, record: dict, **kwargs: Any) -> None:
        """One training-loop record: epoch, train_loss, val_loss, val_score, lr, elapsed,
        epoch_time. With cross-validation, the first fold's epochs only."""

    def log_fold(self, trial_number: int, *, fold: int, score: float, **kwargs: Any) -> None:
        """Fold ``fold`` (0, 1, ...; 0 alone without cross-validation) ended training with
        validation score ``score`` (the val_score of the weights it kept)."""

    def end_trial(self, trial_number: int, *, state: str, value: float | None,
                  duration: float, reason: str | None = None, **kwargs: Any) -> None:
        """``state`` is 'complete', 'pruned', 'failed' or 'interrupted' (Ctrl-C or SIGTERM);
        ``reason`` says why for all but the first. Keyword ``epochs`` (trained, over all
        folds), ``best_epoch`` and ``status`` (the training loop's) come where the trial
        got that far (None otherwise)."""

    def leave_search(self) -> None:
        """A ``lepton worker``'s end: its trials are recorded; the search's own record is
        the run's to finish (:meth:`MLflowTracker.join_search`)."""

    def end_search(self, *, estimator: Any, X_sample: Any, study: Any, leaderboard: Any,
                   final: dict, holdout: tuple | None = None, **kwargs: Any) -> None:
        """The search finished: ``estimator`` is fitted, ``final`` describes its choice
        ('refit' or 'ensemble') and validation score, ``holdout`` is ``(y_true, y_pred)``."""

    def fail_search(self, *, error: BaseException, **kwargs: Any) -> None:
        """The search raised ``error``; no model is logged or promoted."""

    def log_test_metrics(self, metrics: dict, **kwargs: Any) -> None:
        """Held-out test metrics of the final model, computed by the caller after ``fit``."""

    def tag_search(self, tags: dict[str, str]) -> None:
        """Tags on the search's record, set by the caller after ``fit`` (e.g. the Prefect
        flow run that ran it)."""

    def log_table(self, frame: Any, artifact_file: str) -> None:
        """A table (a DataFrame) kept with the search's record as ``artifact_file`` (a
        .csv), computed by the caller after ``fit`` (e.g. the column importances)."""
