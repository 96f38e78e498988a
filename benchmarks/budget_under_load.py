"""Does ``fit`` keep its time budget on a busy machine?

A shared workstation or CI runner rarely gives a search its cores to itself. This script
runs the search benchmark's jobs (same splits, same estimators, single-threaded: see
``search_benchmark.py``) twice per repetition: on an otherwise idle machine, and with
``--hogs`` busy-looping processes competing for the cores (3 on a 2-core machine: every
core oversubscribed). Reported per (method, dataset, budget, condition): fit wall time over
the budget (median and worst over repetitions) and the held-out score (median).

Each job is a fresh subprocess (imports and one-off costs paid alike by every contender);
within a repetition the order of the jobs is rotated, so slow drifts of the machine hit all
contenders alike. The machine should be otherwise idle.

    python benchmarks/budget_under_load.py                  # ~30 min on 2 cores
    python benchmarks/budget_under_load.py --datasets breast_cancer --budgets 10 --reps 1 \
        --methods lepton --out /tmp/load                    # smoke, ~1 min

Method ``lepton_mlflow`` is Lepton tracked in MLflow, as ``lepton run`` is by default:
every fit logs into one SQLite store under ``--out``'s folder, created before the jobs.
``--threads default`` leaves each library's thread count at its own default (every core),
as in a user's process, instead of one thread.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

JOB = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import search_benchmark as sb   # sets one thread per library before numpy/torch load
job = json.loads(sys.argv[2])
job["key"] = sb.job_key(job["method"], job["dataset"], job["budget"], job["seed"])
print("ROW " + json.dumps(sb.run_job(job)))
"""

HOG = "while True: pass"


def run_job(method: str, dataset: str, budget: float, seed: int) -> dict:
    job = dict(method=method, dataset=dataset, budget=budget, seed=seed)
    # cwd=HERE: `python -c` puts the working directory first on sys.path, where a checkout's
    # own lepton/ would shadow the one PYTHONPATH names (a control run from a worktree)
    proc = subprocess.run([sys.executable, "-c", JOB, str(HERE), json.dumps(job)],
                          capture_output=True, text=True, cwd=HERE)
    rows = [line[4:] for line in proc.stdout.splitlines() if line.startswith("ROW ")]
    if proc.returncode != 0 or not rows:
        return dict(job, status="error", error=(proc.stderr or proc.stdout)[-2000:])
    return json.loads(rows[-1])


class Hogs:
    """``n`` processes that keep a core busy each, for as long as the block runs."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def _tracking_store(out: Path) -> str:
    """A new SQLite MLflow store beside ``out``, its schema created now."""
    import tempfile

    import mlflow

    folder = Path(tempfile.mkdtemp(prefix=f"{out.name}_mlflow_", dir=out.parent))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.MlflowClient(uri).search_experiments()
    return uri


def measure(args) -> list[dict]:
    jobs = [(m, d, b) for m in args.methods for d in args.datasets for b in args.budgets]
    conditions = [("idle", 0), (f"{args.hogs} hogs", args.hogs)]
    rows = []
    for rep in range(args.reps):
        shift = rep % len(jobs)
        order = jobs[shift:] + jobs[:shift]
        for condition, hogs in conditions if rep % 2 == 0 else conditions[::-1]:
            with Hogs(hogs):
                for method, dataset, budget in order:
                    row = run_job(method, dataset, budget, seed=rep)
                    row.update(condition=condition, rep=rep,
                               at=_dt.datetime.now().isoformat(timespec="seconds"))
                    rows.append(row)
                    print(f"rep {rep} {condition:>7} {method:13} {dataset:20} {budget:>4}s: "
                          + (f"fit/budget {row['overrun']:.3f}, score {row['score']:.4f}"
                             if row.get("status") == "ok" else row.get("error", "")[-300:]),
                          flush=True)
    return rows


def report(rows: list[dict], args) -> str:
    ok = [r for r in rows if r.get("status") == "ok"]
    lines = [
        "# Time budgets on a busy machine",
        "",
        f"`python benchmarks/budget_under_load.py --datasets {' '.join(args.datasets)} "
        f"--budgets {' '.join(map(str, args.budgets))} --methods {' '.join(args.methods)} "
        f"--reps {args.reps} --hogs {args.hogs} --threads {args.threads}`, "
        f"{_dt.date.today().isoformat()}, {os.cpu_count()} cores. "
        + ("Every contender single-threaded" if args.threads == "1" else
           "Every library at its default thread count") + ", one job at a time; "
        f"'{args.hogs} hogs': that many busy-looping processes beside the job. Splits: seed = "
        "repetition (75/25, as in search_benchmark.py).",
        "",
        "| method | dataset | budget | condition | fit/budget median | worst | score median "
        "| runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in args.methods:
        for dataset in args.datasets:
            for budget in args.budgets:
                for condition in dict.fromkeys(r["condition"] for r in rows):
                    sel = [r for r in ok if (r["method"], r["dataset"], r["budget"],
                                             r["condition"]) == (method, dataset, budget,
                                                                 condition)]
                    if not sel:
                        continue
                    ratios = [r["overrun"] for r in sel]
                    lines.append(
                        f"| {method} | {dataset} | {budget} s | {condition} | "
                        f"{statistics.median(ratios):.3f} | {max(ratios):.3f} | "
                        f"{statistics.median(r['score'] for r in sel):.4f} | {len(sel)} |")
    lines += ["", "Worst fit/budget per method and condition:", ""]
    for method in args.methods:
        for condition in dict.fromkeys(r["condition"] for r in rows):
            ratios = [r["overrun"] for r in ok if (r["method"], r["condition"]) ==
                      (method, condition)]
            if ratios:
                over = sum(x > 1.05 for x in ratios)
                lines.append(f"- {method}, {condition}: worst {max(ratios):.3f}, "
                             f"{over} of {len(ratios)} fits over 1.05")
    errors = [r for r in rows if r.get("status") != "ok"]
    if errors:
        lines += ["", f"{len(errors)} job(s) failed: "
                  + "; ".join(f"{r['method']}/{r['dataset']}/{r['budget']}: "
                              f"{r.get('error', '')[-200:]}" for r in errors)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+",
                        default=["digits", "breast_cancer", "california_synthetic"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[10, 30])
    parser.add_argument("--methods", nargs="+", default=["lepton", "flaml"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=3,
                        help="busy-looping processes in the loaded condition")
    parser.add_argument("--threads", choices=["1", "default"], default="1",
                        help="threads per library: 1 (as search_benchmark.py), or each "
                             "library's default, as in a user's process")
    parser.add_argument("--out", default=str(RESULTS / "budget_under_load"),
                        help="writes OUT.jsonl (rows) and OUT.md (table)")
    args = parser.parse_args(argv)
    args.budgets = [int(b) if float(b).is_integer() else b for b in args.budgets]
    out = Path(args.out)
    os.environ["LEPTON_BENCH_THREADS"] = args.threads  # read by the jobs' search_benchmark
    if "lepton_mlflow" in args.methods:
        os.environ["LEPTON_BENCH_TRACKING_URI"] = _tracking_store(out)
    rows = measure(args)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = report(rows, args)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
