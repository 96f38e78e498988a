"""Dev probe: searches with a class-balancing metric (balanced_accuracy, f1_macro) on
imbalanced tables. Prints one JSON row per split: the held-out metric of ``predict`` and
of the plain argmax of ``predict_proba``, the held-out ROC AUC, and class-weighted
logistic regression and gradient boosting on the same split for scale.

    python benchmarks/dev/imbalanced_metric.py METRIC DATA BUDGET SEED [SEED ...] > rows.jsonl

(balanced_accuracy on imbalanced, 30 s, splits 100-105: the figures in
lepton/search/metrics.py; f1_macro: benchmarks/results/dev/f1_threshold_stop21.md)

DATA ``imbalanced``: ``make_classification`` with 3,000 rows, 20 features (6
informative), 3% positives (1% label noise), one table per seed; ``breast_cancer``: the
scikit-learn table (37% positives). Split 75/25 stratified by the seed.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sklearn.datasets import load_breast_cancer, make_classification  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from lepton import LeptonClassifier  # noqa: E402

SCORES = {"balanced_accuracy": balanced_accuracy_score,
          "f1_macro": lambda y, p: f1_score(y, p, average="macro")}


def main(metric: str, data: str, budget: float, seeds: list[int]) -> None:
    score = SCORES[metric]
    for seed in seeds:
        if data == "imbalanced":
            X, y = make_classification(3000, 20, n_informative=6, weights=[0.97], flip_y=0.01,
                                       random_state=seed)
        else:
            X, y = load_breast_cancer(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=seed)
        model = LeptonClassifier(time_budget=budget, metric=metric,
                                 random_state=seed).fit(X_tr, y_tr)
        proba = model.predict_proba(X_te)
        row = {"metric": metric, "data": data, "seed": seed, "budget": budget,
               "predict": score(y_te, model.predict(X_te)),
               "argmax": score(y_te, proba.argmax(1)),
               "auc": roc_auc_score(y_te, proba[:, 1]), "trials": len(model.leaderboard_),
               "final": model.final_choice_, "validation": model.best_score_,
               "threshold": getattr(model, "decision_threshold_", None)}
        for name, est in [("logreg_balanced", make_pipeline(StandardScaler(), LogisticRegression(
                              class_weight="balanced", max_iter=1000))),
                          ("hgb_balanced", HistGradientBoostingClassifier(
                              class_weight="balanced", random_state=seed))]:
            row[name] = score(y_te, est.fit(X_tr, y_tr).predict(X_te))
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), [int(s) for s in sys.argv[4:]])
