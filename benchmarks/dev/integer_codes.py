"""Dev experiment: whole-number columns that are codes (store 0-299) or amounts (age,
visits), as a network sees them with their numbers only (before) and with their target
encoding beside the numbers (``TabularPreprocessor.code_columns_``).

    python benchmarks/dev/integer_codes.py TABLE FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/integer_codes.py codes 0 3
    python benchmarks/dev/integer_codes.py amounts 0 3

Run it from a checkout of the code to compare (``PYTHONPATH=<checkout>``). Tables (3,000
rows, 75/25 split by seed):
- ``codes``: ``store``, whole numbers 0-299 whose effects (normal, sd 1.5) carry most of
  the signal, three numeric columns (linear, quadratic, noise), noise sd 0.5 (the table of
  categorical_encoding.py, with the store as a number instead of text);
- ``amounts``: ``age`` (18-80) and ``visits`` (0-40, Poisson) with smooth effects, two
  float columns, noise sd 0.5.
Lepton's fixed ``NeuralNetworkRegressor`` (defaults): held-out R^2, and the columns the
preprocessing target-encoded.
"""
import sys

import numpy as np
import pandas as pd
from _rows import emit


def table(name: str, n: int = 3000):
    rng = np.random.default_rng(0)
    num = rng.normal(size=(n, 3))
    if name == "codes":
        effect = rng.normal(size=300)
        store = rng.integers(0, 300, n)
        y = 1.5 * effect[store] + num[:, 0] - 0.5 * num[:, 1] ** 2 + rng.normal(0, 0.5, n)
        return pd.DataFrame({"store": store, "a": num[:, 0], "b": num[:, 1], "c": num[:, 2]}), y
    if name == "amounts":
        age = rng.integers(18, 81, n)
        visits = rng.poisson(8, n)
        y = (np.sin((age - 18) / 10) + np.log1p(visits) + num[:, 0] - 0.5 * num[:, 1] ** 2
             + rng.normal(0, 0.5, n))
        return pd.DataFrame({"age": age, "visits": visits, "a": num[:, 0], "b": num[:, 1]}), y
    raise SystemExit(f"table {name!r}: use codes or amounts")


def main() -> None:
    from sklearn.model_selection import train_test_split

    from lepton import NeuralNetworkRegressor

    name, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    X, y = table(name)
    for seed in range(first, end):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
        model = NeuralNetworkRegressor(random_state=seed).fit(X_tr, y_tr)
        emit({"table": name, "seed": seed, "r2": round(model.score(X_te, y_te), 4),
              "encoded": getattr(model.preprocessor_, "code_columns_", None)}, out)


if __name__ == "__main__":
    main()
