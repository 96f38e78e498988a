"""Dev experiment (splits 100+, not the benchmark's 0-9): greedy ensemble selection on
accuracy (with the log-loss tie-break, what Lepton does) against selection on log loss,
from the same fitted search; also the best trial's own fold networks.

    python benchmarks/dev/ensemble_objective.py breast_cancer 120 100,101,102,103,104

Measured for stop 8 (not adopted: 4-4-2 against the current final model on 10 splits).
"""
import sys, os, json
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.metrics import accuracy_score
from lepton.search.estimators import LeptonClassifier, LeptonEnsemble
from lepton.search.ensemble import greedy_ensemble_selection
from lepton.search.metrics import METRICS
from lepton.datasets import load_dataset

class Probe(LeptonClassifier):
    def _finalize(self, X, y, y_enc, encoder, n_outputs, ctx, study, budget, device, input_shape):
        super()._finalize(X, y, y_enc, encoder, n_outputs, ctx, study, budget, device, input_shape)
        self._ctx = ctx

ds, budget = sys.argv[1], float(sys.argv[2])
d = load_dataset(ds); y = np.asarray(d.y)
for seed in [int(s) for s in sys.argv[3].split(",")]:
    Xtr, Xte, ytr, yte = train_test_split(d.X, y, test_size=0.25, random_state=seed, stratify=y)
    est = Probe(time_budget=budget, random_state=seed).fit(Xtr, ytr)
    ctx = est._ctx
    cands = sorted(ctx.models.values(), key=lambda m: m.value, reverse=True)
    row = {"ds": ds, "seed": seed, "choice": est.final_choice_, "final": accuracy_score(yte, est.predict(Xte)), "n_trials": len(est.study_.trials)}
    for name, metric, tb in [("acc", METRICS["accuracy"], METRICS["log_loss"]), ("logloss", METRICS["log_loss"], None)]:
        w, sc = greedy_ensemble_selection([c.val_pred for c in cands], ctx.y_val, metric, rounds=8, tiebreak=tb)
        ens = LeptonEnsemble(preprocessors=[f.preprocessor for f in ctx.folds], members=[cands[i].modules for i in w], weights=[w[i] for i in w], trial_numbers=[cands[i].number for i in w], task=ctx.task, y_scaler=None, validation_score=sc, device="cpu")
        row[name] = accuracy_score(yte, est.classes_[ens.predict_raw(Xte).argmax(1)])
        row[name + "_members"] = len(w)
    best = cands[0]
    bag = LeptonEnsemble(preprocessors=[f.preprocessor for f in ctx.folds], members=[best.modules], weights=[1.0], trial_numbers=[best.number], task=ctx.task, y_scaler=None, validation_score=best.value, device="cpu")
    row["best_bag"] = accuracy_score(yte, est.classes_[bag.predict_raw(Xte).argmax(1)])
    print(json.dumps(row), flush=True)
