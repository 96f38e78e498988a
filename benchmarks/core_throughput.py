"""Training throughput of ``lepton.NeuralNetworkClassifier.fit`` against its peers.

Contenders (same data, same architecture, same batch size, same number of epochs):

- ``lepton``          NeuralNetworkClassifier(early_stopping=False, lr_schedule='constant',
                      gradient_clip=None): the like-for-like setting;
- ``lepton_defaults`` NeuralNetworkClassifier(early_stopping=False) with the default
                      cosine schedule (5% warmup) and gradient clipping at 1.0: what those
                      two features cost;
- ``torch_loop``      a minimal hand-written PyTorch loop (shuffled index slicing, AdamW,
                      cross-entropy, nothing else): the floor any wrapper can reach;
- ``torch_loop_fused`` the same loop with ``AdamW(fused=True)``, the optimizer kernel
                      Lepton uses on CPU: the floor for Lepton's own optimizer;
- ``skorch``          skorch.NeuralNetClassifier with the same module and AdamW;
- ``sklearn_mlp``     sklearn.neural_network.MLPClassifier of the same shape (adam,
                      early_stopping=False, tol=0 and n_iter_no_change > max_iter so it
                      runs every epoch).

Lepton's fit time includes everything ``fit`` does (validation, preprocessing, building
the module, training). The other contenders get float32 data standardised beforehand,
outside the timed region, and their module is built inside it. Samples/s =
n_train_samples * epochs / fit wall time. Each repetition runs every contender once, in
a rotated order, so background load hits them alike; ratios are the median of the
per-repetition ratios (paired), absolute figures are medians over repetitions.

Every contender runs with the same number of threads (torch intra-op and BLAS), 1 by
default: on a shared 2-core machine two threads per process made throughput collapse
under background load (LIBRARY-NOTES), which would measure the neighbours, not the code.

    python benchmarks/core_throughput.py                 # full run (~5 min on 2 cores)
    python benchmarks/core_throughput.py --quick         # smoke run (~30 s)
    python benchmarks/core_throughput.py --reps 9 --datasets synthetic
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import threadpoolctl
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from torch import nn

import lepton
from lepton import NeuralNetworkClassifier
from lepton.models import build_model

HIDDEN = (256, 256)
LR = 1e-3
WEIGHT_DECAY = 1e-4
CONTENDERS = ("lepton", "lepton_defaults", "torch_loop", "torch_loop_fused", "skorch",
              "sklearn_mlp")


# -- datasets ------------------------------------------------------------------------
def load_dataset(name: str, quick: bool):
    """(X float32, y int64, epochs, batch_size) of a named benchmark dataset."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X.astype(np.float32), y.astype(np.int64), (10 if quick else 30), 128
    if name == "synthetic":
        n = 10_000 if quick else 50_000
        X, y = make_classification(n_samples=n, n_features=64, n_informative=32,
                                   n_redundant=16, n_classes=4, random_state=0)
        return X.astype(np.float32), y.astype(np.int64), (2 if quick else 5), 128
    raise SystemExit(f"--datasets: unknown dataset {name!r}; known: digits, synthetic")


def _module(n_features: int, n_classes: int, seed: int) -> nn.Module:
    # The very module Lepton builds for hidden_layer_sizes=HIDDEN, activation='relu'.
    torch.manual_seed(seed)
    return build_model({"family": "mlp", "layers": [{"width": w, "activation": "relu"}
                                                   for w in HIDDEN]}, n_features, n_classes)


# -- contenders: each returns a predict(X) -> labels callable -------------------------
def fit_lepton(X, y, Xs, epochs, bs, seed, *, defaults: bool):
    extra = {} if defaults else {"lr_schedule": "constant", "gradient_clip": None}
    clf = NeuralNetworkClassifier(HIDDEN, epochs=epochs, batch_size=bs, learning_rate=LR,
                                  weight_decay=WEIGHT_DECAY, early_stopping=False,
                                  device="cpu", random_state=seed, **extra)
    clf.fit(X, y)
    return lambda: clf.predict(X)


def fit_torch_loop(X, y, Xs, epochs, bs, seed, *, fused: bool = False):
    Xt, yt = torch.from_numpy(Xs), torch.from_numpy(y)
    module = _module(Xs.shape[1], int(y.max()) + 1, seed)
    opt = torch.optim.AdamW(module.parameters(), lr=LR, weight_decay=WEIGHT_DECAY,
                            **({"fused": True} if fused else {}))
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    n = len(Xt)
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            loss = loss_fn(module(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def predict():
        module.eval()
        with torch.no_grad():
            return module(Xt).argmax(1).numpy()
    return predict


def fit_skorch(X, y, Xs, epochs, bs, seed):
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(_module(Xs.shape[1], int(y.max()) + 1, seed),
                              criterion=nn.CrossEntropyLoss, optimizer=torch.optim.AdamW,
                              optimizer__weight_decay=WEIGHT_DECAY, lr=LR, max_epochs=epochs,
                              batch_size=bs, train_split=None, iterator_train__shuffle=True,
                              verbose=0, device="cpu")
    net.fit(Xs, y)
    return lambda: net.predict(Xs)


def fit_sklearn_mlp(X, y, Xs, epochs, bs, seed):
    mlp = MLPClassifier(HIDDEN, activation="relu", solver="adam", alpha=WEIGHT_DECAY,
                        batch_size=bs, learning_rate_init=LR, max_iter=epochs, shuffle=True,
                        tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False,
                        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(Xs, y)
    assert mlp.n_iter_ == epochs, (mlp.n_iter_, epochs)
    return lambda: mlp.predict(Xs)


FITS = {
    "lepton": lambda *a: fit_lepton(*a, defaults=False),
    "lepton_defaults": lambda *a: fit_lepton(*a, defaults=True),
    "torch_loop": fit_torch_loop,
    "torch_loop_fused": lambda *a: fit_torch_loop(*a, fused=True),
    "skorch": fit_skorch,
    "sklearn_mlp": fit_sklearn_mlp,
}


# -- measurement ---------------------------------------------------------------------
def bench_dataset(name: str, contenders: list[str], reps: int, quick: bool) -> dict:
    X, y, epochs, bs = load_dataset(name, quick)
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    n = len(X)
    print(f"\n== {name}: {n} x {X.shape[1]}, {len(np.unique(y))} classes, "
          f"epochs={epochs}, batch_size={bs}, reps={reps}", flush=True)
    # Warm-up (untimed): first-call costs (lazy imports, allocator, BLAS threads).
    for c in contenders:
        FITS[c](X[:512], y[:512], Xs[:512], 1, bs, 0)
    times: dict[str, list[float]] = {c: [] for c in contenders}
    cpu: dict[str, list[float]] = {c: [] for c in contenders}
    acc: dict[str, float] = {}
    for r in range(reps):
        k = r % len(contenders)
        order = contenders[k:] + contenders[:k]  # rotate: each contender runs first once
        for c in order:
            t0, c0 = time.perf_counter(), time.process_time()
            predict = FITS[c](X, y, Xs, epochs, bs, r)
            times[c].append(time.perf_counter() - t0)
            cpu[c].append(time.process_time() - c0)
            if r == 0:
                acc[c] = float(np.mean(predict() == y))
        print(f"  rep {r + 1}/{reps}: " + "  ".join(
            f"{c} {n * epochs / times[c][-1]:,.0f}/s" for c in contenders), flush=True)

    rows = {}
    for c in contenders:
        sps = [n * epochs / t for t in times[c]]
        rows[c] = {"median_fit_s": statistics.median(times[c]),
                   "median_samples_per_s": statistics.median(sps),
                   "min_samples_per_s": min(sps), "max_samples_per_s": max(sps),
                   "median_samples_per_cpu_s": statistics.median(n * epochs / t for t in cpu[c]),
                   "train_accuracy": acc[c], "fit_s": times[c], "fit_cpu_s": cpu[c]}
    ratios, cpu_ratios = {}, {}
    for a, b in [("lepton", "torch_loop"), ("lepton", "torch_loop_fused"),
                 ("lepton", "skorch"), ("lepton", "sklearn_mlp"),
                 ("lepton_defaults", "torch_loop"), ("lepton_defaults", "lepton"),
                 ("torch_loop_fused", "torch_loop")]:
        if a in times and b in times:
            # Paired: the ratio within each repetition, then the median.
            ratios[f"{a}/{b}"] = statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))
            cpu_ratios[f"{a}/{b}"] = statistics.median(tb / ta for ta, tb in zip(cpu[a], cpu[b]))
    return {"n_samples": n, "n_features": int(X.shape[1]), "n_classes": len(np.unique(y)),
            "epochs": epochs, "batch_size": bs, "reps": reps, "results": rows,
            "ratios": ratios, "cpu_ratios": cpu_ratios}


def environment() -> dict:
    import skorch

    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
            "load_avg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "torch": torch.__version__, "sklearn": sklearn.__version__,
            "skorch": skorch.__version__, "numpy": np.__version__,
            "lepton": lepton.__version__}


def to_markdown(report: dict) -> str:
    env = report["environment"]
    load = ", ".join(f"{x:.2f}" for x in env["load_avg_at_start"] or [])
    out = ["# Core training throughput", "",
           f"- command: `{report['command']}`",
           f"- date: {env['date']}",
           (f"- machine: {env['platform']}, {env['processor']}, {env['cpu_count']} cores, "
            f"{env['threads']} thread(s) per contender (torch and BLAS), load average at "
            f"start {load}"),
           (f"- versions: python {env['python']}, torch {env['torch']}, scikit-learn "
            f"{env['sklearn']}, skorch {env['skorch']}, numpy {env['numpy']}, lepton "
            f"{env['lepton']}"),
           (f"- model: MLP {HIDDEN} relu, AdamW lr={LR} weight_decay={WEIGHT_DECAY} "
            "(MLPClassifier: adam with alpha=1e-4), early stopping off"),
           ("- samples/s = n_train_samples * epochs / fit wall time; median over repetitions, "
            "contenders interleaved; ratios are medians of per-repetition ratios"),
           ("- samples/CPU-s uses the process CPU time of the fit instead of wall time: with "
            "one thread per contender it equals wall time on an idle machine and is less "
            "sensitive to other processes competing for the cores"), ""]
    for name, d in report["datasets"].items():
        out += [(f"## {name} ({d['n_samples']} x {d['n_features']}, {d['n_classes']} "
                 f"classes, {d['epochs']} epochs, batch {d['batch_size']}, {d['reps']} reps)"), "",
                ("| contender | median samples/s | min - max | median fit s "
                 "| median samples/CPU-s | train acc |"),
                "|---|---:|---:|---:|---:|---:|"]
        for c, r in d["results"].items():
            out.append(f"| {c} | {r['median_samples_per_s']:,.0f} | "
                       f"{r['min_samples_per_s']:,.0f} - {r['max_samples_per_s']:,.0f} | "
                       f"{r['median_fit_s']:.2f} | {r['median_samples_per_cpu_s']:,.0f} | "
                       f"{r['train_accuracy']:.3f} |")
        out += ["", "| ratio (throughput) | median, wall time | median, CPU time |",
                "|---|---:|---:|"]
        out += [f"| {k} | {v:.2f}x | {d['cpu_ratios'][k]:.2f}x |" for k, v in d["ratios"].items()]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 5; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer epochs, 10k synthetic rows")
    p.add_argument("--datasets", nargs="+", default=["digits", "synthetic"])
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    p.add_argument("--threads", type=int, default=1,
                   help="threads for torch and BLAS, same for every contender (default 1)")
    p.add_argument("--out", default=None,
                   help="write <out>.json and <out>.md (e.g. benchmarks/results/core_throughput)")
    args = p.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    torch.set_num_threads(args.threads)
    report = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
              "environment": environment(), "datasets": {}}
    with threadpoolctl.threadpool_limits(limits=args.threads):
        for name in args.datasets:
            report["datasets"][name] = bench_dataset(name, list(args.contenders), reps,
                                                     args.quick)
    md = to_markdown(report)
    print("\n" + md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".json").write_text(json.dumps(report, indent=2) + "\n")
        Path(args.out + ".md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
