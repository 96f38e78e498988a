"""What a `lepton worker` adds to a `lepton run`: trials and epochs per minute of the run's
study, held-out score, and how closely the worker keeps to the run's search window.

Contenders, each a fresh `lepton run DATASET --storage <fresh SQLite file> --time-budget B
--no-tracking` (the study on a shared file, as machines share one on PostgreSQL):

* ``run alone``         - the run by itself, torch and BLAS on 1 thread (one core's worth)
* ``run + 1 worker``    - the same run, and `lepton worker --storage ...` started beside it,
                          also on 1 thread (a second core standing in for a second machine)

Every repetition runs both, in a rotated order, with --seed = repetition (the same split and
held-out rows for both). Rates count every trial of the study (complete + pruned + failed;
epochs summed over them) over the run's wall time. ``worker lag`` is how long after the
run's search window closed (the study's lepton.search_ends_at once the run is done) the
worker's last trial ended (negative: before), and ``fit / budget`` the run's own
wall time over its budget (the worker must not push the run over it). Medians over
repetitions.

This needs the machine to itself: both cores are used.

    python benchmarks/workers.py --out benchmarks/results/workers_digits   # digits, 3 x 2 x 60 s
    python benchmarks/workers.py --dataset breast_cancer --budget 30 --reps 1 --out /tmp/w
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CONTENDERS = ("run alone", "run + 1 worker")


def _lepton(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "lepton.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def one(contender: str, dataset: str, budget: float, seed: int) -> dict:
    import optuna

    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/study.db"
        worker = (_lepton("worker", "--storage", storage, "--verbose", "0")
                  if contender != "run alone" else None)
        t0 = time.perf_counter()
        run = _lepton("run", dataset, "--storage", storage, "--study-name", "bench",
                      "--time-budget", str(budget), "--seed", str(seed), "--no-tracking",
                      "--verbose", "0")
        out, _ = run.communicate()
        wall = time.perf_counter() - t0
        if run.returncode != 0:
            raise RuntimeError(f"lepton run failed:\n{out[-3000:]}")
        worker_out = worker.communicate()[0] if worker else ""
        if worker and worker.returncode != 0:
            raise RuntimeError(f"lepton worker failed:\n{worker_out[-3000:]}")
        study = optuna.load_study(study_name="bench", storage=storage)
        trials = [t for t in study.get_trials(deepcopy=False)
                  if t.state.is_finished()]
        run_label = f"{socket.gethostname()}:{run.pid}"
        theirs = [t for t in trials if t.user_attrs.get("lepton.process") != run_label]
        closed = float(study.user_attrs["lepton.search_ends_at"])
        lag = (max(t.datetime_complete.timestamp() for t in theirs) - closed
               if theirs else None)
        fit = re.search(r"in ([\d.]+)s of a ([\d.]+)s budget", out)
        return {
            "contender": contender, "dataset": dataset, "budget": budget, "seed": seed,
            "wall_s": round(wall, 2), "fit_over_budget": round(float(fit.group(1)) / budget, 3),
            "trials": len(trials), "worker_trials": len(theirs),
            "epochs": sum(int(t.user_attrs.get("epochs") or 0) for t in trials),
            "held_out": float(re.search(r"held-out \w+: ([-\d.]+)", out).group(1)),
            "final": re.search(r"final model: (\w+)", out).group(1),
            "worker_lag_s": None if lag is None else round(lag, 2),
            "load_1min": os.getloadavg()[0],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "workers"),
                        help="results as OUT.json and OUT.md")
    args = parser.parse_args(argv)

    rows = []
    for rep in range(args.reps):
        order = CONTENDERS[rep % 2:] + CONTENDERS[:rep % 2]
        for contender in order:
            row = one(contender, args.dataset, args.budget, rep)
            print(json.dumps(row), flush=True)
            rows.append(row)
    Path(args.out + ".json").write_text(json.dumps(rows, indent=1))
    Path(args.out + ".md").write_text(report(rows, args))
    print(report(rows, args))
    return 0


def _median(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return statistics.median(values) if values else None


def report(rows: list[dict], args) -> str:
    per_min = {c: [r for r in rows if r["contender"] == c] for c in CONTENDERS}
    lines = [f"# `lepton worker` beside `lepton run`: {args.dataset}, {args.budget:g} s budget",
             "", "| contender | trials/min | epochs/min | worker trials | held-out | "
             "fit / budget (max) | worker lag (s, max) | n |", "|---|---|---|---|---|---|---|---|"]
    for c, rs in per_min.items():
        tpm = statistics.median(60 * r["trials"] / r["wall_s"] for r in rs)
        epm = statistics.median(60 * r["epochs"] / r["wall_s"] for r in rs)
        lags = [r["worker_lag_s"] for r in rs if r["worker_lag_s"] is not None]
        lines.append(
            f"| {c} | {tpm:.1f} | {epm:.0f} | {_median(rs, 'worker_trials'):g} | "
            f"{_median(rs, 'held_out'):.4f} | {_median(rs, 'fit_over_budget'):.3f} "
            f"({max(r['fit_over_budget'] for r in rs):.3f}) | "
            + (f"{statistics.median(lags):.2f} ({max(lags):.2f})" if lags else "-")
            + f" | {len(rs)} |")
    ratios = {}
    for key in ("trials", "epochs"):
        pairs = [(a, b) for a in per_min["run + 1 worker"] for b in per_min["run alone"]
                 if a["seed"] == b["seed"]]
        ratios[key] = statistics.median((a[key] / a["wall_s"]) / (b[key] / b["wall_s"])
                                        for a, b in pairs)
    lines += ["", f"- run + 1 worker / run alone (median of per-repetition ratios): "
              f"trials/min x{ratios['trials']:.2f}, epochs/min x{ratios['epochs']:.2f}.",
              f"- Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores; "
              "1-min load average at the end of each run: "
              + ", ".join(f"{r['load_1min']:.1f}" for r in rows) + ".",
              f"- Date: {_dt.datetime.now().isoformat(timespec='minutes')}.", "",
              "```bash", ". .venv/bin/activate",
              f"python benchmarks/workers.py --dataset {args.dataset} --budget {args.budget:g} "
              f"--reps {args.reps} --out {os.path.relpath(args.out)}", "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
