"""Dev experiment: numeric columns whose missing values are written as '?' (as in the UCI
tables) or '-', read from a CSV: what Lepton does with them now (numbers, the markers
missing) against what its error used to tell the user to do.

    python benchmarks/dev/missing_markers.py FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/missing_markers.py 0 3

The table (3,000 rows, written to a CSV and read back with pandas' defaults): income
(8% '?'), age (3% '-'), hours (numeric, clean), a category; the class follows income, age
and hours (logistic, 10% noise). 75/25 split by seed. Per split, Lepton's fixed
``NeuralNetworkClassifier`` (defaults) held-out accuracy with
- ``as_read``: the table as read (income and age are text columns for pandas);
- ``as_category``: income and age cast to 'category' (the old error's advice);
- ``rows_dropped``: the rows holding a marker removed, from training and test (the other
  way out a user had; scored on fewer rows);
- ``clean``: the true numbers, no missing values (the ceiling).
"""
import sys

import numpy as np
import pandas as pd
from _rows import emit, read_back


def table(n: int = 3000):
    rng = np.random.default_rng(0)
    income = rng.lognormal(10.5, 0.5, n).round()
    age = rng.integers(18, 80, n).astype(float)
    hours = rng.normal(40, 10, n).round()
    kind = rng.choice(["a", "b", "c"], n)
    logit = (np.log(income) - 10.5) * 2.5 + (age - 45) / 12 + (hours - 40) / 10 \
        + (kind == "b") * 0.5
    y = (logit + rng.logistic(size=n) * 0.3 > 0).astype(int)
    flip = rng.random(n) < 0.1
    y[flip] = 1 - y[flip]
    clean = pd.DataFrame({"income": income, "age": age, "hours": hours, "kind": kind})
    written = clean.astype(object)
    written.loc[rng.random(n) < 0.08, "income"] = "?"
    written.loc[rng.random(n) < 0.03, "age"] = "-"
    return read_back(written), clean, y


def main() -> None:
    from sklearn.model_selection import train_test_split

    from lepton import NeuralNetworkClassifier

    first, end = int(sys.argv[1]), int(sys.argv[2])
    out = open(sys.argv[3], "a") if len(sys.argv) > 3 else None
    read, clean, y = table()
    marked = (read["income"] == "?") | (read["age"] == "-")
    variants = {"as_read": read, "clean": clean,
                "as_category": read.astype({"income": "category", "age": "category"})}
    for seed in range(first, end):
        train, test = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed,
                                       stratify=y)
        row = {"seed": seed, "marked_rows": int(marked.sum())}
        for name, X in variants.items():
            model = NeuralNetworkClassifier(random_state=seed)
            try:
                model.fit(X.iloc[train], y[train])
                row[name] = round(model.score(X.iloc[test], y[test]), 4)
            except ValueError as exc:
                row[name] = f"error: {str(exc)[:80]}"
        keep_train, keep_test = train[~marked[train]], test[~marked[test]]
        X = read.astype({"income": float, "age": float}, errors="ignore")
        X = X.loc[~marked].astype({"income": float, "age": float})
        model = NeuralNetworkClassifier(random_state=seed).fit(X.loc[keep_train], y[keep_train])
        row["rows_dropped"] = round(model.score(X.loc[keep_test], y[keep_test]), 4)
        row["rows_dropped_test_rows"] = len(keep_test)
        emit(row, out)


if __name__ == "__main__":
    main()
