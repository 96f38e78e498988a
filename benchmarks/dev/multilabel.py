"""Several labels per row: one LeptonClassifier search over a 0/1 column per label (one
network, an output per label) against what a user had before it, on the same budget.

- ``lepton``: ``LeptonClassifier(time_budget=B).fit(X, Y)``, Y the label columns;
- ``lepton_per_label``: ``MultiOutputClassifier(LeptonClassifier(time_budget=B / L))``, a
  search per label, as the error advised before multilabel targets were taken (B in all);
- ``mlp``: scikit-learn's ``MLPClassifier()`` defaults (multilabel in one network too);
- ``hgb``: ``MultiOutputClassifier(HistGradientBoostingClassifier())`` defaults.

Tables from ``make_multilabel_classification`` (``tags``: 4,000 rows, 30 features, 6
labels, 2 per row on average; ``tags_wide``: 3,000 x 100, 10 labels, 3 per row), 75/25
split by seed. Each fit runs in a fresh subprocess. One JSON line per fit: held-out subset
accuracy (every label of a row right), macro F1 over the labels, mean per-label log
loss, fit time and fit time / budget.

    python benchmarks/dev/multilabel.py BUDGET DATASETS SEEDS [--out rows.jsonl]
    python benchmarks/dev/multilabel.py 30 tags,tags_wide 0,1,2
"""
import json
import subprocess
import sys

from _rows import emit

CASE = r"""
import json, sys, time, warnings
import numpy as np
from sklearn.datasets import make_multilabel_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from lepton import LeptonClassifier
method, dataset, budget, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
shape = {"tags": dict(n_samples=4000, n_features=30, n_classes=6, n_labels=2),
         "tags_wide": dict(n_samples=3000, n_features=100, n_classes=10, n_labels=3)}[dataset]
X, Y = make_multilabel_classification(**shape, random_state=100 + seed)
X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y, test_size=0.25, random_state=seed)
L = Y.shape[1]
model = {
    "lepton": lambda: LeptonClassifier(time_budget=budget, random_state=seed),
    "lepton_per_label": lambda: MultiOutputClassifier(
        LeptonClassifier(time_budget=budget / L, random_state=seed)),
    "mlp": lambda: MLPClassifier(random_state=seed),
    "hgb": lambda: MultiOutputClassifier(HistGradientBoostingClassifier(random_state=seed)),
}[method]()
t = time.perf_counter()
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier's ConvergenceWarning
        model.fit(X_tr, Y_tr)
except ValueError as exc:  # a per-label budget too small for one trial
    print(json.dumps({"error": str(exc)[:200], "fit_s": round(time.perf_counter() - t, 2)}))
    sys.exit(0)
wall = time.perf_counter() - t
P = model.predict_proba(X_te)
if isinstance(P, list):  # MultiOutputClassifier: each label's (n, 2)
    P = np.stack([p[:, 1] for p in P], axis=1)
pred = model.predict(X_te)
Pc = np.clip(P, 1e-15, 1 - 1e-15)
log_loss = float(-(Y_te * np.log(Pc) + (1 - Y_te) * np.log(1 - Pc)).mean())
print(json.dumps({"subset_accuracy": round(float(accuracy_score(Y_te, pred)), 4),
                  "f1_macro": round(float(f1_score(Y_te, pred, average="macro")), 4),
                  "log_loss": round(log_loss, 4), "fit_s": round(wall, 2),
                  "ratio": round(wall / budget, 3) if method.startswith("lepton") else None}))
"""

METHODS = ["lepton", "lepton_per_label", "mlp", "hgb"]


def main() -> None:
    args = list(sys.argv[1:])
    out = None
    if "--out" in args:
        i = args.index("--out")
        out = open(args[i + 1], "a")
        del args[i:i + 2]
    budget, datasets, seeds = args[0], args[1].split(","), [int(s) for s in args[2].split(",")]
    for seed in seeds:
        for dataset in datasets:
            for method in METHODS:
                res = subprocess.run([sys.executable, "-c", CASE, method, dataset, budget,
                                      str(seed)], check=True, capture_output=True, text=True)
                row = json.loads(res.stdout.strip().splitlines()[-1])
                emit({"method": method, "dataset": dataset, "budget": float(budget),
                      "seed": seed, **row}, out)


if __name__ == "__main__":
    main()
