"""The tracking contract of the search loop.

Call order for one ``fit``: ``start_search`` -> (``start_trial`` -> ``log_epoch``* ->
``end_trial``)* -> ``end_search`` (or ``fail_search``), then optionally
``log_test_metrics``. ``start_trial`` / ``log_epoch`` / ``end_trial`` are called
concurrently from several threads for different trials when ``n_jobs > 1``:
implementations key everything by ``trial_number`` and never rely on thread-local state.
Every method takes ``**kwargs`` so the loop can pass more context later.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SearchTracker"]


class SearchTracker:
    """No-op tracker: what ``fit`` uses when tracking is not requested."""

    enabled = False

    def start_search(self, *, study_name: str, meta_features: dict, search_space: dict,
                     settings: dict, **kwargs: Any) -> None:
        pass

    def start_trial(self, trial_number: int, *, params: dict, model_config: dict,
                    training_config: dict, **kwargs: Any) -> None:
        pass

    def log_epoch(self, trial_number: int, record: dict, **kwargs: Any) -> None:
        pass

    def end_trial(self, trial_number: int, *, state: str, value: float | None, duration: float,
                  reason: str | None = None, **kwargs: Any) -> None:
        pass

    def end_search(self, *, estimator: Any, X_sample: Any, study: Any, leaderboard: Any,
                   final: dict, holdout: tuple | None = None, **kwargs: Any) -> None:
        pass

    def fail_search(self, *, error: BaseException, **kwargs: Any) -> None:
        pass

    def log_test_metrics(self, metrics: dict, **kwargs: Any) -> None:
        pass
