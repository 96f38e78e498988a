"""Dev probe: what a search costs per trial besides training, in two code trees (stop 36).

Stop 35 added work to every trial (its process recorded in the study right after ``ask``,
stale-trial checks that look at processes, a scratch folder per tracked process). This
runs the same search of tiny trials (iris, 1-2 epochs of a small MLP, no CV) with the code
of two trees, alternating their order each repetition, and reports the median seconds per
trial of each and their ratio, for three set-ups: in memory, a SQLite study, and a SQLite
study tracked in a SQLite MLflow store. Seconds per trial: from the first trial's start
to the last one's end, over the trials between (the study's own timestamps), so start-up
and the final model are left out.

    git archive <commit> lepton search_spaces pipelines | tar -x -C /tmp/base
    ln -s ../search_spaces /tmp/base/lepton/search_spaces
    ln -s ../pipelines /tmp/base/lepton/pipelines
    python benchmarks/dev/per_trial_overhead.py /tmp/base [reps] [trials]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from sklearn.datasets import load_iris
from lepton import LeptonClassifier
setup, folder, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
X, y = load_iris(return_X_y=True)
space = {"base": "mlp", "parameters": {
    "n_layers": {"type": "int", "low": 1, "high": 2},
    "width": {"type": "int", "low": 8, "high": 16, "per_layer": True},
    "epochs": {"type": "int", "low": 1, "high": 2},
    "batch_size": {"type": "categorical", "choices": [32]},
    "numeric_embedding": "none"}}
kwargs = {}
if setup != "memory":
    kwargs["storage"] = f"sqlite:///{folder}/study.db"
if setup == "tracked":
    kwargs["tracking_uri"] = f"sqlite:///{folder}/mlflow.db"
clf = LeptonClassifier(time_budget=300, n_trials=trials, search_space=space, cv=None,
                       random_state=0, **kwargs).fit(X, y)
done = sorted((t.datetime_start, t.datetime_complete) for t in clf.study_.trials
              if t.datetime_complete is not None)
span = (done[-1][1] - done[0][0]).total_seconds()
print(json.dumps({"trials": len(done), "per_trial": span / len(done),
                  "lepton": __import__("lepton").__file__}))
"""


def run(tree: str, setup: str, trials: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": tree, "LEPTON_HOME": folder,
               "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", CHILD, setup, folder, str(trials)],
                             env=env, cwd=folder, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["lepton"].startswith(tree), result  # the tree asked for, not another
    return result["per_trial"]


def main(base: str, reps: int = 5, trials: int = 40) -> None:
    trees = {"base": str(Path(base).resolve()), "head": str(ROOT)}
    for setup in ("memory", "sqlite", "tracked"):
        times: dict[str, list[float]] = {name: [] for name in trees}
        for rep in range(reps):
            order = list(trees) if rep % 2 == 0 else list(trees)[::-1]
            for name in order:
                times[name].append(run(trees[name], setup, trials))
        base_s, head_s = (statistics.median(times[n]) for n in ("base", "head"))
        ratios = [h / b for b, h in zip(times["base"], times["head"])]
        print(f"{setup:8s} per trial: base {base_s * 1000:.0f} ms, head {head_s * 1000:.0f} ms,"
              f" head/base (median of paired ratios) {statistics.median(ratios):.2f}"
              f" [{min(ratios):.2f}-{max(ratios):.2f}], {reps} reps of {trials} trials",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
