"""Input validation and preprocessing, built from scikit-learn transformers.

:class:`TabularPreprocessor` turns whatever a user passes (numpy array, pandas
DataFrame with numeric / categorical / string / boolean / missing values, scipy sparse
matrix, image-shaped array) into the float32 matrix a network consumes. It is fitted on
training data only:

- numeric columns: median imputation plus a missing-value indicator
  (``SimpleImputer(add_indicator=True)``), then, by ``scaling``, :class:`RobustClipScaler`
  (``'robust'``, the default: median / IQR scaling with smooth clipping of outliers) or
  ``StandardScaler`` (``'standard'``: mean / standard deviation, nothing clipped), or for
  images' pixels :class:`GlobalScaler` (``'global'``: one mean and deviation for all, or
  for each channel). Neither
  wins everywhere (fixed 2x256 network, dev splits; benchmarks/dev/input_scaling.py):
  clipping helps on breast_cancer's heavy-tailed columns and costs accuracy on wine, whose
  extreme values carry the class. A search space may search it (``input_scaling``); the
  built-in spaces search it for regression only (see :mod:`lepton.search.priors`).
  On tables over ``QUANTILE_SAMPLE_ROWS`` (200,000) rows the medians and quartiles come
  from a fixed random sample of that many rows;
- categorical columns (object, string, category): one-hot encoding up to
  ``max_onehot_cardinality`` distinct values, and wider columns too (narrowest first) while
  the one-hot block holds at most ``onehot_cells`` cells (rows x columns: memory); the
  columns left, fitted with a target, are target-encoded (scikit-learn's
  ``TargetEncoder``: the target's mean per category, shrunk towards the overall mean and
  cross-fitted on the training rows, so a row's own target does not leak into its code),
  without one ordinal codes; all of these standardised. Unseen categories at predict time
  map to all-zeros (one-hot), the overall mean (target) or a reserved code (ordinal).
  Measured with a fixed network (3,000 rows, a 300-level column carrying most of the
  signal; ``benchmarks/dev/categorical_encoding.py``): held-out R^2 0.33-0.38 with ordinal
  codes, 0.87 target-encoded, 0.88-0.90 one-hot;
- boolean columns are numeric 0/1; durations (``timedelta64``) are numeric in seconds,
  whatever their unit (pandas' raw counts are in the unit: the same durations in ``[ms]``
  were 1,000 times those in ``[s]``), and so is text in which every value is a duration
  as pandas writes one to a CSV (``'0 days 05:06:22'``, ``'3 days'``: the word days tells
  it from a number or a time of day), which was free text before;
- numbers written with a currency sign (``$``, ``€``, ``£``, ``¥``, ``₹``), thousands
  separators (``1,234,567``: commas in groups of three, a point for decimals), a ``%``
  sign or accounting parentheses for negatives (``(1,234.50)``) are read as numbers (the
  percentage as written: ``12%`` is 12), where pandas leaves them text, which made them
  categories or identifiers. A column qualifies when at least half of its first 200
  values are such numbers, one of them decorated; then any value that is not is an error
  naming it (as in any numeric column). ``1,234`` is read as one thousand two hundred and
  thirty-four: a column written with decimal commas (``12,5``) is not read as numbers;
- a number or date column in which some values are written as missing in words or signs
  (``MISSING_MARKERS``: ``?`` as in the UCI tables, ``-``, ``n/a``, ``unknown``, ``null``,
  ...; case and spaces aside) is read as numbers or dates with those values missing
  (imputed, with the indicator), where pandas' CSV reader leaves the whole column text.
  Any other value that is not a number (or date) is still an error naming it. In a
  categorical column such a value stays a category;
- date and time columns (``datetime64``, or text in which every value is a date in one
  format: ISO 8601, ``%m/%d/%Y``, ``%d.%m.%Y``, ``3 May 2024``, ...) become numbers: days
  since 1970 of the instant (the trend), and the position in the year, the week and (when
  the times vary) the day in each value's own local time (the offset in its text, the
  time zone of its dtype) as sine/cosine pairs (seasons, weekdays, hours), then go through
  the numeric columns' imputation and scaling, the days clipped far out only
  (``DAYS_CLIP``: the dates to predict lie past the fit rows' by design). Read as
  categories, every date of a new row would be unseen;
- free-text columns (``TEXT_MIN_WORDS`` words a value on average, at least
  ``TEXT_MIN_DISTINCT`` of the values distinct: reviews, descriptions, comments; text or
  pandas ``category`` dtype) become
  ``TEXT_COMPONENTS`` numbers each: TF-IDF of words and word pairs reduced by truncated SVD
  (latent semantic analysis), and fitted with a target, each class's naive Bayes
  log-probability (a regression's ridge prediction) from the TF-IDF, cross-fitted as the
  target encoder is; all standardised. On 2,000 synthetic product reviews with a
  price, a fixed network's held-out accuracy went from 0.44-0.54 (the column left out as
  an identifier) to 0.83-0.87 (``benchmarks/dev/text_columns.py``);
- a column without a header (pandas names it ``Unnamed: 0``) of distinct whole numbers is
  the index a DataFrame wrote to its CSV (``to_csv`` without ``index=False``) and is left
  out: noise, or a leak where the file was sorted before it was written;
- identifier-like text columns, whose values are (nearly) all distinct (``ID_UNIQUE_RATIO``
  of at least ``ID_MIN_ROWS`` values, and not free text: customer ids, names), are left out
  (``dropped_columns_`` says why): as categories they are noise to the network, and every
  new row's value would be unseen. A numeric identifier cannot be told from a measurement
  and stays; remove it yourself;
- sparse input (e.g. TF-IDF) keeps its sparsity and is scaled by ``MaxAbsScaler``.

A search may keep only the most informative of the preprocessed columns
(``feature_fraction``): :func:`feature_ranking` orders them by a univariate F-test
against the target on the training rows, and :meth:`TabularPreprocessor.keeping` gives a
preprocessor that outputs the chosen ones.
"""

from __future__ import annotations

import copy
import datetime
import functools
import math
import re
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (MaxAbsScaler, OneHotEncoder, OrdinalEncoder, StandardScaler,
                                   TargetEncoder)
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from pandas.tseries.api import guess_datetime_format

from . import defaults

__all__ = ["TabularPreprocessor", "RobustClipScaler", "GlobalScaler", "check_X",
           "check_features", "image_channels", "MISSING_CATEGORY", "SCALINGS", "TABLE_SCALINGS",
           "MISSING_MARKERS", "column_errors_on_all_rows", "column_notes", "text_numbers",
           "feature_ranking", "kept_columns", "warn_unseen_categories"]

MISSING_CATEGORY = "__missing__"
#: Text that stands for a missing value in a column of numbers or dates (compared after
#: stripping spaces and lower-casing); pandas' CSV reader turns "NA", "n/a", "null" and
#: "nan" into NaN by itself, but not these others, which make the column text.
MISSING_MARKERS = frozenset({
    "", "?", "??", "-", "--", "---", ".", "na", "n/a", "n.a.", "nan", "none", "null", "nil",
    "missing", "unknown", "not available", "#n/a", "#na", "#value!", "#div/0!"})
#: a text column with at least ``ID_MIN_ROWS`` values of which this share are distinct is
#: an identifier (unless it is free text) and is left out
ID_UNIQUE_RATIO = 0.95
ID_MIN_ROWS = 50
#: a text column whose values hold this many words on average (its first ``_WORDS_SAMPLE``
#: values), and at least ``TEXT_MIN_DISTINCT`` of them distinct (of at least ``ID_MIN_ROWS``
#: values), is free text
#: whole-number columns of more distinct values than ``max_onehot_cardinality`` and at
#: most this many (and at most half the rows) may be codes (stores, products, zip codes):
#: given a target they are also target-encoded (``code_columns_``)
CODE_MAX_LEVELS = 1000
TEXT_MIN_WORDS = 3.0
TEXT_MIN_DISTINCT = 0.3
_WORDS_SAMPLE = 1000
#: the numbers each free-text column becomes (SVD components of its TF-IDF)
TEXT_COMPONENTS = 32
#: the parts a date column becomes, in this order; the cyclic ones only where they vary
DATE_PARTS = ("days", "year_sin", "year_cos", "week_sin", "week_cos", "day_sin", "day_cos")
_ISO = "ISO8601"
#: Scalings of table columns: the ones a search of a tabular space chooses between.
TABLE_SCALINGS = ("robust", "standard")
#: Values of ``TabularPreprocessor(scaling=...)`` (and of the estimators' ``input_scaling``):
#: also ``'global'``, one mean and standard deviation for every numeric column, as for an
#: image's pixels (the cnn space's; :class:`GlobalScaler`).
SCALINGS = (*TABLE_SCALINGS, "global")


def _empty_error(shape: tuple[int, ...]) -> None:
    if shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 is required."
        )
    if len(shape) > 1 and math.prod(shape[1:]) == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required."
        )


def _as_pandas(X):
    """Another library's data frame (a pyarrow Table, a polars DataFrame: what scikit-learn
    1.9 reads feature names from, through narwhals) as a pandas DataFrame; anything else as
    it is. As an array its names were lost: a table whose columns came in another order at
    predict time was read by position, without a word (accuracy 0.99 -> 0.48)."""
    if isinstance(X, pd.DataFrame):
        return _readable_arrow(X)
    if isinstance(X, np.ndarray) or sp.issparse(X):
        return X
    try:
        import narwhals as nw
    except ImportError:  # not a dependency of every scikit-learn Lepton takes
        if hasattr(X, "__dataframe__") and hasattr(X, "to_pandas"):
            return _readable_arrow(_arrow_to_pandas(X))
        return X
    if nw.dependencies.is_into_dataframe(X):
        try:
            frame = nw.from_native(X, eager_only=True).to_pandas()
        except TypeError:  # a pyarrow Table of pandas metadata pandas cannot read back
            if not hasattr(X, "schema"):
                raise
            frame = _arrow_to_pandas(X)
        return _readable_arrow(frame)
    return X


def _arrow_to_pandas(table):
    """A pyarrow Table (or another frame) as pandas. The pandas metadata of a Table that
    pandas made from a frame of an Arrow dictionary column ('dictionary<values=string,
    indices=int32, ordered=0>[pyarrow]') names a dtype pandas cannot read back (a
    TypeError: review helper-78): such a column's dtype is dropped from the metadata (the
    dictionary comes back as a category), the rest kept (without it a saved index became a
    column, '__index_level_0__', and integer column names strings: review helper-79)."""
    try:
        return table.to_pandas()
    except TypeError:
        meta = getattr(getattr(table, "schema", None), "pandas_metadata", None)
        if not meta:
            raise
        import json

        for column in meta.get("columns", []):
            if "[pyarrow]" in str(column.get("numpy_type")):
                column["numpy_type"], column["metadata"] = "object", None
        metadata = {**table.schema.metadata, b"pandas": json.dumps(meta).encode()}
        return table.replace_schema_metadata(metadata).to_pandas()


def _readable_arrow(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the Arrow columns pandas cannot compute on as ones it can: dates
    (date32, date64: ``.dt.tz`` raised NotImplementedError) as datetime64, string_view
    (every dtype check raised) as large_string. As they come from ``read_parquet(...,
    dtype_backend="pyarrow")`` or polars' ``to_pandas(use_pyarrow_extension_array=True)``
    (review helper-78). Other frames are returned as they are, not copied."""
    fixes = {}
    for i, dtype in enumerate(frame.dtypes):
        arrow = getattr(dtype, "pyarrow_dtype", None)
        if arrow is None:
            continue
        import pyarrow as pa

        if pa.types.is_date(arrow):
            fixes[i] = frame.iloc[:, i].astype("datetime64[ms]")
        elif getattr(pa.types, "is_string_view", lambda _: False)(arrow):
            text = pa.array(frame.iloc[:, i]).cast(pa.large_string())
            fixes[i] = pd.Series(text, dtype=pd.ArrowDtype(pa.large_string()),
                                 index=frame.index)
    if not fixes:
        return frame
    frame = frame.copy(deep=False)
    for i, column in fixes.items():
        frame.isetitem(i, column)
    return frame


def check_features(estimator, X, *, input_shape: Sequence[int] | None = None, reset: bool):
    """:func:`check_X`, then scikit-learn's checks of the feature names and count
    (``validate_data``; ``reset``: at fit, record them). A DataFrame's column names are the
    feature names (``feature_names_in_``) where some are strings; where none is, as in
    ``pd.DataFrame(array)``'s 0, 1, ..., there are none, as scikit-learn has it, so such a
    model predicts arrays without a warning (check_X makes every name a string for the
    preprocessor either way). Another library's data frame (a pyarrow Table) is read as
    a pandas one (``_as_pandas``): its names count too. A frame of pandas sparse columns
    is returned as its CSR matrix (:func:`check_X`), its names recorded or checked all the
    same, so the model predicts that frame, a dense one of its columns or the matrix alike;
    a frame whose sparse columns cannot be read so is said to be made dense, at fit.

    Images: at fit (``reset``) the per-sample shape, ``input_shape`` or else that of an X
    of more than two axes (a nested list read as the array it makes), is recorded as
    ``input_shape_``, channels first, with ``channels_last_``: whether the images come as
    (height, width, channels) (:func:`_channels_last`), in which case they are moved to
    (channels, height, width) before they are flattened. Later calls take X of the shape
    given at fit (a channel of 1 may be left out) or flattened to its number of values,
    moved the same way (a flat row of a channels-last model is an image flattened
    channels last), and refuse any other shape naming the one expected. A model pickled
    before ``input_shape_`` was recorded is checked against ``input_shape``."""
    X = _as_pandas(X)
    unnamed = isinstance(X, pd.DataFrame) and not any(isinstance(c, str) for c in X.columns)
    if getattr(X, "ndim", None) is None:  # a nested list: its shape tells images from rows
        X = np.asarray(X)  # (what check_array would make of it)
    if reset:
        if X.ndim > 4:  # taken as images of 3 axes and more (review helper-80)
            raise ValueError(
                f"X has {X.ndim} dimensions (shape {tuple(X.shape)}); give rows (n_samples, "
                "n_features) or images (n, height, width), (n, channels, height, width) or "
                "(n, height, width, channels).")
        shape = (tuple(check_input_shape(input_shape)) if input_shape is not None
                 else tuple(int(s) for s in X.shape[1:]) if X.ndim > 2 else None)
        last = _channels_last(shape)
    else:  # the shape X was given in at fit
        fitted = getattr(estimator, "input_shape_", input_shape)
        last = getattr(estimator, "channels_last_", False)
        shape = None if fitted is None else tuple(check_input_shape(fitted))
        if last:
            shape = (*shape[1:], shape[0])
        _check_fitted_shape(X, shape)
    # a frame of sparse columns becomes the matrix it holds, here once (the check reads
    # every column: 0.15 s on 10,000 of them): its names are the frame's
    sparse_frame = _is_sparse_frame(X)
    named = X if sparse_frame and not unnamed else None
    if reset and isinstance(X, pd.DataFrame) and not sparse_frame:
        _warn_sparse_densified(X)
    X = check_X(_sparse_frame_matrix(X) if sparse_frame else X, input_shape=shape)
    if reset and input_shape is not None:
        check_input_shape(input_shape, X.shape[1])
    if named is not None:  # as check_X names a frame's columns
        named = named if all(isinstance(c, str) for c in named.columns) else pd.DataFrame(
            columns=[str(c) for c in named.columns])
    # validate_data reads the names from its X; an empty array of X's width has none
    validate_data(estimator, np.empty((0, X.shape[1])) if unnamed else
                  X if named is None else named, skip_check_array=True, reset=reset)
    if reset:
        estimator.input_shape_ = (shape[2], shape[0], shape[1]) if last else shape
        estimator.channels_last_ = last
    if shape is not None and isinstance(X, pd.DataFrame):
        X = _pixels(X)
    return _channels_first(X, shape) if last else X


def _pixels(X: pd.DataFrame) -> np.ndarray:
    """A data frame of images' pixel columns as numbers, one array: typed column by column,
    the pixels of 400 digits (whole numbers 0-16) were taken as codes and target-encoded,
    244 features for the 64 pixels a CNN reshapes (`lepton run FILE --input-shape 8 8`)."""
    other = [str(c) for c, kind in X.dtypes.items()
             if not pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)]
    if other:
        raise ValueError(f"X holds images (input_shape), and its columns {other[:5]} hold "
                         "other values than numbers; every column is a pixel.")
    return X.to_numpy(dtype=np.float64, na_value=np.nan)


def _channels_last(shape: Sequence[int] | None) -> bool:
    """Whether images of per-sample ``shape`` are (height, width, channels): three axes,
    the last 1, 3 or 4 (grey, RGB, RGBA) and smaller than both before it, as (16, 16, 3)
    or (28, 28, 1). Any other shape is (channels, height, width) or (height, width), the
    layout ``input_shape`` documents, shapes that read either way too: (3, 32, 3) is 3
    channels of 32x3. Read channels first, (16, 16, 3) images were 16 channels of 16x3
    ones: held-out accuracy 0.60-0.67, against 0.735-0.745 for the same images given
    channels first (line orientations, 12 s searches; review helper-46)."""
    return (shape is not None and len(shape) == 3 and shape[2] in (1, 3, 4)
            and shape[2] < min(shape[0], shape[1]))


def _channels_first(X, shape: Sequence[int]) -> np.ndarray:
    """Rows of (height, width, channels) images of ``shape``, flattened, as the same images
    flattened channels first: the order the CNN reshapes them to, (batch, C, H, W)."""
    values = np.asarray(X)  # (n, h * w * c)
    if shape[2] == 1:  # one channel: no value moves
        return values
    n = values.shape[0]
    return values.reshape(n, *shape).transpose(0, 3, 1, 2).reshape(n, -1)


def _check_fitted_shape(X, fitted: tuple[int, ...] | None) -> None:
    """At predict, X of images as fitted (per-sample shape ``fitted``, a channel of 1 aside)
    or flattened to their number of values. Any other shape is refused naming the one
    expected: the same number of values in another shape, (n, 4, 16) for (n, 8, 8), was
    reshaped into other images without a word, other sizes met scikit-learn's 'X has 256
    features, but ... is expecting 64', and a bare (8, 8) image its 'X has 8 features'."""
    if fitted is None or len(_ones_off(fitted)) < 2 or X.ndim < 2:
        return
    size = math.prod(fitted)
    if (X.shape[1] == size if X.ndim == 2 else _ones_off(X.shape[1:]) == _ones_off(fitted)):
        return
    expected = f"X of shape (n, {', '.join(map(str, fitted))}) or flattened, (n, {size})"
    if _ones_off(X.shape) == _ones_off(fitted):
        raise ValueError(
            f"X of shape {tuple(X.shape)} is one image without the batch axis; the model "
            f"takes {expected}: pass X[None], of shape {(1, *X.shape)}.")
    got = f"per-sample shape {list(X.shape[1:])}" if X.ndim > 2 else f"{X.shape[1]} features"
    raise ValueError(f"X has {got} but input_shape={list(fitted)}, the shape the model was "
                     f"fitted on; pass {expected}.")


def _ones_off(shape: Sequence[int]) -> tuple[int, ...]:
    """``shape`` without its 1s: (1, 8, 8), (8, 8, 1) and (8, 8) order the same values
    alike (dropping a dimension of 1 moves no value)."""
    return tuple(int(v) for v in shape if int(v) != 1)


def _check_sparse_finite(values: np.ndarray, what: str) -> None:
    """Sparse input is scaled, not imputed (its missing cells would have to be stored): a
    NaN or inf there is refused, not passed on to the network as NaN predictions."""
    bad = ~np.isfinite(values)
    if bad.any():
        value = values[bad][0]
        raise ValueError(
            f"X holds {int(bad.sum())} value(s) that are NaN or infinite (e.g. {value}) and "
            f"{what}, whose preprocessing scales but does not impute; fill them first (e.g. "
            "with 0, a sparse matrix's implicit value), or fit on a dense array or a "
            "DataFrame, whose missing values are imputed.")


def _is_sparse_frame(X) -> bool:
    """Whether ``X`` is a DataFrame whose columns are all pandas sparse numbers or booleans
    (``pd.SparseDtype``) of implicit value 0, as ``pd.DataFrame.sparse.from_spmatrix``
    makes them: the scipy sparse matrix it holds (:func:`_sparse_frame_matrix`). Read
    column by column, a 5,000 x 20,000 frame of density 0.001 (1.1 MB) took a fixed
    network 73 s and 3.9 GB, each column made dense, imputed and robust-scaled; as the
    matrix, 34 s and 614 MB (review helper-54). A frame holding a missing value stays a
    frame, read column by column as before: its missing values are imputed (a sparse
    matrix's are refused), and a model fitted on such a frame, or on a dense one, still
    predicts from it (review helper-59)."""
    return isinstance(X, pd.DataFrame) and X.shape[1] > 0 and all(
        isinstance(dtype, pd.SparseDtype) and dtype.subtype.kind in "biuf"
        and dtype.fill_value == 0 for dtype in X.dtypes) and all(
        np.isfinite(X[column].array.sp_values).all() for column in X.columns)


def _sparse_frame_matrix(X: pd.DataFrame) -> sp.csr_matrix:
    """The CSR matrix of a frame of sparse columns (:func:`_is_sparse_frame`), its cells
    never made dense. Columns of several subtypes (booleans beside floats) are made
    float first: ``to_coo`` gives their mix an object array, which scipy refuses."""
    if len({dtype.subtype for dtype in X.dtypes}) > 1:
        X = X.astype(pd.SparseDtype(np.float64, 0.0))
    return X.sparse.to_coo().tocsr()


def _warn_sparse_densified(X: pd.DataFrame) -> None:
    """At fit, a warning where a DataFrame holds pandas sparse columns it cannot be read
    as a sparse matrix with (others dense, of text, or of implicit value NaN: missing):
    such a frame is read column by column, its sparse columns made dense, as pandas
    makes them for any other library; said, as the time and memory it takes on a wide
    frame (:func:`_is_sparse_frame`, which the caller found false) would otherwise come as
    a surprise."""
    sparse = [c for c, dtype in X.dtypes.items() if isinstance(dtype, pd.SparseDtype)]
    if not sparse:
        return
    from ._warn import DataWarning, warn_at_caller

    shown = ", ".join(repr(c) for c in sparse[:5]) + (", ..." if len(sparse) > 5 else "")
    others = [str(c) for c in X.columns if not isinstance(X.dtypes[c], pd.SparseDtype)]
    why = (f"beside {len(others)} dense column(s) ({', '.join(map(repr, others[:3]))}"
           f"{', ...' if len(others) > 3 else ''})" if others else
           "not all of numbers with implicit value 0, or holding missing values")
    warn_at_caller(
        f"X has {len(sparse)} pandas sparse column(s) ({shown}) {why}: it is read column by "
        f"column, each sparse column made dense ({X.shape[0]:,} x {len(sparse):,} values), "
        "imputed and scaled, which takes time and memory on a wide frame. To keep X sparse, "
        "pass a frame whose every column is sparse numbers of fill value 0 "
        "(X.astype(pd.SparseDtype('float64', 0.0)) for numbers; NaN fill values are missing "
        "values, which sparse input does not impute) or a scipy sparse matrix.", DataWarning)


def _check_sparse_structure(X) -> None:
    """The index arrays of a scipy sparse matrix (csr, csc, bsr, coo), checked in O(nnz)
    before anything reads them: scipy's conversions trust them, and a column index past
    the last column corrupted the heap (the process aborted, ``malloc(): unsorted double
    linked list corrupted``), a negative one was read from the end without a word (review
    helper-54). On a 50,000 x 100,000 matrix of density 0.001 (5.0 million values) it
    takes 0.002 s as csr or csc, 0.004 s as coo (check_X as a whole: 0.036 s)."""
    fix = (" Fix the arrays, or build X from its (data, (rows, columns)) with "
           "scipy.sparse.coo_matrix/coo_array, which checks them; "
           "X.check_format(full_check=True) names such a problem too.")
    if X.ndim != 2:
        return  # check_array refuses it with its own message
    name = f"X (a {X.shape[0]} x {X.shape[1]} scipy sparse {X.format} matrix)"
    if X.format == "coo":
        for axis, what in ((0, "row"), (1, "column")):
            index = np.asarray(X.row if axis == 0 else X.col)  # .coords: scipy 1.13 on
            if len(index) != len(X.data):
                raise ValueError(f"{name} has {len(index)} {what} indices for {len(X.data)} "
                                 f"values; each value needs one.{fix}")
            if len(index) and (index.min() < 0 or index.max() >= X.shape[axis]):
                bad = index.min() if index.min() < 0 else index.max()
                raise ValueError(f"{name} has {what} index {bad}, outside 0-"
                                 f"{X.shape[axis] - 1}.{fix}")
        return
    if X.format not in ("csr", "csc", "bsr"):
        return  # dia, lil, dok: their indices are checked as they are set
    rows, cols = X.blocksize if X.format == "bsr" else (1, 1)
    major, minor = ((X.shape[1], X.shape[0]) if X.format == "csc"
                    else (X.shape[0] // rows, X.shape[1] // cols))
    lines, items = ("column", "row") if X.format == "csc" else ("row", "column")
    indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
    if indptr.ndim != 1 or len(indptr) != major + 1:
        raise ValueError(f"{name} has {indptr.size} entries in X.indptr; its {major} {lines}s "
                         f"need {major + 1}.{fix}")
    nnz = int(indptr[-1])
    if indptr[0] != 0 or (np.diff(indptr) < 0).any() or nnz > min(len(indices), len(X.data)):
        raise ValueError(f"{name} has X.indptr running from {indptr[0]} to {nnz}, not from 0 "
                         f"up to at most the {min(len(indices), len(X.data))} entries of "
                         f"X.indices and X.data, never decreasing.{fix}")
    indices = indices[:nnz]
    if nnz and (indices.min() < 0 or indices.max() >= minor):
        at = int(np.argmax((indices < 0) | (indices >= minor)))
        line = int(np.searchsorted(indptr, at, side="right")) - 1
        raise ValueError(f"{name} has {items} index {indices[at]} in {lines} {line} "
                         f"(X.indices[{at}]); its {items}s are 0-{minor - 1}.{fix}")


def check_X(X, *, input_shape: Sequence[int] | None = None):
    """Validate ``X`` and return a 2-D DataFrame, ndarray or CSR matrix.

    Arrays with more than two dimensions are image-shaped input and are flattened to
    (n_samples, prod(shape[1:])); ``input_shape`` (without the sample axis), when given,
    must match. Object arrays are kept as object so mixed columns can be typed per column;
    an object array holding something that is neither number, string nor date (a dict)
    raises TypeError. Another library's data frame (a pyarrow Table, a polars DataFrame)
    becomes a pandas one. A DataFrame of pandas sparse columns only (numbers of implicit
    value 0, :func:`_is_sparse_frame`) becomes the CSR matrix it holds, as a scipy sparse
    matrix of any format does, after a check of its index arrays
    (:func:`_check_sparse_structure`).
    """
    X = _as_pandas(X)
    if isinstance(X, pd.DataFrame):
        _empty_error(X.shape)
        complex_ = [(c, dtype) for c, dtype in X.dtypes.items() if dtype.kind == "c"]
        if complex_:  # numpy would keep the real parts only, with a warning
            raise ValueError(f"Complex data not supported; column {complex_[0][0]!r} of X "
                             f"has dtype {complex_[0][1]}.")
        if _is_sparse_frame(X):  # finite values only: nothing left to refuse in them
            X = _sparse_frame_matrix(X)
        elif not all(isinstance(c, str) for c in X.columns):
            # Keep user-visible names but make them uniform for ColumnTransformer.
            return X.set_axis([str(c) for c in X.columns], axis=1)
        else:
            return X
    if sp.issparse(X):
        _check_sparse_structure(X)
        X = check_array(X, accept_sparse="csr", dtype=[np.float32, np.float64],
                        ensure_all_finite=False)
        _check_sparse_finite(X.data, "X is a sparse matrix")
        return X.astype(np.float32)
    if hasattr(X, "dtype") and getattr(X, "dtype", None) is not None and X.dtype.kind == "c":
        raise ValueError("Complex data not supported; X has dtype " + str(X.dtype) + ".")
    X = check_array(X, dtype=None, ensure_all_finite=False, allow_nd=True,
                    ensure_min_samples=1, ensure_min_features=1)
    if X.ndim > 2:
        shape = X.shape[1:]
        flat = input_shape is not None and len(_ones_off(input_shape)) <= 1 and math.prod(
            input_shape) == math.prod(shape)  # (64,): the images as 64 features
        if input_shape is not None and not flat and _ones_off(input_shape) != _ones_off(shape):
            # the same number of values in another shape ((4, 16) for 8x8 images) would be
            # reshaped without a word into other images
            raise ValueError(
                f"X has per-sample shape {list(shape)} but input_shape={list(input_shape)}; "
                "give the images' own shape (a channel of 1 may be left out), their number of "
                f"values ({math.prod(shape)}) to read them as features, or None.")
        X = X.reshape(X.shape[0], -1)
    if X.dtype.kind == "O":
        try:
            # numbers only: then checked for inf as a float array is, naming the column
            X = X.astype(np.float64)
        except TypeError:
            bad = next(((j, v) for j, column in enumerate(X.T) for v in column
                        if isinstance(v, (dict, list, set))), None)
            if bad:  # nothing we can encode; in numpy's words, which scikit-learn's checks expect
                j, v = bad
                raise TypeError(
                    f"float() argument must be a string or a real number, not "
                    f"'{type(v).__name__}': column {j} of X holds {type(v).__name__} values; a "
                    "column must hold numbers, strings, booleans or dates.") from None
            return X  # dates, pd.NA: typed column by column in the preprocessor
        except ValueError:
            return X  # strings: typed column by column in the preprocessor
    if X.dtype.kind not in "biuf":
        return X.astype(object)
    if X.dtype.kind == "f" and np.isinf(X).any():
        col = int(np.argwhere(np.isinf(X))[0, 1])
        raise ValueError(
            f"Input X contains infinity (first in column {col}); replace it with a finite "
            "value or NaN (missing values are imputed)."
        )
    return X


def image_channels(input_shape: Sequence[int] | None) -> int:
    """The channels of images of ``input_shape`` (channels first, as ``input_shape_``
    holds it): its first size where it has three, else 1 (a grey image, or rows)."""
    return int(input_shape[0]) if input_shape is not None and len(input_shape) == 3 else 1


def check_input_shape(input_shape, n_features: int | None = None) -> list[int]:
    """``input_shape``, one sample's shape, as a list: positive sizes that multiply out to
    ``n_features`` (when given), the columns of X (or the values of an image-shaped
    sample)."""
    shape = list(np.atleast_1d(np.asarray(input_shape, dtype=object)))
    if not shape or len(shape) > 3 or \
            not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise ValueError(f"input_shape={shape} must be positive integers: (height, width) or "
                         "(channels, height, width) of one sample.")
    shape = [int(s) for s in shape]
    if n_features is not None and math.prod(shape) != n_features:
        raise ValueError(
            f"input_shape={shape} describes {math.prod(shape)} features but X has "
            f"{n_features} per sample; input_shape must multiply out to the number of features.")
    return shape


def _encoding_target(y) -> np.ndarray | None:
    """The target a ``TargetEncoder`` can take: one column (class codes, or values); None
    without a target or with several (multi-output regression: ordinal codes then)."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return y if y.ndim == 1 else None


def _target_encoder(y: np.ndarray) -> TargetEncoder:
    """``TargetEncoder`` for ``y`` (float: values; integer: class codes), cross-fitted on 5
    shuffled folds with a fixed seed (stratified for classes). scikit-learn 1.9 takes the
    folds as ``cv`` and deprecates ``shuffle``/``random_state``; earlier releases take only
    those."""
    kind = "continuous" if y.dtype.kind == "f" else "auto"
    if "cv_object" in TargetEncoder._parameter_constraints.get("cv", ()):
        return TargetEncoder(target_type=kind, cv=_cross_fit_folds(y))
    return TargetEncoder(target_type=kind, shuffle=True, random_state=0)


def _cross_fit_folds(y: np.ndarray):
    """The 5 shuffled folds, with a fixed seed, that the target encoder and a text
    column's scores are cross-fitted on: stratified where every class (integer ``y``)
    can be in every fold (StratifiedKFold warns about a class of fewer rows than folds:
    the warning reached `lepton run`'s output)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    stratify = y.dtype.kind != "f" and np.unique(y, return_counts=True)[1].min() >= 5
    return (StratifiedKFold if stratify else KFold)(5, shuffle=True, random_state=0)


def _markers(values: pd.Series) -> pd.Series:
    """Which of ``values`` (text) are ``MISSING_MARKERS``."""
    return values.astype(str).str.strip().str.lower().isin(MISSING_MARKERS)


# a number with a currency sign before or after it (or its accounting parentheses), a
# sign, thousands separators in groups of three, a point for decimals, or a % after it
_FORMATTED_NUMBER = r"""^\s*(?P<outer>[$€£¥₹])?\s*(?P<open>\()?\s*(?P<sign>[-+])?\s*
    (?P<prefix>[$€£¥₹])?\s*(?P<sign2>[-+])?(?P<digits>\d{1,3}(?:,\d{3})+|\d+)
    (?P<fraction>\.\d*)?\s*(?P<suffix>[%$€£¥₹])?\s*(?P<close>\))?\s*$"""
_DECORATIONS = ["outer", "open", "prefix", "suffix"]


def _parse_formatted(values: pd.Series) -> pd.Series:
    """Numbers written with currency signs, thousands separators, ``%`` or accounting
    parentheses (``$1,234.50``, ``12%``, ``$(300)``) as floats; NaN for other values."""
    found = values.astype(str).str.extract(_FORMATTED_NUMBER, flags=re.X)
    ok = (found["digits"].notna() & (found["open"].isna() == found["close"].isna())
          & (found["sign"].isna() | found["sign2"].isna()))  # '--5' is no number
    number = pd.to_numeric(found["digits"].str.replace(",", "", regex=False)
                           + found["fraction"].fillna(""), errors="coerce")
    negative = (found["sign"] == "-") | (found["sign2"] == "-") | found["open"].notna()
    return number.where(~negative, -number).where(ok)


def _formatted_numbers(values: pd.Series) -> pd.Series | None:
    """``values`` (text, none missing) as numbers if they are written as formatted numbers
    (``_parse_formatted``): at least half of the first 200, one of them with a currency
    sign, a thousands separator, ``%`` or parentheses. Else None (plain numbers are
    pandas' to parse)."""
    found = values.iloc[:200].astype(str).str.extract(_FORMATTED_NUMBER, flags=re.X)
    matched = found["digits"].notna()
    decorated = (found[_DECORATIONS].notna().any(axis=1)
                 | found["digits"].str.contains(",", regex=False).fillna(False))
    if matched.mean() < 0.5 or not (matched & decorated).any():
        return None
    return _parse_formatted(values)


def text_numbers(values: Any) -> np.ndarray | None:
    """A column of text (a target read from a CSV) as float64 numbers when each value that
    is not missing is a number, plain or formatted (``$1,234.50``, ``12%``), missing
    markers becoming NaN; None when it is not such a column (or not text)."""
    s = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series)
                  else values)
    if s.dtype.kind in "biufcmM" or isinstance(s.dtype, pd.CategoricalDtype):
        return None
    present = s.notna().to_numpy()
    values = s[present]
    parsed = pd.to_numeric(values, errors="coerce")
    if parsed.isna().any() and (decorated := _formatted_numbers(values)) is not None:
        parsed = decorated
    if not parsed.notna().any() or _not_markers(values, parsed.isna()).any():
        return None
    out = np.full(len(s), np.nan)
    out[present] = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _not_markers(values: pd.Series, bad: pd.Series | np.ndarray) -> np.ndarray:
    """``bad`` (a mask of the values that did not parse as numbers or dates) less the
    missing markers: only the bad values are looked at, so a clean column costs nothing."""
    out = np.array(bad, dtype=bool)
    if out.any():
        out[out] = ~_markers(values[out]).to_numpy()
    return out


def _date_format(values: pd.Series) -> tuple[str, pd.Series] | None:
    """The format in which the most (non-missing) values of a text column are dates, and
    the mask of the values that are not; None if hardly any are. ISO 8601 in any of its
    forms first; else the format of one of the first values, month first, then day first
    (``05/13/2024`` against ``13.05.2024``). Only formats with a year and a month count:
    pandas reads ``'May'`` or ``'10:30'`` as dates too."""
    text = values.astype(str)
    firsts = [v for v in dict.fromkeys(text.iloc[:5]) if re.search(r"\d", v)]
    if not firsts:
        return None
    def candidates() -> Iterator[str]:
        yield _ISO
        with warnings.catch_warnings():  # "Parsing dates in %Y-%m-%d format when dayfirst"
            warnings.simplefilter("ignore", UserWarning)
            guesses = [guess_datetime_format(first, dayfirst=dayfirst)
                       for first in firsts for dayfirst in (False, True)]
        yield from (fmt for fmt in dict.fromkeys(guesses) if fmt is not None and fmt != _ISO
                    and re.search("%[Yy]", fmt) and re.search("%[mbB]", fmt))

    sample = text.iloc[:200]
    best = None
    for fmt in candidates():
        # a format most of the first rows are not in is not the column's: no full parse
        if pd.to_datetime(sample, format=fmt, utc=True, errors="coerce").isna().mean() >= 0.5:
            continue
        bad = pd.to_datetime(text, format=fmt, utc=True, errors="coerce").isna()
        if best is None or bad.sum() < best[1].sum():
            best = (fmt, bad)
        if not bad.any():
            break
    return best if best is not None and best[1].mean() < 0.5 else None


def _to_dates(s: pd.Series, fmt: str | None, column: Any) -> pd.Series:
    """A date column as UTC timestamps (NaT where missing): ``_read_dates``' instants."""
    return _read_dates(s, fmt, column)[0]


def _read_dates(s: pd.Series, fmt: str | None, column: Any) -> tuple[pd.Series, pd.Series]:
    """A date column as instants (UTC timestamps) and as the wall-clock times its values
    were written in (naive: each value's own offset, the time zone of a tz-aware dtype; a
    value without either is taken as written), NaT where missing. ``fmt``: the format its
    text was read in during fit; None: it was ``datetime64`` (text at predict time, e.g.
    from a CSV, must then be ISO 8601, as pandas writes dates). A value that is not a date
    in that format raises, naming the column and the values, as a non-number in a numeric
    column does."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return _instants_and_wall(s)
    text = s.astype(object).where(s.notna(), None)
    try:
        dates = pd.to_datetime(text, format=fmt or _ISO, errors="coerce")
    except ValueError:  # "Mixed timezones detected" (several offsets: summer time, 'Z')
        dates = None
    # dates of a second time zone among datetime objects are NaT (not refused, as text is)
    if dates is None or _not_markers(s, s.notna() & dates.isna()).any():
        instants, wall = _by_offset(text, fmt or _ISO)
    else:
        instants, wall = _instants_and_wall(dates)
    bad = _not_markers(s, s.notna() & instants.isna())  # a marker is missing (NaT already)
    if bad.any():
        examples = list(dict.fromkeys(s[bad].astype(str)))[:5]
        shown = ("datetime64; as text: ISO 8601" if fmt is None
                 else "ISO 8601" if fmt == _ISO else repr(fmt))
        raise ValueError(
            f"Column {column!r} held dates ({shown}) during fit but holds values that are "
            f"not: {examples}. Fix them, or leave them empty (missing values are imputed).")
    return instants, wall


def _instants_and_wall(dates: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Timestamps of one time zone, or none (read as UTC), as UTC instants and naive
    wall-clock times."""
    if dates.dt.tz is None:
        return dates.dt.tz_localize("UTC"), dates
    return dates.dt.tz_convert("UTC"), dates.dt.tz_localize(None)


#: the UTC offset that ends a date's text ('+09:00', '-0500', 'Z'; 6 characters at most), to
#: tell apart the values of a column pandas refuses to parse together; pandas decides
#: whether it is an offset (a date's '-16' matches too)
_OFFSET = r"(Z|[+-]\d{2}(?::?\d{2})?)$"


def _by_offset(text: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """``_instants_and_wall`` of text dates of several UTC offsets, which pandas parses
    together only as UTC: the values of each offset apart, so that each keeps its own
    wall-clock time. Values that pandas still does not parse together (datetime objects
    of two named zones of one offset) keep UTC's."""
    instants = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
    wall = instants.dt.tz_localize(None).to_numpy(copy=True)
    # the offset of each distinct ending of 6 characters: the regex over every row made
    # 300,000 rows of Paris' two offsets take 0.43 s, 0.18 s so (0.06 s for one offset)
    ends, endings = pd.factorize(text.astype(str).str[-6:])
    offsets = pd.Series(endings, dtype=object).str.extract(_OFFSET, expand=False)
    codes, _ = pd.factorize(offsets.to_numpy()[ends])
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        try:
            parsed = pd.to_datetime(text.iloc[rows], format=fmt, errors="coerce")
        except ValueError:
            continue
        local = _instants_and_wall(parsed)[1].to_numpy(dtype=wall.dtype)
        wall[rows] = np.where(np.isnat(local), wall[rows], local)
    return instants, pd.Series(wall, index=text.index)


def _seconds(s: pd.Series, column: Any) -> pd.Series:
    """A duration column (``timedelta64`` during fit) as float seconds, NaN where missing,
    whatever the unit of its dtype. Text is read as pandas writes durations ('1 days
    02:00:00', as in a CSV); a number says no unit (pandas would read 3600 as nanoseconds)
    and is an error naming the column, as a value that is not a duration is."""
    if s.dtype.kind != "m":
        # a date, or anything else that is no duration nor text nor number, as its text:
        # not a duration then, an error naming the column (pandas raised its own TypeError,
        # "Invalid type for timedelta scalar", on a Timestamp)
        values = s.astype(object).where(s.notna(), None).to_numpy()
        text = pd.Series([_duration_or_text(v) for v in values], index=s.index, dtype=object)
        parsed = pd.to_timedelta(text, errors="coerce")
        # '3600' or 3600: no unit (a timedelta64 is a numpy integer too: not one of those)
        plain = np.array([isinstance(v, (str, int, float, np.number)) and not isinstance(
            v, (bool, np.bool_, np.timedelta64)) for v in values], dtype=bool)
        bare = pd.to_numeric(text.where(plain, None), errors="coerce").notna()
        bad = _not_markers(s, s.notna() & (parsed.isna() | bare))  # a marker is NaT already
        if bad.any():
            examples = list(dict.fromkeys(s[bad].astype(str)))[:5]
            raise ValueError(
                f"Column {column!r} held durations (timedelta64) during fit but holds values "
                f"that are not: {examples}. Pass durations (timedelta64, or text such as "
                "'1 days 02:00:00'), or leave them empty (missing values are imputed).")
        s = parsed.where(~bare)
    return (s / pd.Timedelta(seconds=1)).astype(np.float64)


def _duration_or_text(value: Any) -> Any:
    """A value of a duration column as ``pd.to_timedelta`` takes it: a duration, text or a
    number as it is, anything else (a date, a boolean) as its text, which is no duration."""
    if value is None or isinstance(value, (str, datetime.timedelta, np.timedelta64)):
        return value
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return value
    return str(value)


#: a duration as pandas writes one to a CSV ('0 days 05:06:22', '0 days 00:00:00.500000',
#: '-1 days +23:00:00'; '2 days' where every value is whole days): the word days tells it
#: from a number, a date or a time of day ('12:30', which pandas would read as a duration)
_DURATION_TEXT = r"\s*-?\d+ days?(?: [+-]?\d{2}:\d{2}:\d{2}(?:\.\d+)?)?\s*"


def _duration_markers(values: pd.Series) -> np.ndarray | None:
    """Where every one of ``values`` (text, none missing) is a duration as pandas writes it
    (``_DURATION_TEXT``) or a missing marker, and one at least a duration: which are
    markers. Else None. The first 200 values decide first, so that a column of other text
    costs little."""
    text = values.astype(str)
    for part in (text.iloc[:200], text):
        durations = part.str.fullmatch(_DURATION_TEXT).to_numpy(dtype=bool)
        if not durations.any() or _not_markers(part, ~durations).any():
            return None
    return ~durations


def _date_parts(dates: pd.Series, wall: pd.Series | None = None) -> dict[str, np.ndarray]:
    """Every part in ``DATE_PARTS`` (NaN where missing): days since 1970 of the instants
    ``dates`` (UTC timestamps), the cycles of ``wall``, the wall-clock times the values
    were written in (``_read_dates``; None: UTC's). A weekly or daily pattern follows
    local time: in UTC, 08:00 and 10:00 of one Saturday in Tokyo (+09:00) fell on Friday
    and Saturday, and a local-weekend effect was learnt to held-out R^2 0.84-0.88 against
    0.91-0.92 from the same times without their offset (1,500 rows, fixed network, 2
    seeds); in local time, to the same 0.91-0.92."""
    utc = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    local = utc if wall is None else wall
    days = ((utc - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy(np.float64)
    year = 2 * np.pi * (local.dt.day_of_year.to_numpy(np.float64) - 1) / 365.25
    week = 2 * np.pi * local.dt.day_of_week.to_numpy(np.float64) / 7
    seconds = (local - local.dt.normalize()) / pd.Timedelta(seconds=1)
    day = 2 * np.pi * seconds.to_numpy(np.float64) / 86400
    return {"days": days, "year_sin": np.sin(year), "year_cos": np.cos(year),
            "week_sin": np.sin(week), "week_cos": np.cos(week),
            "day_sin": np.sin(day), "day_cos": np.cos(day)}


def _varying_parts(parts: dict[str, np.ndarray]) -> list[str]:
    """The parts to keep of a date column: days always, a cycle where its fit values vary
    (no weekday pair for weekly data, no time-of-day pair for dates without times)."""
    def varies(values):
        values = values[~np.isnan(values)]
        return values.size > 0 and np.ptp(values) > 1e-9

    keep = ["days"]
    for cycle in ("year", "week", "day"):
        if varies(parts[f"{cycle}_sin"]) or varies(parts[f"{cycle}_cos"]):
            keep += [f"{cycle}_sin", f"{cycle}_cos"]
    return keep


#: rows a column's median and quartiles are estimated from, on larger tables a fixed
#: random sample of this many (LightGBM bins its features from 200,000 rows, scikit-learn's
#: QuantileTransformer from 10,000): the median's standard error is then ~0.3% of the
#: column's spread, while the exact selection over every row costs time in proportion to
#: them (500,000 x 64: numpy's selection took 3.5 s of the preprocessing's 6.4 s under a
#: profiler, the rest mostly the scaling's arithmetic)
QUANTILE_SAMPLE_ROWS = 200_000


def _by_column(reduce, X: np.ndarray, *args, block: int = 16) -> np.ndarray:
    """``reduce(X, *args, axis=0)`` (a median or percentiles) over at most
    ``QUANTILE_SAMPLE_ROWS`` rows, computed on blocks of ``block`` columns copied so that
    each column lies contiguous in memory: numpy selects along a strided axis 0 ~1.5x
    slower (500,000 x 64 float64: percentiles 1.97 s against 1.31 s, the same values), and
    the blocks bound the copy's memory. A column the sample leaves without a value (NaN
    where the column has some) is reduced over all its rows."""
    full = X
    if len(X) > QUANTILE_SAMPLE_ROWS:
        rows = np.random.default_rng(0).choice(len(X), QUANTILE_SAMPLE_ROWS, replace=False)
        X = X[np.sort(rows)]
    with warnings.catch_warnings():
        if X is not full:  # a column empty in the sample only: reduced again below
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        parts = [reduce(np.ascontiguousarray(X[:, j:j + block].T), *args, axis=-1)
                 for j in range(0, X.shape[1], block)]
    out = np.concatenate(parts, axis=-1) if parts else reduce(X, *args, axis=0)
    if X is not full and np.isnan(out).any():
        lost = np.flatnonzero(np.isnan(out).reshape(-1, X.shape[1]).any(axis=0))
        out[..., lost] = reduce(full[:, lost], *args, axis=0)
    return out


#: float64 bytes the numeric transforms work on at a time (``_row_blocks``). Over the whole
#: table their float64 temporaries (the input's copy, the imputer's, the centred and the
#: clipped values: 8 bytes a cell each) peaked at 4-6x the float32 output (+305 MB on a
#: 152 MB fold, +763 MB in a 1M x 50 predict_proba; review helper-91). Over blocks of
#: 4 MiB, TabularPreprocessor.transform of 1M x 50 takes +206-234 MB above its input (the
#: output's 200-220) instead of +800-1,640, in 0.30-0.98 s instead of 0.37-0.98 (16 MiB
#: blocks, cached less, were slower: 0.91 s against 0.63 on 1M x 50 float32 with missing
#: values; benchmarks/dev/preprocessing_memory.py, review helper-92)
TRANSFORM_BLOCK_BYTES = 1 << 22


def _row_blocks(X: np.ndarray) -> Iterator[slice]:
    """``X``'s rows in slices of ``TRANSFORM_BLOCK_BYTES`` of float64 (one row at least);
    one empty slice for no rows, so that a transform still checks its columns."""
    step = max(1, TRANSFORM_BLOCK_BYTES // (8 * max(1, math.prod(X.shape[1:]))))
    for start in range(0, max(len(X), 1), step):
        yield slice(start, start + step)


class _MedianImputer(SimpleImputer):
    """``SimpleImputer(strategy='median')`` with a faster fit on float data with NaN as
    the missing marker: ``np.nanmedian`` instead of a masked-array median (same values,
    ~5x faster on 50k x 64, where it was most of the estimator's fit overhead), over a
    fixed sample of ``QUANTILE_SAMPLE_ROWS`` rows on larger tables (``_by_column``).
    Anything else goes to SimpleImputer unchanged."""

    def _dense_fit(self, X, strategy, missing_values, fill_value):
        if not (strategy == "median" and X.dtype.kind == "f"
                and isinstance(missing_values, float) and math.isnan(missing_values)):
            return super()._dense_fit(X, strategy, missing_values, fill_value)
        missing_mask = np.isnan(X)
        self._fit_indicator(missing_mask)
        if not missing_mask.any():
            return _by_column(np.median, X)
        empty = missing_mask.all(axis=0)
        median = np.full(X.shape[1], 0.0 if self.keep_empty_features else np.nan, X.dtype)
        if not empty.all():
            median[~empty] = _by_column(np.nanmedian, X[:, ~empty])
        return median

    def transform(self, X):
        # nothing to impute, no indicator column to add: X as it is. Images are thousands
        # of columns without a missing pixel, and SimpleImputer's checks and copies took
        # 0.26 s of a 1.0 s preprocessing of 1,600 images of 3x64x64, once per fold
        indicator = getattr(self, "indicator_", None)
        if isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.ndim == 2 \
                and X.shape[1] == len(self.statistics_) \
                and (indicator is None or not len(indicator.features_)) and not np.isnan(X).any():
            return X
        return super().transform(X)


class RobustClipScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Center on the median, scale by the IQR, then clip outliers smoothly.

    ``x -> z / sqrt(1 + (z / clip)^2)`` with ``z = (x - median) / scale``: linear near the
    centre, bounded by ``clip`` for outliers (the "robust scale + smooth clip" of Holzmüller
    et al. 2024, RealMLP). ``scale`` is IQR/1.349 (the std for normal data) and falls back to
    half the range for columns whose IQR is zero (binary or mostly-constant columns), so
    such columns are not blown up.

    ``tail_threshold`` (default None: every column clipped) clips only the columns whose fit
    rows reach ``|z| > tail_threshold`` (``clipped_``); the others are centred and scaled,
    and cut at the threshold at predict time so every output stays bounded. The clip bends
    the body of a column too (z = 2 becomes 1.66). ``tail_threshold=5`` was Lepton's default
    for one release (f35dde1) and was turned back: with a fixed 2x256 network it cut wine's
    test errors from 51 to 40 over 40 dev splits, but in the search, on the benchmark's
    splits 0-9, it lost to clipping every column (benchmarks/results/search_benchmark.md,
    notes of stop 15). Scalers fitted with it keep predicting as they were fitted.
    """

    def __init__(self, clip: float = 3.0, tail_threshold: float | None = None):
        self.clip = clip
        self.tail_threshold = tail_threshold

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        # np.percentile gives the same values as np.nanpercentile on NaN-free data (the
        # usual case: the imputer runs first) and is ~10x faster (one vectorised pass
        # instead of a Python call per column).
        percentile = np.nanpercentile if np.isnan(X).any() else np.percentile
        q25, med, q75 = _by_column(percentile, X, [25, 50, 75])
        scale = (q75 - q25) / 1.349
        high, low = np.nanmax(X, axis=0), np.nanmin(X, axis=0)
        scale = np.where(scale > 0, scale, (high - low) / 2)
        self.center_ = np.nan_to_num(med)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.n_features_in_ = X.shape[1]
        # how far (in robust z) each column's fit rows reach from its centre
        reach = np.maximum(high - self.center_, self.center_ - low) / self.scale_
        self.clipped_ = (np.ones(X.shape[1], dtype=bool) if self.tail_threshold is None
                         else np.nan_to_num(reach) > self.tail_threshold)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2:  # as it was: broadcast against the columns' centres
            return self._scaled(X)
        # block by block into the output (``TRANSFORM_BLOCK_BYTES``), each block turned to
        # float64 on its own: the same values as over the whole table, bit for bit
        out = np.empty(X.shape, dtype=np.float32)
        for rows in _row_blocks(X):
            out[rows] = self._scaled(X[rows])
        return out

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """``transform``'s values for the rows ``X`` (float32)."""
        z = np.asarray(X, dtype=np.float64) - self.center_  # a new array: X is not changed
        z /= self.scale_
        if self.clip:
            # z / sqrt(1 + (z / clip)^2), in place: the same values as the expression
            # (bit for bit), without its four temporaries (500,000 x 64: 1.50 s -> 0.38 s)
            bent = z / self.clip
            np.square(bent, out=bent)
            bent += 1.0
            np.sqrt(bent, out=bent)
            np.divide(z, bent, out=bent)
            # scalers fitted before ``clipped_`` existed clipped every column
            clipped = getattr(self, "clipped_", None)
            if clipped is None or clipped.all():
                z = bent
            else:
                # a light column's fit rows all lie within the threshold; a value beyond it
                # at predict time is cut there (inputs stay bounded either way)
                bound = self.tail_threshold
                z = np.where(clipped, bent, np.clip(z, -bound, bound))
        return z.astype(np.float32)


def _inner_output_default(method):
    """``method`` with scikit-learn's inner transformers giving arrays, whatever a user's
    ``sklearn.set_config(transform_output="pandas")`` says: under it they gave frames, and
    the ColumnTransformer joined its parts by row label, not position (a frame not
    numbered 0..n-1 was predicted from other rows' categories, without a word; a fit on
    a subset of rows raised)."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with sklearn.config_context(transform_output="default"):
            return method(*args, **kwargs)
    return wrapper


class TabularPreprocessor(TransformerMixin, BaseEstimator):
    """Fit-on-train preprocessing for any tabular input; see the module docstring.
    ``channels``: with ``scaling='global'``, the images' channels (their columns in
    ``channels`` equal blocks, channels first), each scaled by its own mean and deviation.

    Attributes
    ----------
    numeric_columns_, categorical_columns_ : list
        Column names (DataFrame input) or indices (array input) of each kind.
    onehot_columns_, target_columns_, ordinal_columns_ : list
        The categorical columns by encoding (see the module docstring).
    datetime_columns_ : dict
        Date columns and the format their text was read in (None: ``datetime64`` already).
    date_features_ : list of (label, column, part)
        The numeric columns made of the date columns (``DATE_PARTS``).
    dropped_columns_ : dict
        Columns left out, with the reason (identifiers).
    code_columns_ : list
        Numeric columns of whole numbers that may be codes (``CODE_MAX_LEVELS``), also
        target-encoded beside their numbers (fitted with a target only).
    timedelta_columns_ : list
        Numeric columns of durations (``timedelta64``, or text as pandas writes them),
        read as seconds.
    formatted_numbers_ : list
        Columns of numbers written with currency signs, thousands separators, ``%`` or
        accounting parentheses (``$1,234.50``), read as numbers.
    missing_markers_ : dict
        Number, duration and date columns in which ``MISSING_MARKERS`` were read as
        missing: the markers found in the fit rows and how often.
    transformer_ : ColumnTransformer or Pipeline
        The fitted scikit-learn transformer.
    n_features_out_ : int
    """

    channels: int = 1  # pickled before the parameter

    def __init__(self, *, max_onehot_cardinality: int = 16,
                 onehot_cells: int = defaults.ONEHOT_CELLS, clip: float = 3.0,
                 add_missing_indicator: bool = True, scaling: str = "robust",
                 channels: int = 1):
        self.max_onehot_cardinality = max_onehot_cardinality
        self.onehot_cells = onehot_cells
        self.clip = clip
        self.add_missing_indicator = add_missing_indicator
        self.scaling = scaling
        self.channels = channels

    # -- column typing -------------------------------------------------------------
    def _frame(self, X) -> pd.DataFrame:
        X = _as_pandas(X)
        columns = getattr(self, "columns_", None)
        if isinstance(X, pd.DataFrame):
            if columns and not isinstance(columns[0], str) and list(X.columns) != columns:
                # fitted on an array (its columns are positions): a frame's columns are
                # taken by position, as scikit-learn's estimators take them
                return X.set_axis(columns, axis=1)
            return X
        # Arrays at predict time take the column names seen during fit, by position.
        return pd.DataFrame(X, columns=columns or list(range(X.shape[1])))

    def _type_columns(self, frame: pd.DataFrame) -> None:
        numeric, categorical, dates, dropped, text = [], [], {}, {}, []
        markers: dict[Any, dict[str, int]] = {}  # missing markers of number/date columns
        formatted = []  # numbers written as '$1,234.50', '12%' ...
        self.timedelta_columns_ = []  # durations, read as seconds
        self.date_zones_ = {}  # the time zone (tzinfo) of each date column of a tz-aware dtype
        for col in frame.columns:
            s = frame[col]
            if len(s) and s.isna().all():
                # nothing to learn, and its imputed constant scaled a later value to
                # anything (1000 became 3.0); X all missing trained on nothing, without a
                # word (review helper-80)
                dropped[col] = "missing in every row it was fitted on"
                continue
            if s.dtype.kind == "m":  # timedelta64, or pyarrow's duration
                numeric.append(col)
                self.timedelta_columns_.append(col)
                continue
            if pd.api.types.is_bool_dtype(s) or (
                pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
            ):
                if _is_row_number(col, s):
                    dropped[col] = ("a row number: an unnamed column of distinct whole numbers "
                                    "(a DataFrame's index, written to the file with it)")
                else:
                    numeric.append(col)
                continue
            if isinstance(s.dtype, pd.CategoricalDtype):
                # free text held as categories (reviews cast to 'category', a Parquet file's
                # dictionary-encoded strings) is text: one-hot, it was a column a review
                # (held-out accuracy 0.506-0.538, as text 0.832-0.872, as for object dtype:
                # benchmarks/dev/text_columns.py category 0 3)
                (text if _text_kind(s.dropna()) == "text" else categorical).append(col)
                continue
            if pd.api.types.is_datetime64_any_dtype(s):
                dates[col] = None
                if getattr(s.dt, "tz", None) is not None:
                    # the zone itself: its name ('UTC+02:00' for a fixed offset) is no zone
                    # pyarrow can convert to (review helper-79)
                    self.date_zones_[col] = s.dt.tz
                continue
            values = s.dropna()
            arrow = getattr(s.dtype, "pyarrow_dtype", None)
            if arrow is not None:  # (an Arrow dtype: pyarrow is there)
                import pyarrow as pa

                # several values a row (a list, a struct, a map): lists fit, then broke
                # predict
                if pa.types.is_nested(arrow):
                    raise TypeError(f"Column {col!r} holds {arrow} values; a column must "
                                    "hold numbers, strings, booleans or categories.")
            if len(values) and values.map(
                    lambda v: isinstance(v, (dict, list, set, np.ndarray))).any():
                raise TypeError(
                    f"Column {col!r} holds {type(values.iloc[0]).__name__} values; a column must "
                    "hold numbers, strings, booleans or categories."
                )
            parsed = pd.to_numeric(values, errors="coerce")
            if isinstance(parsed.dtype, pd.ArrowDtype):
                # pyarrow text parses to double[pyarrow] holding NaN, which isna() does not
                # count: every text column was typed numeric, all its values missing
                parsed = parsed.astype(np.float64)
            decorated = _formatted_numbers(values) if parsed.isna().any() else None
            if decorated is not None:
                parsed = decorated
            # missing markers ('?', 'n/a') looked for only where some values are numbers
            unparsed = parsed.isna()
            bad_mask = (_not_markers(values, unparsed) if parsed.notna().any()
                        else unparsed.to_numpy())
            n_bad = int(bad_mask.sum())
            n_real = len(values) - int((unparsed.to_numpy() & ~bad_mask).sum())  # not markers
            if len(values) and n_bad == 0:
                numeric.append(col)
                markers[col] = _counts(values[unparsed.to_numpy()])
                if decorated is not None:
                    formatted.append(col)
            elif len(values) and n_bad < 0.5 * n_real and not values.map(
                lambda v: isinstance(v, bool)
            ).any():
                bad = list(dict.fromkeys(values[bad_mask].astype(str)))[:5]
                raise ValueError(
                    f"Column {col!r} is numeric in {n_real - n_bad} of {n_real} rows but "
                    f"holds values that are not numbers: {bad}. Fix or remove those values "
                    "(leave them empty, or write a missing value as NA), or cast the column "
                    "to 'category' to treat it as categorical."
                )
            elif len(values) and (blank := _duration_markers(values)) is not None:
                # as a timedelta64 column: durations as text (a CSV's) were free text, whose
                # TF-IDF a network learnt hours + x from to held-out R^2 0.913, not 0.997
                numeric.append(col)
                self.timedelta_columns_.append(col)
                markers[col] = _counts(values[blank])
            elif len(values) and (found := _date_format(values)) is not None:
                fmt, unparsed = found
                bad = _not_markers(values, unparsed)
                if bad.any():
                    examples = list(dict.fromkeys(values[bad].astype(str)))[:5]
                    shown = "ISO 8601" if fmt == _ISO else repr(fmt)
                    n_dates = len(values) - int(unparsed.sum())
                    raise ValueError(
                        f"Column {col!r} holds dates ({shown}) in {n_dates} of "
                        f"{n_dates + int(bad.sum())} rows but also values that are not: "
                        f"{examples}. Fix or remove those values (leave them empty), or cast "
                        "the column to 'category' to treat it as categorical.")
                dates[col] = fmt
                markers[col] = _counts(values[unparsed.to_numpy()])
            else:
                kind = _text_kind(values)
                if kind == "text":
                    text.append(col)
                elif kind is not None:
                    dropped[col] = kind
                else:
                    categorical.append(col)
        self.numeric_columns_ = numeric
        self.categorical_columns_ = categorical
        self.datetime_columns_ = dates
        self.dropped_columns_ = dropped
        self.text_columns_ = text
        self.missing_markers_ = {col: found for col, found in markers.items() if found}
        self.formatted_numbers_ = formatted

    def _clean(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns to float64 (NaN for missing), categorical ones to str."""
        out = {}
        durations = getattr(self, "timedelta_columns_", None)  # None: fitted before them
        dtypes = frame.dtypes
        # numbers and booleans as one block: a column at a time cost 0.5 ms each on one
        # row, and an ensemble of five folds predicted a row of 30 columns in 120-250 ms
        # (review helper-60)
        plain = [col for col in self.numeric_columns_
                 if (durations is None or col not in durations)
                 and (pd.api.types.is_bool_dtype(dtypes[col])
                      or pd.api.types.is_numeric_dtype(dtypes[col]))]
        if plain:
            block = frame[plain].to_numpy(dtype=np.float64, na_value=np.nan)
            infinite = np.isinf(block).any(axis=0)
            if infinite.any():
                raise ValueError(
                    f"Column {plain[int(np.argmax(infinite))]!r} contains infinity; replace "
                    "it with a finite value or NaN (missing values are imputed).")
            out.update(zip(plain, block.T))
        taken = set(plain)
        for col in self.numeric_columns_:
            if col in taken:
                continue
            s = frame[col]
            if durations is not None and col in durations:
                values = _seconds(s, col)
            elif pd.api.types.is_bool_dtype(s):
                values = s.astype(np.float64)
            elif pd.api.types.is_numeric_dtype(s):
                values = s.astype(np.float64)
            else:
                parsed = (_parse_formatted(s) if col in getattr(self, "formatted_numbers_", ())
                          else pd.to_numeric(s, errors="coerce"))
                bad = _not_markers(s, s.notna() & parsed.isna())  # a marker is NaN already
                if bad.any():
                    examples = list(dict.fromkeys(s[bad].astype(str)))[:5]
                    raise ValueError(
                        f"Column {col!r} was numeric during fit but holds values that are not "
                        f"numbers: {examples}. Convert them to numbers or NaN."
                    )
                values = parsed.astype(np.float64)
            if np.isinf(values.to_numpy()).any():
                raise ValueError(
                    f"Column {col!r} contains infinity; replace it with a finite value or NaN "
                    "(missing values are imputed)."
                )
            out[col] = values
        seen = getattr(self, "categories_seen_", {})  # empty while fitting, or fitted before
        for col in self.categorical_columns_:
            out[col] = _category_text(frame[col], known=seen.get(col))
        for col in getattr(self, "text_columns_", []):
            s = frame[col]
            out[col] = s.astype(object).where(s.notna(), "").astype(str)
        # Keep the input's column order: with integer labels (array input) ColumnTransformer
        # selects columns by position, so positions must equal labels. Date and dropped
        # columns stay in place (unselected); the date features come after every column.
        ordered = {c: out[c] if c in out else frame[c] for c in frame.columns}
        parts = {col: self._date_parts(frame[col], fmt, col)
                 for col, fmt in getattr(self, "datetime_columns_", {}).items()}
        for label, col, part in getattr(self, "date_features_", []):
            ordered[label] = parts[col][part]
        return pd.DataFrame(ordered, index=frame.index)

    def _date_parts(self, values: pd.Series, fmt: str | None, column: Any):
        """A date column's parts (:func:`_date_parts`): the cycles in each value's own local
        time, or in UTC for a preprocessor fitted before stop 37 (``local_dates_`` absent),
        as it was trained: such a model's predictions moved by up to 0.62 on dates with an
        offset (review helper-52). A column of a tz-aware dtype at fit (``date_zones_``)
        that comes as a tz-aware dtype of another zone is read in the zone of fit (text
        and naive dates are read as before: text in each value's own offset)."""
        zone = getattr(self, "date_zones_", {}).get(column)
        if zone is not None and pd.api.types.is_datetime64_any_dtype(values) and \
                getattr(values.dt, "tz", None) is not None and str(values.dt.tz) != str(zone):
            # the same instants in another zone (polars reads a CSV's offsets as UTC): the
            # cycles in the zone of fit (its labels moved probabilities by up to 0.31:
            # review helper-78)
            values = values.dt.tz_convert(zone)
        instants, wall = _read_dates(values, fmt, column)
        return _date_parts(instants, wall if getattr(self, "local_dates_", False) else None)

    def _plan_date_features(self, frame: pd.DataFrame) -> None:
        """``date_features_``: a label for each kept part of each date column (``col:part``
        after named columns, the next positions after integer-labelled ones)."""
        features, taken = [], {str(c) for c in frame.columns}
        position = len(frame.columns)
        for col, fmt in self.datetime_columns_.items():
            for part in _varying_parts(self._date_parts(frame[col], fmt, col)):
                if isinstance(col, str):
                    label = f"{col}:{part}"
                    while label in taken:
                        label += "_"
                    taken.add(label)
                else:
                    label, position = position, position + 1
                features.append((label, col, part))
        self.date_features_ = features

    def _numeric_inputs(self) -> list:
        return list(self.numeric_columns_) + [
            label for label, _, _ in getattr(self, "date_features_", [])]

    # -- fit / transform -----------------------------------------------------------
    @_inner_output_default
    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def unseen_categories(self, X, *, seen: dict | None = None
                          ) -> dict[Any, tuple[list, int, int]]:
        """The categorical columns of ``X`` holding values no fit row had: ``{column:
        (up to 5 of those values, missing ones as None; how many distinct; how many rows
        hold one)}``. Such a value is encoded as none of the known categories (one-hot),
        the overall mean (target-encoded) or a code of its own (ordinal). ``seen``: the
        categories to compare with (default: this preprocessor's fit rows'). Empty for a
        preprocessor fitted before it recorded them, or on arrays of numbers."""
        seen = getattr(self, "categories_seen_", None) if seen is None else seen
        X = _as_pandas(X)
        if not seen or not isinstance(X, pd.DataFrame) and not (
                isinstance(X, np.ndarray) and X.dtype.kind == "O"):
            return {}
        frame = self._frame(X)
        out = {}
        for col, known in seen.items():
            if col not in frame.columns:
                continue
            # the distinct values only (the rows were read as text once more: a sixth of
            # transform's time on 200,000 rows x 3 such columns)
            distinct = pd.Series(np.asarray(frame[col].unique(), dtype=object))
            text = _category_text(distinct, known=known)
            new = ~text.isin(known).to_numpy()
            if new.any():
                values = list(dict.fromkeys(text[new]))
                # missing values counted apart: isin() finds None by [None] but not by
                # [nan], which the Series above made of it (0 of 300 rows, while 6 held it)
                missing = (text[new] == MISSING_CATEGORY).any()
                rows = int((frame[col].isin(distinct[new].dropna().tolist())
                            | (frame[col].isna() if missing else False)).sum())
                out[col] = ([None if v == MISSING_CATEGORY else v for v in values[:5]],
                            len(values), rows)
        return out

    def keeping(self, columns: Sequence[int]) -> TabularPreprocessor:
        """A copy of this fitted preprocessor whose output is only ``columns`` (positions
        in its full output, in that order); the fitted transformers are shared, not
        copied. ``selected_features_`` holds them (None: every column)."""
        check_is_fitted(self, "transformer_")
        out = copy.copy(self)
        out.selected_features_ = np.asarray(columns, dtype=np.int64)
        out.n_features_out_ = len(out.selected_features_)
        return out

    @_inner_output_default
    def fit_transform(self, X, y=None, **fit_params):
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling={self.scaling!r} is not one of {', '.join(SCALINGS)}.")
        self.selected_features_ = None
        self.categories_seen_ = {}  # read by _clean: none while fitting
        self.local_dates_ = True  # dates' cycles in their own local time (_date_parts)
        if _is_sparse_frame(X):  # kept sparse, as the estimators' check_X keeps it
            X = _sparse_frame_matrix(X)
        if sp.issparse(X):
            self.sparse_input_ = True
            self.numeric_columns_ = list(range(X.shape[1]))
            self.categorical_columns_ = self.onehot_columns_ = self.ordinal_columns_ = []
            self.target_columns_ = self.text_columns_ = []
            self.datetime_columns_, self.date_features_, self.dropped_columns_ = {}, [], {}
            self.missing_markers_, self.formatted_numbers_, self.code_columns_ = {}, [], []
            self.timedelta_columns_ = []
            self.transformer_ = MaxAbsScaler()
            Xt = self.transformer_.fit_transform(X).astype(np.float32).tocsr()
            self.n_features_out_ = Xt.shape[1]
            return Xt
        self.sparse_input_ = False
        if isinstance(X, np.ndarray) and X.dtype.kind in "biuf" and not (
                X.dtype.kind == "f" and len(X) and np.isnan(X).all(axis=0).any()):
            # Fast path: all-numeric array, no DataFrame round trip (a column all missing
            # takes the frame's path, which leaves it out)
            self.numeric_columns_ = self.columns_ = list(range(X.shape[1]))
            self.categorical_columns_ = self.onehot_columns_ = self.ordinal_columns_ = []
            self.target_columns_ = self.text_columns_ = []
            self.datetime_columns_, self.date_features_, self.dropped_columns_ = {}, [], {}
            self.missing_markers_, self.formatted_numbers_, self.code_columns_ = {}, [], []
            self.timedelta_columns_ = []
            # the columns no fit row missed: a row missing one at predict is said, as a
            # frame's is (an array's went unsaid: review helper-80)
            self.complete_columns_ = (
                [int(i) for i in np.flatnonzero(~np.isnan(X).any(axis=0))]
                if X.dtype.kind == "f" else list(self.columns_))
            self.transformer_ = self._numeric_pipeline(X)
            Xt = self.transformer_.fit_transform(X.astype(np.float64, copy=False))
            self.n_features_out_ = Xt.shape[1]
            return np.ascontiguousarray(Xt, dtype=np.float32)
        self.columns_ = None
        frame = self._frame(X)
        self.columns_ = list(frame.columns)
        self._type_columns(frame)
        self.date_features_ = []
        self._plan_date_features(frame)
        if not (self.numeric_columns_ or self.categorical_columns_ or self.date_features_
                or self.text_columns_):
            raise ValueError(
                "X has no column left to learn from: "
                + "; ".join(f"{c!r} is {why}" for c, why in self.dropped_columns_.items())
                + ". Pass a column that describes the rows (numbers, categories or dates).")
        clean = self._clean(frame)
        # number and date columns no fit row missed: a row missing one at predict is said
        # (warn_unseen_categories), its value imputed
        self.complete_columns_ = [c for c in [*self.numeric_columns_, *self.datetime_columns_]
                                  if c not in self.missing_markers_
                                  and not frame[c].isna().any()]
        self._plan_categories(clean, _encoding_target(y))
        # what new rows are compared with (_category_text, unseen_categories)
        seen = {c: frozenset(clean[c].unique()) for c in self.categorical_columns_}
        target = _encoding_target(y)
        self.code_columns_ = ([] if target is None else
                              [c for c in self.numeric_columns_ if self._is_code(clean[c], target)])
        parts = []
        numeric = self._numeric_inputs()
        if numeric:
            # a date's days since 1970 are clipped far out (DAYS_CLIP): the rows to predict
            # lie past the fit rows by design, where the clip at 3 squeezed the trend
            # (fitted on 2020-2023: 2025-12-31 at 2.01 for 2.70, 2035 at 2.84 for 8.78; a
            # fixed network's mean prediction for 2025 of a pure trend, truth 5.58:
            # 4.93-5.00, unclipped 5.33-5.41)
            days = [numeric.index(label) for label, _, part in self.date_features_
                    if part == "days"]
            parts.append(("num", self._numeric_pipeline(clean[numeric].to_numpy(), days),
                          numeric))
        if self.onehot_columns_:
            parts.append(("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                                  dtype=np.float32), self.onehot_columns_))
        for col in self.text_columns_:
            parts.append((f"text:{col}", _TextFeatures(), col))  # a scalar: one 1-D column
        if self.target_columns_:
            parts.append(("target", make_pipeline(_target_encoder(_encoding_target(y)),
                                                  StandardScaler()), self.target_columns_))
        if self.code_columns_:  # besides their numbers (the "num" part)
            parts.append(("codes", make_pipeline(_target_encoder(_encoding_target(y)),
                                                 StandardScaler()), self.code_columns_))
        if self.ordinal_columns_:
            # Unseen categories get code -1, then everything is standardised.
            parts.append(("ordinal", make_pipeline(
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                               dtype=np.float64),
                StandardScaler()), self.ordinal_columns_))
        self.transformer_ = ColumnTransformer(parts, sparse_threshold=0.0,
                                              verbose_feature_names_out=False)
        if self.target_columns_ or self.code_columns_ or self.text_columns_:
            Xt = self.transformer_.fit_transform(clean, _encoding_target(y))
        else:
            Xt = self.transformer_.fit_transform(clean)
        self.n_features_out_ = Xt.shape[1]
        self.categories_seen_ = seen
        return np.ascontiguousarray(Xt, dtype=np.float32)

    def _plan_categories(self, clean: pd.DataFrame, y: np.ndarray | None) -> None:
        """Each categorical column's encoding: one-hot up to ``max_onehot_cardinality``
        values; wider ones one-hot too, narrowest first, while the one-hot block stays
        within ``onehot_cells``; the rest target-encoded given a target, else ordinal."""
        card = {c: clean[c].nunique() for c in self.categorical_columns_}
        onehot = {c for c in card if card[c] <= self.max_onehot_cardinality}
        cells = len(clean) * sum(card[c] for c in onehot)
        for c in sorted(set(card) - onehot, key=lambda c: card[c]):
            if cells + len(clean) * card[c] > self.onehot_cells:
                break
            onehot.add(c)
            cells += len(clean) * card[c]
        rest = [c for c in self.categorical_columns_ if c not in onehot]
        self.onehot_columns_ = [c for c in self.categorical_columns_ if c in onehot]
        self.target_columns_ = rest if y is not None else []
        self.ordinal_columns_ = [] if y is not None else rest

    def _is_code(self, values: pd.Series, y: np.ndarray) -> bool:
        """Whether a numeric column holds codes rather than amounts: whole numbers of more
        distinct values than one-hot takes, ``CODE_MAX_LEVELS`` at most, each seen twice
        on average, whose mean target does not follow their order (``_order_follows``).
        A code's number says nothing (store 17 is not between stores 16 and 18), which a
        network can hardly undo (as with ordinal codes of a categorical column); its
        target encoding is the code's mean target. An amount's (an age's) mean target
        moves smoothly with it, and an extra encoded column cost it R^2 (measured in
        benchmarks/dev/integer_codes.py)."""
        present = values.notna().to_numpy()
        numbers = values.to_numpy(dtype=np.float64)[present]
        if numbers.size == 0 or not np.array_equal(numbers, np.round(numbers)):
            return False
        distinct = len(np.unique(numbers))
        if not (self.max_onehot_cardinality < distinct <= CODE_MAX_LEVELS
                and distinct <= 0.5 * len(numbers)):
            return False
        return not _order_follows(numbers, np.asarray(y)[present])

    def _numeric_pipeline(self, X: np.ndarray, days: Sequence[int] = ()):
        # The imputer is always there: values may be missing at predict time only. Its
        # indicator columns (for columns with missing values during fit) come after the
        # imputed values and are passed through unscaled. ``days``: the columns clipped
        # far out only (DAYS_CLIP).
        return make_pipeline(
            _MedianImputer(strategy="median", add_indicator=self.add_missing_indicator,
                           keep_empty_features=True),
            _NumericScaler(clip=self.clip, n_scaled=X.shape[1], scaling=self.scaling,
                           days=days, channels=self.channels),
        )

    @_inner_output_default
    def transform(self, X):
        Xt = self._transform_all(X)
        selected = getattr(self, "selected_features_", None)  # pickled before it existed
        return Xt if selected is None else Xt[:, selected]

    def _transform_all(self, X):
        check_is_fitted(self, "transformer_")
        if _is_sparse_frame(X):
            X = _sparse_frame_matrix(X)
        if self.sparse_input_:
            if not sp.issparse(X):
                X = np.asarray(X, dtype=np.float32)
                _check_sparse_finite(X, "the model was fitted on a sparse matrix")
                X = sp.csr_matrix(X)
            return self.transformer_.transform(X).astype(np.float32).tocsr()
        if sp.issparse(X):
            X = X.toarray()
        if isinstance(X, np.ndarray) and X.dtype.kind in "biuf" and not self.categorical_columns_:
            if not isinstance(self.transformer_, ColumnTransformer):
                # the imputer and the scaler work row by row: run them on blocks of rows
                # (``TRANSFORM_BLOCK_BYTES``), each turned to float64 on its own, into the
                # float32 output. Over the whole table their float64 copies (the input's,
                # the imputer's and its indicators' join, the scaler's) peaked at 4-6x the
                # output (1M x 50 float32: +1,200 MB, now +210 MB); the values are the
                # same, bit for bit (tests/test_preprocessing_memory.py)
                out = None
                for rows in _row_blocks(X):
                    part = self.transformer_.transform(np.asarray(X[rows], dtype=np.float64))
                    if out is None:
                        out = np.empty((len(X), part.shape[1]), dtype=np.float32)
                    out[rows] = part
                return out
        frame = self._frame(X)
        if not isinstance(self.transformer_, ColumnTransformer):
            clean = self._clean(frame)
            Xt = self.transformer_.transform(clean[self._numeric_inputs()].to_numpy())
        else:
            Xt = self.transformer_.transform(self._clean(frame))
        return np.ascontiguousarray(Xt, dtype=np.float32)


def _category_text(s: pd.Series, *, known: frozenset | None = None) -> pd.Series:
    """A categorical column's values as text, missing ones ``MISSING_CATEGORY``. Given the
    ``known`` categories (a fitted preprocessor's), a number written otherwise than in the
    fit rows is read as the known one: codes ``2, 3`` beside words came back from a batch
    whose column was all numbers and a blank as floats, and ``'3.0'`` was a category never
    seen (predicted as none of them, without a word); a pandas category of 10, 20, 30
    predicted with floats likewise; text ``'1.0'`` in the fit rows matches 1.0 as before.
    A whole number matches the one known category that writes it with leading zeros
    (``_zero_padded``): a batch whose zip codes were all digits (02134, 02139) came back
    from read_csv as 2134, 2139, unseen beside the fitted '02134' (the prediction flipped).
    A value written as in the fit rows is taken as it is."""
    values = s.astype(object).where(s.notna(), MISSING_CATEGORY)
    text = values.astype(str)
    if known and pd.api.types.infer_dtype(values, skipna=True) not in (
            "string", "boolean", "empty", "categorical"):
        # only the values not known as written are looked at
        new = ~text.isin(known).to_numpy()
        if new.any():
            padded = _zero_padded(known)
            spelled = text.to_numpy(dtype=object, copy=True)
            if s.dtype.kind in "iuf":
                # numbers of one type: each distinct one spelled once (200,000 rows, zip
                # codes read as ints: transform 0.71 s spelled row by row, 0.36 s so)
                codes, distinct = pd.factorize(values.to_numpy()[new])
                spelled[new] = np.array([_known_spelling(v, known, padded) for v in distinct],
                                        dtype=object)[codes]
            else:  # 1, 1.0 and True are one value to factorize, three spellings
                spelled[new] = [_known_spelling(v, known, padded)
                                for v in values.to_numpy()[new]]
            text = pd.Series(spelled, index=text.index, dtype=text.dtype)
    return text


def _known_spelling(value: Any, known: frozenset, padded: dict[int, str]) -> str:
    """How ``known`` writes the number ``value`` (not known as ``str(value)``): ``'3'`` for
    3.0, ``'3.0'`` for 3, ``'02134'`` for 2134 (``padded``); else ``str(value)``."""
    other = _other_number_text(value)
    if other is not value and other in known:
        return other
    if padded and not isinstance(value, (bool, np.bool_)) and isinstance(
            value, (int, np.integer, float, np.floating)) and math.isfinite(value) and float(
            value).is_integer() and int(value) in padded:
        return padded[int(value)]
    return str(value)


@functools.lru_cache(maxsize=64)
def _zero_padded(known: frozenset) -> dict[int, str]:
    """The known categories written as whole numbers with leading zeros (``'02134'``), by
    number, where only one writes it (``'02134'`` and ``'002134'`` match neither)."""
    found: dict[int, list[str]] = {}
    for value in known:
        if isinstance(value, str) and len(value) > 1 and value[0] == "0" and value.isdigit() \
                and value.isascii():
            found.setdefault(int(value), []).append(value)
    return {number: spellings[0] for number, spellings in found.items() if len(spellings) == 1}


def _other_number_text(value: Any) -> Any:
    """A whole number's other spelling: ``'3'`` for 3.0, ``'3.0'`` for 3 (else the value)."""
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, (int, np.integer)):
        return str(float(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(
            value).is_integer():
        return str(int(value))
    return value


#: what :func:`warn_unseen_categories` said, per fitted preprocessor, in this process
_UNSEEN_SAID: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def warn_unseen_categories(preprocessors: Sequence[Any], X: Any) -> None:
    """A warning per categorical column of ``X`` holding values none of ``preprocessors``
    (a model's: one, or an ensemble's, fitted on different rows) saw when fitted: they
    were predicted as none of the known categories without a word (a re-cased 'Paris' for
    'paris' moved a row's probability from 0.99 to 0.63). A model says it once per
    column and values, not on each prediction of the same rows (permutation importances
    predicted them 17 times). Numbers and dates missing where no fit row missed them are
    said here too (:func:`_warn_newly_missing`)."""
    from ._warn import DataWarning, warn_at_caller

    _warn_newly_missing(preprocessors, X)
    pres = [p for p in preprocessors if getattr(p, "categories_seen_", None)]
    if not pres:
        return
    seen: dict[Any, frozenset] = {}
    for pre in pres:
        for col, known in pre.categories_seen_.items():
            seen[col] = seen.get(col, frozenset()) | known
    said = _UNSEEN_SAID.setdefault(pres[0], set())
    for col, (values, n_values, rows) in pres[0].unseen_categories(X, seen=seen).items():
        if (col, tuple(map(str, values)), n_values) in said:
            continue
        said.add((col, tuple(map(str, values)), n_values))
        shown = ", ".join("a missing value" if v is None else repr(v) for v in values)
        warn_at_caller(
            f"column {col!r}: {rows} of {len(X)} rows hold values the model was not trained "
            f"on ({shown}{f', ... {n_values} in all' if n_values > len(values) else ''}); "
            "they are predicted as none of the known categories (new values, or known ones "
            "written otherwise: spelling, case).", DataWarning)


def _warn_newly_missing(preprocessors: Sequence[Any], X: Any) -> None:
    """A warning per number or date column of ``X`` missing in rows where no fit row of
    the model (of every one of ``preprocessors``) missed it: the value is imputed (a
    date's days and cycles by the fit rows' medians), which predicted without a word
    (stop 37's notes: a row without its date scored as a row of the median date). Once
    per column and count, as unseen categories are said."""
    from ._warn import DataWarning, warn_at_caller

    complete = [getattr(p, "complete_columns_", None) for p in preprocessors]
    X = _as_pandas(X)
    numbers = isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind == "f"
    if not complete or any(c is None for c in complete) or not (
            isinstance(X, pd.DataFrame) or numbers):
        return  # fitted before the attribute, or an array that cannot miss a value
    if numbers and not np.isnan(X).any():
        return  # (no frame made for the common case)
    said = _UNSEEN_SAID.setdefault(preprocessors[0], set())
    frame = preprocessors[0]._frame(X)
    shared = set(complete[0]).intersection(*complete[1:])  # an ensemble's: every member's
    columns = [c for c in complete[0] if c in shared and c in frame.columns]
    if not columns:
        return
    missing = frame[columns].isna().sum()  # one pass: 3,680 columns one by one took 0.2 s
    for col in columns:
        rows = int(missing[col])
        if getattr(frame[col].dtype, "kind", "O") not in "biufmM":  # text: '?', 'N/A' too
            rows = int((frame[col].isna() | _markers(frame[col])).sum())
        if rows and (col, "missing", rows) not in said:
            said.add((col, "missing", rows))
            what = ("date" if col in preprocessors[0].datetime_columns_ else "number")
            warn_at_caller(
                f"column {col!r}: {rows} of {len(frame)} rows miss their {what}, which no "
                f"training row did; each is filled in with the training rows' median.", DataWarning)


def kept_columns(ranking: np.ndarray, fraction: float) -> np.ndarray | None:
    """The columns a share ``fraction`` of them keeps, the first of ``ranking`` (at least
    one), in the table's order; None where that is every column."""
    n = len(ranking)
    k = max(1, round(fraction * n))
    return None if k >= n else np.sort(ranking[:k])


def feature_ranking(X: Any, y: np.ndarray, *, classes: bool) -> np.ndarray:
    """The columns of the preprocessed ``X`` (dense or sparse), most informative first: by
    the F statistic of a univariate test against ``y`` (scikit-learn's ``f_classif`` for
    class labels, ``classes=True``), else by the squared correlation with ``y`` (the order
    of ``f_regression``'s F); for several targets (labels of a multilabel task, outputs of
    a regression), a column's highest. Constant columns
    (no statistic) come last; a column constant within each class (an infinite statistic)
    first. Sample weights are not used."""
    from sklearn.feature_selection import f_classif, r_regression

    y = np.asarray(y)
    targets = y.reshape(len(y), -1)
    scores = np.full(X.shape[1], -np.inf)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # "Features [...] are constant"
        for t in targets.T:
            if classes and len(np.unique(t)) < 2:
                continue
            # for a target of numbers, F grows with the squared correlation, which is read
            # directly (F from a correlation of 1 came out negative, -3e17: ranked last)
            f = (f_classif(X, t)[0] if classes
                 else np.minimum(r_regression(X, t.astype(np.float64)) ** 2, 1.0))
            # NaN: a constant column; +inf: one constant within each class, the most
            # informative of all
            scores = np.fmax(scores, np.where(np.isnan(f), -np.inf, f))
    if sp.issparse(X):
        spread = X.max(axis=0).toarray().ravel() - X.min(axis=0).toarray().ravel()
    else:
        spread = np.ptp(np.asarray(X), axis=0)
    scores[spread == 0] = -np.inf  # no statistic: the correlation of a constant is 0 / 0
    return np.argsort(-scores, kind="stable")


_SHRINK_ROWS = 10
#: the lag-1 autocorrelation from which a whole-number column's mean target follows its
#: order (an amount); codes measured -0.06 to 0.02, ages and counts 0.66 to 0.91 (the
#: folds of benchmarks/dev/integer_codes.py's splits), california_synthetic's HouseAge (a
#: weak trend) 0.35 to 0.65 (its training rows and 80% of them, seeds 0-9)
FOLLOWS_ORDER = 0.25


def _order_follows(values: np.ndarray, y: np.ndarray) -> bool:
    """Whether the mean target moves smoothly with ``values`` (an amount, an age) rather
    than jumping from one value to the next (codes): the lag-1 autocorrelation of the
    per-value mean target (class shares for classes), values in order, is at least
    ``FOLLOWS_ORDER``;
    each mean's deviation from the overall mean shrunk by ``n / (n + _SHRINK_ROWS)`` for a
    value of ``n`` rows, so that rare values' noisy means weigh little.
    Measured on benchmarks/dev/integer_codes.py's tables: store codes ~0, ages and visit
    counts with smooth effects near 1."""
    order, groups = np.unique(values, return_inverse=True)
    k = len(order)
    counts = np.bincount(groups, minlength=k)
    if y.dtype.kind in "iub":  # class codes: each class's share (k x classes, no n x classes)
        classes = int(y.max()) + 1
        means = np.bincount(groups * classes + y.astype(np.int64),
                            minlength=k * classes).reshape(k, classes) / counts[:, None]
        means -= np.bincount(y.astype(np.int64), minlength=classes) / len(y)
    else:
        targets = y.reshape(len(y), -1).astype(np.float64)
        means = np.stack([np.bincount(groups, weights=t, minlength=k) / counts
                          for t in targets.T], axis=1)
        means -= targets.mean(axis=0)
    means *= (counts / (counts + _SHRINK_ROWS))[:, None]  # rare values' means: mostly noise
    spread = float((means ** 2).sum())
    return spread > 0 and float((means[:-1] * means[1:]).sum()) / spread >= FOLLOWS_ORDER


def _is_row_number(col: Any, s: pd.Series) -> bool:
    """A column pandas read as ``Unnamed: 0`` (no header) holding distinct whole numbers:
    the index ``DataFrame.to_csv`` writes unless told not to. As a feature it is noise, or
    worse, a leak where the file was sorted (by date, by the target) before it was saved;
    new rows' numbers mean nothing."""
    return (isinstance(col, str) and re.fullmatch(r"Unnamed: \d+", col) is not None
            and s.dtype.kind in "iu" and len(s) > 1 and s.is_unique)


def _text_kind(values: pd.Series) -> str | None:
    """What a text column of (non-missing) ``values`` is, beyond categories (None): free
    text ("text": many distinct values of many words) or left out (the reason: nearly all
    values distinct, an identifier, or numbers in a format not read as numbers, which it
    says). The distinct count comes first, as it rules out most categorical columns; words
    and number formats are looked at on the first ``_WORDS_SAMPLE`` values (a split of every
    value was half of a 160,000-row table's column typing). Numbers written as text with
    fewer distinct values (``'8,1'`` in 41% of the rows) stay categories, as they were: left
    out, a column that carried the signal lost its accuracy (0.61-0.74 -> 0.51-0.61)."""
    if len(values) < ID_MIN_ROWS:
        return None
    text = values.astype(str)
    distinct = text.nunique()
    if distinct < TEXT_MIN_DISTINCT * len(text):
        return None
    unique = distinct >= ID_UNIQUE_RATIO * len(text)
    if unique and (written := _numbers_as_text(text.iloc[:_WORDS_SAMPLE])) is not None:
        return written  # before the words: '1 234 567,89' is three
    if text.iloc[:_WORDS_SAMPLE].str.split().str.len().mean() >= TEXT_MIN_WORDS:
        return "text"
    if unique:
        return f"an identifier: {distinct} distinct values in {len(text)} rows"
    return None


# a number with a decimal comma or with thousands separated by points or spaces ('3.311,03',
# '3 311,03', '1.234.567'): what a table written in German or French holds, which pandas
# reads as text without read_csv's decimal=',' and thousands=...
_LOCALE_NUMBER = re.compile(r"""\s*[-+]?(?:\d{1,3}(?:(?P<sep>[.\s\u00a0\u202f])\d{3})+|\d+)
    (?P<decimal>[.,]\d+)?\s*""", re.X)


def _numbers_as_text(text: pd.Series) -> str | None:
    """Why a column of nearly all distinct values is left out where nearly all
    (``ID_UNIQUE_RATIO``) of ``text`` are numbers (``_LOCALE_NUMBER``), at least one written
    with a decimal comma or thousands separators: it said "an identifier: 90 distinct
    values in 90 rows" of amounts, which misled (an identifier written so, '123 456 789',
    stays possible: the reason says both). None otherwise. Lepton does not guess the
    separators (is '1.234' a thousand or one?); the reason names the ``read_csv`` arguments
    that read them."""
    found = text.str.extract(f"^{_LOCALE_NUMBER.pattern}$", flags=re.X)
    comma = found["decimal"].str.startswith(",").fillna(False).astype(bool).to_numpy()
    # '1.234.5' is no number: points for thousands want a comma for decimals
    matched = found["decimal"].isna().to_numpy() | comma | (found["sep"] != ".").to_numpy()
    matched &= text.str.fullmatch(_LOCALE_NUMBER).to_numpy(dtype=bool)
    written = matched & (found["sep"].notna().to_numpy() | comma)
    if matched.mean() < ID_UNIQUE_RATIO or not written.any():
        return None
    args = ["decimal=','"] if (matched & comma).any() else []
    seps = found["sep"][matched].dropna().unique()
    if len(seps) == 1:
        args.append(f"thousands={seps[0]!r}")
    return (f"numbers written as text (like {text[written].iloc[0]!r}), not read as numbers, "
            f"or an identifier: if they are amounts, read the file with pandas.read_csv(..., "
            f"{', '.join(args)}), or convert the column to numbers")


class _TextFeatures(TransformerMixin, BaseEstimator):
    """One free-text column -> standardised numbers: TF-IDF of words and word pairs (seen
    in two rows or more; in one, when nothing is), reduced by truncated SVD to at most
    ``TEXT_COMPONENTS`` components (fewer when the vocabulary or the rows are fewer), and,
    fitted with a target, what the words say of it (:func:`_text_scores`: each class's
    log-probability, or the target's value, cross-fitted on the fit rows). A column with
    no word at all gives one constant column.

    The SVD alone keeps the directions the words vary most in, which frequent words fill:
    on 20 classes of synthetic documents, each class its own 60 of 3,000 words (review
    helper-54), logistic regression on the 32 components scored 0.28 held out (on the
    TF-IDF itself 0.89); with the class scores 0.90 (3 classes: 0.967 -> 0.975; one run
    each, no rows kept; benchmarks/dev/text_topics.py has the network's)."""

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = _texts(X)
        self.vectorizer_ = self.scorer_ = None
        for min_df in (2, 1):
            vectorizer = TfidfVectorizer(min_df=min_df, ngram_range=(1, 2), sublinear_tf=True,
                                         max_features=20_000, dtype=np.float32)
            try:
                tfidf = vectorizer.fit_transform(texts)
            except ValueError:  # "empty vocabulary"
                continue
            self.vectorizer_ = vectorizer
            break
        if self.vectorizer_ is None:
            self.svd_ = self.scaler_ = None
            return np.zeros((len(texts), 1), dtype=np.float32)
        k = min(TEXT_COMPONENTS, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
        self.svd_ = TruncatedSVD(k, random_state=0) if k >= 1 else None
        reduced = self.svd_.fit_transform(tfidf) if self.svd_ is not None else tfidf.toarray()
        target = _encoding_target(y)
        if target is not None and len(target) >= TEXT_SCORE_MIN_ROWS:
            scores, self.scorer_ = _text_scores(tfidf, target)
            reduced = np.hstack([reduced, scores])
        self.scaler_ = StandardScaler().fit(reduced)
        return self.scaler_.transform(reduced).astype(np.float32)

    def transform(self, X):
        texts = _texts(X)
        if self.vectorizer_ is None:
            return np.zeros((len(texts), 1), dtype=np.float32)
        tfidf = self.vectorizer_.transform(texts)
        reduced = self.svd_.transform(tfidf) if self.svd_ is not None else tfidf.toarray()
        scorer = getattr(self, "scorer_", None)  # None: fitted without a target, or before
        if scorer is not None:
            reduced = np.hstack([reduced, _scored(scorer, tfidf)])
        return self.scaler_.transform(reduced).astype(np.float32)


#: rows a text column's target scores are cross-fitted on, at the least (5 folds)
TEXT_SCORE_MIN_ROWS = 20


def _text_scores(tfidf, target: np.ndarray):
    """What a text column's words say of the target, for each fit row from a model fitted
    on the other folds (5, shuffled, as the target encoder's), and that model fitted on
    every row, for the rows to come: class codes (integers) get naive Bayes's
    log-probability of each class (``ComplementNB``: 0.04 s on 3,000 documents of 20
    classes, where a logistic regression's took 3.4 s and scored less: one run, no rows
    kept), values a ridge regression's prediction. One column a class: 1,000 classes on
    50,000 rows took 13.4 s (20 classes 3.8 s; review helper-59)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict
    from sklearn.naive_bayes import ComplementNB

    classes = target.dtype.kind != "f"
    model = ComplementNB() if classes else Ridge(alpha=1.0)
    with warnings.catch_warnings():  # a class missing from a fold: its column is filled
        warnings.simplefilter("ignore")
        scores = cross_val_predict(model, tfidf, target, cv=_cross_fit_folds(target),
                                   method="predict_log_proba" if classes else "predict")
    model.fit(tfidf, target)
    return _clipped(scores, classes), model


def _scored(model, tfidf) -> np.ndarray:
    classes = hasattr(model, "predict_log_proba")
    return _clipped(model.predict_log_proba(tfidf) if classes else model.predict(tfidf),
                    classes)


def _clipped(scores: np.ndarray, classes: bool) -> np.ndarray:
    """Scores as columns; log-probabilities no lower than -30 (a class a fold never saw
    is filled with the float minimum)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    return np.clip(scores, -30.0, 0.0) if classes else scores


def _texts(X) -> list[str]:
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X).ravel())
    return values.astype(str).tolist()


#: the smooth clip of a date's days since 1970 (robust scaling), in interquartile ranges
#: from the median: near-linear over the years after the fit rows (fitted on 2020-2023,
#: 2025-12-31 at 2.61 against 2.70 unclipped, 2.01 at the columns' clip of 3), bounded
#: for a placeholder date (1900-01-01: -9.9 against -80.7 unclipped)
DAYS_CLIP = 10.0


class GlobalScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """One mean and one standard deviation for all columns, or for each of ``channels``
    equal blocks of columns (an image's channels, channels first): an image's pixels keep
    their relations (a pixel brighter than another stays so), and no pixel gets a scale
    of its own. Standardised one by one, pixels rarely lit in the training images (a
    digit's border) had scales down to 0.03, and a digit shifted by one pixel reached
    values of 250-500 there: a CNN's held-out accuracy 0.99 fell to 0.36-0.71 on digits
    shifted one pixel, 0.73-0.88 scaled this way, with the same accuracy unshifted (review
    helper-46's fixed-network ablation). Channels of other units (a depth in millimetres
    beside colours in 0-255) each get their own."""

    channels: int = 1  # pickled before the parameter: one block

    def __init__(self, channels: int = 1):
        self.channels = channels

    def fit(self, X, y=None):
        X = self._blocks(np.asarray(X, dtype=np.float64))
        empty = X.size == 0
        self.mean_ = np.zeros(self.channels) if empty else X.mean(axis=(0, 2))
        scale = np.zeros(self.channels) if empty else X.std(axis=(0, 2))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        # a float each where fitted before channels: the same sums
        mean, scale = (np.reshape(v, (-1, 1)) for v in (self.mean_, self.scale_))
        return ((self._blocks(X) - mean) / scale).reshape(X.shape).astype(np.float32)

    def _blocks(self, X: np.ndarray) -> np.ndarray:
        """``X`` as (rows, channels, columns a channel)."""
        channels = int(self.channels)
        if channels < 1 or X.shape[1] % channels:
            raise ValueError(f"channels={self.channels!r} must be a whole number >= 1 that "
                             f"divides the {X.shape[1]} columns into equal blocks.")
        return X.reshape(len(X), channels, -1)


class _NumericScaler(TransformerMixin, BaseEstimator):
    """Scale the first ``n_scaled`` columns (``scaling``: robust + clip, standard, or
    global, by ``channels``), the columns at the positions ``days`` (dates' days since 1970)
    clipped far out only (robust: ``DAYS_CLIP``); pass missing indicators through."""

    days: Sequence[int] = ()  # pickled before the parameter: repr and clone still work
    channels: int = 1

    def __init__(self, clip: float = 3.0, n_scaled: int | None = None, scaling: str = "robust",
                 days: Sequence[int] = (), channels: int = 1):
        self.clip = clip
        self.n_scaled = n_scaled
        self.scaling = scaling
        self.days = days
        self.channels = channels

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        k = X.shape[1] if self.n_scaled is None else min(self.n_scaled, X.shape[1])
        self.k_ = k
        # the other scalings clip nothing: the days are scaled with every column
        self.days_ = np.isin(np.arange(k), self.days) & (self.scaling == "robust")
        scaler = (RobustClipScaler(clip=self.clip) if self.scaling == "robust" else
                  GlobalScaler(self.channels) if self.scaling == "global" else StandardScaler())
        self.scaler_ = scaler.fit(self._columns(X, ~self.days_))
        self.days_scaler_ = (RobustClipScaler(clip=DAYS_CLIP).fit(
            self._columns(X, self.days_)) if self.days_.any() else None)
        return self

    def _columns(self, X: np.ndarray, which: np.ndarray) -> np.ndarray:
        """The scaled columns ``which`` (a mask) of ``X``; a view where that is all of them."""
        return X[:, :self.k_] if which.all() else X[:, :self.k_][:, which]

    def transform(self, X):
        X = np.asarray(X)
        if X.dtype.kind not in "fiub":
            X = np.asarray(X, dtype=np.float64)
        # row block by row block into the float32 output, each block turned to float64 on
        # its own: the scalers' float64 temporaries and the indicators' join were 2.5-3.5x
        # the output over the whole table (review helper-91; a fit_transform's and a
        # frame's transform run here), and are now bounded by ``TRANSFORM_BLOCK_BYTES``.
        # Each value is the same, bit for bit: the same float64 arithmetic, the same cast to
        # float32 (of a standard scaling's float64 output too, which the preprocessor cast)
        out = np.empty((len(X), X.shape[1]), dtype=np.float32)
        for rows in _row_blocks(X):
            out[rows] = self._transform_rows(np.asarray(X[rows], dtype=np.float64))
        return out

    def _transform_rows(self, X: np.ndarray) -> np.ndarray:
        """``transform`` of the float64 rows ``X``."""
        days = getattr(self, "days_", None)  # None: fitted before, every column clipped
        if days is None or not days.any():
            scaled = self.scaler_.transform(X[:, : self.k_])
        else:
            scaled = np.empty((len(X), self.k_), dtype=np.float32)
            scaled[:, ~days] = self.scaler_.transform(self._columns(X, ~days))
            scaled[:, days] = self.days_scaler_.transform(self._columns(X, days))
        if X.shape[1] == self.k_:
            return scaled
        return np.hstack([scaled, X[:, self.k_:].astype(np.float32)])


def column_notes(X, y=None) -> list[str]:
    """One line for each column the preprocessing does not take as it comes: categorical
    columns of more than ``MAX_ONEHOT_CARDINALITY`` values (one-hot or target-encoded), the
    date columns (read as numbers and cycles), the columns left out, with why, numbers
    read from formatted text or with missing markers, and, given the target ``y`` (class
    labels, or numbers for regression), the whole-number columns also target-encoded as
    codes. Empty for arrays of numbers and sparse matrices."""
    X = _as_pandas(X)
    if not (isinstance(X, pd.DataFrame) or (isinstance(X, np.ndarray) and X.dtype.kind == "O")):
        return []
    pre = TabularPreprocessor(max_onehot_cardinality=defaults.MAX_ONEHOT_CARDINALITY,
                              onehot_cells=defaults.ONEHOT_CELLS)
    frame = pre._frame(X)
    pre._type_columns(frame)
    notes = []
    clean = pre._clean(frame) if pre.categorical_columns_ or y is not None else None
    if pre.categorical_columns_:  # the wide ones: how they will be encoded (with a target)
        pre._plan_categories(clean, np.zeros(len(clean)))
        for col in pre.categorical_columns_:
            values = clean[col].nunique()
            if values > pre.max_onehot_cardinality:
                how = "one-hot" if col in pre.onehot_columns_ else (
                    f"target-encoded (one-hot would pass {pre.onehot_cells:,} cells)")
                notes.append(f"column {col!r}: {values} categories, {how}")
    scored = (_encoding_target(y) is not None and len(X) >= TEXT_SCORE_MIN_ROWS)
    notes += [f"column {col!r}: free text, learnt from as up to {TEXT_COMPONENTS} numbers "
              "(TF-IDF of its words, reduced by SVD)"
              + (" and what its words say of the target" if scored else "")
              for col in pre.text_columns_]
    for col, fmt in pre.datetime_columns_.items():
        how = "datetime64" if fmt is None else ("ISO 8601" if fmt == _ISO else repr(fmt))
        notes.append(f"column {col!r}: dates ({how}), learnt from as days since 1970 and the "
                     "position in the year, week and day")
    notes += [f"column {col!r} left out: {why}" for col, why in pre.dropped_columns_.items()]
    for col in pre.formatted_numbers_:
        text = frame[col].dropna().astype(str)
        decorated = ~text.str.fullmatch(r"[-+]?[\d.]+") & ~_markers(text)
        example = text[decorated].iloc[0]
        notes.append(f"column {col!r}: numbers written with signs or separators "
                     f"({example!r}), read as numbers")
    for col in pre.timedelta_columns_:
        if frame[col].dtype.kind != "m":
            text = frame[col].dropna().astype(str)
            notes.append(f"column {col!r}: durations written as text "
                         f"({text[~_markers(text)].iloc[0]!r}), read as seconds")
    for col, found in pre.missing_markers_.items():
        shown = ", ".join(f"{marker!r} ({n} row{'s' if n > 1 else ''})"
                          for marker, n in found.items())
        notes.append(f"column {col!r}: {shown} read as missing")
    if y is not None:
        y = np.asarray(y)
        target = (y.astype(np.float64) if y.dtype.kind in "f"
                  else np.unique(y.astype(str), return_inverse=True)[1])
        notes += [f"column {col!r}: whole numbers that act as codes (the mean target jumps "
                  "from one value to the next), target-encoded beside their numbers"
                  for col in pre.numeric_columns_ if pre._is_code(clean[col], target)]
    return notes


def _counts(values: pd.Series) -> dict[str, int]:
    """How often each value occurs, as text, most frequent first."""
    return {str(k): int(n) for k, n in values.astype(str).value_counts().items()}


@contextmanager
def column_errors_on_all_rows(X) -> Iterator[None]:
    """Around preprocessors fitted on part of ``X`` (a fold, the rows left after the
    validation split): a column error they raise (numbers mixed with text, a column of
    lists) is raised again from the columns of all the rows, so its counts and examples
    are the data's as the user passed it ("numeric in 297 of 300 rows"), not the fold's
    ("238 of 240"). Costs nothing unless there is an error; the fold's own error stands
    where the rows as a whole type the column differently."""
    try:
        yield
    except (ValueError, TypeError):
        if isinstance(X, pd.DataFrame) or (isinstance(X, np.ndarray) and X.dtype.kind == "O"):
            whole = TabularPreprocessor()
            try:
                whole._type_columns(whole._frame(X))
            except (ValueError, TypeError) as error:
                raise error from None  # the fold's error told the same, with its counts
        raise
