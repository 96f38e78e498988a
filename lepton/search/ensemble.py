"""Greedy ensemble selection with replacement (Caruana et al. 2004, "Ensemble selection
from libraries of models"), on the validation predictions of the top trials.

Accuracy-like metrics tie often on small validation sets (on wine's 133 out-of-fold rows
most good trials score 1.0): a ``tiebreak`` metric, log loss for classification, orders
predictions the main metric cannot tell apart, so the ensemble can still grow where it
makes the averaged probabilities better calibrated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .metrics import Metric

__all__ = ["greedy_ensemble_selection", "rank_key"]


def rank_key(metric: Metric, tiebreak: Metric | None, y_true: np.ndarray,
             prediction: np.ndarray,
             sample_weight: np.ndarray | None = None) -> tuple[float, float]:
    """A sort key, larger is better: the metric first, then the tie-break metric (both
    weighted by ``sample_weight``, the validation rows' weights, where given)."""
    def oriented(m: Metric) -> float:
        value = m(y_true, prediction, sample_weight)
        return value if m.direction == "maximize" else -value

    return oriented(metric), (oriented(tiebreak) if tiebreak is not None else 0.0)


def greedy_ensemble_selection(predictions: Sequence[np.ndarray], y_true: np.ndarray,
                              metric: Metric, *, rounds: int,
                              tiebreak: Metric | None = None,
                              start: Sequence[int] | None = None,
                              sample_weight: np.ndarray | None = None,
                              ) -> tuple[dict[int, float], float]:
    """Pick members (with replacement) that improve the metric of the averaged prediction
    (or, at an equal metric, the ``tiebreak`` metric), ``rounds`` picks at most.

    Returns ``(weights, score)``: weights by candidate index (summing to 1) and the
    validation score (``metric``) of the weighted average. Starts from the best single
    candidate, or from the candidates ``start`` names (each one pick), and stops early when
    no addition improves it. ``sample_weight``: the rows' weights in every score.
    """
    if not predictions:
        raise ValueError("greedy_ensemble_selection needs at least one candidate.")
    if start is None:
        keys = [rank_key(metric, tiebreak, y_true, p, sample_weight) for p in predictions]
        first = max(range(len(keys)), key=keys.__getitem__)
        chosen, best_key = [first], keys[first]
        total = predictions[first].astype(np.float64)  # a copy
    else:
        chosen = [i for i in start if i < len(predictions)]
        total = np.sum([predictions[i] for i in chosen], axis=0, dtype=np.float64)
        best_key = rank_key(metric, tiebreak, y_true, total / len(chosen), sample_weight)
    for _ in range(max(0, rounds - len(chosen))):
        k = len(chosen) + 1
        trial_keys = [rank_key(metric, tiebreak, y_true, (total + p) / k, sample_weight)
                      for p in predictions]
        j = max(range(len(trial_keys)), key=trial_keys.__getitem__)
        if not trial_keys[j] > best_key:
            break
        chosen.append(j)
        total += predictions[j]
        best_key = trial_keys[j]
    counts = Counter(chosen)
    score = best_key[0] if metric.direction == "maximize" else -best_key[0]
    return {i: c / len(chosen) for i, c in counts.items()}, float(score)
