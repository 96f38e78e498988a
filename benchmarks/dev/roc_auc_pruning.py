"""Dev probe: which trials the pruner stops in a roc_auc search (roc_auc is maximised while
its epochs are tracked by the validation loss). Per split: trials, pruned trials, and how
many pruned trials had, at the epoch they were stopped, a validation loss below the median
of the trials that went on past that epoch (a pruner that stops the worse trials keeps this
low), with the held-out AUC.

    python benchmarks/dev/roc_auc_pruning.py DATASET BUDGET SEED [SEED ...]

Run from a worktree (PYTHONPATH) for another commit. Figures: the commit that reports the
loss negated (stop 22).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import search_benchmark as sb  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

import lepton  # noqa: E402

PRUNED = optuna.trial.TrialState.PRUNED


def main(dataset: str, budget: float, seeds: list[int]) -> None:
    for seed in seeds:
        _, X_tr, X_te, y_tr, y_te, _ = sb.load_split(dataset, seed)
        model = lepton.LeptonClassifier(time_budget=budget, metric="roc_auc", random_state=seed,
                                        n_jobs=1).fit(X_tr, y_tr)
        trials = model.study_.get_trials(deepcopy=False)
        # the losses as the trials reported them (negated, or not, by the code under test)
        loss = {t.number: {e: abs(v) for e, v in t.intermediate_values.items()} for t in trials}
        below = total = 0
        for t in trials:
            if t.state != PRUNED or not t.intermediate_values or "window" in str(t.user_attrs):
                continue  # stopped by the pruner only, not by the end of the search window
            epoch = max(t.intermediate_values)
            others = [loss[o.number][epoch] for o in trials if o.number != t.number
                      and epoch in loss[o.number] and max(loss[o.number]) > epoch]
            if others:
                total += 1
                below += loss[t.number][epoch] < np.median(others)
        proba = model.predict_proba(X_te)
        auc = (roc_auc_score(y_te, proba[:, 1]) if proba.shape[1] == 2
               else roc_auc_score(y_te, proba, multi_class="ovr"))
        print(json.dumps({
            "code": lepton.__file__.split("/lepton/")[0], "seed": seed, "trials": len(trials),
            "pruned": sum(t.state == PRUNED for t in trials),
            "pruned_better_than_median_of_continuing": f"{below}/{total}",
            "test_auc": round(auc, 5)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), [int(s) for s in sys.argv[3:]])
