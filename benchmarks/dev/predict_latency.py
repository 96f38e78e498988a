"""Prediction latency of a fitted search model: one row, and a batch of 1,000 rows, as a
scoring server calls it (review helper-60: a cross-validated ensemble predicted one row in
125-255 ms, its five fold preprocessors converting each numeric column apart).

    python benchmarks/dev/predict_latency.py fit MODEL.joblib [SEED]
    python benchmarks/dev/predict_latency.py time MODEL.joblib [REPS]

``fit`` searches breast_cancer (a frame of 30 numeric columns, plus a 3-level category)
for 15 s with 5 folds and saves the model; ``time`` loads it and prints the medians over
REPS calls (default 30) of ``predict`` on 1 and on 1,000 rows, and of one preprocessor's
``transform`` (the first fold's, where the model is an ensemble), as one JSON line. Run
``time`` with an older checkout on PYTHONPATH for the baseline, in the same session.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def _data():
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.copy()
    X["site"] = np.random.default_rng(0).choice(["a", "b", "c"], len(X))
    X["site"] = X["site"].astype("category")
    return X, y


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    import joblib

    import lepton

    X, y = _data()
    if mode == "fit":
        seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
        model = lepton.LeptonClassifier(time_budget=15, cv=5, random_state=seed).fit(X, y)
        joblib.dump(model, path)
        print(json.dumps({"final_choice": model.final_choice_,
                          "ensemble": model.ensemble_ is not None}))
        return
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    model = joblib.load(path)
    batch = X.sample(1000, replace=True, random_state=0)
    out = {"lepton": lepton.__file__, "final_choice": model.final_choice_}
    pre = (model.ensemble_.preprocessors[0][0] if model.ensemble_ is not None
           else model.best_estimator_.preprocessor_)
    for what, call in (("predict", model.predict), ("transform", pre.transform)):
        for name, rows in (("one_row_ms", X.iloc[:1]), ("rows_1000_ms", batch)):
            call(rows)  # first call: lazy imports, caches
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                call(rows)
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{what}_{name}"] = round(statistics.median(times), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
