"""Dev experiment: how a network sees a categorical column with many values (ordinal codes,
target encoding, one-hot), the evidence behind ``TabularPreprocessor``'s encodings.

    python benchmarks/dev/categorical_encoding.py fixed LEVELS FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/categorical_encoding.py search LEVELS FIRST_SEED END_SEED BUDGET [OUT]
    python benchmarks/dev/categorical_encoding.py fixed 300 0 3

The table (3,000 rows): ``store``, a categorical column of LEVELS values whose effects
(normal, sd 1.5) carry most of the signal, three numeric columns (one linear, one
quadratic, one noise) and noise (sd 0.5); 75/25 split by seed. ``fixed``: Lepton's fixed
``NeuralNetworkRegressor`` (defaults) with the store column one-hot, target-encoded or
ordinal, the numeric columns as Lepton preprocesses them; one line per split with the
three held-out R^2. ``search``: ``LeptonRegressor`` at BUDGET seconds on the table as it
comes (run it from a checkout of the code to compare, ``PYTHONPATH=<checkout>``).
"""
import sys
import time

import numpy as np
import pandas as pd
from _rows import emit


def table(levels: int, n: int = 3000):
    rng = np.random.default_rng(0)
    effect = rng.normal(size=levels)
    store = rng.integers(0, levels, n)
    num = rng.normal(size=(n, 3))
    y = 1.5 * effect[store] + num[:, 0] - 0.5 * num[:, 1] ** 2 + rng.normal(0, 0.5, n)
    X = pd.DataFrame({"store": [f"s{c}" for c in store], "a": num[:, 0], "b": num[:, 1],
                      "c": num[:, 2]})
    return X, y


def fixed(X_tr, X_te, y_tr, y_te, seed: int) -> dict:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

    from lepton import NeuralNetworkRegressor
    from lepton.preprocessing import TabularPreprocessor

    numeric = ["a", "b", "c"]
    pre = TabularPreprocessor().fit(X_tr[numeric])
    encoders = {
        "ordinal": OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
        "target": TargetEncoder(target_type="continuous", random_state=0),
        "onehot": OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    }
    scores = {}
    for name, encoder in encoders.items():
        scaler = StandardScaler()
        train = np.hstack([pre.transform(X_tr[numeric]),
                           scaler.fit_transform(encoder.fit_transform(X_tr[["store"]], y_tr))])
        test = np.hstack([pre.transform(X_te[numeric]),
                          scaler.transform(encoder.transform(X_te[["store"]]))])
        model = NeuralNetworkRegressor(random_state=seed).fit(train, y_tr)
        scores[name] = round(model.score(test, y_te), 4)
    return scores


def main() -> None:
    from sklearn.model_selection import train_test_split

    mode, levels, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    budget = float(sys.argv[5]) if mode == "search" else None
    rest = sys.argv[6:] if mode == "search" else sys.argv[5:]
    out = open(rest[0], "a") if rest else None
    X, y = table(levels)
    for seed in range(first, end):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
        row = {"mode": mode, "levels": levels, "seed": seed}
        if mode == "fixed":
            row.update(fixed(X_tr, X_te, y_tr, y_te, seed))
        else:
            from lepton import LeptonRegressor

            t0 = time.perf_counter()
            model = LeptonRegressor(time_budget=budget, random_state=seed).fit(X_tr, y_tr)
            row.update(budget=budget, r2=round(model.score(X_te, y_te), 4),
                       fit_s=round(time.perf_counter() - t0, 2), trials=int(model.n_trials_),
                       encodings={k: len(getattr(model.best_estimator_.preprocessor_, k, []))
                                  for k in ("onehot_columns_", "target_columns_",
                                            "ordinal_columns_")}
                       if hasattr(getattr(model, "best_estimator_", None), "preprocessor_")
                       else None)
        emit(row, out)


if __name__ == "__main__":
    main()
