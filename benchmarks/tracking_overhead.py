"""What MLflow tracking costs a search: the same search untracked, on the embedded SQLite
store and on an MLflow HTTP tracking server.

Fixed work, not fixed time: every run is ``LeptonClassifier(n_trials=N, time_budget=600)``
(the budget never binds) on scikit-learn digits with ``cv=None``, ``random_state=0`` and a
fixed small search space (MLP 2 x 64, 20 epochs, batch 64; only ``learning_rate`` is
searched), one torch/BLAS thread, ``n_jobs=1``. The seeded sampler proposes the same
configurations in every configuration, so each run trains the same epochs (checked: the
report lists total epochs and best score per configuration).

Configurations:

- ``untracked``  no tracking arguments (the no-op tracker);
- ``sqlite``     ``experiment_name`` only: the embedded store, SQLite at
                 ``$LEPTON_HOME/mlflow/mlflow.db`` (a fresh ``LEPTON_HOME`` per run);
- ``http``       ``tracking_uri=http://127.0.0.1:<port>``: one local ``mlflow server
                 --workers 1`` (SQLite backend in a temp dir) started before the first
                 repetition and always stopped at the end. The server runs on the same
                 2 cores, so its CPU time is part of the cost; it is reported separately;
- ``sqlite-thread`` (not run by default) as ``sqlite``, with ``LEPTON_MLFLOW_WRITER=thread``:
                 the trial writes on a thread of the training process, the writer before
                 the writer process (for a paired comparison of the two).

Every tracked run uses a fresh experiment and a fresh registered model name, so each run
does the same writes (registration creates version 1 and makes it champion).

Each run is a fresh process (imports, mlflow's included, cost the same in every run). Its
phases are timed separately:

- ``search``: trials per minute = n_trials / (last trial's completion - first trial's
  start), from the Optuna study's trial datetimes. This is what the issue's "<= 5% slower
  with the embedded store" target is about: the per-trial cost of tracking. Trial writes
  run in the tracker's writer process (``lepton/tracking/_writer.py``), fed through a pipe
  by a writer thread; writes still pending when the last trial ends drain while
  ``end_search`` logs the summary, artifacts and models, and what is still pending after
  those is waited for (``drain`` below: the time in ``flush``) and added in the "incl.
  drain" figure.
  The writer process's CPU time (its ``import mlflow`` included) is reported beside the
  training process's: the 2 cores are shared, so it is a cost even where it is off the
  training thread.
- ``setup``: ``make_tracker`` (imports mlflow, opens or creates the store and the
  experiment; a fresh SQLite store runs its schema migrations) + ``start_search``.
- ``end``: ``end_search``: summary metrics, artifacts (tables, plots), models
  (pyfunc + torch module) and registry, then the rest of the drain. A fixed cost per
  search, not per trial.
- ``finalize``: Lepton's refit/ensemble of the final model (the same in every configuration).

Repetitions interleave the configurations in rotating order so background load hits them
alike; the report gives medians with min-max, and ratios are medians of per-repetition
(paired) ratios. Process CPU time of the search phase is reported too: it is less
sensitive to other processes competing for the cores than wall time.

    python benchmarks/tracking_overhead.py                       # 5 reps x 3 configs, ~6 min
    python benchmarks/tracking_overhead.py --quick               # smoke run, 1 rep, 5 trials
    python benchmarks/tracking_overhead.py --reps 7 --configs untracked sqlite
    python benchmarks/tracking_overhead.py --reps 7 --configs untracked sqlite sqlite-thread
    python benchmarks/tracking_overhead.py --profile sqlite      # cProfile of one search
    python benchmarks/tracking_overhead.py --profile sqlite-thread --no-cprofile  # write timings
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CONFIGS = ("untracked", "sqlite", "http", "sqlite-thread")
DEFAULT_CONFIGS = CONFIGS[:3]
MARKER = "TRACKING_OVERHEAD_RESULT "
ROOT = Path(__file__).resolve().parent.parent


def search_space(epochs: int) -> dict:
    return {"name": "bench-mlp", "family": "mlp",
            "parameters": {"n_layers": 2, "width": 64, "epochs": epochs, "batch_size": 64,
                           "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2,
                                             "log": True}}}


# -- one run (child process) -----------------------------------------------------------
def run_once(args) -> dict:
    """One fit in this process, with its phases timed; returns the measurements."""
    import resource

    import torch

    torch.set_num_threads(1)
    # The first torch optimizer of a process imports torch._dynamo: ~1 s once, and 0.25-0.4 s
    # more when mlflow's modules are already loaded (torch scans sys.modules), as in a tracked
    # fit. Inside the first trial that one-off import read as a per-trial tracking cost
    # (+21 ms/trial over 20 trials, 13:41 run); every configuration pays it here, before the
    # clock, so the search phase measures what tracking costs per trial.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    import numpy as np
    from sklearn.datasets import load_digits, load_iris

    import lepton.tracking as lt
    from lepton import LeptonClassifier
    from lepton.search import estimators as est_mod
    from lepton.tracking import MLflowTracker

    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                wall[name] = wall.get(name, 0.0) + time.perf_counter() - t0
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - c0
        return wrapper

    lt.make_tracker = timed("tracker_init", lt.make_tracker)
    est_mod.run_trials = timed("run_trials", est_mod.run_trials)
    LeptonClassifier._finalize = timed("finalize", LeptonClassifier._finalize)
    for name in ("start_search", "end_search", "flush", "_log_summary", "_log_artifacts",
                 "_log_models"):
        setattr(MLflowTracker, name, timed(name, getattr(MLflowTracker, name)))

    X, y = (load_digits if args.dataset == "digits" else load_iris)(return_X_y=True)
    kwargs = {}
    tag = f"{args.config}-{args.rep}-{os.getpid()}"
    if args.config in ("sqlite", "sqlite-thread"):
        kwargs = {"experiment_name": f"bench-{tag}", "registered_model_name": f"bench-{tag}"}
    elif args.config == "http":
        kwargs = {"tracking_uri": args.tracking_uri, "experiment_name": f"bench-{tag}",
                  "registered_model_name": f"bench-{tag}"}
    est = LeptonClassifier(time_budget=600, n_trials=args.trials, patience=None,
                           search_space=search_space(args.epochs), cv=None, random_state=0,
                           n_jobs=1, verbose=0, **kwargs)
    load = os.getloadavg()[0]
    def children_cpu() -> float:  # of the child processes waited for: the writer process
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    t0, c0, w0 = time.perf_counter(), time.process_time(), children_cpu()
    est.fit(X, y)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    writer_cpu = children_cpu() - w0

    trials = [t for t in est.study_.trials if t.datetime_complete is not None]
    span = (max(t.datetime_complete for t in trials)
            - min(t.datetime_start for t in trials)).total_seconds()
    states = [t.state.name for t in trials]
    tracker = getattr(est, "tracker_", None)
    drain = wall.get("flush", 0.0)
    return {
        "config": args.config, "rep": args.rep, "loadavg_start": load,
        "loadavg_end": os.getloadavg()[0], "fit_s": fit_s, "fit_cpu_s": fit_cpu,
        "n_trials": len(trials), "n_complete": states.count("COMPLETE"),
        "n_pruned": states.count("PRUNED"), "n_failed": states.count("FAIL"),
        "epochs": int(sum(t.user_attrs.get("epochs", 0) for t in trials)),
        "best_score": float(est.best_score_),
        "search_s": span, "trials_per_min": 60.0 * len(trials) / span,
        "run_trials_s": wall["run_trials"], "search_cpu_s": cpu["run_trials"],
        "drain_s": drain,
        "trials_per_min_incl_drain": 60.0 * len(trials) / (span + drain),
        "setup_s": wall.get("tracker_init", 0.0) + wall.get("start_search", 0.0),
        "end_s": wall.get("end_search", 0.0),
        "end_summary_s": wall.get("_log_summary", 0.0),
        "end_artifacts_s": wall.get("_log_artifacts", 0.0),
        "end_models_s": wall.get("_log_models", 0.0),
        "finalize_s": wall.get("finalize", 0.0),
        "writer_cpu_s": writer_cpu if getattr(tracker, "writer_process", None) else None,
        "tracking_errors": list(getattr(tracker, "tracking_errors", []) or []),
        "dataset_shape": list(np.shape(X)),
    }


def child_main(args) -> int:
    result = run_once(args)
    print(MARKER + json.dumps(result), flush=True)
    return 0


# -- the tracking server ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_env() -> dict:
    env = dict(os.environ)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(key, None)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONWARNINGS": "ignore"})
    return env


class TrackingServer:
    """``mlflow server`` on a free local port; a context manager that always stops it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.startup_s = None

    def __enter__(self):
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        cmd = [str(mlflow_bin) if mlflow_bin.exists() else "mlflow", "server",
               "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", f"sqlite:///{self.workdir / 'srv.db'}",
               "--default-artifact-root", str(self.workdir / "art"), "--workers", "1"]
        self.log = open(self.workdir / "server.log", "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=quiet_env(), stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mlflow server exited with {self.proc.returncode}; "
                                       f"see {self.workdir / 'server.log'}")
                try:
                    with urllib.request.urlopen(self.uri + "/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not answer /health within 180 s")
                time.sleep(0.5)
            self.startup_s = time.perf_counter() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes so far."""
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return float("nan")
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server's own process group
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        finally:
            self.log.close()

    def __exit__(self, *exc):
        self.stop()


# -- driver ----------------------------------------------------------------------------
def launch(config: str, rep: int, args, tmp: Path, server: TrackingServer | None) -> dict:
    home = tmp / f"home-{config}-{rep}"
    home.mkdir()
    env = quiet_env()
    env["LEPTON_HOME"] = str(home)
    if config == "sqlite-thread":
        env["LEPTON_MLFLOW_WRITER"] = "thread"
    cmd = [sys.executable, __file__, "--child", config, "--rep", str(rep),
           "--trials", str(args.trials), "--epochs", str(args.epochs),
           "--dataset", args.dataset]
    if server is not None:
        cmd += ["--tracking-uri", server.uri]
    srv_cpu0 = server.cpu_seconds() if server is not None else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200,
                          check=False)
    process_s = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{config} rep {rep} failed (rc={proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len(MARKER):])
    result["process_s"] = process_s
    if server is not None:
        result["server_cpu_s"] = server.cpu_seconds() - srv_cpu0
    shutil.rmtree(home, ignore_errors=True)  # the store does not grow across runs
    return result


def summarize(runs: list[dict], configs: list[str]) -> dict:
    by = {c: [r for r in runs if r["config"] == c] for c in configs}
    fields = ("trials_per_min", "trials_per_min_incl_drain", "search_s", "search_cpu_s",
              "drain_s", "setup_s", "end_s", "end_summary_s", "end_artifacts_s",
              "end_models_s", "finalize_s", "fit_s", "process_s", "server_cpu_s",
              "writer_cpu_s", "epochs",
              "best_score", "n_trials", "n_pruned")
    out: dict = {"configs": {}, "vs_untracked": {}}
    for c, rs in by.items():
        d = {}
        for f in fields:
            vals = [r[f] for r in rs if r.get(f) is not None]
            if vals:
                d[f] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
        d["tracking_errors"] = sorted({e for r in rs for e in r["tracking_errors"]})
        out["configs"][c] = d
    if "untracked" in by:
        base = {r["rep"]: r for r in by["untracked"]}
        for c, rs in by.items():
            if c == "untracked":
                continue
            pairs = [(base[r["rep"]], r) for r in rs if r["rep"] in base]
            if not pairs:
                continue

            def med(fn, pairs=pairs):
                return statistics.median(fn(b, r) for b, r in pairs)

            out["vs_untracked"][c] = {
                # > 1: slower. Ratio of search times = inverse ratio of trials per minute.
                "search_time_ratio": med(lambda b, r: r["search_s"] / b["search_s"]),
                "search_time_ratio_incl_drain": med(
                    lambda b, r: (r["search_s"] + r["drain_s"]) / b["search_s"]),
                "search_cpu_ratio": med(lambda b, r: r["search_cpu_s"] / b["search_cpu_s"]),
                "overhead_ms_per_trial": med(
                    lambda b, r: 1000 * (r["search_s"] - b["search_s"]) / r["n_trials"]),
                "overhead_ms_per_trial_incl_drain": med(
                    lambda b, r: 1000 * (r["search_s"] + r["drain_s"] - b["search_s"])
                    / r["n_trials"]),
                "cpu_overhead_ms_per_trial": med(
                    lambda b, r: 1000 * (r["search_cpu_s"] - b["search_cpu_s"]) / r["n_trials"]),
                "fit_time_ratio": med(lambda b, r: r["fit_s"] / b["fit_s"]),
                "fixed_cost_s": med(lambda b, r: r["setup_s"] + r["end_s"]),
            }
    return out


def environment() -> dict:
    import optuna
    import sklearn
    import torch

    import lepton
    import mlflow

    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "lepton": lepton.__version__,
            "mlflow": mlflow.__version__, "optuna": optuna.__version__,
            "torch": torch.__version__, "sklearn": sklearn.__version__}


def _fmt(d: dict | None, spec: str = ".1f") -> str:
    if not d:
        return "-"
    return f"{d['median']:{spec}} ({d['min']:{spec}}-{d['max']:{spec}})"


def to_markdown(report: dict) -> str:
    env, s, a = report["environment"], report["summary"], report["args"]
    cfg = s["configs"]
    la0 = ", ".join(f"{x:.2f}" for x in report["loadavg_start"])
    la1 = ", ".join(f"{x:.2f}" for x in report["loadavg_end"])
    out = ["# Tracking overhead: search untracked vs MLflow (embedded SQLite, HTTP server)", "",
           f"- command: `{report['command']}`",
           f"- date: {env['date']}; wall time of the benchmark {report['elapsed_s'] / 60:.1f} min",
           (f"- machine: {env['platform']}, {env['processor']}, {env['cpu_count']} cores, "
            f"1 torch/BLAS thread per run; load average (1, 5, 15 min) at start {la0}, at end "
            f"{la1}"),
           (f"- versions: python {env['python']}, lepton {env['lepton']}, mlflow {env['mlflow']}, "
            f"optuna {env['optuna']}, torch {env['torch']}, scikit-learn {env['sklearn']}"),
           (f"- work: LeptonClassifier(n_trials={a['trials']}, time_budget=600, cv=None, "
            f"random_state=0, n_jobs=1) on {a['dataset']}, space MLP 2 x 64, "
            f"{a['epochs']} epochs, batch 64, learning_rate searched (log 1e-4..1e-2); "
            f"tracked runs also register the model; {a['reps']} repetitions per "
            "configuration, interleaved in rotating order, each run a fresh process with a "
            "fresh LEPTON_HOME and a fresh experiment"),
           ]
    if report.get("server_startup_s") is not None:
        out.append(f"- HTTP server: `mlflow server --workers 1` on 127.0.0.1, SQLite backend, "
                   f"answered /health after {report['server_startup_s']:.1f} s; one server for "
                   "all repetitions (its store holds all http runs)")
    out += ["", "Median (min-max) over repetitions.", "",
            "## Search phase (per-trial cost)", "",
            ("| configuration | trials/min | trials/min incl. drain | search s | search CPU s "
            "| drain s | total epochs | best score |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c, d in cfg.items():
        out.append(f"| {c} | {_fmt(d.get('trials_per_min'))} | "
                   f"{_fmt(d.get('trials_per_min_incl_drain'))} | {_fmt(d.get('search_s'), '.2f')} | "
                   f"{_fmt(d.get('search_cpu_s'), '.2f')} | {_fmt(d.get('drain_s'), '.3f')} | "
                   f"{_fmt(d.get('epochs'), '.0f')} | {_fmt(d.get('best_score'), '.4f')} |")
    vs = s.get("vs_untracked", {})
    if vs:
        out += ["", ("| vs untracked (paired, median) | search time ratio | incl. drain "
                "| CPU-time ratio | overhead ms/trial | incl. drain | CPU ms/trial "
                "| target <= 1.05 |"), "|---|---:|---:|---:|---:|---:|---:|---|"]
        for c, v in vs.items():
            target = ("PASS" if v["search_time_ratio"] <= 1.05 else "FAIL") if c == "sqlite" else "-"
            out.append(f"| {c} | {v['search_time_ratio']:.3f} | "
                       f"{v['search_time_ratio_incl_drain']:.3f} | {v['search_cpu_ratio']:.3f} | "
                       f"{v['overhead_ms_per_trial']:+.1f} | "
                       f"{v['overhead_ms_per_trial_incl_drain']:+.1f} | "
                       f"{v['cpu_overhead_ms_per_trial']:+.1f} | {target} |")
    out += ["", "## Fixed costs per search (seconds)", "",
            ("| configuration | setup (make_tracker + start_search) | end_search total "
            "| of it: summary | artifacts (plots) | models + registry | finalize (refit) "
            "| fit total | process total | writer process CPU s | server CPU s |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, d in cfg.items():
        out.append(" | ".join([f"| {c}"] + [_fmt(d.get(k), ".2f") for k in (
            "setup_s", "end_s", "end_summary_s", "end_artifacts_s", "end_models_s",
            "finalize_s", "fit_s", "process_s", "writer_cpu_s", "server_cpu_s")]) + " |")
    errors = {c: d["tracking_errors"] for c, d in cfg.items() if d.get("tracking_errors")}
    out += ["", "## Notes", "",
            ("- trials/min = n_trials / (last trial completion - first trial start), from the "
            "study's trial datetimes; \"incl. drain\" adds the time end_search waits for trial "
            "writes still pending in the writer (process or thread) after logging the "
            "summary, artifacts and models (the writer drains meanwhile)."),
            ("- Ratios are medians of per-repetition ratios against the untracked run of the "
            "same repetition (> 1 = slower); overhead ms/trial = (tracked - untracked search "
            "time) / n_trials. CPU time is the training process's (trial threads + writer "
            "thread); the writer process's CPU (whole fit, its `import mlflow` included) and "
            "the HTTP server's are in the last two columns, not in the ratio."),
            ("- setup includes `import mlflow` and, for sqlite, creating a fresh store (schema "
            "migrations); a store that already exists opens faster."),
            ("- The total-epochs and best-score columns show every configuration did the same "
            "work (the search is seeded and pruning/early stopping deterministic)."),
            ("- Each run first builds one torch optimizer, outside the timed phases: that "
            "imports torch._dynamo (~1 s, once per process; 0.25-0.4 s more with mlflow "
            "loaded, because torch scans sys.modules). Left inside the first trial, that "
            "one-off cost read as +21 ms/trial for sqlite over 20 trials.")]
    if errors:
        out.append(f"- tracking errors reported: {json.dumps(errors)}")
    if report.get("profile"):
        out += ["", "## Profile", "", report["profile"]]
    return "\n".join(out) + "\n"


def profile(config: str, args) -> None:
    """Profile one tracked search in this process: where the tracking time goes.

    With the default writer process the trial writes run in that child, out of this
    profiler's sight: the table then times what the training process pays to hand them
    over (``WriterProcess.send`` / ``flush`` on the tracker's writer thread). With
    ``--profile sqlite-thread`` the writes run here (``RunWriter.trial`` / ``flush`` on
    the writer thread), under a separate profiler, timed per call; the main thread is
    profiled as a whole either way.
    """
    import cProfile
    import io
    import pstats

    from lepton.tracking import _writer

    writer_prof = cProfile.Profile()
    per_kind: dict[str, list[float]] = {}

    def timed(cls, name: str, prof) -> None:
        original = getattr(cls, name)

        def wrapper(self, *a, **k):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return prof.runcall(original, self, *a, **k) if prof else original(self, *a, **k)
            finally:
                stats = per_kind.setdefault(f"{cls.__name__}.{name}", [0, 0.0, 0.0])
                stats[0] += 1
                stats[1] += time.perf_counter() - t0
                stats[2] += time.thread_time() - c0
        setattr(cls, name, wrapper)

    for name in ("trial", "flush"):
        timed(_writer.RunWriter, name, writer_prof if args.cprofile else None)
    for name in ("send", "flush"):  # WriterProcess.flush calls send: time only, no nesting
        timed(_writer.WriterProcess, name, None)
    tmp = Path(tempfile.mkdtemp(prefix="lepton-trackbench-prof-"))
    server = None
    try:
        if config == "http":
            server = TrackingServer(tmp).__enter__()
            args.tracking_uri = server.uri
        os.environ.update({k: v for k, v in quiet_env().items() if k != "PATH"})
        os.environ["LEPTON_HOME"] = str(tmp / "home")
        if config == "sqlite-thread":
            os.environ["LEPTON_MLFLOW_WRITER"] = "thread"
        args.config, args.rep = config, 0
        main_prof = cProfile.Profile()
        if args.cprofile:
            main_prof.enable()
        result = run_once(args)
        main_prof.disable()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    n = result["n_trials"]
    print(json.dumps({k: v for k, v in result.items() if k.endswith("_s")}, indent=1))
    print(f"\nwriter thread of the training process, per call ({n} trials):")
    print(f"{'call':22s} {'calls':>6s} {'wall ms/call':>13s} {'CPU ms/call':>12s} "
          f"{'wall ms/trial':>14s} {'CPU ms/trial':>13s}")
    for what, (calls, w, c) in sorted(per_kind.items()):
        print(f"{what:22s} {calls:6d} {1000 * w / calls:13.1f} {1000 * c / calls:12.1f} "
              f"{1000 * w / n:14.1f} {1000 * c / n:13.1f}")
    if not args.cprofile:
        return
    sections = [("main thread, by cumulative time", main_prof, "cumulative", 60)]
    if any(k.startswith("RunWriter") for k in per_kind):
        sections = [("writer thread, by cumulative time", writer_prof, "cumulative", 45),
                    ("writer thread, by own time", writer_prof, "tottime", 30)] + sections
    for title, prof, key, count in sections:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(count)
        print(f"\n===== {title} =====\n{buf.getvalue()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=None, help="repetitions per configuration "
                   "(default 5; 1 with --quick)")
    p.add_argument("--trials", type=int, default=None, help="n_trials (default 20; 5 with --quick)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--dataset", choices=("digits", "iris"), default="digits")
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(DEFAULT_CONFIGS))
    p.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 5 trials")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md "
                   "(e.g. benchmarks/results/tracking_overhead)")
    p.add_argument("--profile", choices=CONFIGS[1:], default=None,
                   help="cProfile one search of this configuration in-process and exit")
    p.add_argument("--no-cprofile", dest="cprofile", action="store_false",
                   help="with --profile: only time the writer thread's calls (no cProfile "
                   "slowdown)")
    p.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    p.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--tracking-uri", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 5)
    args.trials = args.trials or (5 if args.quick else 20)

    if args.child:
        args.config = args.child
        return child_main(args)
    if args.profile:
        profile(args.profile, args)
        return 0

    command = "python benchmarks/tracking_overhead.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    load0 = os.getloadavg()
    env = environment()
    tmp = Path(tempfile.mkdtemp(prefix="lepton-trackbench-"))
    runs: list[dict] = []
    server_startup = None
    server: TrackingServer | None = None
    try:
        if "http" in args.configs:
            (tmp / "server").mkdir()
            server = TrackingServer(tmp / "server").__enter__()
            server_startup = server.startup_s
            print(f"mlflow server at {server.uri} up after {server_startup:.1f}s", flush=True)
        configs = list(args.configs)
        for rep in range(args.reps):
            k = rep % len(configs)
            for config in configs[k:] + configs[:k]:
                r = launch(config, rep, args, tmp, server if config == "http" else None)
                runs.append(r)
                print(f"rep {rep} {config:9s} {r['trials_per_min']:6.1f} trials/min  "
                      f"search {r['search_s']:6.2f}s (cpu {r['search_cpu_s']:.2f}s) "
                      f"drain {r['drain_s']:.3f}s setup {r['setup_s']:.2f}s "
                      f"end {r['end_s']:.2f}s fit {r['fit_s']:.1f}s epochs {r['epochs']} "
                      f"load {r['loadavg_start']:.2f}", flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    report = {"command": command, "args": {k: getattr(args, k) for k in (
                  "reps", "trials", "epochs", "dataset", "configs")},
              "environment": env, "loadavg_start": list(load0),
              "loadavg_end": list(os.getloadavg()), "server_startup_s": server_startup,
              "elapsed_s": time.perf_counter() - started, "runs": runs,
              "summary": summarize(runs, list(args.configs))}
    md = to_markdown(report)
    print(md)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        out.with_suffix(".md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
