"""Dev experiment (splits 100+, not the benchmark's 0-9): how much does averaging several
seeds of the final refit change the held-out score? Fits a search with ensemble_size=1,
then, where the final model is a refit, trains further seeds of the same configuration
(clones of best_estimator_) and prints the running average's score and each seed's own.

    python benchmarks/dev/refit_seed_average.py california_synthetic 30 100,101,102,103,104

Measured for stop 8 at aea9c4e, when the final refit was one seed; that measurement led to
FINAL_REFITS = 3 (lepton/search/estimators.py). With the current code ``final`` is already
an average of up to three seeds, and the further seeds add to it.
"""
import sys, os, json
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.metrics import r2_score, accuracy_score
from lepton import LeptonClassifier, LeptonRegressor
from lepton.datasets import load_dataset
ds, budget = sys.argv[1], float(sys.argv[2])
d = load_dataset(ds); y = np.asarray(d.y); cls = d.task == "classification"
for seed in [int(s) for s in sys.argv[3].split(",")]:
    Xtr, Xte, ytr, yte = train_test_split(d.X, y, test_size=0.25, random_state=seed, stratify=y if cls else None)
    est = (LeptonClassifier if cls else LeptonRegressor)(time_budget=budget, random_state=seed, ensemble_size=1).fit(Xtr, ytr)
    base = est.predict(Xte)
    sc = lambda p: accuracy_score(yte, p) if cls else r2_score(yte, p)
    row = {"ds": ds, "seed": seed, "choice": est.final_choice_, "final": round(sc(base), 4)}
    if est.final_choice_ == "refit":
        preds = [est.predict_proba(Xte) if cls else est.predict(Xte)]
        for k in range(1, 5):
            from sklearn.base import clone
            # the same refit with another seed: a clone reproduces its training settings
            nn_est = clone(est.best_estimator_).set_params(random_state=seed + 1000 * k)
            nn_est.fit(Xtr, ytr)
            preds.append(nn_est.predict_proba(Xte) if cls else nn_est.predict(Xte))
            avg = np.mean(preds, axis=0)
            row[f"avg{k+1}"] = round(sc(est.classes_[avg.argmax(1)] if cls else avg), 4)
            row[f"single{k+1}"] = round(sc(est.classes_[preds[-1].argmax(1)] if cls else preds[-1]), 4)
    print(json.dumps(row), flush=True)
