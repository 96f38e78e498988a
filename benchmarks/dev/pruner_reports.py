"""What reporting epochs to the pruner costs on a SQLite study (review helper-67: about
5 ms an epoch on SQLite against 0.13 ms in memory). Stop 40 reports every epoch and asks
the pruner (``should_prune``, which reads the trial back) at Hyperband's rungs only.

    python benchmarks/dev/pruner_reports.py micro
    python benchmarks/dev/pruner_reports.py fit LABEL [BUDGET]

``micro``: one SQLite study with Lepton's pruner settings (Hyperband, first rung at epoch
3, factor 3); trials of 40 epochs that report every epoch and ask the pruner at every
epoch (before stop 40), at the rungs 3, 9 and 27 only (stop 40), or that report and ask
at the rungs only (for comparison); prints the medians over 8 trials of each, after 20 to
warm up, as one JSON line. ``fit``: searches breast_cancer
(75% of it, seed 0) for BUDGET seconds (default 30) on a new SQLite study and prints the
trials run and the epochs they trained (the leaderboard's sum); LABEL names the code tree
in the output: run it with an older checkout on PYTHONPATH for the baseline, alternating.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time


def micro() -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = tempfile.mkdtemp()
    study = optuna.create_study(
        storage=f"sqlite:///{folder}/study.db", direction="maximize",
        pruner=optuna.pruners.HyperbandPruner(min_resource=3, max_resource=100,
                                              reduction_factor=3))

    def trial_seconds(report_every: bool, ask_every: bool) -> float:
        trial, spent = study.ask(), 0.0
        for epoch in range(1, 41):
            started = time.perf_counter()
            rung = epoch in (3, 9, 27)
            if report_every or rung:
                trial.report(0.5 + epoch / 1000, epoch)
            if ask_every or rung:
                trial.should_prune()
            spent += time.perf_counter() - started
        study.tell(trial, 0.6)
        return spent

    for _ in range(20):
        trial_seconds(True, True)
    modes = {"every_epoch_ms": (True, True), "asked_at_rungs_ms": (True, False),
             "rungs_only_ms": (False, False)}
    return {name: round(1000 * statistics.median(trial_seconds(*mode) for _ in range(8)), 1)
            for name, mode in modes.items()}


def fit(label: str, budget: float) -> dict:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from lepton import LeptonClassifier

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    storage = f"sqlite:///{tempfile.mkdtemp()}/study.db"
    model = LeptonClassifier(time_budget=budget, random_state=0, storage=storage,
                             study_name="reports", verbose=0)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    return {"code": label, "budget": budget, "wall": round(time.perf_counter() - started, 2),
            "trials": int(model.n_trials_), "epochs": int(model.leaderboard_["epochs"].sum()),
            "test_accuracy": float((model.predict(X_test) == y_test).mean())}


if __name__ == "__main__":
    if sys.argv[1] == "micro":
        print(json.dumps(micro()))
    else:
        print(json.dumps(fit(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 30.0)))
