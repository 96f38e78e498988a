"""The ``lepton`` command."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from sklearn.model_selection import train_test_split

    from .datasets import load_dataset
    from .estimators import NeuralNetworkClassifier, NeuralNetworkRegressor

    ds = load_dataset(args.dataset, target=args.target)
    stratify = ds.y if ds.task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(ds.X, ds.y, test_size=args.test_size,
                                              random_state=args.seed, stratify=stratify)
    cls = NeuralNetworkClassifier if ds.task == "classification" else NeuralNetworkRegressor
    model = cls(random_state=args.seed, verbose=args.verbose)
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    elapsed = time.perf_counter() - t0
    metric = "accuracy" if ds.task == "classification" else "r2"
    print(f"dataset={ds.name} task={ds.task} rows={len(ds.y)} train={len(y_tr)} test={len(y_te)}")
    print(f"trained {model.n_epochs_} epochs in {elapsed:.1f}s ({model.training_status_})")
    print(f"held-out {metric}: {model.score(X_te, y_te):.4f}")
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from .tracking import TrackingError
    from .tracking.ui import run_ui

    try:
        return run_ui(tracking_uri=args.tracking_uri, host=args.host, port=args.port)
    except TrackingError as exc:
        print(f"lepton ui: error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lepton", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train on a dataset and report the held-out score")
    run.add_argument("dataset", nargs="?", default="digits",
                     help="built-in dataset name or CSV/Parquet path (default: digits)")
    run.add_argument("--target", help="target column of a CSV/Parquet file")
    run.add_argument("--test-size", type=float, default=0.25)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--verbose", type=int, default=0)
    run.set_defaults(func=_cmd_run)
    ui = sub.add_parser("ui", help="open the MLflow UI on Lepton's tracking store (127.0.0.1)")
    ui.add_argument("--tracking-uri", help="SQL store URI (default: $LEPTON_HOME/mlflow/mlflow.db)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=None, help="default: a free port")
    ui.set_defaults(func=_cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"lepton: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
