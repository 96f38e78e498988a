"""Dev experiment (splits 100+, never the benchmark's 0-9): record every trial of a search
(its out-of-fold predictions and its fold networks' predictions on the test rows) so that
rules for stopping the search and picking the final model can be compared offline, on
the same searches, without refitting anything.

    python benchmarks/dev/search_traces.py DATASETS BUDGETS SEEDS OUT_DIR
    python benchmarks/dev/search_traces.py breast_cancer,wine 120 100,101 /tmp/traces

Per fitted search, OUT_DIR gets ``{dataset}_{budget}_{seed}.npz``: ``y_val`` (out-of-fold
targets, in the order of every ``val_pred``), ``y_test``, and per finished trial (in trial
number order) ``number``, ``value`` (its out-of-fold score), ``val_pred`` and
``test_pred``; plus ``states``/``values`` of every trial of the study (pruned and failed
ones too, for replaying patience rules), and ``{...}_leaderboard.csv`` (every trial's
parameters, score and state). One JSON line per search goes to
OUT_DIR/searches.jsonl with the product's own final test score.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
from _rows import emit  # noqa: E402
from final_model_arms import (  # noqa: E402
    ProbeClassifier, ProbeRegressor, dev_split, fold_ensemble,
)
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402

from lepton.search import _search  # noqa: E402

_keep = _search.SearchContext.keep


def _keep_all(self, tm):
    """The product's keep (top trials only), plus a side copy of every trial's networks."""
    self.__dict__.setdefault("all_models", {})[tm.number] = tm
    _keep(self, tm)


_search.SearchContext.keep = _keep_all


def main():
    datasets, budgets, seeds = (sys.argv[i].split(",") for i in (1, 2, 3))
    out_dir = Path(sys.argv[4])
    out_dir.mkdir(parents=True, exist_ok=True)
    out = open(out_dir / "searches.jsonl", "a")
    for seed in map(int, seeds):
        for label in datasets:  # "digits:image": told input_shape=(8, 8)
            cls, Xtr, Xte, ytr, yte, shape = dev_split(label, seed)
            for budget in map(float, budgets):
                probe = ProbeClassifier if cls else ProbeRegressor
                est = probe(time_budget=budget, random_state=seed,
                            input_shape=shape).fit(Xtr, ytr)
                ctx = est._probe["ctx"]
                tms = sorted(ctx.__dict__.get("all_models", {}).values(), key=lambda m: m.number)
                test_pred = [fold_ensemble(ctx, [m], {0: 1.0}).predict_raw(Xte) for m in tms]
                trials = est.study_.get_trials(deepcopy=False)
                y_test = est.classes_.searchsorted(yte) if cls else yte
                stem = f"{label.replace(':', '-')}_{int(budget)}_{seed}"
                np.savez_compressed(
                    out_dir / f"{stem}.npz", y_val=ctx.y_val, y_test=y_test,
                    number=np.array([m.number for m in tms]),
                    value=np.array([m.value for m in tms]),
                    val_pred=np.stack([m.val_pred for m in tms]),
                    test_pred=np.stack(test_pred),
                    states=np.array([t.state.name for t in trials]),
                    values=np.array([np.nan if t.value is None else t.value for t in trials]))
                est.leaderboard_.to_csv(out_dir / f"{stem}_leaderboard.csv", index=False)
                final = (accuracy_score if cls else r2_score)(yte, est.predict(Xte))
                emit({"dataset": label, "budget": budget, "seed": seed, "file": f"{stem}.npz",
                      "choice": est.final_choice_, "n_trials": len(trials),
                      "n_complete": len(tms), "fit_wall": est.fit_time_,
                      "converged": bool(est.search_converged_), "final": final,
                      "ensemble_trials": est.final_model_info_["ensemble_trials"],
                      "code": os.environ.get("LEPTON_CODE")}, out)


if __name__ == "__main__":
    main()
