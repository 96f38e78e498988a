"""What running a search as a Prefect flow adds: ``lepton run`` against the same run as a
flow run (``lepton.pipelines.flows.search_flow``) on a local Prefect server.

Each run is a fresh process, timed from its start to its exit, on the same dataset, budget
and seed, untracked (MLflow's cost is measured in tracking_overhead.py): arm ``cli`` runs
``lepton run DATASET --time-budget B --no-tracking``; arm ``flow`` calls
``search_flow(dataset=DATASET, time_budget=B, tracking=False)`` with ``PREFECT_API_URL``
pointing at one ``prefect server start`` on 127.0.0.1, started before the first run and
stopped after the last (its CPU is part of the cost: same 2 cores). The arms alternate,
``--reps`` times each. Reported: median wall time per arm, the flow's extra seconds and
ratio, and the median ``fit`` time inside each (the budgeted search itself).

    python benchmarks/flow_overhead.py --dataset digits --budget 20 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lepton.pipelines.server import start_server, stop

FLOW = ("import json, sys; from lepton.pipelines.flows import search_flow; "
        "s = search_flow(dataset=sys.argv[1], time_budget=float(sys.argv[2]), tracking=False, "
        "verbose=0); print('SUMMARY', json.dumps(s))")


def run(arm: str, dataset: str, budget: float, env: dict) -> dict:
    if arm == "cli":
        cmd = [sys.executable, "-m", "lepton.cli", "run", dataset, "--time-budget", str(budget),
               "--no-tracking", "--verbose", "0"]
    else:
        cmd = [sys.executable, "-c", FLOW, dataset, str(budget)]
    started = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).parent)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"{arm} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    if arm == "cli":
        fit = float(re.search(r"in ([0-9.]+)s of a", out.stdout).group(1))
        score = float(re.search(r"held-out accuracy: ([0-9.]+)", out.stdout).group(1))
    else:
        summary = json.loads(out.stdout.split("SUMMARY ", 1)[1].splitlines()[0])
        fit, score = summary["fit_seconds"], summary["held_out"]["accuracy"]
    return {"arm": arm, "wall_s": round(wall, 3), "fit_s": fit, "accuracy": score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "flow_overhead.json"))
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="lepton-flow-bench-")
    env = {**os.environ, "PREFECT_HOME": os.path.join(home, "prefect"),
           "LEPTON_HOME": os.path.join(home, "lepton"), "OMP_NUM_THREADS": "1",
           "DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    os.environ.update({k: env[k] for k in ("PREFECT_HOME", "LEPTON_HOME")})
    server_started = time.perf_counter()
    proc, api = start_server()
    print(f"prefect server answered after {time.perf_counter() - server_started:.1f}s at {api}")
    env["PREFECT_API_URL"] = api
    rows = []
    try:
        for rep in range(args.reps):
            for arm in ("cli", "flow") if rep % 2 == 0 else ("flow", "cli"):
                row = {"rep": rep, **run(arm, args.dataset, args.budget, env)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        stop(proc)
    med = {arm: {key: statistics.median(r[key] for r in rows if r["arm"] == arm)
                 for key in ("wall_s", "fit_s", "accuracy")} for arm in ("cli", "flow")}
    report = {"dataset": args.dataset, "budget": args.budget, "reps": args.reps,
              "median": med, "flow_extra_s": round(med["flow"]["wall_s"] - med["cli"]["wall_s"], 2),
              "flow_over_cli": round(med["flow"]["wall_s"] / med["cli"]["wall_s"], 3),
              "rows": rows}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}))


if __name__ == "__main__":
    main()
