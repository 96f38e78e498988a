"""Dev probe: a search with metric='balanced_accuracy' on imbalanced tables. Prints one
JSON row per split: the held-out balanced accuracy of ``predict`` and of the plain argmax
of ``predict_proba``, the held-out ROC AUC, and class-weighted logistic regression and
gradient boosting on the same split for scale.

    python benchmarks/dev/imbalanced_metric.py BUDGET SEED [SEED ...] > rows.jsonl

Tables: ``make_classification`` with 3,000 rows, 20 features (6 informative), 3% positives
(1% label noise), split 75/25 stratified, one table per seed.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from lepton import LeptonClassifier  # noqa: E402


def main(budget: float, seeds: list[int]) -> None:
    for seed in seeds:
        X, y = make_classification(3000, 20, n_informative=6, weights=[0.97], flip_y=0.01,
                                   random_state=seed)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=seed)
        model = LeptonClassifier(time_budget=budget, metric="balanced_accuracy",
                                 random_state=seed).fit(X_tr, y_tr)
        proba = model.predict_proba(X_te)
        row = {"seed": seed, "budget": budget,
               "predict": balanced_accuracy_score(y_te, model.predict(X_te)),
               "argmax": balanced_accuracy_score(y_te, proba.argmax(1)),
               "auc": roc_auc_score(y_te, proba[:, 1]), "trials": len(model.leaderboard_),
               "final": model.final_choice_, "validation": model.best_score_}
        for name, est in [("logreg_balanced", LogisticRegression(class_weight="balanced",
                                                                  max_iter=1000)),
                          ("hgb_balanced", HistGradientBoostingClassifier(
                              class_weight="balanced", random_state=seed))]:
            row[name] = balanced_accuracy_score(y_te, est.fit(X_tr, y_tr).predict(X_te))
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), [int(s) for s in sys.argv[2:]])
