"""Dev experiment: what reading date columns as dates, and leaving identifier columns out,
is worth on tables that have them (the preprocessing of ``lepton/preprocessing.py``).

    python benchmarks/dev/date_and_id_columns.py DATASET FIRST_SEED END_SEED BUDGET [OUT.jsonl]
    python benchmarks/dev/date_and_id_columns.py demand 0 3 30

Two synthetic tables, written the way they would arrive as a CSV (dates as text):

- ``demand`` (regression, 1,500 days of 2 stores): daily sales with a trend, a weekly and a
  yearly season, a store effect and noise; columns ``date`` (``YYYY-MM-DD``), ``store``,
  ``promo``, ``order_id`` (unique). Everything but the noise is in the date.
- ``churn`` (classification, 1,500 customers): churn from tenure, plan, activity and
  spend; columns ``customer_id`` (unique), ``signup`` (timestamps, no signal), ``plan``,
  ``monthly_spend`` (10% missing), ``tenure_months``, ``is_active``, ``region``.

One line per split (75/25, ``lepton.steps.load_split`` on the CSV): Lepton's held-out
score (R^2 / accuracy) and fit seconds at ``BUDGET``, no tracking; and
``HistGradientBoosting`` defaults on the numeric and one-hot columns with the dates as
days since 1970 (``hgb_dates``), a reference for what the columns hold. Run it from a
checkout of the code to compare (``PYTHONPATH=<checkout>``); ``lepton_commit`` says which.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from _rows import emit


def demand(n_days: int = 750) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    days = pd.date_range("2022-01-01", periods=n_days, freq="D")
    rows = []
    for store, level in (("north", 100.0), ("south", 70.0)):
        t = np.arange(n_days)
        season = 15 * np.sin(2 * np.pi * days.day_of_year / 365.25)
        week = np.where(days.day_of_week >= 5, 25.0, 0.0) - 5 * (days.day_of_week == 0)
        promo = rng.random(n_days) < 0.1
        sales = level + 0.05 * t + season + week + 20 * promo + rng.normal(0, 5, n_days)
        rows.append(pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "store": store,
                                  "promo": promo.astype(int), "sales": sales}))
    frame = pd.concat(rows, ignore_index=True)
    frame.insert(0, "order_id", [f"O{i:06d}" for i in rng.permutation(len(frame))])
    return frame


def churn(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "signup": pd.date_range("2024-01-01", periods=n, freq="6h").astype(str),
        "plan": rng.choice(["basic", "pro", "enterprise", None], n, p=[.5, .3, .15, .05]),
        "monthly_spend": np.where(rng.random(n) < .1, np.nan, rng.gamma(2, 30, n)),
        "tenure_months": rng.integers(0, 60, n),
        "is_active": rng.choice([True, False], n),
        "region": rng.choice(list("ABCDEFGH"), n),
    })
    logit = (frame.tenure_months / 20 - (frame.plan == "basic") * 1.0 + frame.is_active * 0.8
             - np.nan_to_num(frame.monthly_spend.to_numpy(), nan=60) / 100)
    frame["churn"] = np.where(rng.random(n) < 1 / (1 + np.exp(logit)), "yes", "no")
    return frame


TABLES = {"demand": (demand, "sales", ["date"]), "churn": (churn, "churn", ["signup"])}


def hgb_dates(split, date_columns):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    def prepare(X):
        X = X.copy()
        for col in date_columns:
            X[col] = (pd.to_datetime(X[col]) - pd.Timestamp("1970-01-01")).dt.days
        X = X.drop(columns=[c for c in X.columns if c.endswith("_id")])
        return pd.get_dummies(X, dtype=float)

    Xtr, Xte = prepare(split.X_train), prepare(split.X_test)
    Xte = Xte.reindex(columns=Xtr.columns, fill_value=0.0)
    cls = (HistGradientBoostingClassifier if split.task == "classification"
           else HistGradientBoostingRegressor)
    return cls(random_state=0).fit(Xtr, split.y_train).score(Xte, split.y_test)


def main() -> None:
    name, first, end, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    out = open(sys.argv[5], "a") if len(sys.argv) > 5 else None
    import lepton
    from lepton import steps

    root = os.path.dirname(os.path.dirname(os.path.abspath(lepton.__file__)))
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    make, target, dates = TABLES[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.csv")
        make().to_csv(path, index=False)
        for seed in range(first, end):
            split = steps.load_split(path, target=target, seed=seed)
            model = steps.build_estimator(split, time_budget=budget, seed=seed, tracking=False,
                                          verbose=0)
            t0 = time.perf_counter()
            steps.search(model, split)
            fit_s = time.perf_counter() - t0
            score = steps.evaluate(model, split)[split.default_metric]
            emit({"dataset": name, "seed": seed, "budget": budget, "lepton_commit": commit,
                  "score": round(score, 4), "fit_s": round(fit_s, 2),
                  "hgb_dates": round(hgb_dates(split, dates), 4),
                  "columns": getattr(split, "column_notes", list)()}, out)


if __name__ == "__main__":
    main()
