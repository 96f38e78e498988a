"""Validation metrics of the search, on scikit-learn's implementations.

Each metric takes ``(y_true, prediction)`` where the prediction is class probabilities
(n_samples, n_classes) for classification and values in the target's own units
(n_samples, n_outputs) for regression; ``y_true`` is class indices or the raw targets;
optional ``sample_weight`` (row weights, None for equal ones) is passed on to
scikit-learn's function. A multilabel target (``y_true`` a 0/1 column per label, the
prediction each label's probability) is scored as scikit-learn scores one: accuracy of
whole rows (every label right), f1_macro and roc_auc averaged over the labels, f1_micro
of every row's every label pooled, f1_samples each row's F1 averaged over the rows, log
loss each label's binary log loss, averaged; a label is predicted where its probability
is at least 1/2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn import metrics as skm

__all__ = ["Metric", "METRICS", "get_metric", "balanced_decision", "class_frequencies",
           "label_thresholds"]

#: the thresholds label_thresholds chooses from, nearest 1/2 first (ties keep the nearest)
THRESHOLDS = sorted(np.round(np.arange(0.05, 0.96, 0.05), 2), key=lambda t: abs(t - 0.5))


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    direction: str  # 'maximize' | 'minimize'
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]  # (y, pred, weights)
    # Which training-loop record field tracks this metric epoch by epoch (for pruning):
    # 'val_score' (accuracy / R^2, higher is better) or 'val_loss' (lower is better).
    epoch_field: str
    # Classification metrics of predicted classes rather than of probabilities.
    of_labels: bool = False
    # The predicted class may divide out the class prior (balanced_decision) instead of
    # being the most probable one, when that validates better.
    prior_corrected: bool = False
    # Whether ``epoch_field`` is this metric itself (accuracy, R^2, log loss) rather than a
    # stand-in (the loss for roc_auc, rmse, mae; accuracy for balanced_accuracy, f1_macro):
    # only then is a pruned trial's last epoch report a score in the metric's units.
    epoch_is_metric: bool = False
    # A regression's training loss (lepton.training.REGRESSION_LOSSES): squared errors, or
    # for mae absolute errors. Trained on squared errors, a search for mae was no more
    # robust to outlying targets than one for r2: on a linear table with 1% of the training
    # targets off by 1e4, held-out MAE 34.6-40.2 (HistGradientBoosting's absolute error
    # 0.48-0.55); on absolute errors 0.28-0.35. Heavy-tailed noise (friedman1 + Student-t
    # of 1.2 degrees of freedom): 2.72-3.42 -> 1.85-3.15, better on 3 splits of 3; on
    # diabetes and california_synthetic 2 better and 4 worse, by up to 5.2% (diabetes'
    # 45.00 -> 47.35). Huber's loss (delta 1 on the standardised target) kept the
    # outliers' harm (7.6-8.5): 1% of targets off by 1e4 make the standard deviation ~1e3.
    # 20 s, splits 0-2: benchmarks/dev/mae_loss.py, benchmarks/results/dev/mae_loss_stop36.jsonl
    loss: str = "squared_error"
    #: the class shares a prior-corrected metric divides by (``with_prior``): a search's,
    #: those of the rows it fits, as ``predict``'s (``class_prior_``); None: the scored
    #: rows' own
    prior: np.ndarray | None = field(default=None, compare=False)

    def with_prior(self, prior: np.ndarray) -> Metric:
        """This metric, dividing by ``prior`` where it is prior-corrected."""
        return replace(self, prior=np.asarray(prior, dtype=np.float64))

    def __call__(self, y_true: np.ndarray, pred: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> float:
        """The metric of ``pred`` as the search scores it. A prior-corrected metric scores
        the better of the two decisions on these rows (the most probable class, or the one
        over the class shares: ``prior``, else ``y_true``'s); a fitted model keeps the
        decision that validated better (``LeptonClassifier.decision_``). A search gives
        the shares of the rows it fits, which ``predict`` divides by: the validation rows'
        own used their labels, and where their shares differ (forward splits of drifting
        classes) scored a decision ``predict`` never makes (review helper-69)."""
        score = float(self.fn(y_true, pred, sample_weight))
        if self.prior_corrected:
            prior = (class_frequencies(y_true, pred.shape[1], sample_weight)
                     if self.prior is None else self.prior)
            # a class these rows lack can only be wrong here: never the corrected decision
            # (its share, 0, made it the decision on almost every row, and scikit-learn
            # warned at each call that y_pred holds classes y_true does not)
            prior = np.where(prior > 0, prior, np.inf)
            score = max(score, self.of_predicted(y_true, balanced_decision(pred, prior),
                                                 pred.shape[1], sample_weight))
        return score

    def of_predicted(self, y_true: np.ndarray, labels: np.ndarray, n_classes: int,
                     sample_weight: np.ndarray | None = None) -> float:
        """The metric of predicted class indices (``predict``'s, as decided)."""
        return float(self.fn(y_true, np.eye(n_classes)[labels], sample_weight))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


def class_frequencies(y: np.ndarray, n_classes: int,
                      sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Each class's share of the rows (of their weight, with ``sample_weight``)."""
    counts = np.bincount(y, weights=sample_weight, minlength=n_classes)
    return counts / max(counts.sum(), 1e-300)


def balanced_decision(proba: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The class that maximises p(class | x) / p(class): the decision that maximises
    expected balanced accuracy (each class's recall weighs the same), where the most
    probable class favours the majority. On 3,000-row tables with 3% positives, 30 s
    balanced-accuracy searches (benchmarks/dev/imbalanced_metric.py, splits 100-105), the
    held-out balanced accuracy went from a median of 0.654 (two splits at 0.5: every row
    called the majority) to 0.820, better on 6 of 6 splits (class-weighted logistic
    regression 0.771, gradient boosting 0.702); 0.819 with the decision kept only where it
    validates better (LeptonClassifier._decision), as it is now."""
    return (proba / np.maximum(prior, 1e-12)).argmax(1)


def _labels(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Predicted class indices, or for a multilabel ``y`` (2-D) each label's 0/1."""
    return (p >= 0.5).astype(y.dtype) if y.ndim == 2 else p.argmax(1)


def _log_loss(y, p, w=None):
    if y.ndim == 2:  # each label's binary log loss, averaged (the training's eval loss)
        p = np.clip(p, 1e-15, 1 - 1e-15)
        rows = -(y * np.log(p) + (1 - y) * np.log1p(-p)).mean(1)
        return float(np.average(rows, weights=w))
    return skm.log_loss(y, np.clip(p, 1e-15, 1), labels=np.arange(p.shape[1]),
                        sample_weight=w)


def label_thresholds(proba: np.ndarray, y: np.ndarray,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Each label's decision threshold for macro F1 (multilabel): of ``THRESHOLDS``, the
    one whose F1 of that label on these rows (validation predictions ``proba``, 0/1 ``y``)
    is highest; among equals the nearest 1/2, which a label with no positive row keeps.
    Where labels are rare, 1/2 calls too few of them: on two synthetic tag tables
    (benchmarks/dev/multilabel_thresholds.py, 30 s searches for f1_macro, 3 splits each)
    the held-out macro F1 went from 0.604/0.588/0.682 and 0.454/0.455/0.504 with 1/2 to
    0.623/0.651/0.695 and 0.544/0.544/0.593 with the tuned thresholds (0.05-0.45)."""
    chosen = []
    for j in range(y.shape[1]):
        scores = [skm.f1_score(y[:, j], proba[:, j] >= t, sample_weight=sample_weight,
                               zero_division=0.0) for t in THRESHOLDS]
        chosen.append(THRESHOLDS[int(np.argmax(scores))])
    return np.array(chosen)


def _f1_micro(y, p, w=None):
    """F1 of every label of every row pooled (multilabel); of one class per row, the
    accuracy (scikit-learn's micro average over the classes)."""
    return skm.f1_score(y, _labels(y, p), average="micro", sample_weight=w, zero_division=0.0)


def _f1_samples(y, p, w=None):
    """Each row's F1 of its labels, averaged over the rows (a row with no label, predicted
    with none, scores 0, as scikit-learn's 'f1_samples' scorer scores it). Of one class
    per row (which scikit-learn's 'samples' average refuses), the F1 of the rows' one-hot
    classes: 1 where the class is right, else 0, the accuracy."""
    if y.ndim == 1:
        one_hot = np.eye(p.shape[1], dtype=int)
        y, p = one_hot[y], one_hot[p.argmax(1)]
    return skm.f1_score(y, _labels(y, p), average="samples", sample_weight=w,
                        zero_division=0.0)


def _balanced_accuracy(y, p, w=None):
    # validation rows of one class, or without a class predicted: scikit-learn's "A single
    # label was found" and "y_pred contains classes not in y_true" reached the user's fit
    # output, up to 8 a fit, about rows the search picked (review helper-47)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return skm.balanced_accuracy_score(y, p.argmax(1), sample_weight=w)


def _roc_auc(y, p, w=None):
    """Two classes: the AUC of class 1. More: each class against the rest, averaged over
    the classes ``y`` holds (scikit-learn's 'ovr' macro average is NaN as soon as one
    class is missing from the rows scored: a rare class absent from a held-out split
    failed every trial). Multilabel: each label's AUC, averaged over the labels both
    present and absent in the rows scored."""
    if y.ndim == 2:
        scored = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
        if not scored:
            return math.nan
        return float(np.mean([skm.roc_auc_score(y[:, j], p[:, j], sample_weight=w)
                              for j in scored]))
    if p.shape[1] == 2:
        return skm.roc_auc_score(y, p[:, 1], sample_weight=w)
    present = np.unique(y)
    if len(present) < 2:
        return math.nan
    return float(np.mean([skm.roc_auc_score(y == c, p[:, c], sample_weight=w)
                          for c in present]))


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", "classification", "maximize",
           lambda y, p, w=None: skm.accuracy_score(y, _labels(y, p), sample_weight=w),
           "val_score", of_labels=True,
           epoch_is_metric=True),
    Metric("balanced_accuracy", "classification", "maximize", _balanced_accuracy, "val_score",
           of_labels=True, prior_corrected=True),
    Metric("f1_macro", "classification", "maximize",
           lambda y, p, w=None: skm.f1_score(y, _labels(y, p), average="macro",
                                             sample_weight=w, zero_division=0.0),
           "val_score",
           of_labels=True),
    # multilabel's F1 of all labels pooled, and of each row (search with 1/2 each label's
    # threshold: f1_macro's tuned thresholds, label_thresholds, are each label's own F1's)
    Metric("f1_micro", "classification", "maximize", _f1_micro, "val_score", of_labels=True),
    Metric("f1_samples", "classification", "maximize", _f1_samples, "val_score",
           of_labels=True),
    Metric("roc_auc", "classification", "maximize", _roc_auc, "val_loss"),
    Metric("log_loss", "classification", "minimize", _log_loss, "val_loss",
           epoch_is_metric=True),
    Metric("r2", "regression", "maximize",
           lambda y, p, w=None: skm.r2_score(y, p, sample_weight=w), "val_score",
           epoch_is_metric=True),
    Metric("rmse", "regression", "minimize",
           lambda y, p, w=None: skm.root_mean_squared_error(y, p, sample_weight=w), "val_loss"),
    Metric("mae", "regression", "minimize",
           lambda y, p, w=None: skm.mean_absolute_error(y, p, sample_weight=w), "val_loss",
           loss="absolute_error"),
]}


#: metrics of several labels per row: of one class per row each is the accuracy, and they
#: are offered for multilabel targets only (get_metric's error)
MULTILABEL_METRICS = ("f1_micro", "f1_samples")


def get_metric(name: str | None, task: str, *, param: str = "metric") -> Metric:
    """The metric named ``name`` (None: the task's default, accuracy or r2). An unknown
    one is refused naming the task's metrics (and ``param``, the argument that gave it);
    a classification's in two lists, one class per row and a multilabel target's (which a
    prior-corrected metric, balanced_accuracy, refuses: the list named it to the users of
    f1_samples)."""
    if name is None:
        name = "accuracy" if task == "classification" else "r2"
    metric = METRICS.get(name)
    if metric is None or metric.task != task:
        ok = sorted(n for n, m in METRICS.items() if m.task == task
                    and n not in MULTILABEL_METRICS)
        several = sorted(n for n, m in METRICS.items() if m.task == task
                         and not m.prior_corrected)
        also = (f"; for a multilabel y (a 0/1 column per label) one of {', '.join(several)}"
                if task == "classification" else "")
        ours = SCORER_NAMES.get(name)
        then = (f"best_score_ is then the {ours} itself, lower is better" if param == "metric"
                else f"a column's importance is then how much the {ours} rises")
        hint = (f" (scikit-learn's scorer {name!r} ranks models as {ours!r} does; Lepton's "
                f"scores keep their sign: {then})"
                if ours is not None and METRICS[ours].task == task else "")
        raise ValueError(f"{param}={name!r} is not a {task} metric; choose one of "
                         f"{', '.join(ok)}{also}{hint}.")
    return metric


#: scikit-learn scorer names a user of its API may give, and the metric that ranks models
#: alike (mean squared error orders them as its root does)
SCORER_NAMES = {"neg_mean_squared_error": "rmse", "neg_root_mean_squared_error": "rmse",
                "neg_mean_absolute_error": "mae", "neg_log_loss": "log_loss"}
