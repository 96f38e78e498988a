"""Preprocessing time on large tables: this checkout against another (``old``: a worktree
of an earlier commit), interleaved in one run.

Each repetition runs every (code, case) in a fresh subprocess (one thread, as a trial
has) and times ``TabularPreprocessor().fit_transform`` on ``rows`` x 64 float32 columns
(t-distributed with 3 degrees of freedom: heavy tails, as measurements have), with no
missing values, then with 5% missing; and a fixed network's whole ``fit`` (one epoch,
batch 512, no validation), where the preprocessing is the fixed cost before training.
Prints one JSON line per timing and, at the end, the median time per (code, case) and
the ratio old / new (median of per-repetition ratios).

    git worktree add /tmp/old <commit>
    python benchmarks/dev/preprocessing_speed.py /tmp/old 500000 5 [out.jsonl]
"""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _rows import emit

HERE = Path(__file__).resolve().parents[2]

CASE = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from lepton.preprocessing import TabularPreprocessor
from lepton.estimators import NeuralNetworkClassifier
case, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.standard_t(3, size=(rows, 64)).astype(np.float32)
if case == "missing":
    X[rng.random(X.shape) < 0.05] = np.nan
t = time.perf_counter()
if case == "fixed_fit":
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    NeuralNetworkClassifier((256, 256), epochs=1, batch_size=512, early_stopping=False,
                            validation_fraction=0, random_state=0).fit(X, y)
else:
    TabularPreprocessor().fit_transform(X)
print(json.dumps(time.perf_counter() - t))
"""


def run(code: str, case: str, rows: int) -> float:
    env = {**os.environ, "PYTHONPATH": code, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CASE, case, str(rows)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    old, rows, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    codes = {"old": str(Path(old).resolve()), "new": str(HERE)}
    cases = ("clean", "missing", "fixed_fit")
    times: dict = {}
    for rep in range(reps):
        for case in cases:
            for label, code in (codes.items() if rep % 2 == 0 else reversed(codes.items())):
                seconds = run(code, case, rows)
                times.setdefault((label, case), []).append(seconds)
                emit({"rep": rep, "code": label, "case": case, "rows": rows,
                      "seconds": round(seconds, 3)}, out)
    for case in cases:
        old_t, new_t = times[("old", case)], times[("new", case)]
        ratio = statistics.median(o / n for o, n in zip(old_t, new_t))
        print(f"{case:10s} rows={rows}: old median {statistics.median(old_t):.2f} s, new "
              f"{statistics.median(new_t):.2f} s, old/new x{ratio:.2f} ({reps} reps)")


if __name__ == "__main__":
    main()
