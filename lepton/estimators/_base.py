"""Shared machinery of the fixed-architecture estimators.

Contract (scikit-learn's): ``__init__`` stores arguments only; ``fit`` validates them
(``_parameter_constraints``), validates and preprocesses the data, trains through
:func:`lepton.training.fit_model` and sets the attributes ending in ``_``; every predict
method starts with ``check_is_fitted``. Estimators are not thread-safe during ``fit``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import reprlib
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import (Interval, InvalidParameterError, StrOptions,
                                            make_constraint)
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .. import defaults
from .._warn import (TrainingWarning, check_version, stamp_version, warn_at_caller,
                     warn_left_out)
from ..models import ModelConfig, check_activation
from ..preprocessing import (SCALINGS, TabularPreprocessor, check_features,
                             column_errors_on_all_rows, image_channels, text_numbers,
                             warn_unseen_categories)
from ..training import (
    DIVERGED, SCHEDULES, DivergedError, ProgressPrinter, Task, TensorData, TrainingConfig,
    constant_loss, fit_model, predict_outputs, resolve_device, threads_per_trial, torch_threads,
    usable_device,
)

__all__ = ["BaseNeuralNetwork", "infer_task", "encode_target", "target_scaler",
           "split_validation", "check_sample_weight", "check_rows_weighted", "LabelIndicator",
           "target_kind", "left_out_columns"]


class LabelIndicator:
    """The encoder of a multilabel target: a 0/1 (or False/True) column per label, any
    number of them true in a row (scikit-learn's 'multilabel-indicator'). ``classes_`` are
    the label columns' positions, as scikit-learn's classifiers give them; ``dtype`` is
    ``y``'s, in which ``predict`` gives each label's 0/1."""

    multilabel = True

    def __init__(self, y: np.ndarray):
        self.classes_ = np.arange(y.shape[1])
        self.dtype = y.dtype


def left_out_columns(model) -> set:
    """The columns every preprocessor of a fitted model leaves out (identifiers, a
    written index: ``dropped_columns_``), which a file to predict may lack."""
    ensemble = getattr(model, "ensemble_", None)
    if ensemble is not None:
        pres = [pre for member in ensemble.preprocessors for pre in member]
    else:
        best = getattr(model, "best_estimator_", model)
        pres = [getattr(best, "preprocessor_", None)]
    sets = [set(getattr(pre, "dropped_columns_", {})) for pre in pres if pre is not None]
    return set.intersection(*sets) if sets else set()


def prediction_width(model) -> int:
    """The columns ``model.predict`` gives (0: one, as a 1-D array), without predicting:
    several targets by name, a multilabel model's labels, a regression's outputs (a 2-D
    ``y``, even of one column, predicts 2-D, as scikit-learn's regressors do)."""
    names = getattr(model, "target_names_", None)
    if names:
        return len(names)
    if getattr(model, "multilabel_", False):
        return len(model.classes_)
    if hasattr(model, "classes_"):
        return 0
    one_d = getattr(getattr(model, "best_estimator_", model), "_y_1d", True)
    outputs = getattr(model, "n_outputs_", 1)
    return 0 if one_d and outputs == 1 else outputs


def empty_prediction(model) -> np.ndarray:
    """What ``model.predict`` gives for 0 rows, without calling it (scikit-learn's checks
    refuse 0 rows): its width (:func:`prediction_width`) and dtype: the classes', a
    multilabel model's labels in y's dtype, a regression's float64. ``lepton predict`` and
    the MLflow pyfunc answer a batch without rows with it."""
    width = prediction_width(model)
    if getattr(model, "multilabel_", False):
        dtype = getattr(model, "_label_dtype", np.asarray(model.classes_).dtype)
        return np.empty((0, width), dtype)
    if hasattr(model, "classes_"):
        return np.empty(0, np.asarray(model.classes_).dtype)
    return np.empty((0, width) if width else 0, np.float64)


def proba_labels(model) -> list:
    """What each column of a classifier's ``predict_proba`` is named after, as
    ``proba_<label>`` (``lepton predict --proba``, the pyfunc's probabilities): its
    classes, or a multilabel model's labels (``prediction_<k>`` where y had no names)."""
    if getattr(model, "multilabel_", False):
        return list(getattr(model, "target_names_", None)
                    or [f"prediction_{k}" for k in range(len(model.classes_))])
    return list(model.classes_)


def target_kind(task: str, encoder: Any) -> str:
    """The training's task kind (:class:`lepton.training.Task`): 'multilabel' for a
    classification target encoded as label columns, else ``task``."""
    return "multilabel" if getattr(encoder, "multilabel", False) else task


def _is_multilabel(y: np.ndarray) -> bool:
    """A 2-D target of more than one column, all 0/1 or False/True (scikit-learn's
    'multilabel-indicator' takes any two values: 0/2 columns would train towards 2)."""
    return (y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf"
            and bool(np.isin(y, (0, 1)).all()))


def _values(y: Any) -> np.ndarray:
    """``y``'s values as an array: a DataFrame of bool and number columns (0/1 labels, some
    read as False/True) in their common dtype, where ``to_numpy`` would give objects; a
    pandas nullable column (:func:`_numpy_column`) in numpy's dtype."""
    if isinstance(y, pd.DataFrame):
        dtypes = list(y.dtypes)
        if any(not isinstance(d, np.dtype) and _nullable_number(d) for d in dtypes):
            columns = [_numpy_column(y.iloc[:, j]) for j in range(y.shape[1])]
            if all(c.dtype.kind in "biuf" for c in columns):
                common = np.result_type(*(c.dtype for c in columns))
                return np.column_stack([np.asarray(c, dtype=common) for c in columns])
        if dtypes and all(isinstance(d, np.dtype) and d.kind in "biuf" for d in dtypes):
            return y.to_numpy(dtype=np.result_type(*dtypes))
        return y.to_numpy()
    if isinstance(y, pd.Series):
        return np.asarray(_numpy_column(y))
    return np.asarray(y)


def _nullable_number(dtype: Any) -> bool:
    """A pandas extension dtype of numbers or booleans with a numpy equivalent: Int64,
    UInt8, Float64, boolean (``convert_dtypes``, ``read_csv(dtype_backend=
    'numpy_nullable')``), int64[pyarrow] and the like."""
    return (getattr(dtype, "kind", "O") in "biuf"
            and isinstance(getattr(dtype, "numpy_dtype", None), np.dtype))


def _numpy_column(column: pd.Series) -> Any:
    """A column of a pandas nullable dtype (:func:`_nullable_number`) as numpy's: in its
    numpy dtype (Int64 -> int64, boolean -> bool, Float64 -> float64), or as float64 with
    NaN where it holds <NA>, which the missing-value errors then name by row and column.
    A frame of such columns gave ``to_numpy`` objects: its 0/1 labels were refused as
    'other values (e.g. 1)', the original API regressed on them, and a Float64 target with
    <NA> was 'non-numeric values (dtype object)'. Any other column is returned as it is."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) or not _nullable_number(dtype):
        return column
    if column.isna().any():
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return column.to_numpy(dtype=dtype.numpy_dtype)


def _label_sets(y: Any) -> list | None:
    """The rows of ``y`` where it is a set of label names per row (``[['news', 'tech'],
    ['sport'], ...]``: lists, tuples or sets, of varying length or in a Series), else
    None. Lists of one length are a matrix's rows (0/1 labels, or a class per column)."""
    if isinstance(y, (pd.Series, np.ndarray)):
        if y.dtype != object or y.ndim != 1:  # numbers or text: not walked row by row
            return None
        rows = list(y)
    elif isinstance(y, (list, tuple)):
        rows = list(y)
    else:
        return None
    kinds = (list, tuple, set, frozenset, np.ndarray)
    if not any(isinstance(row, kinds) for row in rows[:1000]):  # 2M labels: 0.6 s a walk
        return None
    sets = [isinstance(row, kinds) for row in rows]
    if (isinstance(y, (list, tuple)) and all(sets)
            and not any(isinstance(row, (set, frozenset)) for row in rows)
            and len({len(row) for row in rows}) == 1):
        return None
    return rows


def _refuse_label_sets(y: Any, estimator_name: str) -> None:
    """Raise for a set of label names per row (:func:`_label_sets`), saying how to turn
    it into a 0/1 column per label. numpy's words came instead ('setting an array element
    with a sequence ... inhomogeneous shape'), or for a Series scikit-learn's 'legacy
    multi-label data representation'."""
    rows = _label_sets(y)
    if rows is None:
        return
    sizes = [len(row) for row in rows if isinstance(row, (list, tuple, set, frozenset,
                                                           np.ndarray))]
    first = rows[0]  # shown as a list of plain values (numpy's read np.str_('news'))
    if isinstance(first, (list, tuple, set, frozenset, np.ndarray)):
        first = [v.item() if isinstance(v, np.generic) else v for v in first]
    raise ValueError(
        f"y holds a set of labels per row (row 0: {reprlib.repr(first)}; {min(sizes)} to "
        f"{max(sizes)} labels a row): {estimator_name} takes several labels per row as a 0/1 "
        "column per label; turn the sets into one with "
        "sklearn.preprocessing.MultiLabelBinarizer: binarizer = MultiLabelBinarizer(); "
        "Y = binarizer.fit_transform(y) (binarizer.classes_ names Y's columns, and "
        "binarizer.inverse_transform(model.predict(X)) gives sets back).")


def infer_task(y: Any) -> str:
    """'classification' or 'regression' from the target alone (``task='auto'``).

    Classification when ``y`` is non-numeric (strings, objects, categories) or boolean, or
    holds integral values (int dtype, or floats that are all whole numbers) with at most
    ``lepton.defaults.MAX_CLASSES_AUTO`` (20) distinct values, or is a 0/1 column per label
    (multilabel). Everything else, including other 2-D targets, is regression. Pass
    ``task=`` explicitly to override. Sets of label names per row are classification's
    (the fit then says how to give them, :func:`_refuse_label_sets`).
    """
    if _label_sets(y) is not None:
        return "classification"
    arr = _values(y)
    if arr.ndim == 2 and arr.shape[1] > 1:
        return "classification" if _is_multilabel(arr) else "regression"
    arr = arr.reshape(-1)
    if arr.dtype.kind in "OUSb" or isinstance(getattr(y, "dtype", None), pd.CategoricalDtype):
        return "classification"
    if arr.dtype.kind in "iu":
        return "classification" if len(np.unique(arr)) <= defaults.MAX_CLASSES_AUTO else "regression"
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        if len(finite) and np.all(finite == np.round(finite)) and len(
            np.unique(finite)
        ) <= defaults.MAX_CLASSES_AUTO:
            return "classification"
    return "regression"


def _check_y_finite(y: np.ndarray) -> None:
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = np.flatnonzero(~np.isfinite(y).reshape(len(y), -1).all(axis=1))
        raise ValueError(
            f"y contains NaN or infinity in {len(bad)} row(s) (first rows: {bad[:5].tolist()}); "
            "drop those rows or fill in the target before fitting."
        )


def encode_target(y: Any, task: str, n_samples: int, *, estimator_name: str,
                  sample_weight: Any = None, loss: str = "squared_error",
                  scale_rows: np.ndarray | None = None):
    """Validate ``y`` and encode it for training.

    Returns ``(y_encoded, encoder, n_outputs)``: class indices and a fitted LabelEncoder
    for classification; for a multilabel target (a 0/1 column per label) the float32 label
    columns and a :class:`LabelIndicator`; standardised float32 targets (2-D) and a
    StandardScaler for regression, its mean and scale weighted by ``sample_weight`` (a row
    of weight 0 is left out of the scaling as of every loss: such rows' targets, often
    placeholders, would otherwise set the scale). For ``loss='absolute_error'`` the scaler
    centres on the median and scales by the interquartile range (:func:`_median_scale`).
    ``scale_rows``: the rows the regression's scaler is fitted on (all by default).
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    if task == "classification":
        _refuse_label_sets(y, estimator_name)
        # not np.shape(y): it calls __array_function__, which scikit-learn's checks refuse
        shape = getattr(y, "shape", None) or np.asarray(y).shape
        if len(shape) == 2 and shape[1] > 1:
            labels = y.toarray() if sp.issparse(y) else _values(y)
            if not _is_multilabel(labels):
                _refuse_missing_labels(labels, y)
                _refuse_numbers_as_labels(labels, estimator_name)
                raise ValueError(
                    f"y has {shape[1]} columns (shape {shape}): {estimator_name} takes several "
                    f"labels per row as a 0/1 (or False/True) column per label (multilabel), "
                    f"but these columns hold other values (e.g. {_other_value(labels)!r}). For "
                    f"a class per column, fit one classifier per column: "
                    f"sklearn.multioutput.MultiOutputClassifier({estimator_name}(...))"
                    + (", each fit with its own time budget." if "Lepton" in estimator_name
                       else "."))
            _check_length(labels, n_samples)
            return labels.astype(np.float32), LabelIndicator(labels), shape[1]
        y_arr = column_or_1d(y.to_numpy() if isinstance(y, pd.Series) else y, warn=True)
        if y_arr.dtype.kind == "O" and (missing := pd.isna(pd.Series(y_arr))).any():
            bad = np.flatnonzero(missing.to_numpy())
            raise ValueError(
                f"y contains missing values (None/NaN) in {len(bad)} row(s) (first rows: "
                f"{bad[:5].tolist()}); drop those rows before fitting.")
        _check_y_finite(y_arr)
        if y_arr.dtype.kind == "O":
            text = np.fromiter((isinstance(v, str) for v in y_arr), bool, len(y_arr))
            if 0 < text.sum() < len(text):  # strings and numbers: scikit-learn's words for
                # it mislead ('Unknown label type: unknown ... continuous values')
                number = y_arr[~text][0]
                raise ValueError(
                    f"y mixes strings and other labels (e.g. {y_arr[text][0]!r} and "
                    f"{number!r} ({type(number).__name__})); give every label one type, "
                    "e.g. y.astype(str).")
        try:
            check_classification_targets(y_arr)
        except ValueError:  # scikit-learn's "Unknown label type: continuous (or unknown)",
            # its words kept first (its estimator checks look for them)
            raise ValueError(f"Unknown label type: {type_of_target(y_arr)}. "
                             + _label_type_error(y_arr, estimator_name)) from None
        _check_length(y_arr, n_samples)
        encoder = LabelEncoder().fit(y_arr)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y contains only one class ({encoder.classes_.tolist()[0]!r}); a classifier "
                "needs at least 2 classes."
            )
        return encoder.transform(y_arr).astype(np.int64), encoder, len(encoder.classes_)
    y_arr = _values(y)
    if y_arr.dtype.kind in "mM":  # numpy would regress on nanoseconds, without a word
        held = "dates" if y_arr.dtype.kind == "M" else "durations"
        raise ValueError(
            f"{estimator_name} is a regressor but y holds {held} (dtype {y_arr.dtype}); "
            "convert them to numbers first, e.g. days since the first.")
    if y_arr.dtype.kind not in "biuf":
        try:
            y_arr = y_arr.astype(np.float64)
        except (TypeError, ValueError):
            numbers = text_numbers(y_arr) if y_arr.ndim == 1 else None  # '$1,234.50', '?'
            if numbers is not None:
                return encode_target(numbers, task, n_samples, estimator_name=estimator_name,
                                     sample_weight=sample_weight, loss=loss,
                                     scale_rows=scale_rows)
            raise ValueError(
                f"{estimator_name} is a regressor but y holds non-numeric values "
                f"(dtype {y_arr.dtype}); use a classifier or convert y to numbers."
            ) from None
    y_arr = y_arr.astype(np.float64)
    if y_arr.ndim > 2 or y_arr.ndim == 0:
        raise ValueError(f"y must be 1-D or 2-D; got shape {y_arr.shape}.")
    _check_y_finite(y_arr)
    _check_length(y_arr, n_samples)
    y2 = y_arr.reshape(len(y_arr), -1)
    w = check_sample_weight(sample_weight, n_samples)
    if scale_rows is not None and (w is None or w[scale_rows].sum() > 0):  # else refused
        y2_fit, w = y2[scale_rows], _rows(w, scale_rows)  # later (check_rows_weighted)
    else:
        y2_fit = y2
    scaler = target_scaler(y2_fit, w, loss)
    if not (np.isfinite(scaler.scale_).all() and np.isfinite(scaler.mean_).all()):
        # squares of targets past ~1e154 overflow float64: the search went on, every score
        # NaN, and said to hold out more rows
        big = float(np.abs(y2).max())
        raise ValueError(
            f"y holds values too large to standardise in float64 (up to {big:.3g}): their "
            "squares overflow. Rescale y (divide it by a power of ten, or take its log) "
            "before fit.")
    return scaler.transform(y2).astype(np.float32), scaler, y2.shape[1]


def target_scaler(y2: np.ndarray, w: np.ndarray | None,
                  loss: str = "squared_error") -> StandardScaler:
    """A regression's targets' scaler fitted on ``y2`` (2-D): mean and standard deviation
    weighted by ``w``, or for ``loss='absolute_error'`` median and interquartile range
    (:func:`_median_scale`). Its mean or scale is not finite where the squares of ``y2``
    overflow float64 (the caller says so)."""
    # arrays, whatever a user's sklearn.set_config(transform_output="pandas") says: a frame
    # here was indexed by row numbers as by column names (KeyError)
    with np.errstate(over="ignore", invalid="ignore"):
        scaler = StandardScaler().set_output(transform="default").fit(y2, sample_weight=w)
    if loss == "absolute_error" and np.isfinite(scaler.scale_).all():
        _median_scale(scaler, y2, w)
    return scaler


def _median_scale(scaler: StandardScaler, y2: np.ndarray, w: np.ndarray | None) -> None:
    """Centre ``scaler`` on each column's (weighted) median and scale it by the
    interquartile range / 1.349 (a normal distribution's standard deviation), keeping the
    standard deviation where that range is 0. Absolute errors are trained for targets with
    outliers, and outliers set the standard deviation: with 2% of the targets off by 1e4,
    the rest span a thousandth of it, and a network trained on absolute errors of the
    standardised targets was off by 28 where the targets vary by 3 (by 0.3 on these
    scales; tests/estimators/test_estimators.py)."""
    w = np.ones(len(y2)) if w is None else np.asarray(w, dtype=np.float64)
    for j in range(y2.shape[1]):
        order = np.argsort(y2[:, j], kind="stable")
        values, cum = y2[order, j], np.cumsum(w[order])
        # the inverted CDF: the first value whose cumulative weight reaches each share
        at = np.searchsorted(cum, np.array([0.25, 0.5, 0.75]) * cum[-1])
        low, median, high = values[np.minimum(at, len(values) - 1)]
        scaler.mean_[j] = median
        if high > low:
            scaler.scale_[j] = (high - low) / 1.349


def _label_type_error(y: np.ndarray, estimator_name: str) -> str:
    """Why ``y`` (1-D) holds no classes: booleans beside numbers, or numbers that are not
    whole. scikit-learn's words ('Unknown label type: continuous (or unknown). Maybe you
    are trying to fit a classifier ...') came even where --task classification was asked
    for, and named neither the values nor a way out (review helper-47)."""
    flags = [isinstance(v, (bool, np.bool_)) for v in y]
    if any(flags) and not all(flags):
        other = next(v for v, flag in zip(y, flags) if not flag)
        return (f"y mixes booleans and other labels (e.g. {y[flags.index(True)]!r} and "
                f"{other!r}); give every label one type, e.g. y.astype(str).")
    values = pd.to_numeric(pd.Series(y), errors="coerce")
    odd = values[values.notna() & (values % 1 != 0)]
    shown = (f" (e.g. {float(odd.iloc[0]):g}; {values.nunique()} distinct values)"
             if len(odd) else "")
    return (f"y holds numbers that are not whole{shown}: {estimator_name} takes classes as "
            "whole numbers, strings or booleans. A numeric target is a regression's "
            "(LeptonRegressor; lepton run --task regression); classes written as decimals "
            "can be given as text, e.g. y.astype(str).")


def record_target_names(estimator: Any, y: Any, encoder: Any) -> None:
    """``target_names_``: the columns of a DataFrame ``y`` of several (labels, or a
    regression's outputs), which ``lepton predict`` names its prediction columns after;
    absent for any other ``y``. ``_boolean_targets``: a multilabel target's (``encoder``,
    :func:`encode_target`'s) columns of boolean dtype, where others are not (``predict``
    gives every label in their common dtype, 0/1; ``lepton predict`` and the MLflow model
    give such a column as True/False again). A regression's True/False output predicts
    numbers: none (made booleans, every prediction but 0 was True: review helper-76)."""
    for earlier in ("target_names_", "_boolean_targets"):
        estimator.__dict__.pop(earlier, None)
    if isinstance(y, pd.DataFrame) and y.shape[1] > 1:
        estimator.target_names_ = [str(c) for c in y.columns]
        boolean = [str(c) for c, dtype in y.dtypes.items() if pd.api.types.is_bool_dtype(dtype)]
        if getattr(encoder, "multilabel", False) and 0 < len(boolean) < y.shape[1]:
            estimator._boolean_targets = boolean


def accuracy_score_of(model, X, y, sample_weight=None) -> float:
    """The accuracy of ``model.predict(X)`` against ``y`` (scikit-learn's
    ``ClassifierMixin.score``), a multilabel ``y`` given as a DataFrame of 0/1 and
    True/False columns compared in their common dtype, as ``fit`` takes it: scikit-learn
    reads such a frame as objects and stopped on it (scipy.sparse does not support dtype
    object)."""
    from sklearn.metrics import accuracy_score

    if isinstance(y, pd.DataFrame):
        y = _values(y)
    return float(accuracy_score(y, model.predict(X), sample_weight=sample_weight))


def target_columns(model, prediction: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """The columns of a prediction of several targets by ``names``, each as ``y`` gave it:
    a label column that was True/False beside 0/1 ones is True/False (``predict``'s array
    holds every label as 0/1)."""
    boolean = set(getattr(model, "_boolean_targets", ()))
    return {name: (prediction[:, k].astype(bool) if name in boolean else prediction[:, k])
            for k, name in enumerate(names)}


def _refuse_missing_labels(labels: np.ndarray, y: Any) -> None:
    """Raise for 0/1 label columns with missing cells (NaN, None), naming the first: each
    row needs every label (the rest of the error for other values would suggest a
    classifier per column, which is not the fix)."""
    frame = pd.DataFrame(labels)
    missing = frame.isna().to_numpy()
    if not missing.any():
        return
    try:
        filled = frame.where(~missing, 0).to_numpy(dtype=np.float64)
    except (TypeError, ValueError):  # text among the labels: the other error says so
        return
    if not np.isin(filled, (0, 1)).all():
        return
    row, col = (int(i) for i in np.argwhere(missing)[0])
    column = (f"column {y.columns[col]!r}" if isinstance(y, pd.DataFrame)
              else f"label column {col}")
    raise ValueError(
        f"y has {int(missing.sum())} missing labels (NaN), the first in row {row}, {column}: "
        "a multilabel target needs every label of every row. Fill them (0 where a missing "
        "label means absent) or leave those rows out.")


def _refuse_numbers_as_labels(labels: np.ndarray, estimator_name: str) -> None:
    """Raise for 2-D numbers a classifier cannot take as 0/1 labels, with what to do
    instead (the error for other values advised a classifier per column): -1/1 columns,
    and numbers that are not whole (a regression's outputs)."""
    if labels.dtype.kind not in "biuf":
        return
    k = labels.shape[1]
    if np.isin(labels, (-1, 1)).all():
        # scikit-learn's type_of_target calls these 'multilabel-indicator', and its
        # MLPClassifier trains them towards 1 (on 200 rows of 3 labels it predicted every
        # label 1, probability 1.0) and predicts 0/1: Lepton too would predict 0/1
        raise ValueError(
            f"y has {k} columns of -1/1 values: {estimator_name} takes several labels per "
            "row as a 0/1 (or False/True) column per label, and would predict 0/1. Pass "
            "(y == 1).astype(int): 1 where a label applies, 0 where it is -1 (2 * "
            "predict(X) - 1 gives -1/1 back).")
    finite = labels[np.isfinite(labels)] if labels.dtype.kind == "f" else labels[:0]
    odd = finite[finite != np.round(finite)]
    if len(odd):
        regressor = (f"{estimator_name[:-len('Classifier')]}Regressor"
                     if estimator_name.endswith("Classifier")
                     else f"{estimator_name}(task='regression')")
        raise ValueError(
            f"y has {k} columns of numbers that are not whole (e.g. {float(odd[0]):g}): "
            f"{estimator_name} takes several labels per row as a 0/1 (or False/True) column "
            f"per label. Numbers to predict are a regression's outputs: {regressor} fits "
            f"all {k} columns at once.")


def _other_value(labels: np.ndarray) -> Any:
    """A value of ``labels`` that is not 0 or 1 (for the error that names one)."""
    flat = pd.Series(labels.ravel())
    other = flat[~flat.isin([0, 1])]
    value = other.iloc[0] if len(other) else flat.iloc[0]
    return value.item() if isinstance(value, np.generic) else value


def _check_length(y: np.ndarray, n_samples: int) -> None:
    if len(y) != n_samples:
        raise ValueError(
            f"X and y have different lengths: X has {n_samples} rows, y has {len(y)}; "
            "they must describe the same samples."
        )


def check_sample_weight(sample_weight: Any, n_samples: int, *, y_cls: np.ndarray | None = None,
                        classes: np.ndarray | None = None) -> np.ndarray | None:
    """``sample_weight`` as float64 row weights, checked, or None where every row weighs
    the same (None, a number, or equal weights: then nothing is weighted, and the fit is
    exactly the unweighted one).

    Weights must be finite and >= 0, one per row, some positive; for classification
    (``y_cls``, indices into ``classes``) rows of positive weight must hold at least two
    classes.
    The errors name the rows at fault. A weight scales a row's share of the training
    loss and of every validation score (accuracy, R^2, the search's metric): weight 2
    counts a row twice, on average (minibatches make it no exact repeat of the row).
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.ndim == 0:
        w = np.full(n_samples, w)
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numbers (one weight >= 0 per row); got dtype "
                         f"{w.dtype}.")
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {w.shape}; expected one weight per row of X: "
                         f"shape ({n_samples},).")
    w = w.astype(np.float64)  # a copy: the caller's array is never changed

    def rows(mask: np.ndarray) -> str:
        bad = np.flatnonzero(mask)
        shown = ", ".join(f"{i} ({w[i]:g})" for i in bad[:5])
        return f"row {shown}" if len(bad) == 1 else f"{len(bad)} rows, the first: {shown}"

    if not np.isfinite(w).all():
        raise ValueError(f"sample_weight must be finite numbers >= 0; it is not at "
                         f"{rows(~np.isfinite(w))}.")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be >= 0; it is negative at {rows(w < 0)}.")
    if not (w > 0).any():
        raise ValueError("sample_weight is zero for every row; at least one weight must be "
                         "positive.")
    if y_cls is not None:
        kept = np.unique(y_cls[w > 0])
        if len(kept) < 2:
            label = kept[0] if classes is None else classes[kept[0]]
            label = label.item() if isinstance(label, np.generic) else label
            raise ValueError(
                f"sample_weight is zero for every row of all classes but one (class "
                f"{label!r}); a classifier needs rows of positive weight in at least two "
                "classes.")
    if np.all(w == w[0]):
        return None
    return w


def check_rows_weighted(w: np.ndarray | None, idx: np.ndarray | None, what: str) -> None:
    """Rows of a split whose weights are all zero can be neither trained nor scored on:
    an error naming them (``what``: 'validation rows (validation_fraction=0.1)')."""
    if w is not None and idx is not None and not (w[idx] > 0).any():
        raise ValueError(
            f"the {len(idx)} {what} all have sample_weight 0, so nothing can be trained or "
            "scored on them; give more rows a positive weight.")


def split_validation(n_samples: int, fraction: float, y_cls: np.ndarray | None,
                     seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Train/validation row indices (stratified for classification when possible)."""
    idx = np.arange(n_samples)
    n_val = int(math.ceil(fraction * n_samples))
    if fraction <= 0 or n_samples < 4 or n_val < 1:
        return idx, None
    if n_val >= n_samples:
        raise ValueError(
            f"validation_fraction={fraction:g} of {n_samples} rows holds out {n_val} rows, "
            "leaving none to train on; use a smaller fraction (0.2 is the default).")
    stratify = None
    if y_cls is not None:
        counts = np.bincount(y_cls)
        if n_samples - n_val < (counts > 0).sum():
            raise ValueError(
                f"validation_fraction={fraction:g} of {n_samples} rows holds out {n_val} rows, "
                f"leaving {n_samples - n_val} to train on, fewer than the "
                f"{(counts > 0).sum()} classes; use a smaller fraction (0.2 is the default).")
        if counts[counts > 0].min() >= 2 and n_val >= (counts > 0).sum():
            stratify = y_cls
    train_idx, val_idx = train_test_split(idx, test_size=n_val, random_state=seed,
                                          stratify=stratify)
    if y_cls is not None:  # stratified or not (a class of one row rules it out)
        train_idx, val_idx = _every_class_validated(y_cls, train_idx, val_idx, seed)
    return np.sort(train_idx), np.sort(val_idx)


def _every_class_validated(y_cls: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A split with a row of every class of two rows or more among the validation rows,
    where they have room, and the row of a class of one among the training rows: a row is
    swapped for one of the class the other side holds most of. A stratified
    train_test_split rounds a class's share down: 2 rows of 5,000 had none in a 20%
    validation split for 20 seeds of 20, and a search that never predicted the class
    validated at balanced accuracy 1.0 (0.50 held out; review helper-47)."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = train_idx.copy(), val_idx.copy()
    n_classes = int(y_cls.max()) + 1
    counts = np.bincount(y_cls, minlength=n_classes)
    for at in np.flatnonzero(counts[y_cls[val_idx]] == 1):  # a class of one row trains
        trained = np.bincount(y_cls[train_idx], minlength=n_classes)
        take = rng.choice(np.flatnonzero(y_cls[train_idx] == trained.argmax()))
        train_idx[take], val_idx[at] = val_idx[at], train_idx[take]
    for cls in np.flatnonzero(np.bincount(y_cls[val_idx], minlength=n_classes) == 0):
        rows = np.flatnonzero(y_cls[train_idx] == cls)
        if len(rows) < 2:
            continue
        held = np.bincount(y_cls[val_idx], minlength=n_classes)
        if held.max() < 2:  # no room: each class there has one row
            break
        give = rng.choice(np.flatnonzero(y_cls[val_idx] == held.argmax()))
        take = rng.choice(rows)
        train_idx[take], val_idx[give] = val_idx[give], train_idx[take]
    return train_idx, val_idx


def _class_args(task: str, y_enc: np.ndarray, encoder: Any) -> dict[str, Any]:
    """check_sample_weight's class arguments for a target as encode_target encoded it."""
    return ({"y_cls": y_enc, "classes": encoder.classes_}
            if target_kind(task, encoder) == "classification" else {})


@contextlib.contextmanager
def kept_on_failure(estimator: Any):
    """A ``fit`` that raises (refused, failed, or stopped by Ctrl-C) leaves ``estimator``
    as it was: a fitted one keeps predicting (a refused refit had recorded the new columns
    first, and the old model then refused its own rows)."""
    fitted = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(fitted)
        raise


def validate_params(estimator: BaseEstimator) -> None:
    """scikit-learn's check of the constructor's values, and one it lacks: True or False
    where a number goes is refused (scikit-learn takes it as 1 or 0: ``n_trials=True`` was a
    search of one trial, ``epochs=True`` one epoch). ``verbose`` and flags keep bools."""
    estimator._validate_params()
    for name, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, name)
        if isinstance(value, bool) and not any(
                isinstance(c, str) and c in ("boolean", "verbose") for c in constraints):
            accepted = " or ".join(str(make_constraint(c)) for c in constraints)
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be {accepted}; "
                f"got {value!r}, a bool where a number goes.")


def warn_unstable(name: str, result, task, data, learning_rate: float) -> None:
    """Warn of a training that ended with a loss far above a constant prediction's: a
    learning rate far too high keeps the loss finite but huge (learning_rate=100 ended a
    regression at 1.6e15 and R^2 -1e15, as 'completed', without a word)."""
    kept = [h for h in result.history if h["epoch"] == result.best_epoch] or result.history[-1:]
    if not kept or data.y is None:
        return
    ended, base = kept[0]["train_loss"], constant_loss(task, data.y, data.w)
    if math.isfinite(ended) and ended > 10 * max(base, 0.1):
        warn_at_caller(
            f"{name}'s training loss ended at {ended:.3g}, {ended / max(base, 1e-12):.3g} times "
            f"a constant prediction's ({base:.3g}): training did not settle. "
            f"learning_rate={learning_rate:g} is likely too high (1e-4 to 1e-2 is usual for "
            "Adam).", TrainingWarning)


def _rows(w: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if w is None else w[idx]


class BaseNeuralNetwork(BaseEstimator):
    """Base of NeuralNetworkClassifier / NeuralNetworkRegressor / NeuralNetwork."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [str, list, tuple],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "normalization": [StrOptions({"none", "batch", "layer"}), None],
        "residual": ["boolean"],
        "architecture": [dict, None],
        "input_shape": ["array-like", None],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions(set(SCHEDULES))],
        "warmup_fraction": [Interval(Real, 0, 0.5, closed="both")],
        "beta1": [Interval(Real, 0, 1, closed="left")],
        "gradient_clip": [Interval(Real, 0, None, closed="neither"), None],
        "input_scaling": [StrOptions(set(SCALINGS))],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _task: str | None = None  # fixed by subclasses; NeuralNetwork decides at fit

    # -- configuration -------------------------------------------------------------
    def _model_config(self) -> ModelConfig:
        if self.architecture is not None:
            arch = self.architecture
            if "layers" not in arch and arch.get("family", "mlp") in ("mlp", "resnet"):
                # {} built a linear model, hidden_layer_sizes ignored (review helper-62)
                raise ValueError(
                    f"architecture={arch!r} gives no 'layers', and replaces hidden_layer_sizes "
                    "and activation: give the layers (e.g. {'layers': [{'width': 256, "
                    "'activation': 'relu'}]}), 'layers': [] for a linear model, or "
                    "architecture=None to use hidden_layer_sizes.")
            return ModelConfig.from_dict(arch, where="architecture")
        sizes = np.atleast_1d(np.asarray(self.hidden_layer_sizes))
        if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or (sizes < 1).any() or \
                (sizes > defaults.MAX_WIDTH).any():
            # a width of 10**9 was taken, and the process killed for its memory (16 GB of
            # weights: review helper-80); search spaces cap widths the same
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} must be a list of integers "
                f"in [1, {defaults.MAX_WIDTH}], e.g. (256, 256)."
            )
        acts = self.activation
        if isinstance(acts, str):
            acts = [acts] * len(sizes)
        acts = list(acts)
        if len(acts) != len(sizes):
            raise ValueError(
                f"activation has {len(acts)} entries but hidden_layer_sizes has {len(sizes)} "
                "layers; give one activation name or one per layer."
            )
        for i, a in enumerate(acts):
            check_activation(a, where="activation" if isinstance(self.activation, str)
                             else f"activation[{i}]")
        return ModelConfig.from_dict({
            "family": "mlp",
            "layers": [{"width": int(w), "activation": a} for w, a in zip(sizes, acts)],
            "normalization": self.normalization or "none",
            "dropout": self.dropout,
            "residual": self.residual,
        })

    def _training_config(self, n_train: int, epochs: int | None, batch_size: int | str | None,
                         has_validation: bool) -> TrainingConfig:
        bs = self.batch_size if batch_size is None else batch_size
        if bs == "auto":
            bs = defaults.auto_batch_size(n_train)
        return TrainingConfig(
            epochs=int(self.epochs if epochs is None else epochs),
            batch_size=int(bs),
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            lr_schedule=self.lr_schedule,
            warmup_fraction=float(self.warmup_fraction),
            betas=(float(self.beta1), 0.999),
            gradient_clip=self.gradient_clip,
            early_stopping=bool(self.early_stopping and has_validation),
            patience=int(self.n_iter_no_change),
            label_smoothing=float(getattr(self, "label_smoothing", 0.0)),
            max_time=self.max_time,
        )

    def _check_fit_overrides(self, epochs, batch_size) -> None:
        if epochs is not None and (not isinstance(epochs, Integral) or isinstance(epochs, bool)
                                   or epochs < 1):
            raise ValueError(f"fit(epochs={epochs!r}): epochs must be a positive integer.")
        if batch_size is not None and batch_size != "auto" and (
            not isinstance(batch_size, Integral) or isinstance(batch_size, bool) or batch_size < 1
        ):
            raise ValueError(
                f"fit(batch_size={batch_size!r}): batch_size must be a positive integer or 'auto'."
            )

    # -- fit -------------------------------------------------------------------------
    def _resolve_task(self, y) -> str:
        return self._task or "regression"

    def fit(self, X, y, sample_weight=None, *, epochs: int | None = None,
            batch_size: int | str | None = None):
        """Train on ``X, y``. ``sample_weight``: a weight >= 0 per row, scaling its share
        of the training loss and of the validation loss that early stopping watches
        (:func:`check_sample_weight`). ``epochs`` / ``batch_size`` override the
        constructor's values for this call only (the original Lepton API:
        ``fit(x, y, epochs=100, batch_size=10)``). A fit that is refused or fails (or is
        stopped by Ctrl-C) leaves a fitted estimator as it was.
        """
        with kept_on_failure(self):
            return self._fit(X, y, sample_weight, epochs, batch_size)

    def _fit(self, X, y, sample_weight, epochs, batch_size):
        validate_params(self)
        self._check_fit_overrides(epochs, batch_size)
        name = type(self).__name__
        model_config = self._model_config()
        device = resolve_device(self.device)

        X = check_features(self, X, input_shape=self.input_shape, reset=True)
        n = X.shape[0]
        if n < 2:
            raise ValueError(
                f"{name} got 1 sample (n_samples=1); at least 2 are needed to train."
            )
        task = self._resolve_task(y)
        if task == "regression" and getattr(self, "label_smoothing", 0.0) > 0:
            raise ValueError(
                f"label_smoothing={self.label_smoothing:g} applies to classification, and y "
                "is a regression target (task='regression'); leave it at 0.")
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        # Too few validation rows to stop on: train on all rows for `epochs` epochs.
        hold_out = self.early_stopping and (
            math.ceil(self.validation_fraction * n) >= defaults.MIN_EARLY_STOPPING_ROWS)
        fraction = self.validation_fraction if hold_out else 0.0
        # a regression's rows split first: its targets are scaled by the training rows
        # alone (the early-stopping rows set neither the network's starting output nor its
        # scale, as a search's folds); a classification's split is stratified
        rows = split_validation(n, fraction, None, seed) if task == "regression" else None
        y_enc, encoder, n_outputs = encode_target(y, task, n, estimator_name=name,
                                                  sample_weight=sample_weight,
                                                  loss=getattr(self, "loss", "squared_error"),
                                                  scale_rows=None if rows is None else rows[0])
        record_target_names(self, y, encoder)
        w = check_sample_weight(sample_weight, n, **_class_args(task, y_enc, encoder))
        kind = target_kind(task, encoder)
        train_idx, val_idx = rows if rows is not None else split_validation(
            n, fraction, y_enc if kind == "classification" else None, seed)
        check_rows_weighted(w, train_idx, "training rows")
        check_rows_weighted(w, val_idx, "validation rows (validation_fraction="
                            f"{self.validation_fraction:g})")

        preprocessor = TabularPreprocessor(max_onehot_cardinality=defaults.MAX_ONEHOT_CARDINALITY,
                                           onehot_cells=defaults.ONEHOT_CELLS,
                                           scaling=self.input_scaling,
                                           channels=image_channels(self.input_shape_))
        from threadpoolctl import threadpool_limits

        # BLAS/OpenMP maths (a text column's TruncatedSVD) on the threads torch gets below:
        # one per core oversubscribed a busy machine (search/estimators.py's _make_folds)
        with column_errors_on_all_rows(X), threadpool_limits(limits=threads_per_trial(1)):
            Xt = preprocessor.fit_transform(_safe_indexing(X, train_idx), y_enc[train_idx])
            Xv = None if val_idx is None else preprocessor.transform(_safe_indexing(X, val_idx))
        warn_left_out(name, preprocessor.dropped_columns_)
        y_dtype = torch.long if kind == "classification" else torch.float32
        train_data = TensorData(Xt, y_enc[train_idx], w=_rows(w, train_idx), device=device,
                                y_dtype=y_dtype)
        valid_data = None
        if Xv is not None:
            valid_data = TensorData(Xv, y_enc[val_idx], w=_rows(w, val_idx), device=device,
                                    y_dtype=y_dtype)

        input_shape = self._check_input_shape(model_config, Xt.shape[1])
        config = self._training_config(len(train_idx), epochs, batch_size, valid_data is not None)
        if model_config.normalization == "batch" and model_config.layers and \
                config.batch_size < 2:  # BatchNorm1d of the hidden layers (not a cnn's 2d)
            raise ValueError(
                f"batch_size={config.batch_size} with normalization='batch': batch "
                "normalisation needs at least 2 rows per training batch; use batch_size >= 2, "
                "or normalization='layer' or 'none'.")
        callbacks = [ProgressPrinter(prefix=f"[{name}] ")] if self.verbose else []
        task_obj = Task(kind, n_outputs, label_smoothing=config.label_smoothing,
                        regression_loss=getattr(self, "loss", "squared_error"))
        # torch's default (one thread per core) collapses when other processes hold cores
        # (benchmarks/results/parallel_trials_run1_shared.md): use the cores left free.
        with torch_threads(threads_per_trial(1)):
            module, result = fit_model(model_config, train_data, valid_data, task_obj, config,
                                       seed=seed, input_shape=input_shape, callbacks=callbacks)
        if result.status == DIVERGED:
            if result.best_epoch is None:
                raise DivergedError(f"{name} training diverged: {result.message}.")
            warnings.warn(f"{name} training diverged ({result.message}); keeping the weights "
                          f"of epoch {result.best_epoch}.", TrainingWarning, stacklevel=2)
        else:
            warn_unstable(name, result, task_obj, train_data, config.learning_rate)

        self._set_fitted(module=module, preprocessor=preprocessor, task=task,
                         encoder=encoder, n_outputs=n_outputs, model_config=model_config,
                         training_config=config, result=result, device=device,
                         y_1d=np.asarray(y).ndim == 1)
        return self

    def _set_fitted(self, *, module, preprocessor, task, encoder, n_outputs, model_config,
                    training_config, result, device, y_1d) -> None:
        self.task_ = task
        self.preprocessor_ = preprocessor
        for other in (("y_scaler_", "_y_1d") if task == "classification"
                      else ("classes_", "multilabel_", "_label_dtype")):
            self.__dict__.pop(other, None)  # a previous fit's, of the other task
        if task == "classification":
            self.__dict__.pop("_label_dtype", None)
            self.classes_ = encoder.classes_
            self.multilabel_ = target_kind(task, encoder) == "multilabel"
            if self.multilabel_:
                self._label_dtype = encoder.dtype
        else:
            self.y_scaler_ = encoder
            self._y_1d = bool(y_1d)
        self.n_outputs_ = n_outputs
        self.module_ = module.eval()
        self.model_config_ = ModelConfig.from_dict(model_config).to_dict()
        self.training_config_ = training_config
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = len(result.history)
        self.training_status_ = result.status
        self.device_ = str(device)

    @classmethod
    def _from_trained(cls, *, module, preprocessor, task, encoder, n_outputs, model_config,
                      training_config: TrainingConfig, result, device, y_1d, n_features_in,
                      feature_names_in=None, random_state=None, input_shape=None,
                      image=(None, False), **params):
        """A fitted estimator around a network trained elsewhere (by the search), with
        constructor parameters that reproduce its training when the estimator is refitted.
        ``image``: the search's ``input_shape_`` and ``channels_last_``, which X at predict
        must match (:func:`~lepton.preprocessing.check_features`)."""
        tc = training_config
        kwargs = dict(architecture=dict(ModelConfig.from_dict(model_config).to_dict()),
                      epochs=tc.epochs, batch_size=tc.batch_size, learning_rate=tc.learning_rate,
                      weight_decay=tc.weight_decay, lr_schedule=tc.lr_schedule,
                      warmup_fraction=tc.warmup_fraction, beta1=tc.betas[0],
                      gradient_clip=tc.gradient_clip, early_stopping=tc.early_stopping,
                      n_iter_no_change=tc.patience, device=str(device),
                      input_scaling=preprocessor.scaling, random_state=random_state,
                      input_shape=input_shape, **params)
        if "label_smoothing" in cls._parameter_constraints:
            kwargs["label_smoothing"] = tc.label_smoothing
        est = cls(**kwargs)
        est.n_features_in_ = n_features_in
        est.input_shape_, est.channels_last_ = image
        if feature_names_in is not None:
            est.feature_names_in_ = feature_names_in
        est._set_fitted(module=module, preprocessor=preprocessor, task=task, encoder=encoder,
                        n_outputs=n_outputs, model_config=model_config, training_config=tc,
                        result=result, device=device, y_1d=y_1d)
        return est

    def _check_input_shape(self, model_config: ModelConfig, n_features: int):
        """The network's per-sample shape: ``input_shape_``, the images' shape channels
        first (``input_shape``, else X's own), or None for rows."""
        if self.input_shape_ is None:
            return None
        shape = list(self.input_shape_)
        if model_config.family == "cnn" and n_features != math.prod(shape):
            raise ValueError(
                f"the cnn architecture needs all-numeric image input without missing values; "
                f"preprocessing produced {n_features} features for input_shape={shape}."
            )
        return shape

    # -- predict -----------------------------------------------------------------------
    def _outputs(self, X) -> torch.Tensor:
        check_is_fitted(self, "module_")
        X = check_features(self, X, input_shape=self.input_shape, reset=False)
        device = self._predict_device()
        warn_unseen_categories([self.preprocessor_], X)
        Xt = self.preprocessor_.transform(X)
        self.module_.to(device)
        return predict_outputs(self.module_, TensorData(Xt, device=device)).cpu()

    def _predict_device(self) -> torch.device:
        return usable_device(self.device_)

    def _predict_proba(self, X) -> np.ndarray:
        out = self._outputs(X).double()
        if getattr(self, "multilabel_", False):  # each label's own probability
            return torch.sigmoid(out).numpy()
        return torch.softmax(out, dim=1).numpy()

    def _predict_classes(self, X) -> np.ndarray:
        out = self._outputs(X)
        if getattr(self, "multilabel_", False):  # a 0/1 column per label, as y was
            return (out > 0).numpy().astype(self._label_dtype)
        return self.classes_[out.argmax(1).numpy()]

    def _predict_values(self, X) -> np.ndarray:
        out = self._outputs(X).double().numpy()
        pred = self.y_scaler_.inverse_transform(out).astype(np.float64)
        return pred.ravel() if self._y_1d else pred

    # -- persistence -------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            state = dict(state)
            state["module_"] = copy.deepcopy(module).cpu()
        return stamp_version(state)

    def __setstate__(self, state):
        check_version(state)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags

