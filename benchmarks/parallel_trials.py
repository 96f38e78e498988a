"""Trials per minute of LeptonClassifier's search with n_jobs=1 vs n_jobs=2 (parallel trials).

LeptonClassifier(time_budget=B, search_space='mlp', n_jobs=..., patience=None) on digits
(1797 x 64, all rows; the search's own validation split), B = 60 s by default. Contenders:

* ``n_jobs=1, 1 thread``  - one trial at a time, torch/BLAS on 1 thread: the single-core baseline
* ``n_jobs=1, 2 threads`` - one trial at a time, torch on both cores (intra-op parallelism)
* ``n_jobs=2``            - two trials at a time (Optuna threads); Lepton gives each trial
                            cores // n_jobs = 1 torch thread
* ``2 processes``         - two processes started together, each n_jobs=1 with 1 thread, searching
                            one study on a shared SQLite file (the way several machines share a
                            study on PostgreSQL); its rates count every trial of the study over
                            the longer of the two fits

Each run is a fresh subprocess (clean thread settings); every repetition runs every contender
once, in a rotated order, with random_state = repetition. Reported: trials per minute
(all trials started and finished: complete + pruned + failed, over the whole fit wall time),
completed trials per minute, and training epochs per minute (sum of every trial's epochs:
less sensitive to which configurations the sampler happened to draw). Medians over
repetitions; ratios are n_jobs=2 over each n_jobs=1 variant.

This needs the machine to itself: both cores are used.

    python benchmarks/parallel_trials.py                    # 3 reps x 3 contenders x 60 s, ~10 min
    python benchmarks/parallel_trials.py --quick            # 1 rep, 15 s
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

CONTENDERS = {
    "n_jobs=1, 1 thread": dict(n_jobs=1, threads=1),
    "n_jobs=1, 2 threads": dict(n_jobs=1, threads=2),
    "n_jobs=2": dict(n_jobs=2, threads=2),
    "2 processes": dict(n_jobs=1, threads=1, processes=2),
}


def child(n_jobs: int, threads: int, budget: float, seed: int, storage: str | None = None,
          go: str | None = None) -> dict:
    import torch
    torch.set_num_threads(threads)
    import numpy as np

    from lepton import LeptonClassifier
    from lepton.datasets import load_dataset

    data = load_dataset("digits")
    X, y = np.asarray(data.X, dtype=np.float32), np.asarray(data.y)
    # patience=None: a rate over the whole budget, not a search that may stop converged
    est = LeptonClassifier(time_budget=budget, search_space="mlp", n_jobs=n_jobs,
                           patience=None, random_state=seed, verbose=0, storage=storage,
                           study_name=None if storage is None else "parallel")
    if go is not None:  # started with another process: begin together
        open(go + f".ready{os.getpid()}", "w").close()
        while not os.path.exists(go):
            time.sleep(0.005)
    t0 = time.perf_counter()
    est.fit(X, y)
    wall = time.perf_counter() - t0
    lb = est.leaderboard_
    states = lb["state"].str.lower().value_counts().to_dict() if len(lb) else {}
    epochs = float(lb["epochs"].fillna(0).sum()) if "epochs" in lb else float("nan")
    return dict(n_jobs=n_jobs, threads=threads, budget=budget, seed=seed, fit_wall=wall,
                fit_time_inside=float(est.fit_time_), n_trials=int(est.n_trials_),
                n_complete=int(states.get("complete", 0)), n_pruned=int(states.get("pruned", 0)),
                n_failed=int(states.get("fail", 0)), epochs=epochs,
                best_score=float(est.best_score_), final_choice=str(est.final_choice_),
                trials_per_min=60 * est.n_trials_ / wall,
                complete_per_min=60 * states.get("complete", 0) / wall,
                epochs_per_min=60 * epochs / wall, loadavg_end=os.getloadavg()[0])


def run_child(name: str, budget: float, seed: int) -> dict:
    import tempfile

    spec = CONTENDERS[name]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(spec["threads"])
    env.pop("MLFLOW_TRACKING_URI", None)
    n_procs = spec.get("processes", 1)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/study.db" if n_procs > 1 else "none"
        go = f"{tmp}/go" if n_procs > 1 else "none"
        cmd = [sys.executable, __file__, "--child", str(spec["n_jobs"]), str(spec["threads"]),
               str(budget), str(seed), storage, go]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(n_procs)]
        if n_procs > 1:
            while len([f for f in os.listdir(tmp) if f.startswith("go.ready")]) < n_procs:
                if any(p.poll() is not None for p in procs):
                    break
                time.sleep(0.01)
            Path(go).touch()
        outs = [p.communicate() for p in procs]
    failed = [err for p, (_, err) in zip(procs, outs) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"{name} failed:\n{failed[0][-3000:]}")
    rows = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    # one study: its totals as the process that finished last saw them, over the longer fit
    row = max(rows, key=lambda r: r["n_trials"])
    wall = max(r["fit_wall"] for r in rows)
    row.update(fit_wall=wall, trials_per_min=60 * row["n_trials"] / wall,
               complete_per_min=60 * row["n_complete"] / wall,
               epochs_per_min=60 * row["epochs"] / wall, contender=name, loadavg_start=load,
               processes=n_procs)
    return row


def _machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), no GPU"


def _versions() -> str:
    import importlib.metadata as md
    return ", ".join(f"{p} {md.version(p)}" for p in ("lepton-automl", "torch", "optuna"))


def write_report(rows: list[dict], args, path: Path) -> str:
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    names = [n for n in CONTENDERS if any(r["contender"] == n for r in rows)]
    by = {n: [r for r in rows if r["contender"] == n] for n in names}
    lines = ["# Parallel trials: LeptonClassifier on digits, n_jobs=1 vs n_jobs=2 "
             "(and two processes sharing one study)", "",
             f"`LeptonClassifier(time_budget={args.budget:g}, search_space='mlp', n_jobs=..., "
             f"patience=None, random_state=rep)` on all 1797 digits rows; {args.reps} repetitions, "
             "each running "
             "every contender once in a fresh process, rotated order. Rates are per minute of the "
             "whole fit's wall time. Medians over repetitions.", "",
             "| contender | torch threads / trial | trials/min | completed/min | epochs/min "
             "| trials (median) | fit wall (s) | validation accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for n in names:
        rs = by[n]
        tpt = 1 if CONTENDERS[n]["n_jobs"] == 2 else CONTENDERS[n]["threads"]  # per process
        lines.append(f"| {n} | {tpt} | {med([r['trials_per_min'] for r in rs]):.1f} | "
                     f"{med([r['complete_per_min'] for r in rs]):.1f} | "
                     f"{med([r['epochs_per_min'] for r in rs]):.0f} | "
                     f"{med([r['n_trials'] for r in rs]):g} | {med([r['fit_wall'] for r in rs]):.1f} | "
                     f"{med([r['best_score'] for r in rs]):.4f} |")
    lines.append("")
    for parallel, base in (("n_jobs=2", "n_jobs=1, 1 thread"), ("n_jobs=2", "n_jobs=1, 2 threads"),
                           ("2 processes", "n_jobs=1, 1 thread"), ("2 processes", "n_jobs=2")):
        par = by.get(parallel, [])
        if par and by.get(base):
            ratios = {}
            for key in ("trials_per_min", "epochs_per_min"):
                per_rep = [p[key] / b[key] for p in par for b in by[base]
                           if p["seed"] == b["seed"] and b[key] > 0]
                ratios[key] = med(per_rep)
            lines.append(f"- {parallel} / ({base}): trials/min x{ratios['trials_per_min']:.2f}, "
                         f"epochs/min x{ratios['epochs_per_min']:.2f} (median of per-repetition "
                         "ratios).")
    loads = [r["loadavg_start"] for r in rows]
    lines += ["", f"- Machine: {_machine()}; 1-min load average at run starts: median "
              f"{med(loads):.1f}, max {max(loads):.1f} (other engineers' jobs may have shared it).",
              f"- Versions: python {platform.python_version()}, {_versions()}.",
              f"- Date: {_dt.datetime.now().isoformat(timespec='minutes')}.",
              "", "```bash", ". .venv/bin/activate",
              f"python benchmarks/parallel_trials.py --budget {args.budget:g} --reps {args.reps}"
              + ("" if names == list(CONTENDERS) else
                 " --contenders " + " ".join(f"'{n}'" for n in names)),
              "```", ""]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS))
    p.add_argument("--out", default=str(RESULTS / "parallel_trials"))
    p.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        n_jobs, threads, budget, seed, storage, go = args.child
        print(json.dumps(child(int(n_jobs), int(threads), float(budget), int(seed),
                               None if storage == "none" else storage,
                               None if go == "none" else go)))
        return
    if args.quick:
        args.budget, args.reps = 15.0, 1
        args.out = str(RESULTS / "parallel_trials_quick")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for rep in range(args.reps):
        order = args.contenders[rep % len(args.contenders):] + args.contenders[:rep % len(args.contenders)]
        for name in order:
            row = run_child(name, args.budget, rep)
            rows.append(row)
            print(f"rep {rep} {name}: {row['n_trials']} trials ({row['n_complete']} complete, "
                  f"{row['n_pruned']} pruned), {row['trials_per_min']:.1f} trials/min, "
                  f"{row['epochs_per_min']:.0f} epochs/min, fit {row['fit_wall']:.1f}s", flush=True)
            out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(write_report(rows, args, out.with_suffix(".md")))


if __name__ == "__main__":
    main()
