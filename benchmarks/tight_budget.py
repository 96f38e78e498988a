"""Large tables under tight budgets: does ``fit`` return a model, within its budget?

``LeptonClassifier(time_budget=B, n_jobs=J, random_state=rep)`` on a synthetic table
(``make_classification``: N rows x 50 features, 20 informative, 3 classes; 80% fit, 20%
held out), where one epoch over the fit rows takes a good part of a trial's share of the
budget. Reported per (N, B, J): how many repetitions returned a model, the fit wall time
over the budget (median and worst), the complete trials, the final choice and the held-out
accuracy (median over repetitions that returned a model).

Each repetition is a fresh subprocess (clean thread settings, torch imports paid alike);
the machine should be otherwise idle (n_jobs=2 uses both cores).

    python benchmarks/tight_budget.py                       # 300k rows, 20 s and 30 s, J=1,2, 3 reps
    python benchmarks/tight_budget.py --rows 100000 --budgets 10 --reps 1 --out /tmp/t.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

JOB = r"""
import json, sys, time
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
import lepton
rows, budget, n_jobs, rep = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
X, y = make_classification(n_samples=rows, n_features=50, n_informative=20, n_classes=3,
                           random_state=rep)
X_tr, X_te, y_tr, y_te = train_test_split(X.astype(np.float32), y, test_size=0.2,
                                          random_state=rep, stratify=y)
row = {"rows": rows, "budget": budget, "n_jobs": n_jobs, "rep": rep}
t = time.perf_counter()
try:
    m = lepton.LeptonClassifier(time_budget=budget, n_jobs=n_jobs, random_state=rep).fit(X_tr, y_tr)
except (ValueError, RuntimeError) as exc:
    row.update(outcome="error", fit_wall=time.perf_counter() - t, error=str(exc)[:300])
else:
    row.update(outcome="model", fit_wall=time.perf_counter() - t,
               complete=int((m.leaderboard_.state == "complete").sum()), trials=m.n_trials_,
               final=m.final_choice_, accuracy=float(m.score(X_te, y_te)),
               epochs=[int(e) for e in m.leaderboard_.epochs.fillna(0)],
               refit=m.final_model_info_.get("refit"))
row["ratio"] = row["fit_wall"] / budget
print(json.dumps(row))
"""


def run_job(rows: int, budget: float, n_jobs: int, rep: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", JOB, str(rows), str(budget), str(n_jobs),
                           str(rep)], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"rows": rows, "budget": budget, "n_jobs": n_jobs, "rep": rep,
                "outcome": "crash", "error": proc.stderr[-500:]}
    return json.loads(lines[-1])


def summarize(results: list[dict]) -> str:
    out = ["| rows | budget | n_jobs | models / reps | fit/budget median (worst) | complete trials "
           "| final | held-out accuracy |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["rows"], r["budget"], r["n_jobs"]) for r in results})
    for key in keys:
        rs = [r for r in results if (r["rows"], r["budget"], r["n_jobs"]) == key]
        ok = [r for r in rs if r["outcome"] == "model"]
        ratios = [r["ratio"] for r in rs if "ratio" in r]
        ratio = (f"{statistics.median(ratios):.3f} ({max(ratios):.3f})" if ratios else "-")
        acc = f"{statistics.median(r['accuracy'] for r in ok):.4f}" if ok else "-"
        complete = ",".join(str(r["complete"]) for r in ok) or "-"
        finals = ",".join(r["final"] for r in ok) or "-"
        out.append(f"| {key[0]} | {key[1]:g} s | {key[2]} | {len(ok)} / {len(rs)} | {ratio} "
                   f"| {complete} | {finals} | {acc} |")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[300_000])
    p.add_argument("--budgets", type=float, nargs="+", default=[20.0, 30.0])
    p.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "tight_budget.jsonl")
    p.add_argument("--label", default="", help="stored with each row (e.g. the commit)")
    args = p.parse_args(argv)
    results = []
    for rep in range(args.reps):
        for rows in args.rows:
            for budget in args.budgets:
                for n_jobs in args.n_jobs:
                    row = {**run_job(rows, budget, n_jobs, rep), "label": args.label}
                    print(json.dumps(row), flush=True)
                    results.append(row)
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
    print(summarize(results))


if __name__ == "__main__":
    main()
