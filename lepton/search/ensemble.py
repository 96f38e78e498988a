"""Greedy ensemble selection with replacement (Caruana et al. 2004, "Ensemble selection
from libraries of models"), on the validation predictions of the top trials."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .metrics import Metric

__all__ = ["greedy_ensemble_selection"]


def greedy_ensemble_selection(predictions: Sequence[np.ndarray], y_true: np.ndarray,
                              metric: Metric, *, rounds: int) -> tuple[dict[int, float], float]:
    """Pick members (with replacement) that improve the metric of the averaged prediction.

    Returns ``(weights, score)``: weights by candidate index (summing to 1) and the
    validation score of the weighted average. Starts from the best single candidate and
    stops early when no addition improves the score.
    """
    if not predictions:
        raise ValueError("greedy_ensemble_selection needs at least one candidate.")
    scores = [metric(y_true, p) for p in predictions]
    best_i = int(np.argmax(scores) if metric.direction == "maximize" else np.argmin(scores))
    chosen = [best_i]
    total = predictions[best_i].astype(np.float64).copy()
    best_score = scores[best_i]
    for _ in range(max(0, rounds - 1)):
        k = len(chosen) + 1
        trial_scores = [metric(y_true, (total + p) / k) for p in predictions]
        j = int(np.argmax(trial_scores) if metric.direction == "maximize"
                else np.argmin(trial_scores))
        if not metric.better(trial_scores[j], best_score):
            break
        chosen.append(j)
        total += predictions[j]
        best_score = trial_scores[j]
    counts = Counter(chosen)
    return {i: c / len(chosen) for i, c in counts.items()}, float(best_score)
