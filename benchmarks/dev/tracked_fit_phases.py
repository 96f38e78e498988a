"""Where a tracked fit's time goes: the final refit and the tracker's end-of-search logging.

One LeptonClassifier / LeptonRegressor fit of a built-in dataset (75/25 split by seed;
unlike search_benchmark.py's, not stratified for classification), tracked into an MLflow
store as ``lepton run`` does by default, with torch at its default thread count (as in a
user's process). Prints fit time over budget, the final choice, the refit's report
(planned from the trials' epoch times, the seconds available to it, what it took) and the
seconds of ``_refit`` and ``end_search``.

    python benchmarks/dev/tracked_fit_phases.py california_synthetic 1 30 sqlite:////tmp/m.db

Run beside busy processes (e.g. three ``python -c "while True: pass"``) to see a busy
machine; PYTHONPATH=<worktree> measures another version (the script's own folder, not the
working directory, heads sys.path, so a checkout's lepton/ does not shadow it).
"""

from __future__ import annotations

import sys
import time

from sklearn.model_selection import train_test_split

import lepton.search.estimators as est
import lepton.tracking._mlflow as tm
from lepton import LeptonClassifier, LeptonRegressor
from lepton.datasets import load_dataset

SECONDS: dict[str, float] = {}


def timed(owner, name: str) -> None:
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            SECONDS[name] = SECONDS.get(name, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapper)


def main(dataset: str, seed: int, budget: float, tracking_uri: str) -> None:
    timed(tm.MLflowTracker, "end_search")
    timed(est._BaseLepton, "_refit")
    data = load_dataset(dataset)
    X_tr, _, y_tr, _ = train_test_split(data.X, data.y, test_size=0.25, random_state=seed)
    cls = LeptonRegressor if data.task == "regression" else LeptonClassifier
    started = time.perf_counter()
    model = cls(time_budget=budget, random_state=seed, tracking_uri=tracking_uri,
                experiment_name="phases").fit(X_tr, y_tr)
    wall = time.perf_counter() - started
    refit = model.final_model_info_.get("refit") or {}
    print(f"{dataset} seed {seed}: fit {wall:.2f}/{budget:g} s = {wall / budget:.3f}; "
          f"final={model.final_choice_}, trials={model.n_trials_}; "
          + ", ".join(f"{k} {v:.2f} s" for k, v in SECONDS.items())
          + "; refit " + str({k: refit.get(k) for k in ("status", "estimated_s", "available_s",
                                                       "seconds", "seeds")}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
