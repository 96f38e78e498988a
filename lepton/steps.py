"""The steps of a Lepton run as plain functions: load and split, search, evaluate on the
held-out rows, record, save.

``lepton run`` calls them in order, and so does the Prefect flow in
``lepton.pipelines`` (one task per step): nothing is computed in two places. None of them
imports Prefect.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._warn import TrackingWarning

__all__ = ["Split", "load_split", "build_estimator", "search", "evaluate", "importances",
           "record", "save", "SaveError", "check_writable", "split_cv", "time_cv", "time_note",
           "weight_note", "join_search", "NoSearchToJoin"]


@dataclass
class Split:
    """A dataset split into training and held-out rows."""

    name: str
    task: str                               # 'classification' | 'regression'
    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    input_shape: tuple[int, ...] | None = None
    #: the column the rows were ordered by (load_split's ``time_column``): the held-out
    #: rows are the latest, and the search validates forward in time (:func:`time_cv`)
    time_column: str | None = None
    #: load_split's ``weight_column``, taken out of the features: the rows' weights
    #: (``sample_weight``) for the search and for the held-out scores
    weight_column: str | None = None
    w_train: np.ndarray | None = None
    w_test: np.ndarray | None = None
    #: what loading the file did (lepton.datasets.Dataset.notes): how it was read where
    #: not as a plain UTF-8 CSV, the rows left out for a missing target
    load_notes: list[str] = field(default_factory=list)
    #: load_split's arguments (a file as an absolute path): what ``lepton worker`` loads
    #: to search the same rows as the run (see :func:`join_search`)
    recipe: dict[str, Any] = field(default_factory=dict)
    #: the training rows' times, in order (``time_column``), as load_split parsed them:
    #: the search's folds start on whole times (:func:`split_cv`)
    train_times: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return len(self.y_train) + len(self.y_test)

    @property
    def default_metric(self) -> str:
        return "accuracy" if self.task == "classification" else "r2"

    def notes(self, search: bool = True) -> list[str]:
        """What a run says about the split before searching, a line each: what loading
        the file did (how it was read, rows left out for a missing target), how the rows
        were held out by time (:func:`time_note`; ``search``: and how the search validates)
        and weighted, then the columns the preprocessing does not take as they come
        (:func:`lepton.preprocessing.column_notes`).
        """
        from .preprocessing import column_notes

        held_out = list(self.load_notes)
        held_out += [time_note(self, search)] if self.time_column is not None else []
        if self.weight_column is not None:
            held_out.append(weight_note(self))
        if self.input_shape is not None:  # pixels, one array of numbers: no column is typed
            return held_out
        y = np.asarray(self.y_train)  # values, or class labels (several: 0/1 columns)
        try:
            y = y.astype(np.float64 if self.task == "regression" or y.ndim == 2 else str)
        except (TypeError, ValueError):  # text for regression: the fit says why
            y = None
        return held_out + column_notes(self.X_train, y)


def load_split(dataset: str, *, target: str | list[str] | None = None, task: str = "auto",
               test_size: float = 0.25, seed: int = 0, time_column: str | None = None,
               weight_column: str | None = None,
               input_shape: Sequence[int] | None = None) -> Split:
    """Load a built-in dataset or a table file and hold out ``test_size`` of its rows
    (stratified by class where every class has two rows or more). With ``time_column``
    (dates or numbers), the rows are put in its order and the latest ``test_size`` of them
    are held out, as a model trained today is used on tomorrow's rows. ``weight_column``
    (numbers >= 0) is taken out of the features and weighs the rows (``sample_weight``) in
    the search and in the held-out scores. ``input_shape`` (height, width, or channels,
    height, width): a file's feature columns are the pixels of images of that shape, row
    by row (as a CSV of MNIST holds them), which the cnn space searches."""
    from sklearn.model_selection import train_test_split
    from sklearn.utils import _safe_indexing

    from .datasets import load_dataset

    _check_split_options(task, test_size)
    ds = load_dataset(dataset, target=target)
    if task != "auto":  # a text target for regression: the regressor's fit says so
        _check_several_classified(ds.y, task)
        ds.set_task(task)
    else:
        ds.notes = [*ds.notes, *_task_of_numbers(ds.y, ds.task, target, dataset),
                    *_task_of_several(ds.y, ds.task)]
    w = None
    if weight_column is not None:
        targets = [target] if isinstance(target, str) else list(target or [])
        if weight_column in targets:  # it was said to be no column of the file
            raise ValueError(f"weight_column={weight_column!r} is the target; the row "
                             "weights must be another column.")
        if weight_column == time_column:
            raise ValueError(f"weight_column={weight_column!r} is also the time_column; name "
                             "a column of row weights.")
        ds.X, w = _weights(ds.X, weight_column, ds.name)
    if input_shape is not None:
        if time_column is not None:  # it stays a feature, beside the pixels
            raise ValueError(f"input_shape={list(input_shape)} with time_column="
                             f"{time_column!r}: the time column would be a feature beside "
                             "the pixels, which a CNN does not take; order the rows by time "
                             "in the file and hold out its last rows another way, or leave "
                             "out one of the two.")
        ds.input_shape = _pixels_shape(ds.X, input_shape, ds.name)
    if time_column is not None:
        order, times = _time_order(ds.X, time_column, ds.name)
        n_test = math.ceil(test_size * len(order))
        if not 0 < n_test < len(order):
            raise ValueError(f"test_size={test_size!r} holds out {n_test} of {len(order)} rows; "
                             "give a fraction that leaves rows on both sides.")
        n_test = _whole_times(times, n_test, time_column)
        train, test = order[:-n_test], order[-n_test:]
    else:
        try:
            train, test = train_test_split(np.arange(len(ds.y)), test_size=test_size,
                                           random_state=seed,
                                           stratify=_stratify(ds.y, ds.task))
        except ValueError as exc:  # scikit-learn's words ('train_size = 1 should be ...')
            raise ValueError(f"test_size={test_size!r} cannot split the {len(ds.y)} rows of "
                             f"{ds.name}: {exc}. Give a fraction that leaves enough rows "
                             "on both sides.") from exc
    recipe = {"dataset": absolute_dataset(dataset), "target": target, "task": task,
              "test_size": test_size, "seed": seed, "time_column": time_column,
              "weight_column": weight_column,
              "input_shape": None if input_shape is None else list(ds.input_shape)}
    return Split(ds.name, ds.task, _safe_indexing(ds.X, train), _safe_indexing(ds.X, test),
                 _safe_indexing(ds.y, train), _safe_indexing(ds.y, test), ds.input_shape,
                 time_column, weight_column, None if w is None else w[train],
                 None if w is None else w[test], ds.notes, recipe,
                 None if time_column is None else times[:-n_test])


def _whole_times(times: np.ndarray, n_test: int, column: str) -> int:
    """How many of the latest rows (``times`` sorted) to hold out, about ``n_test``, all of
    a time's rows on one side: those of the first held-out time held out with it (5 of a
    day's 7 rows had trained, 2 were held out, under "from that day"), or, where that
    leaves no row to train on, none of them (800 rows of 2023 and 200 of 2024: the 200;
    review helper-52)."""
    first = times[-n_test]
    n_test = len(times) - _time_boundary(times, len(times) - n_test)
    if n_test == 0:
        shown = (np.datetime_as_string(first, unit="auto")
                 if np.issubdtype(times.dtype, np.datetime64) else f"{first:g}")
        raise ValueError(f"time_column={column!r} holds one time for every row ({shown}): "
                         "rows in time order need two times or more to hold out the latest.")
    return n_test


def _pixels_shape(X, input_shape: Sequence[int], name: str) -> tuple[int, ...]:
    """``input_shape`` checked against the feature columns of ``X``: 2 or 3 whole numbers
    whose product is their count (that they hold numbers, the fit checks)."""
    from .preprocessing import check_input_shape

    shape = tuple(check_input_shape(input_shape))
    if len(shape) not in (2, 3):
        raise ValueError(f"input_shape={list(shape)}: give an image's height and width, or its "
                         "channels, height and width (whole numbers >= 1).")
    if math.prod(shape) != X.shape[1]:
        raise ValueError(f"input_shape={list(shape)} is {math.prod(shape)} pixels a row, and "
                         f"{name} has {X.shape[1]} feature columns; every feature column is a "
                         "pixel, in the image's row order (leave an id out of the file, or "
                         "name the target).")
    return shape


def absolute_dataset(dataset: Any) -> Any:
    """A built-in dataset's name as it is, a file's path made absolute (a worker or a
    scheduled run starts elsewhere: lepton.pipelines' deployments use it too)."""
    from .datasets import BUILTIN_DATASETS

    if not isinstance(dataset, (str, os.PathLike)) or str(dataset) in BUILTIN_DATASETS:
        return dataset
    return os.path.abspath(dataset)


def _named_column(X, column: str, option: str, name: str):
    """``X[column]`` for ``option`` (time_column, weight_column), or an error naming the
    columns there are."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"{option}={column!r}: {name} has no named columns; a "
                         f"{option.split('_')[0]} column needs a CSV or Parquet file.")
    if column not in X.columns:
        raise ValueError(f"{option}={column!r} is not a column of {name}; its columns are "
                         f"{list(map(str, X.columns))}.")
    return X[column]


def _weights(X, column: str, name: str):
    """``X`` without ``column``, and the column as row weights, checked (numbers >= 0,
    none missing, some positive)."""
    import pandas as pd

    from .estimators._base import check_sample_weight

    values = _named_column(X, column, "weight_column", name)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        shown = _shown(values, range(len(values)))
        raise ValueError(f"weight_column={column!r} must hold numbers >= 0; it holds {shown} "
                         f"(dtype {values.dtype}).")
    w = values.to_numpy(dtype=np.float64)
    try:
        check_sample_weight(w, len(w))
    except ValueError as exc:
        raise ValueError(f"weight_column={column!r}: {exc}") from None
    return X.drop(columns=[column]), w


def weight_note(split: Split) -> str:
    """How the rows are weighted, for the run's output."""
    w = np.concatenate([split.w_train, split.w_test])
    zero = int((w == 0).sum())
    return (f"rows weighted by {split.weight_column!r} (min {w.min():g}, median "
            f"{np.median(w):g}, max {w.max():g}{f'; {zero} rows of weight 0' if zero else ''}):"
            " the search's training and validation, and the held-out scores, count each row "
            "by its weight")


def _time_order(X, column: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in the order of ``column`` (dates, or numbers such as a period
    index, also as text), and the times in that order; a stable sort, so rows of one time
    keep the file's order. Errors name the rows without a time (empty or a missing-value
    marker such as ``?``) or with a value that is not one, and those values."""
    import pandas as pd

    from .preprocessing import _ISO, _date_format, _markers, _to_dates

    values = _named_column(X, column, "time_column", name)
    dates = pd.api.types.is_datetime64_any_dtype(values)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    missing = values.isna() | (False if dates or numeric else _markers(values))
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())
        raise ValueError(f"time_column={column!r} is missing in {len(rows)} row(s) (first rows: "
                         f"{rows[:5].tolist()}: {_shown(values, rows)}); rows without a time "
                         "cannot be put in order.")
    if dates:
        key = _to_dates(values, None, column)
    elif numeric:
        key = values.astype(np.float64)
    else:
        numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
        found = None
        if numbers.notna().mean() >= 0.5:  # time steps or years as text ('2019' is ISO too)
            held, bad = "numbers", numbers.isna()
        elif (found := _date_format(values)) is not None:
            held, bad = f"dates ({'ISO 8601' if found[0] == _ISO else repr(found[0])})", found[1]
        else:
            raise ValueError(f"time_column={column!r} holds neither dates nor numbers "
                             f"({_shown(values, range(len(values)))}); name a date or "
                             "time-step column.")
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            raise ValueError(
                f"time_column={column!r} holds {held} in {len(values) - len(rows)} of "
                f"{len(values)} rows, and other values in {len(rows)} (first rows: "
                f"{rows[:5].tolist()}: {_shown(values, rows)}); fix or remove those rows.")
        key = numbers if found is None else _to_dates(values, found[0], column)
    if not numeric and pd.api.types.is_datetime64_any_dtype(key):  # instants, in UTC
        key = pd.to_datetime(key, utc=True).dt.tz_localize(None)
    key = key.to_numpy()
    order = np.argsort(key, kind="stable")
    return order, key[order]


def _shown(values, rows) -> list[str]:
    """The first five distinct values of ``rows``, as text (an empty cell: '(empty)'), for
    an error."""
    shown = values.iloc[list(rows[:200])].astype(object)
    return list(dict.fromkeys(shown.where(shown.notna(), "(empty)").astype(str)))[:5]


def time_note(split: Split, search: bool = True) -> str:
    """What a time-ordered split did, for the run's output; ``search``: and how the search
    validates (a fixed network's early stopping holds out random training rows)."""
    first = split.X_test[split.time_column].iloc[0]
    note = (f"held out the latest {len(split.y_test)} rows by {split.time_column!r} (from "
            f"{first})")
    if not search:
        return note
    cv = split_cv(split)
    if hasattr(cv, "n_splits"):
        scheme = f"TimeSeriesSplit({cv.n_splits})"
    elif len(cv) == 1:
        scheme = f"the latest {len(cv[0][1])} training rows"
    else:
        scheme = f"{len(cv)} folds, each from a time's first row (TimeSeriesSplit's, moved)"
    return f"{note}; the search validates on {scheme}, forward in time"


def split_cv(split: Split):
    """:func:`time_cv` for the training rows of ``split``, held out by its time column
    (their times as load_split parsed them; a Split built otherwise parses them here)."""
    times = split.train_times
    if times is None:
        times = _time_order(split.X_train, split.time_column, split.name)[1]
    return time_cv(len(split.y_train), times=times)


def time_cv(n_train: int, validation_fraction: float = 0.2, times: np.ndarray | None = None):
    """The search's validation for rows in time order: ``TimeSeriesSplit`` with as many
    folds as ``cv='auto'`` would use (each fold validates on the rows after those it
    trains on), or, on a table too large for folds, one split whose validation rows are
    the latest ``validation_fraction``. ``times``: the rows' times, in order; a fold that
    would start inside a time starts at its first row, so none of a time's rows train
    where others validate (its rows, a day's sales of every store, share what happened
    that day; held out as :func:`_whole_times` holds out); the folds are then given as
    (training rows, validation rows) pairs. Training rows of one time are cut by
    position."""
    from sklearn.model_selection import TimeSeriesSplit

    from .search.estimators import AUTO_CV_FOLDS, AUTO_CV_MAX_ROWS

    if n_train < AUTO_CV_MAX_ROWS:
        cv = TimeSeriesSplit(n_splits=min(AUTO_CV_FOLDS, n_train - 1))
        starts = [int(valid[0]) for _, valid in cv.split(np.zeros((n_train, 1)))]
    else:
        cv = None
        starts = [n_train - max(1, int(round(validation_fraction * n_train)))]
    whole = starts if times is None else _whole_starts(np.asarray(times), starts)
    positional = cv if cv is not None else _pairs(starts, n_train)
    return positional if whole == starts else TimeFolds(_pairs(whole, n_train), positional)


def _pairs(starts: list[int], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forward folds: each trains on the rows before its start and validates on those up
    to the next start (the last, to ``n``)."""
    return [(np.arange(start), np.arange(start, end))
            for start, end in zip(starts, starts[1:] + [n])]


class TimeFolds(list):
    """:func:`time_cv`'s folds moved to whole times, as (training rows, validation rows)
    pairs; ``positional``: the folds by position they were moved from, which a study
    created before stop 38 recorded and keeps when resumed (refused otherwise: another
    validation scheme; review helper-59)."""

    def __init__(self, pairs, positional):
        super().__init__(pairs)
        self.positional = positional


def _whole_starts(times: np.ndarray, starts: list[int]) -> list[int]:
    """Fold starts moved to the first row of their time (past its last row where that
    leaves nothing to train on), those left distinct; ``starts`` where every row holds
    one time."""
    whole = []
    for start in starts:
        moved = _time_boundary(times, start)
        if moved < len(times) and moved not in whole:
            whole.append(moved)
    return sorted(whole) or starts


def _time_boundary(times: np.ndarray, at: int) -> int:
    """The row where rows of ``times`` (sorted) before and from ``at`` divide with no time
    on both sides: the first row of ``at``'s time, or past its last where that leaves
    nothing before (the held-out split's and each fold's start)."""
    moved = int(np.searchsorted(times, times[at], side="left"))
    return moved if moved > 0 else int(np.searchsorted(times, times[at], side="right"))


def _task_of_numbers(y, task: str, target: Any, dataset: str) -> list[str]:
    """A note where the task was inferred from a target of whole numbers, which a run only
    showed as ``task=...``: up to ``MAX_CLASSES_AUTO`` distinct values (counts, ratings,
    codes) are classes, where visit counts scored held-out accuracy 0.145, R^2 0.447 as
    numbers (``--task regression``); more are numbers, where 200 class codes scored R^2
    0.22, accuracy 0.87 as classes (``--task classification``; review helper-47). The
    latter only where values repeat (fewer distinct values than half the rows)."""
    from . import defaults
    from .datasets import BUILTIN_DATASETS

    values = np.asarray(y)
    if dataset in BUILTIN_DATASETS or values.ndim != 1 or values.dtype.kind not in "iuf":
        return []
    distinct = np.unique(values[~np.isnan(values)] if values.dtype.kind == "f" else values)
    if isinstance(target, (list, tuple)) and len(target) == 1:
        target = target[0]  # --target visits: a list of one
    held = (f"target {target!r}: {len(distinct)} distinct whole numbers "
            f"({distinct[0]:g} to {distinct[-1]:g})")
    if task == "classification" and len(distinct) > 2:
        return [f"{held}, taken as classes (up to {defaults.MAX_CLASSES_AUTO} are); task "
                "'regression' (--task regression) predicts them as numbers"]
    if task == "regression" and len(distinct) < len(values) / 2 \
            and np.all(np.mod(distinct, 1) == 0):
        return [f"{held}, taken as numbers to regress on (more than "
                f"{defaults.MAX_CLASSES_AUTO} are); if they are codes of classes, task "
                "'classification' (--task classification) predicts them as classes"]
    return []


def _label_columns(y) -> tuple[list[str], list[str]]:
    """Of a frame of several targets: the columns of 0/1 (or True/False) only, and those
    of a few whole numbers besides (``MAX_CLASSES_AUTO`` distinct values at most)."""
    import pandas as pd

    from . import defaults

    labels, codes = [], []
    for col in y.columns:
        values = pd.to_numeric(y[col], errors="coerce").dropna()
        if len(values) and values.isin([0, 1]).all():
            labels.append(str(col))
        elif (values == values.round()).all() and values.nunique() <= defaults.MAX_CLASSES_AUTO:
            codes.append(str(col))
    return labels, codes


def _task_of_several(y, task: str) -> list[str]:
    """A note where several targets are regressed on though some look like classes: a 0/1
    column beside numbers, or columns of a few whole numbers (grades 1-3), were regressed
    without a word (R^2 -0.02 on two such columns; review helper-53). Several targets are
    classified only as 0/1 labels each (multilabel)."""
    import pandas as pd

    if not isinstance(y, pd.DataFrame) or task != "regression":
        return []
    labels, codes = _label_columns(y)
    if not labels and not codes:
        return []
    named = labels + codes
    shown = ", ".join(repr(c) for c in named)
    held = ("0/1" if not codes else "a few whole numbers" if not labels
            else "0/1 or a few whole numbers")
    return [f"target column{'s' if len(named) > 1 else ''} {shown} "
            f"hold{'' if len(named) > 1 else 's'} {held}, regressed on as numbers with the "
            "others: several targets are classified only "
            "where every one is 0/1 (one label each, multilabel); to classify one, run it "
            "alone (--target COLUMN)"]


def _check_several_classified(y, task: str) -> None:
    """``task='classification'`` with several targets: each must be a 0/1 label (the
    estimator's error said to wrap it in MultiOutputClassifier, Python advice, and gave
    the shape after the held-out split)."""
    import pandas as pd

    if not isinstance(y, pd.DataFrame) or task != "classification":
        return
    labels, _ = _label_columns(y)
    other = [str(c) for c in y.columns if str(c) not in labels]
    if other:
        values = pd.Series(y[other[0]]).dropna().unique()[:3]
        raise ValueError(
            f"task='classification' (--task) with several targets takes columns of 0/1 or "
            f"True/False, one label each (multilabel); {other[0]!r} holds "
            f"{', '.join(map(str, values))}. To classify a column of classes, run it alone "
            "(--target COLUMN).")


def _stratify(y, task: str):
    """What the held-out split is stratified by: the classes, when each has two rows or
    more. A class of one row cannot be split both ways (scikit-learn refuses: "The least
    populated class in y has only 1 member"): the split is then a plain random one, and
    says so."""
    if task != "classification" or np.ndim(y) == 2:  # several labels a row: not stratified
        return None
    classes, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
    single = classes[counts < 2]
    if len(single):
        shown = ", ".join(repr(str(c)) for c in single[:5]) + (" ..." if len(single) > 5 else "")
        print(f"{len(single)} class(es) with a single row ({shown}): the held-out split is "
              "not stratified", file=sys.stderr)
        return None
    return y


def _check_split_options(task: str, test_size: float) -> None:
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task={task!r} is not one of 'auto', 'classification', 'regression'.")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size={test_size!r}: give the held-out fraction of the rows, "
                         "strictly between 0 and 1.")


def check_run_options(*, task: str = "auto", test_size: float = 0.25,
                      time_budget: float = 30.0, n_jobs: int | None = None,
                      metric: str | None = None, search_space: Any = "auto",
                      device: Any = "auto", storage: Any = None) -> None:
    """A run's options as far as they can be checked before its data loads: ``lepton run``
    says what is wrong before loading a large file, and a scheduled deployment before it is
    served rather than at its first run. A metric is checked against the task at the fit
    (the task may come from the data); a storage's form here (it is opened at the fit)."""
    from .estimators._base import validate_params
    from .search import LeptonClassifier
    from .search._search import check_storage_form
    from .search.metrics import METRICS
    from .search.spaces import load_search_space
    from .training import resolve_devices

    _check_split_options(task, test_size)
    model = LeptonClassifier(time_budget=time_budget, n_jobs=n_jobs)
    validate_params(model)
    model._n_jobs()  # n_jobs=0
    if metric is not None and metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not a metric; choose one of "
                         f"{', '.join(METRICS)}.")
    if not (isinstance(search_space, str) and search_space == "auto"):
        load_search_space(search_space)
    resolve_devices(device)  # a device that is not here
    check_storage_form(storage)  # before `lepton run` tells how to add workers to it


def build_estimator(split: Split, *, time_budget: float = 30.0, n_jobs: int | None = None,
                    metric: str | None = None, search_space: Any = "auto",
                    storage: str | None = None, study_name: str | None = None,
                    seed: int = 0, images: bool = True, tracking: bool = True,
                    experiment: str | None = None, tracking_uri: str | None = None,
                    register: str | None = None, verbose: int = 1, device: Any = "auto"):
    """The LeptonClassifier or LeptonRegressor a run fits on ``split``. With ``tracking``
    the search is logged to MLflow, in experiment ``lepton-<dataset>`` unless ``experiment``
    is given."""
    from .search import LeptonClassifier, LeptonRegressor
    from .search._search import RUN_ATTR

    cls = LeptonClassifier if split.task == "classification" else LeptonRegressor
    if tracking and not (experiment or tracking_uri or register):
        from .tracking import INSTALL_TRACKING, environment_without_mlflow, mlflow_installed

        if not mlflow_installed():  # tracking by default only: asked for, it is an error
            if os.environ.get("MLFLOW_TRACKING_URI"):
                raise environment_without_mlflow()  # the environment asks for a store
            warnings.warn(f"MLflow is not installed, so this run is not tracked ("
                          f"{INSTALL_TRACKING} to track runs and compare them with "
                          "`lepton ui`).", TrackingWarning, stacklevel=2)
            tracking = False
    options = {} if not tracking else {
        "experiment_name": experiment or f"lepton-{split.name}",
        "tracking_uri": tracking_uri,
        "registered_model_name": register,
    }
    if split.time_column is not None:
        options["cv"] = split_cv(split)
    model = cls(time_budget=time_budget, n_jobs=n_jobs, storage=storage, study_name=study_name,
                device=device, random_state=seed, verbose=verbose, search_space=search_space,
                metric=metric, input_shape=split.input_shape if images else None, **options)
    # no tracking means none: the estimator alone would still follow MLFLOW_TRACKING_URI
    model._untracked = not tracking
    # registered, it becomes champion or not on the held-out rows (promote), not in its fit
    model._promote_on_held_out = bool(register)
    if storage is not None and split.recipe:
        # what `lepton worker` needs to search the same rows the same way (join_search)
        space = search_space
        if isinstance(space, (str, os.PathLike)) and str(space).endswith((".yaml", ".yml")):
            space = os.path.abspath(space)
        model._study_attrs = {RUN_ATTR: {**split.recipe, "metric": metric,
                                         "search_space": space, "images": images}}
    return model


class NoSearchToJoin(RuntimeError):
    """``lepton worker`` found no running search in the study it was pointed at.
    ``ended``: the search ran and is over (nothing left to do, not a mistake)."""

    def __init__(self, message: str, *, ended: bool = False):
        super().__init__(message)
        self.ended = ended


def join_search(storage: str, study_name: str | None = None, *, n_jobs: int | None = None,
                time_budget: float | None = None, wait: float = 60.0, verbose: int = 1,
                dataset: str | None = None, tracking: bool = True,
                tracking_uri: str | None = None, device: Any = "auto", log=print):
    """``lepton worker``: run trials of the search that a ``lepton run`` (or a scheduled
    run) with this persistent ``storage`` is running, until that search's window ends,
    or ``time_budget`` seconds if that is sooner. The run recorded its dataset and options
    in the study: the worker loads the same rows (a file at the same path: a shared
    disk, or the same copy on each machine; the study refuses other data), splits them
    the same way, and samples with its own seed; its trials join the study, where the
    run's final model can use them (refitting the best if it is one of them). The worker
    builds no final model. Where the run tracks in MLflow, the worker logs its trials
    under the run's search run (``tracking=False``: not; ``tracking_uri``: the store's
    URI from this machine, where the one the run recorded does not reach it, or hid a
    password). Waits up to ``wait`` seconds for
    the run to create the study and start its search. ``dataset``: the run's file at
    another path on this machine (a copy of the same rows: the study refuses others).
    Returns the fitted (trials-only)
    estimator: ``worker_trials_`` are the trials this process ran. Raises
    :class:`NoSearchToJoin` when there is nothing to join, with the reason."""
    import optuna

    from .search._search import (ENDS_AT_ATTR, RUN_ATTR, TRACKING_ATTR, check_storage_form,
                                 make_storage)

    from .tracking._store import redact_uri

    check_storage_form(storage)  # no storage's form: said now, not after waiting for it
    # the storage as the messages show it: not a password in a terminal's scrollback or a
    # log (the worker printed 'postgresql://postgres:s3cret@...')
    shown = redact_uri(os.fspath(storage)) if isinstance(storage, (str, os.PathLike)) \
        else storage
    deadline = time.monotonic() + wait  # for the file, the study and its search, in all
    if isinstance(storage, (str, os.PathLike)):  # a file the run writes: opening creates
        text = os.fspath(storage)                  # it, so a typo's is waited for, not made
        path = text.removeprefix("sqlite:///") if "://" not in text or text.startswith(
            "sqlite:///") else None
        while path and not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        if path and not os.path.exists(path):
            raise ValueError(f"storage={text!r}: {path!r} does not exist (waited {wait:g}s); "
                             "a worker joins the study a run keeps there (give the path the "
                             "run was given; on another machine, its path on a shared disk).")
    store = make_storage(storage)
    if store is None:
        raise ValueError("storage=None: a worker joins a persistent study; give the storage "
                         "the run was started with (lepton run --storage).")
    own_end = math.inf if time_budget is None else time.time() + time_budget
    name, attrs = study_name, {}
    while True:  # the run may not have created the study, or opened its window, yet
        # every study's attributes in one read (a study loaded at a time: 0.39 s a poll
        # for 300 studies in SQLite, 0.009 s so; more over a network)
        studies = {s.study_name: s.user_attrs for s in store.get_all_studies()}
        names = list(studies)
        if study_name is None:  # the one study of the storage whose search is running
            running = [n for n in names if _window_open(studies[n])]
            if len(running) > 1:
                raise NoSearchToJoin(f"{len(running)} searches are running in the storage "
                                     f"({', '.join(sorted(running))}): give --study-name.")
            name = running[0] if running else names[0] if len(names) == 1 else None
        if name in names:
            study = optuna.load_study(study_name=name, storage=store)
            attrs = study.user_attrs
            if study.get_trials(deepcopy=False) and RUN_ATTR not in attrs:
                raise NoSearchToJoin(
                    f"study {name!r} was not started by `lepton run` (a fit in Python, or "
                    "a version before workers): it does not record the dataset a worker "
                    "needs. Start the search with `lepton run DATASET --storage "
                    f"{shown} --study-name {name}`.")
            if _window_open(attrs):
                break
        if time.monotonic() > deadline:
            if name is None:
                raise NoSearchToJoin(
                    f"no search running in the storage after {wait:g}s "
                    + (f"(its studies: {', '.join(sorted(names))}); " if names else
                       "(it holds no study); ")
                    + f"start one with `lepton run DATASET --storage {shown}`, or name the "
                    "study to wait for (--study-name) and give the worker longer (--wait).")
            if ENDS_AT_ATTR in attrs:
                ended = time.strftime("%Y-%m-%d %H:%M:%S",
                                      time.localtime(float(attrs[ENDS_AT_ATTR])))
                raise NoSearchToJoin(f"the search of study {name!r} ended at {ended} and "
                                     f"none started in {wait:g}s; nothing to join.",
                                     ended=True)
            raise NoSearchToJoin(
                f"no search of study {name!r} started in {wait:g}s (studies in the storage: "
                f"{', '.join(sorted(names)) or 'none'}); start it with `lepton run DATASET "
                f"--storage {shown} --study-name {name}`, or give the worker longer "
                "(--wait).")
        time.sleep(0.5)
    recipe = dict(attrs[RUN_ATTR])
    from .datasets import BUILTIN_DATASETS

    path = recipe["dataset"]
    if dataset is None and path not in BUILTIN_DATASETS and not os.path.exists(path):
        raise ValueError(f"the run's dataset {path} is not on this machine: give this "
                         "machine's copy with --dataset PATH (the study checks that it holds "
                         "the same rows).")
    split = load_split(dataset or recipe["dataset"], target=recipe["target"], task=recipe["task"],
                       test_size=recipe["test_size"], seed=recipe["seed"],
                       time_column=recipe["time_column"],
                       weight_column=recipe["weight_column"],
                       input_shape=recipe.get("input_shape"))  # absent: a run before stop 37
    ends = min(float(study.user_attrs[ENDS_AT_ATTR]), own_end)
    seconds = ends - time.time()
    if seconds < 1.0:
        raise NoSearchToJoin(f"the search of study {name!r} ended while its dataset loaded; "
                             "nothing to join.", ended=True)
    # "joining": the fit checks the study takes this worker's data before any trial, and
    # refuses it otherwise
    log(f"joining study {name!r} ({split.name}, {split.task}, metric "
        f"{recipe['metric'] or split.default_metric}): trials until "
        f"{time.strftime('%H:%M:%S', time.localtime(ends))} ({seconds:.0f}s)")
    model = build_estimator(split, time_budget=seconds, n_jobs=n_jobs, metric=recipe["metric"],
                            search_space=recipe["search_space"], storage=storage,
                            study_name=name, seed=recipe["seed"], images=recipe["images"],
                            tracking=False, verbose=verbose, device=device)
    model._follow = _Follow(study, ends, own_end, dataset=path)
    if tracking and TRACKING_ATTR in attrs:
        model._join_tracker = _join_tracking(attrs[TRACKING_ATTR], tracking_uri, name, log)
    return search(model, split)


def _join_tracking(recorded: dict[str, str], tracking_uri: str | None, study_name: str, log):
    """The tracker a worker logs its trials with, under the run's MLflow search run; None
    (said why) where the run's store is out of this machine's reach and no
    ``tracking_uri`` says where it is: the trials are in the study then, and in the run's
    leaderboard."""
    from .tracking import INSTALL_TRACKING, MLflowTracker, TrackingError, mlflow_installed
    from .tracking._store import _sqlite_file

    uri = tracking_uri or recorded["uri"]
    why = None
    if not mlflow_installed():
        if tracking_uri is not None:
            raise TrackingError(f"--tracking-uri was given, but MLflow is not installed: "
                                f"{INSTALL_TRACKING}")
        why = f"MLflow is not installed here: {INSTALL_TRACKING}"
    elif tracking_uri is None and "***" in uri:
        why = "its URI holds a password the study does not record"
    elif _sqlite_file(uri) and not os.path.exists(_sqlite_file(uri)):
        why = f"its store {_sqlite_file(uri)} is not on this machine"
    if why is None:
        try:
            tracker = MLflowTracker(tracking_uri=uri, experiment_name=recorded["experiment"],
                                    log_models=False)
            tracker.join_search(recorded["parent_run_id"], study_name=study_name)
            log(f"logging trials to MLflow under the run's search run "
                f"{recorded['parent_run_id']} ({recorded['uri']})")
            return tracker
        except TrackingError as exc:
            if tracking_uri is not None:
                raise
            why = str(exc)
    log(f"not logging trials to MLflow ({why}): they are in the study, and the run's "
        "leaderboard; --tracking-uri names the run's store as this machine reaches it")
    return None


class _Follow:
    """When the search a worker joined ends (``time.time()``), read from its study at most
    every ``every`` seconds (the worker asks after every epoch), and never later than the
    worker's own end: the run's window grows when it hands its final model's reserve to
    the search, and closes when its search stops early. ``dataset``: the run's dataset as
    it recorded it (what a worker refused for other data is told to give)."""

    def __init__(self, study, ends_at: float, own_end: float, every: float = 2.0,
                 dataset: str = ""):
        self.study, self.ends_at, self.own_end, self.every = study, ends_at, own_end, every
        self.dataset = dataset
        self.read_at = time.monotonic()
        self.lock = threading.Lock()
        #: how long the run had given no sign of life when this worker saw it (seconds;
        #: None: it lived): killed outright, it closed no window, and the worker stopped
        self.run_gone: float | None = None

    def __call__(self) -> float:
        from .search._search import ENDS_AT_ATTR, run_gone

        with self.lock:  # parallel trials (n_jobs) ask from their threads
            if time.monotonic() - self.read_at >= self.every:
                attrs = self.study.user_attrs
                self.ends_at = float(attrs.get(ENDS_AT_ATTR, self.ends_at))
                gone = run_gone(attrs)
                if gone is not None:
                    self.run_gone, self.ends_at = gone, min(self.ends_at, time.time())
                self.read_at = time.monotonic()
            return min(self.ends_at, self.own_end)


def _window_open(attrs: dict[str, Any]) -> bool:
    """Whether a study's attributes say a run is searching it now (lepton.search)."""
    from .search._search import ENDS_AT_ATTR, RUN_ATTR, run_gone

    return (RUN_ATTR in attrs and float(attrs.get(ENDS_AT_ATTR, 0.0)) > time.time() + 1.0
            and run_gone(attrs) is None)  # a run killed outright closed no window


def search(model, split: Split):
    """Fit ``model`` (from :func:`build_estimator`) on the training rows (weighted by
    ``split.w_train`` where the split has weights). The columns it leaves out are said in
    :meth:`Split.notes` already: not again as a warning."""
    import warnings

    from ._warn import LeftOutColumnsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeftOutColumnsWarning)
        return model.fit(split.X_train, split.y_train, sample_weight=split.w_train)


#: classes are imbalanced where the rarest is under this share of the training rows and
#: the commonest ten times as many or more: accuracy then rewards the majority
IMBALANCED_SHARE = 0.05


def _class_shares(split: Split):
    """The training rows' classes and their shares, commonest first (one class a row)."""
    if split.task != "classification" or np.ndim(split.y_train) != 1:
        return None
    classes, counts = np.unique(np.asarray(split.y_train).astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return [str(c) for c in classes[order]], counts[order] / counts.sum()


def _imbalanced(split: Split) -> bool:
    shares = _class_shares(split)
    return shares is not None and shares[1][-1] < IMBALANCED_SHARE \
        and shares[1][0] >= 10 * shares[1][-1]


def imbalance_note(split: Split, metric: str | None) -> list[str]:
    """A note, before a search for accuracy, where the classes are imbalanced: a run on
    a 1:200 table said 'held-out accuracy: 0.9970' and nothing else, where predicting the
    majority scored 0.9950 and the rare class's recall was 0.60 (review helper-47)."""
    if metric not in (None, "accuracy") or not _imbalanced(split):
        return []
    classes, shares = _class_shares(split)
    return [f"classes are imbalanced: {classes[-1]!r} is {shares[-1]:.1%} of the training "
            f"rows, {classes[0]!r} {shares[0]:.1%}; accuracy rewards predicting "
            f"{classes[0]!r} ({shares[0]:.4f} by that alone): --metric balanced_accuracy "
            "weighs every class's recall the same (its held-out score is reported too)"]


def evaluate(model, split: Split) -> dict[str, float]:
    """Held-out scores: accuracy (classification) or R^2 (regression), and the metric the
    search optimised when it is another one, scored as the search scored validation; each
    weighted by ``split.w_test`` where the split has weights. Balanced accuracy too where
    the classes are imbalanced (:func:`imbalance_note`)."""
    w = split.w_test
    scores = {split.default_metric: float(model.score(split.X_test, split.y_test,
                                                      sample_weight=w))}
    searched = model.final_model_info_["metric"]
    extra = ["balanced_accuracy"] if _imbalanced(split) else []
    for name in [searched, *extra]:
        if name not in scores:
            scores[name] = _held_out(model, split.X_test, split.y_test, name, split.task, w)
    return scores


def _held_out(model, X_te, y_te, name: str, task: str, w=None) -> float:
    """The search's own metric on the held-out rows (as the search scored validation:
    :func:`lepton.inspection.metric_scoring`)."""
    from .inspection import metric_scoring

    X, y, w, predict, score, _ = metric_scoring(model, name, X_te, y_te, w, task=task,
                                                what=f"held-out {name}")
    return float(score(y, predict(X), w))


def importances(model, split: Split, seed: int = 0, time_budget: float = 30.0):
    """The columns' permutation importances on the held-out rows (weighted by
    ``split.w_test`` where the split has weights), in the metric the search optimised,
    within about a quarter of the search's ``time_budget`` or 10 s, whichever is longer:
    :mod:`lepton.inspection`."""
    from .inspection import permutation_importances

    searched = getattr(model, "final_model_info_", {}).get("metric")
    return permutation_importances(model, split.X_test, split.y_test, scoring=searched,
                                   sample_weight=split.w_test, random_state=seed,
                                   time_limit=max(10.0, time_budget / 4))


def record(model, scores: dict[str, float], tags: dict[str, str] | None = None,
           tables: dict[str, Any] | None = None, *, dataset: str | None = None) -> str | None:
    """Log the held-out scores to the search's MLflow parent run (``test_<metric>``),
    ``tags`` on it, and ``tables`` (artifact file name -> DataFrame) with it; returns that
    run's id, or None for an untracked search. ``dataset`` (the split's name) is tagged
    ``lepton.dataset`` and names the run ``search-<dataset>``, so that the searches of an
    experiment can be told apart in the runs table."""
    from .tracking._store import store_errors_unlogged

    tracker = model.tracker_
    if not tracker.enabled:
        return None
    # a store's error is raised (`lepton run` says it in a line: record_failed); MLflow's
    # SQL store also logged it with its traceback, 70 lines on a full disk (helper-87)
    with store_errors_unlogged():
        tracker.log_test_metrics({f"test_{name}": score for name, score in scores.items()})
        if dataset is not None:
            tags = {"lepton.dataset": str(dataset), "mlflow.runName": f"search-{dataset}",
                    **(tags or {})}
        if tags:
            tracker.tag_search(tags)
        for artifact_file, frame in (tables or {}).items():
            tracker.log_table(frame, artifact_file)
    return tracker.parent_run_id


def promote(model, split: Split) -> str | None:
    """Decide whether the version the search registered (``register``) becomes the
    registry's champion: both scored with the search's metric on the held-out rows the
    champion was not fitted on either (``MLflowTracker.promote_on_held_out``). Returns
    why it was promoted or not; None where nothing was registered."""
    from .search.metrics import get_metric

    tracker = getattr(model, "tracker_", None)
    if getattr(tracker, "registered_version", None) is None or \
            not getattr(tracker, "defer_promotion", False):
        return None
    searched = model.final_model_info_["metric"]

    def scorer(estimator, X, y, w):
        return _held_out(estimator, X, y, searched, split.task, w)

    return tracker.promote_on_held_out(
        model, split.X_test, split.y_test, sample_weight=split.w_test, scorer=scorer,
        metric=searched, direction=get_metric(searched, split.task).direction)


def registration(model) -> dict[str, str] | None:
    """The registered model version the search's model became (``register``): its name,
    its version and whether it was made champion, and why; None where none was registered
    (untracked, no name, or the registration failed: the run's tracking errors say why)."""
    tracker = getattr(model, "tracker_", None)
    version = getattr(tracker, "registered_version", None)
    if version is None:
        return None
    return {"name": tracker.registered_model_name, "version": str(version),
            "promotion": str(tracker.promotion)}


def check_keep_searches(keep_searches: Any, *, what: str = "keep_searches",
                        delete_versions: bool = False,
                        versions_what: str = "delete_versions") -> None:
    """``keep_searches``: a whole number >= 1 (the run's own search is the newest, and
    stays); ``delete_versions`` goes with it. (For a tracked run only: see
    :func:`check_untracked`.)"""
    if keep_searches is None:
        if delete_versions:
            raise ValueError(f"{versions_what} deletes the versions of the searches "
                             f"{what} deletes: give {what} too.")
        return
    if isinstance(keep_searches, bool) or not isinstance(keep_searches, int) or \
            keep_searches < 1:
        raise ValueError(f"{what}={keep_searches!r}: give the number of searches each run "
                         "leaves in its experiment, 1 or more (the run's own is one).")


def check_untracked(tracking: bool, **given: Any) -> None:
    """Options of the tracking store given to a run told not to track (``--no-tracking``,
    ``tracking=False``): refused, naming them (``--register`` was ignored, exit 0, nothing
    registered: review helper-80). ``given``: the option's name as the caller says it, to
    its value."""
    named = [name for name, value in given.items() if value is not None]
    if not tracking and named:
        raise ValueError(f"{', '.join(named)} {'apply' if len(named) > 1 else 'applies'} to "
                         "the tracking store, and this run is not tracked: drop one or the "
                         "other.")


def prune_searches(model, keep: int, *, delete_versions: bool = False):
    """``keep_searches``: delete the run's experiment's searches past the ``keep`` most
    recently active, as ``lepton prune --keep KEEP --experiment E --yes`` does
    (:mod:`lepton.tracking.prune`: running searches stay, and registered ones lose their
    trial runs only, unless ``delete_versions`` and none of their versions holds an
    alias). Returns ``(plan, result)`` (result None where nothing was to go); None for an
    untracked run."""
    tracker = getattr(model, "tracker_", None)
    if not getattr(tracker, "enabled", False):
        return None
    from .tracking.prune import plan_prune

    plan = plan_prune(tracker.tracking_uri, experiment=tracker.experiment_name, keep=keep,
                      registry_uri=getattr(tracker, "registry_uri", None),
                      delete_versions=delete_versions)
    return plan, None if plan.empty else plan.execute()


def pruned_text(keep: int, experiment: str, plan, result) -> str:
    """What ``keep_searches`` did, in a line: what the plan chose (searches deleted whole,
    registered ones thinned, what was kept and why) and what was freed."""
    kept = "search" if keep == 1 else f"{keep} searches"
    lines = plan.describe().splitlines()[1:]  # the store's line: said elsewhere
    done = result.describe().replace("\n", "; ") if result else "nothing to delete"
    return (f"kept the most recent {kept} of experiment {experiment!r} whole: "
            + "; ".join(line.strip() for line in lines) + f"; {done}")


def registration_missed(model) -> str | None:
    """Why no version was registered where one was asked for (``register``), from the
    tracker's errors; None where it was, or none was asked for. A tracked run's errors are
    warnings, but a scheduled retraining that registers nothing must not end as a success
    (a table with a duration column did so: review helper-78)."""
    tracker = getattr(model, "tracker_", None)
    if not getattr(tracker, "registered_model_name", None) or \
            getattr(tracker, "registered_version", None) is not None:
        return None
    from .tracking._store import one_line

    errors = list(getattr(tracker, "tracking_errors", []))
    why = next((e for e in errors if "(models)" in e or "regist" in e),
               errors[-1] if errors else "the tracking's warnings above say why")
    return f"no version was registered: {one_line(why)}"  # without SQLAlchemy's SQL dump


def registry_shown(model) -> str:
    """The model registry the search's tracker registers in, its password hidden."""
    from .tracking._store import redact_uri

    tracker = model.tracker_
    return redact_uri(str(getattr(tracker, "registry_uri", None) or tracker.tracking_uri))


def record_failed(model, exc: Exception) -> str:
    """:func:`record` raised ``exc``: what was not recorded where, and why, in a line (on a
    full disk, `lepton run` ended in MLflow's traceback of 70 lines, SQL included: review
    helper-87), with what to do where the disk is full."""
    from .tracking._store import disk_full, one_line, redact_uri

    tracker = model.tracker_
    why = one_line(f"{type(exc).__name__}: {exc}")
    fix = "; the store's disk is full: free some space there" if disk_full(why) else ""
    return (f"could not record the held-out scores in MLflow run {tracker.parent_run_id} of "
            f"{redact_uri(str(tracker.tracking_uri))} ({why}){fix}")


def check_writable(path: str, what: str = "--save") -> None:
    """Fail before the search, not after its budget is spent, when ``path`` cannot be
    written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a folder; give a file path in it, e.g. "
                         f"{os.path.join(path, 'model.joblib')!r}.")
    table = (".csv", ".tsv", ".parquet", ".xlsx", ".xls", ".json", ".txt")
    if what in ("--save", "save") and str(path).lower().endswith(table):
        # the model went into a joblib file named like a table, without a word (review
        # helper-80): --out writes predictions
        stem = os.path.splitext(os.path.basename(str(path)))[0]
        raise ValueError(f"{what} {path!r} writes the fitted model (a joblib pickle), not a "
                         f"table: give a path such as {stem + '.joblib'!r} (lepton predict "
                         "--out writes predictions).")
    if not os.path.isdir(folder):
        raise ValueError(f"{what} {path!r}: the folder {folder!r} does not exist; create it "
                         "or give another path.")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{what} {path!r}: the folder {folder!r} is not writable.")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not told (Windows: no pathconf)
        return
    written = len(os.fsencode(os.path.basename(_partial_path(path))))
    if written > longest:
        raise ValueError(
            f"{what} {path!r}: the file name is too long to write it safely: it is written "
            f"first under a name {written - len(os.fsencode(os.path.basename(path)))} bytes "
            f"longer, and the folder takes names of up to {longest} bytes; give a shorter "
            "name.")


#: the suffixes joblib.dump compresses by, and how (its documented defaults)
_JOBLIB_COMPRESSION = {".z": "zlib", ".gz": "gzip", ".bz2": "bz2", ".xz": "xz",
                       ".lzma": "lzma", ".lz4": "lz4"}


def _partial_prefix(name: str) -> str:
    return f".{name}.partial-{socket.gethostname()}-"


def _partial_path(path: str) -> str:
    """Where ``save`` writes ``path`` first: hidden, beside it, named after this process;
    its instance tells it from one given its pid later, or of another container sharing
    the host name and the folder ('' without /proc)."""
    from .tracking._store import process_instance

    folder, name = os.path.split(os.path.abspath(path))
    instance = process_instance().replace("/", "_")
    return os.path.join(folder, f"{_partial_prefix(name)}{os.getpid()}-{time.monotonic_ns()}"
                                f"-{instance}")


def save(model, path: str) -> str:
    """Write the fitted model with joblib (``joblib.load`` it and call ``predict``); the
    file appears whole or not at all: written beside it under a hidden name that no
    ``*.joblib`` glob matches, then renamed. Such files of this machine's processes
    that were killed while writing are removed."""
    import joblib

    from .search.estimators import saved_form

    folder, name = os.path.split(os.path.abspath(path))
    _remove_dead_partials(folder, _partial_prefix(name))
    partial = _partial_path(path)
    # joblib would pick the compression from the path's suffix, which the partial lacks
    method = _JOBLIB_COMPRESSION.get(os.path.splitext(name)[1].lower())
    before = os.path.exists(path)
    try:
        joblib.dump(saved_form(model), partial, compress=(method, None) if method else 0)
        os.replace(partial, path)
    except OSError as exc:
        # a full disk ended `lepton run --save` in 170 lines of joblib's traceback that
        # named no path (review helper-87): the path, the cause and what is left, in a line
        raise SaveError(exc.errno, f"could not save the model to {path}: {_os_cause(exc)}; "
                        + ("the file there before is unchanged" if before else
                           "nothing was written there")) from exc
    finally:
        with contextlib.suppress(OSError):  # a partial file is never kept
            os.remove(partial)
    return path


class SaveError(OSError):
    """:func:`save` could not write the model (a full disk, a folder made read-only): its
    message names the path, the operating system's cause and errno, and says that the file
    there before, if any, is unchanged. An ``OSError``: the flow's save task retries it."""

    def __str__(self) -> str:
        return str(self.strerror)


def _os_cause(exc: OSError) -> str:
    """'no space left on device (OSError errno 28)': the cause, in a line."""
    cause = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
    cause = cause[:1].lower() + cause[1:] if cause[1:2].islower() else cause
    return (f"{cause} ({type(exc).__name__} errno {exc.errno})" if exc.errno is not None
            else f"{cause} ({type(exc).__name__})")


#: what follows a partial file's prefix: pid, time_ns counter, process instance (its '/'
#: written '_'; '' without /proc)
_PARTIAL_REST = re.compile(r"(\d+)-\d+-((\d+)_(\d+@[0-9A-Za-z-]+))?")


def _remove_dead_partials(folder: str, prefix: str) -> None:
    """Remove ``prefix<pid>-<ns>-<instance>`` files (``save``'s partial files of this
    host) whose process is gone: a SIGKILL during ``save`` leaves one behind. Names are
    parsed whole: a host named ``<this host>-<digits>`` has files with this prefix, and
    the instance (its boot and pid namespace) tells its processes, and those of another
    container with this host name, from this machine's (:func:`process_gone`)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    from .tracking._store import process_gone

    host = socket.gethostname()
    for name in names:
        rest = _PARTIAL_REST.fullmatch(name[len(prefix):]) if name.startswith(prefix) else None
        if rest is None:
            continue
        pid, _, ticks, machine = rest.groups()
        instance = f"{ticks}/{machine}" if ticks else None
        if process_gone(f"{host}:{pid}", instance):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))
