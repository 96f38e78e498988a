"""Budget use on a large table where the best trial's refit cannot fit in the time left:
this checkout against another (``old``: a worktree of an earlier commit), interleaved.

A 500,000 x 64 classification table (t-distributed features, a nonlinear boundary, 10%
of the labels noise-driven), 75/25 split; ``LeptonClassifier(time_budget)`` per seed, in
a fresh subprocess with both cores. One JSON line per fit: fit time / budget, trials,
final choice, the refit's report, held-out accuracy.

    git worktree add /tmp/old <commit>
    python benchmarks/dev/unused_refit_reserve.py /tmp/old 40 0 1 2 [--out rows.jsonl]
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from _rows import emit

HERE = Path(__file__).resolve().parents[2]

CASE = r"""
import json, sys, time
import numpy as np
from sklearn.model_selection import train_test_split
from lepton import LeptonClassifier
budget, seed = float(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(seed)
n = 500_000
X = rng.standard_t(3, size=(n, 64)).astype(np.float32)
y = (X[:, 0] + np.tanh(X[:, 1] * X[:, 2]) + 0.3 * rng.normal(size=n) > 0).astype(int)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
t = time.perf_counter()
m = LeptonClassifier(time_budget=budget, random_state=seed).fit(X_tr, y_tr)
wall = time.perf_counter() - t
print(json.dumps({"ratio": round(wall / budget, 3), "trials": m.n_trials_,
                  "choice": m.final_choice_, "refit": m.final_model_info_["refit"],
                  "accuracy": round(float(m.score(X_te, y_te)), 4)}))
"""


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--out")]
    out = open(sys.argv[sys.argv.index("--out") + 1], "a") if "--out" in sys.argv else None
    if out:
        args = args[:-1]
    old, budget, seeds = args[0], args[1], [int(s) for s in args[2:]]
    codes = {"old": str(Path(old).resolve()), "new": str(HERE)}
    for seed in seeds:
        order = list(codes.items()) if seed % 2 == 0 else list(reversed(codes.items()))
        for label, code in order:
            env = {**os.environ, "PYTHONPATH": code}
            res = subprocess.run([sys.executable, "-c", CASE, budget, str(seed)], env=env,
                                 check=True, capture_output=True, text=True)
            row = json.loads(res.stdout.strip().splitlines()[-1])
            emit({"code": label, "budget": float(budget), "seed": seed, **row}, out)


if __name__ == "__main__":
    main()
