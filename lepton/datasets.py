"""Built-in datasets (bundled with scikit-learn, no download) and file loading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Dataset", "BUILTIN_DATASETS", "load_dataset", "read_table", "write_table",
           "table_format"]


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame | np.ndarray
    y: np.ndarray | pd.Series
    task: str                        # 'classification' | 'regression'
    input_shape: tuple[int, ...] | None = None


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return Dataset("digits", X, y, "classification", input_shape=(8, 8))


def _sk(loader: str, task: str):
    def load() -> Dataset:
        import sklearn.datasets as skd
        X, y = getattr(skd, loader)(return_X_y=True, as_frame=True)
        return Dataset(loader.removeprefix("load_"), X, y.to_numpy(), task)
    return load


def _california_synthetic() -> Dataset:
    """A California-housing-like regression table generated offline: 8 skewed numeric
    features with interactions and heteroscedastic noise (20,640 rows like the original)."""
    rng = np.random.default_rng(0)
    n = 20640
    income = rng.lognormal(1.2, 0.45, n)
    age = rng.integers(1, 53, n).astype(float)
    rooms = rng.lognormal(1.6, 0.25, n)
    bedrooms = rooms * rng.uniform(0.15, 0.25, n)
    population = rng.lognormal(7.0, 0.7, n)
    occupancy = rng.lognormal(1.05, 0.3, n)
    lat = rng.uniform(32.5, 42.0, n)
    lon = -124.3 + (42.0 - lat) * 0.9 + rng.normal(0, 0.8, n)
    coast = np.exp(-np.abs(lon + 122.0 - (lat - 37.5) * 0.6))
    y = (0.45 * income + 0.6 * coast + 0.004 * age - 0.08 * occupancy
         + 0.05 * np.sin(lat * 2) * income + rng.normal(0, 0.25 + 0.05 * income, n))
    X = pd.DataFrame({"MedInc": income, "HouseAge": age, "AveRooms": rooms,
                      "AveBedrms": bedrooms, "Population": population, "AveOccup": occupancy,
                      "Latitude": lat, "Longitude": lon})
    return Dataset("california_synthetic", X, np.clip(y, 0.15, 5.0), "regression")


BUILTIN_DATASETS = {
    "digits": _digits,
    "iris": _sk("load_iris", "classification"),
    "wine": _sk("load_wine", "classification"),
    "breast_cancer": _sk("load_breast_cancer", "classification"),
    "diabetes": _sk("load_diabetes", "regression"),
    "california_synthetic": _california_synthetic,
}


_PARQUET, _TEXT = (".parquet", ".pq"), (".csv", ".txt", ".tsv")


def table_format(path: str | Path, *, what: str) -> str:
    """'parquet', 'tsv' or 'csv' from the file's suffix; a ValueError naming ``what`` else."""
    suffix = Path(path).suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _TEXT:
        return "tsv" if suffix == ".tsv" else "csv"
    raise ValueError(f"{what} {str(path)!r} must end in .csv, .tsv or .parquet.")


def read_table(path: str | Path, *, what: str = "dataset file") -> pd.DataFrame:
    """A CSV, TSV or Parquet file as a DataFrame (the format from the file's suffix)."""
    fmt = table_format(path, what=what)
    if not Path(path).exists():
        raise ValueError(f"{what} {str(path)!r} does not exist.")
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError, ValueError) as exc:  # pyarrow's errors are OSError / ValueError
        raise ValueError(f"{what} {str(path)!r} cannot be read as {fmt.upper()}: "
                         f"{type(exc).__name__}: {exc}") from exc


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """``frame`` to a CSV, TSV or Parquet file, as ``read_table`` reads it back."""
    fmt = table_format(path, what="output file")
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")


def load_dataset(name_or_path: str, *, target: str | None = None) -> Dataset:
    """A built-in dataset by name, or a CSV/Parquet file with its ``target`` column."""
    if name_or_path in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[name_or_path]()
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(
            f"dataset={name_or_path!r} is neither a built-in dataset "
            f"({', '.join(BUILTIN_DATASETS)}) nor an existing CSV/Parquet file."
        )
    frame = read_table(path)
    if target is None:
        raise ValueError(f"a file needs its target column named (--target / target=); the "
                         f"columns of {path.name} are {list(frame.columns)}.")
    if target not in frame.columns:
        raise ValueError(
            f"target={target!r} is not a column of {path.name}; columns are {list(frame.columns)}."
        )
    y = frame.pop(target)
    from .estimators._base import infer_task
    from .preprocessing import text_numbers

    # a target of amounts written as '$1,234.50' is text to pandas, which would make every
    # amount a class: numbers, where they are a regression target
    numbers = text_numbers(y)
    if numbers is not None and infer_task(numbers) == "regression":
        return Dataset(path.stem, frame, numbers, "regression")
    return Dataset(path.stem, frame, y.to_numpy(), infer_task(y))
