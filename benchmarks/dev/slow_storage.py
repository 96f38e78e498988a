"""Dev measurement: a search's budget against a slow study storage (review helper-84, stop
44: at 25 ms one way to PostgreSQL, fits ended 10-24% past their budgets).

    python benchmarks/dev/slow_storage.py DELAY BUDGET REPS
    python benchmarks/dev/slow_storage.py 0.05 20 3

Fits LeptonClassifier (breast_cancer, cv=None) REPS times with an in-memory Optuna storage
whose every call first sleeps DELAY seconds (a storage across a network, each call a round
trip), and as many times with no delay (the baseline, in the same run). Prints each fit's
wall time over its budget, the trials and the storage calls, and the medians.
"""
import statistics
import sys
import time
import warnings

import optuna
from sklearn.datasets import load_breast_cancer

import lepton


class SlowStorage(optuna.storages.BaseStorage):
    """An in-memory storage whose every call takes ``delay`` seconds more."""

    def __init__(self, delay: float):
        self._inner, self._delay, self.calls = optuna.storages.InMemoryStorage(), delay, 0


def _delayed(name):
    def method(self, *args, **kwargs):
        self.calls += 1
        time.sleep(self._delay)
        return getattr(self._inner, name)(*args, **kwargs)
    return method


for _name in dir(optuna.storages.BaseStorage):
    if not _name.startswith("_") and callable(getattr(optuna.storages.BaseStorage, _name)):
        setattr(SlowStorage, _name, _delayed(_name))
SlowStorage.__abstractmethods__ = frozenset()


def main(delay: float, budget: float, reps: int) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    ratios: dict[float, list[float]] = {0.0: [], delay: []}
    for rep in range(reps):
        for d in (0.0, delay):
            storage = SlowStorage(d)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = lepton.LeptonClassifier(time_budget=budget, storage=storage, cv=None,
                                                random_state=rep).fit(X, y)
            ratio = (time.perf_counter() - start) / budget
            ratios[d].append(ratio)
            print(f"delay={d:g}s rep={rep} fit/budget={ratio:.3f} trials={model.n_trials_} "
                  f"storage calls={storage.calls}", flush=True)
    for d, values in ratios.items():
        print(f"delay={d:g}s: median fit/budget {statistics.median(values):.3f}, "
              f"worst {max(values):.3f} ({len(values)} fits)")


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
