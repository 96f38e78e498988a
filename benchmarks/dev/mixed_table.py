"""Dev check: a larger mixed table (numbers, categorical columns of 100 to 3,000 values, a
timestamp column as text) through a budgeted search: held-out R^2, fit time over budget,
and how the final model's preprocessing encoded the categorical columns.

    python benchmarks/dev/mixed_table.py ROWS BUDGET
    python benchmarks/dev/mixed_table.py 50000 60

ROWS rows (80% fitted, the last 20% held out): ten normal columns (one carries signal),
four categorical columns of 100, 400, 1,000 and 3,000 values (normal effects, all carry
signal), a 15-minute timestamp as text (no signal), noise sd 0.5. Run it from a checkout
of the code to compare (``PYTHONPATH=<checkout>``).
"""
import sys
import time

import numpy as np
import pandas as pd

LEVELS = (100, 400, 1000, 3000)


def table(n: int):
    rng = np.random.default_rng(0)
    cols = {f"x{i}": rng.normal(size=n) for i in range(10)}
    codes = {j: rng.integers(0, size, n) for j, size in enumerate(LEVELS)}
    for j in codes:
        cols[f"c{j}"] = [f"k{v}" for v in codes[j]]
    cols["day"] = pd.date_range("2020-01-01", periods=n, freq="15min").strftime("%Y-%m-%d %H:%M")
    effects = {j: rng.normal(size=size) for j, size in enumerate(LEVELS)}
    y = cols["x0"] + sum(effects[j][codes[j]] for j in codes) + rng.normal(0, 0.5, n)
    return pd.DataFrame(cols), y


def main() -> None:
    from lepton import LeptonRegressor

    n, budget = int(sys.argv[1]), float(sys.argv[2])
    X, y = table(n)
    cut = int(0.8 * n)
    t0 = time.perf_counter()
    model = LeptonRegressor(time_budget=budget, random_state=0).fit(X.iloc[:cut], y[:cut])
    fit = time.perf_counter() - t0
    pre = getattr(model.best_estimator_, "preprocessor_", None)
    encodings = None if pre is None else {
        k: getattr(pre, k, None) for k in ("onehot_columns_", "target_columns_",
                                           "ordinal_columns_", "n_features_out_")}
    print(f"rows={n} fit {fit:.1f}s of {budget:g}s ({fit / budget:.3f}); "
          f"trials={model.n_trials_} final={model.final_choice_}; "
          f"held-out r2={model.score(X.iloc[cut:], y[cut:]):.3f}; {encodings}")


if __name__ == "__main__":
    main()
