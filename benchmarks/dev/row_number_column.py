"""Dev experiment: a CSV written with its DataFrame index (``to_csv`` without
``index=False``), from a table sorted by the target, as exports often are ("top customers
first"). The index comes back as a column ``Unnamed: 0`` that follows the target in the
file and means nothing on new rows.

    python benchmarks/dev/row_number_column.py FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/row_number_column.py 0 3

Run it from a checkout of the code to compare (``PYTHONPATH=<checkout>``). Per seed: a
2,000-row training file sorted by the target and a 1,000-row file of new rows (its own
index, in no order), both written with the index and read back; Lepton's fixed
``NeuralNetworkRegressor`` (defaults) is fitted on the training file; held-out R^2 on the
new file, and on the training file's own validation split (``validation_score``, what a
user would see). ``kept``: whether the preprocessing kept the index column.
"""
import sys

import numpy as np
import pandas as pd
from _rows import emit, read_back


def table(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3] + rng.normal(0, 0.3, n)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)


def main() -> None:
    from lepton import NeuralNetworkRegressor

    first, end = int(sys.argv[1]), int(sys.argv[2])
    out = open(sys.argv[3], "a") if len(sys.argv) > 3 else None
    for seed in range(first, end):
        ordered = table(2000, seed).sort_values("y", ascending=False).reset_index(drop=True)
        train = read_back(ordered, index=True)
        new = read_back(table(1000, 100 + seed), index=True)
        model = NeuralNetworkRegressor(random_state=seed).fit(train.drop(columns="y"), train.y)
        emit({"seed": seed, "kept": "Unnamed: 0" in model.preprocessor_.numeric_columns_,
              "validation_score": round(model.history_[model.best_epoch_ - 1]["val_score"], 4),
              "new_rows_r2": round(model.score(new.drop(columns="y"), new.y), 4)}, out)


if __name__ == "__main__":
    main()
