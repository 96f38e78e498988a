"""Dev probe: a search for metric='mae' trained on squared errors of standardised targets
(arm ``mse``: the loss before stop 36), on absolute errors of standardised targets
(``l1_std``: stop 36), on absolute errors of targets centred on the median and scaled by
the interquartile range (``l1``: since stop 37) or on Huber's loss (``huber``), paired on
the same split and seed. Prints one JSON row per arm and split: the held-out MAE and R^2,
the fit's wall time and trials.

    python benchmarks/dev/mae_loss.py DATA BUDGET SEED [SEED ...] > rows.jsonl
    ARMS=l1_std,l1 python benchmarks/dev/mae_loss.py ...   # arms (default mse,l1)

DATA: ``diabetes`` (scikit-learn's, 442 rows), ``california`` (Lepton's built-in
california_synthetic, 20,640 rows), ``heavy`` (make_friedman1, 1,500 rows, Student-t
noise of 1.2 degrees of freedom: heavy tails), ``outliers`` (a linear table of 800 rows,
1% of the training targets shifted by 1e4, scored on clean held-out rows). Split 75/25
by the seed; HistGradientBoosting with absolute-error loss on the same split for scale.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.metrics import mean_absolute_error, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from lepton import LeptonRegressor  # noqa: E402
from lepton.estimators import _base as base  # noqa: E402
from lepton.search import estimators as search_estimators  # noqa: E402


def table(data: str, seed: int):
    rng = np.random.default_rng(seed)
    if data == "diabetes":
        X, y = load_diabetes(return_X_y=True)
    elif data == "california":
        from lepton.datasets import load_dataset

        ds = load_dataset("california_synthetic")
        X, y = np.asarray(ds.X), np.asarray(ds.y)
    elif data == "heavy":
        X, y = make_friedman1(n_samples=1500, noise=0.0, random_state=seed)
        y = y + rng.standard_t(1.2, size=len(y))
    elif data == "outliers":
        X = rng.normal(size=(800, 5))
        y = X @ np.array([3.0, -2.0, 1.0, 0.5, 0.0]) + rng.normal(scale=0.3, size=800)
    else:
        raise SystemExit(f"DATA {data!r}: diabetes, california, heavy or outliers")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
    if data == "outliers":
        y_tr = y_tr.copy()
        y_tr[rng.choice(len(y_tr), size=len(y_tr) // 100, replace=False)] += 1e4
    return X_tr, X_te, y_tr, y_te


def run(arm: str, X_tr, X_te, y_tr, y_te, budget: float, seed: int) -> dict:
    from torch import nn

    from lepton.training import REGRESSION_LOSSES

    REGRESSION_LOSSES.setdefault("huber", nn.HuberLoss)  # measured, not Lepton's
    loss = {"mse": "squared_error", "l1": "absolute_error", "l1_std": "absolute_error"}.get(
        arm, arm)
    original, median_scale = search_estimators.Task, base._median_scale
    search_estimators.Task = lambda kind, n, **kw: original(kind, n, **{
        **kw, "regression_loss": loss})
    if arm != "l1":  # the targets standardised, as before stop 37
        base._median_scale = lambda *args: None
    try:
        t = time.perf_counter()
        model = LeptonRegressor(time_budget=budget, metric="mae", random_state=seed)
        model.fit(X_tr, y_tr)
        wall = time.perf_counter() - t
    finally:
        search_estimators.Task, base._median_scale = original, median_scale
    pred = model.predict(X_te)
    return {"mae": mean_absolute_error(y_te, pred), "r2": r2_score(y_te, pred),
            "wall": round(wall, 2), "trials": model.n_trials_, "final": model.final_choice_}


def main(data: str, budget: float, seeds: list[int], arms=("mse", "l1")) -> None:
    for seed in seeds:
        X_tr, X_te, y_tr, y_te = table(data, seed)
        hgb = HistGradientBoostingRegressor(loss="absolute_error", random_state=seed)
        pred = hgb.fit(X_tr, y_tr).predict(X_te)
        print(json.dumps({"data": data, "seed": seed, "arm": "hgb_l1",
                          "mae": mean_absolute_error(y_te, pred), "r2": r2_score(y_te, pred)}),
              flush=True)
        for arm in (arms if seed % 2 == 0 else arms[::-1]):
            row = run(arm, X_tr, X_te, y_tr, y_te, budget, seed)
            print(json.dumps({"data": data, "seed": seed, "arm": arm, "budget": budget, **row}),
                  flush=True)


if __name__ == "__main__":
    arms = tuple(os.environ.get("ARMS", "mse,l1").split(","))
    main(sys.argv[1], float(sys.argv[2]), [int(s) for s in sys.argv[3:]], arms)
