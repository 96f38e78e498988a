"""Which input columns a fitted model relies on: permutation importance on held-out rows.

A network has no built-in importances; the model-agnostic measure is how much its score
drops when one column's values are shuffled across the rows (scikit-learn's
``permutation_importance``, which does the shuffling and scoring). Lepton's models take
the raw table and preprocess it themselves, so the importances are those of the columns
as given (a date or text column counts once, not as the numbers made of it).

>>> import numpy as np
>>> from lepton import NeuralNetworkClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(600, 3))
>>> y = (X[:, 1] > 0).astype(int)  # only the column x1 decides
>>> clf = NeuralNetworkClassifier(epochs=30, random_state=0).fit(X[:400], y[:400])
>>> table = permutation_importances(clf, X[400:], y[400:])
>>> list(table.columns), table.feature[0], bool(table.importance[0] > 0.3)
(['feature', 'importance', 'std'], 'x1', True)
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._warn import DataWarning

__all__ = ["permutation_importances", "format_importances", "metric_scoring"]

#: held-out rows scored per shuffle at most (a fixed random sample of larger sets): the
#: cost is (columns x repeats + 1) predictions of these rows
MAX_ROWS = 2000


#: rows of shuffled copies predicted in one call at most: a prediction's cost per call
#: (preprocessing, each network of an ensemble) is shared by the copies of several
#: columns, while very large calls cost a CNN more per row. Two shuffles of every column,
#: a call per column / at most 2,048 / 8,192 / 50,000 rows a call: an ensemble on 200
#: columns, 150 rows, 46.3 / 7.5 / 5.6 / 6.0 s; a CNN ensemble on digits' 64 pixels, 450
#: rows, 12.8 / 12.0 / 19.2 / 20.6 s (one run each, 2 cores)
CHUNK_ROWS = 2048


def permutation_importances(model: Any, X: Any, y: Any, *, scoring: Any = None,
                            sample_weight: Any = None, n_repeats: int = 5,
                            max_rows: int = MAX_ROWS, random_state: int = 0,
                            time_limit: float | None = None) -> pd.DataFrame:
    """How much worse the model scores (weighted by ``sample_weight`` where given) when
    each column of ``X`` is shuffled, averaged over ``n_repeats`` shuffles, on at most
    ``max_rows`` rows of ``X`` (held-out rows: on the training rows a network's reliance on
    noise looks like importance). The shuffled copies of all columns are predicted
    together, a few calls of ``model.predict`` (or ``predict_proba``) a shuffle.

    ``scoring``: None, the model's own score (``model.score``: accuracy for a classifier,
    R^2 for a regressor); the name of one of Lepton's metrics, as ``metric=`` names them
    (``'roc_auc'``, ``'log_loss'``, ``'rmse'``, ...), scored as the search scores
    validation: these see a column that moves the probabilities but seldom the predicted
    class, which accuracy barely shows; for a metric where lower is better (``rmse``,
    ``log_loss``) the importance is how much it rises; or a scikit-learn scorer,
    ``scoring(model, X, y)`` (greater is better; a shuffled copy at a time).

    ``time_limit`` (seconds): fewer shuffles per column, down to one, and then fewer rows,
    down to 200, where a shuffle of every column would take longer.

    Returns a DataFrame sorted by importance, one row per column: ``feature`` (the
    DataFrame's column name; for an array, the names the model was fitted with, else
    ``x0``, ``x1``, ...), ``importance`` (the mean worsening; near 0 or below: the model
    does not use the column, or another column carries the same information) and ``std``
    (over the shuffles); ``table.attrs`` holds the ``rows`` scored, the ``repeats`` made,
    the ``baseline`` score of the rows unshuffled, the ``scoring`` (a metric's name, or
    None) and ``lower_is_better`` (the metric's direction).
    """
    if sp.issparse(X):
        raise ValueError("permutation importances need a dense table (one shuffle per "
                         "column); X is a sparse matrix.")
    if n_repeats < 1 or max_rows < 2:
        raise ValueError(f"n_repeats={n_repeats} and max_rows={max_rows}: need n_repeats "
                         ">= 1 and max_rows >= 2.")
    frame = X if isinstance(X, pd.DataFrame) else None
    if frame is None:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(f"X must be a table (2-D: rows x columns); got shape "
                             f"{array.shape}.")
        known = getattr(model, "feature_names_in_", None)
        if known is not None and len(known) == array.shape[1]:  # the model's names (and
            frame = pd.DataFrame(array, columns=list(known))  # none of its warnings)
    X = frame if frame is not None else array
    names = ([str(c) for c in frame.columns] if frame is not None
             else [f"x{i}" for i in range(array.shape[1])])
    from .estimators._base import _values

    y = _values(y) if isinstance(y, pd.DataFrame) else np.asarray(y)  # 0/1 and bool labels
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows and y {len(y)}: give the labels of the "
                         "rows scored.")
    _check_labels(model, y)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    predict, metric = model.predict, None
    if scoring is None:
        score = _scorer(model)
    elif isinstance(scoring, str):
        X, y, w, predict, score, metric = metric_scoring(
            model, scoring, X, y, w, what=f"column importances ({scoring})", param="scoring")
    elif callable(scoring):
        score = None
    else:
        raise ValueError(f"scoring={scoring!r}: give None (the model's own score), the name "
                         "of one of Lepton's metrics ('roc_auc', 'rmse', ...) or a "
                         "scikit-learn scorer, a function (model, X, y) -> score.")
    if len(y) > max_rows:
        X, y, w = _sample_rows(X, y, w, max_rows, random_state)
    sign = -1.0 if metric is not None and metric.direction == "minimize" else 1.0
    if time_limit is not None:
        started = time.perf_counter()
        per_round = _round_seconds(predict, X, len(names), together=score is not None)
        left = time_limit - (time.perf_counter() - started)  # what the timing itself took
        n_repeats = max(1, min(n_repeats, int(left / max(per_round, 1e-9))))
        if per_round > time_limit and len(y) > 200:
            keep = max(200, int(len(y) * time_limit / per_round))
            X, y, w = _sample_rows(X, y, w, keep, random_state)

    def score_rows(rows) -> float:  # its own score (a grid search's refuses sample_weight=None)
        given = {} if w is None else {"sample_weight": w}
        if scoring is None:
            return float(model.score(rows, y, **given))
        return float(scoring(model, rows, y, **given))

    baseline = score(y, predict(X), w) if score is not None else score_rows(X)
    rng = np.random.default_rng(random_state)
    drops = np.empty((len(names), n_repeats))
    for r in range(n_repeats):
        if time_limit is not None and r and (time.perf_counter() - started) / r * (r + 1) \
                > time_limit:  # the shuffles made so far say the next one would not fit
            drops, n_repeats = drops[:, :r], r
            break
        orders = [rng.permutation(len(y)) for _ in names]
        if score is None:  # its own score, a copy at a time
            for j, order in enumerate(orders):
                drops[j, r] = baseline - score_rows(_stack(X, [(j, order)]))
            continue
        for j, pred in _shuffled_predictions(predict, X, orders):
            drops[j, r] = sign * (baseline - score(y, pred, w))
    table = pd.DataFrame({"feature": names, "importance": drops.mean(axis=1),
                          "std": drops.std(axis=1)})
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs.update(rows=len(y), repeats=n_repeats, baseline=float(baseline),
                       scoring=None if metric is None else metric.name,
                       lower_is_better=sign < 0)
    return table


def metric_scoring(model: Any, name: str, X: Any, y: Any, sample_weight: Any = None, *,
                   task: str | None = None, what: str = "held-out scores",
                   param: str = "metric"):
    """How the search's metric ``name`` scores ``model`` on the rows ``(X, y)``, as it
    scored validation: ``(X, y, w, predict, score, metric)``, the rows to score, their
    targets as the metric takes them (class indices, a 0/1 column per label, values),
    their weights, ``predict(X)`` (labels or probabilities, as the metric scores them) and
    ``score(y, prediction, w)``.

    A class the model never saw (new in the latest rows) counts as wrong for a metric of
    labels; a metric of probabilities cannot score it (the model gives it none): such
    rows are left out, with a warning that begins with ``what`` (what is scored).
    ``task``: the model's ('classification' where it has ``classes_``, else
    'regression'); ``param``: the argument that named the metric, for the errors.
    """
    from .search.metrics import get_metric

    if task is None:
        task = "classification" if getattr(model, "classes_", None) is not None \
            else "regression"
    metric = get_metric(name, task, param=param)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if task == "regression":
        def values(rows):
            pred = np.asarray(model.predict(rows))
            return pred.reshape(len(pred), -1)
        return X, np.asarray(y), w, values, metric, metric
    if not metric.of_labels and not hasattr(model, "predict_proba"):
        raise ValueError(f"{param}={name!r} scores probabilities, which this "
                         f"{type(model).__name__} does not give (no predict_proba): choose a "
                         "metric of labels (accuracy, balanced_accuracy, f1_macro).")
    if getattr(model, "multilabel_", False):  # a 0/1 column per label
        given = model.predict if metric.of_labels else model.predict_proba
        return (X, np.asarray(y, dtype=np.float64), w,
                lambda rows: np.asarray(given(rows), dtype=np.float64), metric, metric)
    classes, y_all = model.classes_, np.asarray(y)
    if y_all.ndim == 2 and y_all.shape[1] == 1:  # a frame of one label column
        y_all = y_all[:, 0]
    if isinstance(classes, list) or np.ndim(classes) != 1 or y_all.ndim != 1:
        raise ValueError(f"{param}={name!r}: Lepton's metrics score a classifier of one "
                         "label per row, or a multilabel one of Lepton's; this "
                         f"{type(model).__name__} predicts several outputs (its own score, "
                         "scoring=None, takes them).")
    index = {c: i for i, c in enumerate(classes)}
    n = len(classes)
    # a class only these rows hold (a new class in the latest rows, or a class of one row)
    # is one the model never predicts
    known = np.array([c in index for c in y_all], dtype=bool)
    if metric.of_labels:  # the classes predict decides, as it decides them: such rows
        scored = n + int(not known.all())  # count as wrong
        return (X, np.array([index.get(c, n) for c in y_all]), w,
                lambda rows: np.array([index[c] for c in np.asarray(model.predict(rows))]),
                lambda y_, labels, w_: metric.of_predicted(y_, labels, scored, w_), metric)
    if not known.all():  # the model gives such a class no probability to score
        from sklearn.utils import _safe_indexing

        unseen = list(dict.fromkeys(y_all[~known].tolist()))
        warnings.warn(
            f"{what}: {int((~known).sum())} row(s) of class(es) the training rows "
            f"lack ({', '.join(map(repr, unseen[:5]))}) are left out: the model gives them "
            "no probability.", DataWarning, stacklevel=3)
        X, y_all = _safe_indexing(X, np.flatnonzero(known)), y_all[known]
        w = None if w is None else w[known]
    return (X, np.array([index[c] for c in y_all]), w, model.predict_proba, metric, metric)


def _scorer(model: Any):
    """``model.score`` as a function of predictions, (y, pred, w) -> score, where it is
    accuracy (scikit-learn's classifiers, Lepton's, a pipeline ending in one, a grid search
    over one without a ``scoring`` of its own) or R^2 (regressors); None for a model that
    scores otherwise (a grid search scored by roc_auc): its copies are scored by
    ``model.score`` one at a time."""
    from sklearn.base import ClassifierMixin, RegressorMixin
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection._search import BaseSearchCV
    from sklearn.pipeline import Pipeline

    from .estimators._base import accuracy_score_of
    from .estimators.neural_network import NeuralNetwork

    while True:  # a pipeline scores as its last step does, a search without its own
        if isinstance(model, Pipeline) and model.steps:  # scoring as its best estimator
            model = model._final_estimator
        elif isinstance(model, BaseSearchCV) and model.scoring is None \
                and hasattr(model, "best_estimator_"):
            model = model.best_estimator_
        else:
            break
    own = getattr(type(model), "score", None)
    if own is NeuralNetwork.score:  # task='auto': the task it fitted
        classifies = getattr(model, "task_", None) == "classification"
    elif own in (ClassifierMixin.score, accuracy_score_of, RegressorMixin.score):
        classifies = own is not RegressorMixin.score
    else:
        return None
    if classifies:
        return lambda y, pred, w: float(accuracy_score(y, pred, sample_weight=w))
    return lambda y, pred, w: float(r2_score(y, pred, sample_weight=w))


def _check_labels(model: Any, y: np.ndarray) -> None:
    """A classifier's rows scored must hold some of its classes: labels it never
    predicts (all of them) made every column's importance 0, without a word. A class only
    some held-out rows hold (new in the latest rows) counts those rows as wrong."""
    classes = getattr(model, "classes_", None)
    if classes is None or isinstance(classes, list) or np.ndim(classes) != 1 \
            or y.ndim != 1 or not len(y):  # a list: a multi-output classifier's, per output
        return
    if not np.isin(y, np.asarray(classes)).any():  # by value: 0 and 0.0 are one label
        shown = sorted({str(v) for v in y})
        raise ValueError(
            f"y holds none of the labels the model was fitted with (it holds "
            f"{', '.join(shown[:5])}{', ...' if len(shown) > 5 else ''}); its classes are "
            f"{', '.join(str(c) for c in list(classes)[:10])}"
            f"{', ...' if len(classes) > 10 else ''}.")


def _shuffled_predictions(predict, X: Any, orders: list[np.ndarray]):
    """(column, ``predict`` of X with that column's rows in ``orders[column]``), the
    copies stacked into calls of at most CHUNK_ROWS rows."""
    n = len(X)
    per_call = max(1, CHUNK_ROWS // max(n, 1))
    for first in range(0, len(orders), per_call):
        columns = range(first, min(first + per_call, len(orders)))
        pred = predict(_stack(X, [(j, orders[j]) for j in columns]))
        for k, j in enumerate(columns):
            yield j, pred[k * n:(k + 1) * n]


def _stack(X: Any, shuffles: list[tuple[int, np.ndarray]]) -> Any:
    """A copy of X for each (column, order), that column's values in that order."""
    copies = []
    for j, order in shuffles:
        if isinstance(X, pd.DataFrame):
            copy = X.copy()
            copy.isetitem(j, X.iloc[order, j].set_axis(X.index))  # keeps the column's dtype
        else:
            copy = X.copy()
            copy[:, j] = X[order, j]
        copies.append(copy)
    if isinstance(X, pd.DataFrame):
        return pd.concat(copies, ignore_index=True)
    return np.concatenate(copies)


def _round_seconds(predict, X: Any, n_columns: int, *, together: bool = True) -> float:
    """Seconds a shuffle of every column would take: a call of one copy and one of a
    few timed, a call's cost and a copy's told apart (a whole call timed cost a CNN
    ensemble on digits as much as the round; charging a call's cost to every copy made
    a round of 100 columns 2.5 s for 0.25 s). ``together=False``: a call a copy."""
    n = len(X)
    per_call = max(1, CHUNK_ROWS // max(n, 1)) if together else 1
    few = min(per_call, n_columns, max(2, per_call // 4))
    one = _timed_call(predict, X, 1)
    if few < 2:
        return one * n_columns
    per_copy = max(0.0, (_timed_call(predict, X, few) - one) / (few - 1))
    return math.ceil(n_columns / per_call) * max(0.0, one - per_copy) + n_columns * per_copy


def _timed_call(predict, X: Any, copies: int) -> float:
    started = time.perf_counter()
    predict(_stack(X, [(0, np.arange(len(X)))] * copies))
    return time.perf_counter() - started


def _sample_rows(X, y: np.ndarray, w: np.ndarray | None, keep: int, seed: int):
    """``keep`` of the rows, drawn at random (``seed``), in their order."""
    rows = np.sort(np.random.default_rng(seed).choice(len(y), keep, replace=False))
    X = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
    return X, y[rows], (None if w is None else w[rows])


def format_importances(table: pd.DataFrame, top: int, score: str) -> list[str]:
    """Lines for the shell: the ``top`` columns of ``table``, the drop in its metric
    (``table.attrs['scoring']``; else the model's own score, named ``score``), or the rise
    of one where lower is better."""
    width = max(len(name) for name in table.feature[:top])
    scored = (f", {table.attrs['repeats']} shuffle(s) of {table.attrs['rows']} rows"
              if "rows" in table.attrs else "")
    baseline = (f" from {table.attrs['baseline']:.4f}" if "baseline" in table.attrs
                else "")
    change = "rise" if table.attrs.get("lower_is_better") else "drop"
    score = table.attrs.get("scoring") or score
    lines = [f"column importance ({change} in held-out {score}{baseline} when the column is "
             f"shuffled; {len(table)} columns, top {min(top, len(table))}{scored}):"]
    lines += [f"  {row.feature:<{width}}  {row.importance:+.4f} ± {row.std:.4f}"
              for row in table.head(top).itertuples()]
    return lines
