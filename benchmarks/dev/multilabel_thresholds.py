"""Dev experiment: would a threshold per label, tuned on the search's validation
predictions, raise the held-out macro F1 of a multilabel LeptonClassifier searched for
f1_macro, over the fixed 1/2 that ``predict`` uses?

For each split: ``LeptonClassifier(metric="f1_macro", time_budget=B)``; the final model's
validation predictions (the search's, as ``_holdout_prediction`` gets them) give each
label the threshold in 0.05-0.95 (steps of 0.05) with the best validation F1 for that
label; held-out macro F1 with 1/2 and with the tuned thresholds. Tables as
benchmarks/dev/multilabel.py builds them. One JSON line per split.

    python benchmarks/dev/multilabel_thresholds.py BUDGET DATASETS SEEDS [--out rows.jsonl]
    python benchmarks/dev/multilabel_thresholds.py 30 tags,tags_wide 0,1,2
"""
import sys

import numpy as np
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from _rows import emit
from lepton import LeptonClassifier
from lepton.search.estimators import _BaseLepton

SHAPES = {"tags": dict(n_samples=4000, n_features=30, n_classes=6, n_labels=2),
          "tags_wide": dict(n_samples=3000, n_features=100, n_classes=10, n_labels=3)}
GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)
captured = {}
_holdout = _BaseLepton._holdout_prediction


def _spy(self, ctx, encoder):
    captured["raw"], captured["y"] = self._validation_raw(ctx), ctx.y_val
    return _holdout(self, ctx, encoder)


_BaseLepton._holdout_prediction = _spy


def tuned(raw: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([GRID[np.argmax([f1_score(y[:, j], raw[:, j] >= t, zero_division=0.0)
                                     for t in GRID])] for j in range(y.shape[1])])


def main() -> None:
    args = list(sys.argv[1:])
    out = None
    if "--out" in args:
        i = args.index("--out")
        out = open(args[i + 1], "a")
        del args[i:i + 2]
    budget, datasets = float(args[0]), args[1].split(",")
    seeds = [int(s) for s in args[2].split(",")]
    for seed in seeds:
        for dataset in datasets:
            X, Y = make_multilabel_classification(**SHAPES[dataset], random_state=100 + seed)
            X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y, test_size=0.25, random_state=seed)
            model = LeptonClassifier(time_budget=budget, metric="f1_macro",
                                     random_state=seed).fit(X_tr, Y_tr)
            thresholds = tuned(captured["raw"], captured["y"])
            P = model.predict_proba(X_te)
            emit({"dataset": dataset, "seed": seed, "budget": budget,
                  "f1_half": round(float(f1_score(Y_te, P >= 0.5, average="macro")), 4),
                  "f1_tuned": round(float(f1_score(Y_te, P >= thresholds, average="macro")), 4),
                  "thresholds": thresholds.tolist(), "final": model.final_choice_}, out)


if __name__ == "__main__":
    main()
