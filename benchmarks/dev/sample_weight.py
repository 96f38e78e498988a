"""Dev experiment: what ``fit(X, y, sample_weight=w)`` buys over ignoring the weights,
scored the way the weights say the rows count (weighted held-out R^2 or accuracy).

    python benchmarks/dev/sample_weight.py TABLE FIRST_SEED END_SEED BUDGET [OUT.jsonl]
    python benchmarks/dev/sample_weight.py groups 0 3 20
    python benchmarks/dev/sample_weight.py costs 0 3 20

Tables (3,000 rows, 75/25 split by seed):
- ``groups`` (regression): two kinds of rows that the features cannot tell apart, 30%
  with ``y = x0 + 2 x1`` and 70% with ``y = x0 - 2 x1`` (noise sd 0.3); the first kind
  weighs 9, the second 1 (the rows a business cares about, or a survey's weights). The
  best unweighted fit follows the majority; the weighted one the rows that count.
- ``costs`` (classification): two overlapping classes, 20% positives; a positive weighs 5
  (a missed positive costs five times a false alarm). Weighted accuracy rewards calling
  a row positive from a probability of 1/6 on.

Per split: Lepton's fixed network (defaults) and ``LeptonRegressor/Classifier`` at BUDGET
seconds, each fitted without and with the weights, and scikit-learn's
``HistGradientBoosting`` (defaults) both ways for reference; one JSON line of weighted
held-out scores (and the searches' fit times).
"""
import sys
import time

import numpy as np
from _rows import emit


def table(name: str, n: int = 3000):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    if name == "groups":
        first = rng.random(n) < 0.3
        y = X[:, 0] + np.where(first, 2.0, -2.0) * X[:, 1] + rng.normal(0, 0.3, n)
        return X, y, np.where(first, 9.0, 1.0), "regression"
    if name == "costs":
        logit = X[:, 0] + 0.5 * X[:, 1] - 0.5 * X[:, 2] ** 2 - 1.2
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        return X, y, np.where(y == 1, 5.0, 1.0), "classification"
    raise SystemExit(f"table {name!r}: use groups or costs")


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    from lepton import (LeptonClassifier, LeptonRegressor, NeuralNetworkClassifier,
                        NeuralNetworkRegressor)

    name, first, end, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    out = open(sys.argv[5], "a") if len(sys.argv) > 5 else None
    X, y, w, task = table(name)
    classify = task == "classification"
    fixed, searched, boosted = ((NeuralNetworkClassifier, LeptonClassifier,
                                 HistGradientBoostingClassifier) if classify else
                                (NeuralNetworkRegressor, LeptonRegressor,
                                 HistGradientBoostingRegressor))
    for seed in range(first, end):
        X_tr, X_te, y_tr, y_te, w_tr, w_te = train_test_split(
            X, y, w, test_size=0.25, random_state=seed, stratify=y if classify else None)
        row = {"table": name, "seed": seed, "budget": budget}
        for label, weights in (("unweighted", None), ("weighted", w_tr)):
            model = fixed(random_state=seed).fit(X_tr, y_tr, sample_weight=weights)
            row[f"fixed_{label}"] = round(model.score(X_te, y_te, sample_weight=w_te), 4)
            model = boosted(random_state=seed).fit(X_tr, y_tr, sample_weight=weights)
            row[f"hgb_{label}"] = round(model.score(X_te, y_te, sample_weight=w_te), 4)
            t0 = time.perf_counter()
            model = searched(time_budget=budget, random_state=seed).fit(
                X_tr, y_tr, sample_weight=weights)
            row[f"search_{label}_fit_s"] = round(time.perf_counter() - t0, 2)
            row[f"search_{label}"] = round(model.score(X_te, y_te, sample_weight=w_te), 4)
        emit(row, out)


if __name__ == "__main__":
    main()
