"""Every GPU check and GPU benchmark in one run, for a session that is lent a GPU machine
(15 minutes of device time in all: this takes about 7 with the defaults).

No GPU run has been measured yet (the machines Lepton is built on have none). This script
checks, on ``--device`` (default 'cuda'):

1. a fixed network (NeuralNetworkClassifier) fits digits on the device and scores;
2. a search (LeptonClassifier, digits as 8x8 images, ``--budget`` s) ends inside its
   budget on the device, and its saved model loads and predicts in a process that sees
   no GPU (CUDA_VISIBLE_DEVICES='') with the same predictions;
3. parallel trials on one device: trials and epochs per minute of the search with n_jobs
   1, 2 and 4 (digits flat, mlp space, ``--budget`` s each), with the GPU's utilisation
   sampled every 0.5 s by nvidia-smi (where there is one): is the GPU idle with one trial
   at a time, and do parallel trials fill it?
4. several GPUs (where the machine has more than one): the same search with
   ``device='cuda'`` (every GPU, one trial per GPU by default) against the same number of
   trials at a time on the first GPU alone; trials per GPU and each GPU's utilisation.

Writes OUT.json (every figure) and prints a summary. Run it as one command, then hand the
machine back:

    python benchmarks/gpu_check.py --out benchmarks/results/gpu_check      # ~7 min (8.5: 2+ GPUs)
    python benchmarks/gpu_check.py --device cpu --budget 10 --out /tmp/gc    # dry run here
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


class Utilisation:
    """GPU utilisation (%) sampled every ``every`` s by nvidia-smi while the block runs."""

    def __init__(self, every: float = 0.5):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self.per_gpu: list[list[float]] = []
        self.tool = shutil.which("nvidia-smi")

    def __enter__(self):
        if self.tool:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            out = subprocess.run([self.tool, "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True).stdout.split()
            if out:
                self.samples.append(float(out[0]))  # the first GPU: the one trials share
                self.per_gpu.append([float(v) for v in out])
            self._stop.wait(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        if self.tool:
            self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_util_median": None, "gpu_util_mean": None}
        return {"gpu_util_median": statistics.median(self.samples),
                "gpu_util_mean": round(statistics.fmean(self.samples), 1),
                "gpu_util_mean_each": [round(statistics.fmean(gpu), 1)
                                       for gpu in zip(*self.per_gpu)]}


def fixed_network(device: str) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from lepton import NeuralNetworkClassifier

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    t0 = time.perf_counter()
    model = NeuralNetworkClassifier(device=device, random_state=0, verbose=0).fit(Xtr, ytr)
    return {"check": "fixed network", "device": str(model.device_),
            "fit_s": round(time.perf_counter() - t0, 2), "epochs": model.n_epochs_,
            "held_out": round(float(model.score(Xte, yte)), 4)}


def search_and_reload(device: str, budget: float) -> dict:
    import joblib
    from sklearn.model_selection import train_test_split

    from lepton import LeptonClassifier
    from lepton.datasets import load_dataset

    ds = load_dataset("digits")
    X, y = np.asarray(ds.X, dtype=np.float32), np.asarray(ds.y)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    t0 = time.perf_counter()
    clf = LeptonClassifier(time_budget=budget, device=device, random_state=0, verbose=0,
                           input_shape=ds.input_shape).fit(Xtr, ytr)
    wall = time.perf_counter() - t0
    proba = clf.predict_proba(Xte)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.joblib"
        joblib.dump(clf, path)
        np.save(Path(tmp) / "X.npy", Xte)
        code = ("import sys, joblib, numpy as np; m = joblib.load(sys.argv[1]); "
                "np.save(sys.argv[3], m.predict_proba(np.load(sys.argv[2])))")
        out = subprocess.run([sys.executable, "-c", code, str(path), str(Path(tmp) / "X.npy"),
                              str(Path(tmp) / "p.npy")], capture_output=True, text=True,
                             env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        reloaded = (np.load(Path(tmp) / "p.npy") if out.returncode == 0 else None)
    return {"check": "search + reload without a GPU", "device": device, "budget": budget,
            "fit_over_budget": round(wall / budget, 3), "trials": int(clf.n_trials_),
            "final": clf.final_choice_, "held_out": round(float(clf.score(Xte, yte)), 4),
            "reload_ok": reloaded is not None,
            "reload_max_abs_diff": (None if reloaded is None
                                    else float(np.abs(reloaded - proba).max())),
            "reload_error": None if out.returncode == 0 else out.stderr[-2000:]}


def parallel_trials(device: str, budget: float, n_jobs: int | None) -> dict:
    from lepton import LeptonClassifier
    from lepton.datasets import load_dataset

    ds = load_dataset("digits")
    X, y = np.asarray(ds.X, dtype=np.float32), np.asarray(ds.y)
    t0 = time.perf_counter()
    with Utilisation() as util:
        clf = LeptonClassifier(time_budget=budget, device=device, n_jobs=n_jobs,
                               search_space="mlp", patience=None, random_state=0,
                               verbose=0).fit(X, y)
    wall = time.perf_counter() - t0
    board = clf.leaderboard_
    per_device = (board["device"].value_counts().to_dict() if "device" in board
                  else {device: len(board)})
    return {"check": "parallel trials", "device": device, "n_jobs": n_jobs, "budget": budget,
            "trials_per_device": per_device,
            "fit_over_budget": round(wall / budget, 3), "trials": len(board),
            "trials_per_min": round(60 * len(board) / wall, 1),
            "epochs_per_min": round(60 * float(board["epochs"].fillna(0).sum()) / wall, 1),
            "best_validation": round(float(clf.best_score_), 4), "final": clf.final_choice_,
            "refit": clf.final_model_info_["refit"], **util.summary()}


def several_gpus(budget: float) -> list[dict]:
    """Trials spread over every GPU against as many trials at a time on the first alone."""
    import torch

    n = torch.cuda.device_count()
    if n < 2:
        return [{"check": "several GPUs", "skipped": f"{n} GPU(s) here"}]
    return [{**parallel_trials(device, budget, n_jobs), "check": "several GPUs"}
            for device, n_jobs in (("cuda", None), ("cuda:0", n))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=45.0)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu_check"))
    args = parser.parse_args(argv)

    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda_available": torch.cuda.is_available(),
           "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
           "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M")}
    print(json.dumps(env), flush=True)
    rows = []
    checks = [lambda: fixed_network(args.device),
              lambda: search_and_reload(args.device, args.budget)]
    checks += [lambda n=n: parallel_trials(args.device, args.budget, n) for n in args.n_jobs]
    if args.device != "cpu":
        checks.append(lambda: several_gpus(args.budget))
    for check in checks:
        try:
            found = check()
        except Exception as exc:  # noqa: BLE001 - a failed check is a finding; go on
            found = {"check": "failed", "error": f"{type(exc).__name__}: {exc}"}
        for row in found if isinstance(found, list) else [found]:
            print(json.dumps(row), flush=True)
            rows.append(row)
        Path(args.out + ".json").write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    base = next((r for r in rows if r.get("n_jobs") == 1), None)
    for r in rows:
        if base and r.get("check") == "parallel trials" and r is not base:
            print(f"n_jobs={r['n_jobs']} / n_jobs=1: trials/min "
                  f"x{r['trials_per_min'] / base['trials_per_min']:.2f}, epochs/min "
                  f"x{r['epochs_per_min'] / base['epochs_per_min']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
