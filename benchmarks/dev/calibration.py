"""Dev experiment: are LeptonClassifier's probabilities calibrated? Held-out log loss and
expected calibration error (10 bins) of the final model's probabilities as they are, and
after temperature scaling (p^(1/T), renormalised: temperature on log-probabilities)
with T fitted to the search's validation predictions of the final model (out of fold).

    python benchmarks/dev/calibration.py BUDGET DATASETS FIRST_SEED END_SEED
    python benchmarks/dev/calibration.py 20 breast_cancer,wine,digits,noisy,multi 0 3

DATASETS: scikit-learn's bundled ones by name, ``noisy`` (3,000 rows, 2 classes, 15% of
labels flipped) and ``multi`` (3,000 rows, 5 classes, 10% flipped). 75/25 split by seed.
One JSON line per split: the fitted T, the label smoothing of the best trial, held-out
accuracy, log loss and ECE before and after (``_T``), validation log loss before and after.
"""
import itertools
import json
import sys

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn import datasets
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

from lepton import LeptonClassifier

captured = {}
_decision = LeptonClassifier._decision


def _spy(self, ctx):
    """Keep the final model's validation predictions (the search's, out of fold)."""
    captured["raw"], captured["y"] = self._validation_raw(ctx), ctx.y_val
    return _decision(self, ctx)


LeptonClassifier._decision = _spy


def power(p, T):
    z = np.log(np.clip(p, 1e-12, 1)) / T
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def ece(y, p, bins=10):
    conf, hit = p.max(1), p.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for a, b in itertools.pairwise(edges):
        m = (conf > a) & (conf <= b)
        if m.any():
            total += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return total


def load(name):
    if name == "noisy":
        return datasets.make_classification(3000, 20, n_informative=8, flip_y=0.15,
                                            random_state=0)
    if name == "multi":
        return datasets.make_classification(3000, 20, n_informative=10, n_classes=5,
                                            flip_y=0.1, random_state=0)
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def main() -> None:
    budget, names = float(sys.argv[1]), sys.argv[2].split(",")
    for name in names:
        X, y = load(name)
        for seed in range(int(sys.argv[3]), int(sys.argv[4])):
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed,
                                                  stratify=y)
            clf = LeptonClassifier(time_budget=budget, random_state=seed).fit(Xtr, ytr)
            raw, yv = captured["raw"], captured["y"]
            labels = np.arange(raw.shape[1])
            res = minimize_scalar(
                lambda T, yv=yv, raw=raw, labels=labels: log_loss(yv, power(raw, T),
                                                                  labels=labels),
                bounds=(0.05, 20), method="bounded")
            T = float(res.x)
            p = clf.predict_proba(Xte)
            yi = np.searchsorted(clf.classes_, yte)
            row = {"data": name, "seed": seed, "choice": clf.final_choice_, "T": round(T, 3),
                   "ls": round(clf.best_params_.get("label_smoothing", 0.0), 3),
                   "acc": round(accuracy_score(yi, p.argmax(1)), 4),
                   "ll": round(log_loss(yi, p, labels=labels), 4),
                   "ll_T": round(log_loss(yi, power(p, T), labels=labels), 4),
                   "ece": round(ece(yi, p), 4), "ece_T": round(ece(yi, power(p, T)), 4),
                   "val_ll": round(log_loss(yv, raw, labels=labels), 4),
                   "val_ll_T": round(res.fun, 4)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
