"""Dev probe (splits 100+): does Hyperband compare trials fairly when their schedules have
different lengths?

    python benchmarks/dev/pruning_fidelity.py DATASET SEED N_TRIALS [OUT.jsonl]
    python benchmarks/dev/pruning_fidelity.py digits:image 100 30 /tmp/pf.jsonl

The product's pruner reports each trial's validation score at its epoch number, so at a
rung (epochs 3, 9, 27, ...) a 20-epoch cosine trial, already half-way down its learning
rate, is compared with a 200-epoch one-cycle trial still warming up. This probe runs one
search on the benchmark's split of ``seed`` with the product's space and priors, but with
random sampling and no pruning, so every trial runs its whole schedule (holdout
validation, so the reported curve and the final score come from the same rows). Then, for
each rung r, it ranks the trials by their score at
- ``epoch``: epoch r (what the product does), and
- ``fraction``: the same share of their own schedule as r is of the longest schedule
  (epoch max(1, round(r * epochs / max_epochs))),
and reports the Spearman correlation of each ranking with the trials' final scores, and
how many of the final top 3 the rung's successive-halving cut (keep the best third) would
have stopped. One JSON line per (rung, rule).
"""
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
from _rows import emit  # noqa: E402
from final_model_arms import dev_split  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import lepton.search.estimators as estimators_mod  # noqa: E402
from lepton import LeptonClassifier, LeptonRegressor  # noqa: E402
from lepton.search import _search  # noqa: E402
from lepton.search.priors import expected_epochs  # noqa: E402


def unpruned_random_search(seed):
    def create_study(**kwargs):
        study = _search.create_study(**kwargs)
        study.sampler = optuna.samplers.RandomSampler(seed=seed)
        study.pruner = optuna.pruners.NopPruner()
        return study
    return create_study


def main():
    label, seed, n_trials = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    torch.set_num_threads(1)
    estimators_mod.create_study = unpruned_random_search(seed)
    cls, Xtr, Xte, ytr, yte, shape = dev_split(label, seed)
    est = (LeptonClassifier if cls else LeptonRegressor)(
        time_budget=3600, n_trials=n_trials, cv=None, patience=None, random_state=seed,
        n_jobs=1, input_shape=shape)
    est.fit(Xtr, ytr)
    max_epochs = expected_epochs(est.search_space_)
    trials = [t for t in est.study_.trials if t.state.name == "COMPLETE"]
    curves = [t.intermediate_values for t in trials]
    finals = np.array([t.value for t in trials])
    lengths = [json.loads(t.user_attrs["training"])["epochs"] for t in trials]
    top3 = set(np.argsort(-finals)[:3])
    rung = 3
    while rung < max_epochs:
        for rule in ("epoch", "fraction"):
            at, idx = [], []
            for i, (curve, length) in enumerate(zip(curves, lengths)):
                step = rung if rule == "epoch" else max(1, round(rung * length / max_epochs))
                if step in curve:  # a trial early-stopped before the step has no score there
                    at.append(curve[step])
                    idx.append(i)
            if len(idx) < 6:
                continue
            rho = spearmanr(at, finals[idx]).statistic
            keep = set(np.array(idx)[np.argsort(-np.array(at))[:max(1, len(idx) // 3)]])
            stopped = len((top3 & set(idx)) - keep)
            emit(dict(dataset=label, seed=seed, rung=rung, rule=rule, n=len(idx),
                      spearman=round(float(rho), 3), top3_stopped=stopped,
                      max_epochs=max_epochs, n_trials=len(trials)), out)
        rung *= 3


if __name__ == "__main__":
    main()
