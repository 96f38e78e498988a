"""Dev probe: what the first trial of a search gets done on a large table.

Each repetition is a fresh process (so torch's one-off costs fall in it as they do for a
user): ``LeptonClassifier(time_budget=B, random_state=rep)`` on ``make_classification``
(N rows x 50 features, 3 classes, 80% fit), then the first trial's validation accuracy,
epochs (records; the last may be cut), duration and the fit's held-out accuracy.

    python first_trial.py 300000 20 0,1,2 [label]
"""

from __future__ import annotations

import json
import subprocess
import sys

JOB = r"""
import json, sys, time
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
import lepton
rows, budget, rep = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
X, y = make_classification(n_samples=rows, n_features=50, n_informative=20, n_classes=3,
                           random_state=rep)
X_tr, X_te, y_tr, y_te = train_test_split(X.astype(np.float32), y, test_size=0.2,
                                          random_state=rep, stratify=y)
t = time.perf_counter()
m = lepton.LeptonClassifier(time_budget=budget, random_state=rep).fit(X_tr, y_tr)
wall = time.perf_counter() - t
first = m.study_.trials[0]
print(json.dumps({"rows": rows, "budget": budget, "rep": rep, "fit_wall": wall,
                  "first_state": first.state.name, "first_value": first.value,
                  "first_epochs": first.user_attrs.get("epochs"),
                  "first_duration": first.user_attrs.get("duration"),
                  "final": m.final_choice_, "accuracy": float(m.score(X_te, y_te))}))
"""


def main(rows: str, budget: str, reps: str, label: str = "") -> None:
    for rep in reps.split(","):
        proc = subprocess.run([sys.executable, "-c", JOB, rows, budget, rep],
                              capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        row = json.loads(lines[-1]) if lines else {"rep": int(rep), "error": proc.stderr[-300:]}
        print(json.dumps({**row, "label": label}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
