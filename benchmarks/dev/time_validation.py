"""Dev experiment: validating the search forward in time (``lepton run --time-column``)
against shuffled folds, on rows held out by time.

    python benchmarks/dev/time_validation.py FIRST_SEED END_SEED BUDGET [OUT.jsonl]
    python benchmarks/dev/time_validation.py 0 3 30

The ``demand`` table of ``date_and_id_columns.py`` (1,500 rows: two stores' daily sales
with a trend, weekly and yearly seasons), ordered by its date; the latest 25% of rows are
held out (``load_split(time_column='date')``), the same rows for every seed. Each seed
searches twice, alternating: ``forward`` with the validation ``lepton run --time-column``
uses (``steps.time_cv``: TimeSeriesSplit, refit on every row) and ``shuffled`` with the
default ``cv='auto'`` (shuffled 5-fold). One line per search: held-out R^2, the search's
own validation R^2 (how far it over-promises), final choice and fit seconds.
"""
import os
import sys
import tempfile
import time

from _rows import emit
from date_and_id_columns import demand


def main() -> None:
    first, end, budget = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    from lepton import steps

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "demand.csv")
        demand().to_csv(path, index=False)
        split = steps.load_split(path, target="sales", time_column="date")
        for seed in range(first, end):
            for arm in ("forward", "shuffled"):
                model = steps.build_estimator(split, time_budget=budget, seed=seed,
                                              tracking=False, verbose=0)
                if arm == "shuffled":
                    model.set_params(cv="auto")
                t0 = time.perf_counter()
                steps.search(model, split)
                fit_s = time.perf_counter() - t0
                emit({"seed": seed, "arm": arm, "budget": budget,
                      "held_out_r2": round(steps.evaluate(model, split)["r2"], 4),
                      "validation_r2": round(float(model.best_score_), 4),
                      "final": model.final_choice_, "trials": int(model.n_trials_),
                      "fit_s": round(fit_s, 2)}, out)


if __name__ == "__main__":
    main()
