"""Dev experiment (splits 100+, never the benchmark's 0-9): on small tables the out-of-fold
scores of the good trials differ by a row or two, so picking among them is close to
picking at random. Does averaging more of them (less selection) generalise better than
the product's greedy ensemble selection?

    python benchmarks/dev/averaging_arms.py DATASETS BUDGETS SEEDS [OUT.jsonl]
    python benchmarks/dev/averaging_arms.py breast_cancer,wine 30 100,101,102

One line per fitted search (no refits: every arm reuses the search's fold networks, so a
line costs one ``fit``); test accuracy of:
- ``final``: the estimator's own final model, as fitted (``choice`` says which);
- ``greedy``: greedy selection on accuracy with the log-loss tie-break (the product's
  ensemble; the same as ``final`` when ``choice`` is 'ensemble');
- ``top3`` / ``top5`` / ``top10``: the k best kept trials, ranked by (accuracy, log loss),
  averaged with equal weights;
- ``init3`` / ``init5``: Caruana et al.'s sorted initialisation: start from the k best,
  then greedy additions with replacement, as ``greedy`` does from one.

Stop 12 (rows in benchmarks/results/dev/averaging_arms_stop12.jsonl, 2026-11-28
12:27-13:17, two workers, nothing else running): seed by seed against ``final`` over
breast_cancer and wine, splits 100-129, at 30 s / 120 s: top5 14-38-8 / 14-36-10, top10
14-37-9 / 16-33-11, init5 12-41-7 / 15-37-8, top3 13-39-8 / 10-38-12, greedy 5-50-5 /
5-48-7. The rule fixed before the run (wins - losses >= 6 at 30 s and >= 0 at 120 s, then
a check on the benchmark's splits 0-9) let top5 through to the check, where it went 4-12-4
at 30 s and 6-10-4 at 120 s (breast_cancer's 30 s median 0.9720 against 0.9755):
not adopted (rows in dev/averaging_arms_confirm_seeds0-9_stop12.jsonl).
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
from _rows import emit  # noqa: E402
from final_model_arms import ProbeClassifier, fold_ensemble  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from lepton.datasets import load_dataset  # noqa: E402
from lepton.search.ensemble import greedy_ensemble_selection, rank_key  # noqa: E402
from lepton.search.metrics import METRICS  # noqa: E402

ACC, LL = METRICS["accuracy"], METRICS["log_loss"]


def main():
    datasets, budgets, seeds = (sys.argv[i].split(",") for i in (1, 2, 3))
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    for seed in map(int, seeds):
        for ds in datasets:
            d = load_dataset(ds)
            if d.task != "classification":
                raise SystemExit(f"{ds}: this probe is for classification datasets")
            y = np.asarray(d.y)
            Xtr, Xte, ytr, yte = train_test_split(d.X, y, test_size=0.25, random_state=seed,
                                                  stratify=y)
            for budget in map(float, budgets):
                est = ProbeClassifier(time_budget=budget, random_state=seed).fit(Xtr, ytr)
                ctx = est._probe["ctx"]
                cands = sorted(ctx.models.values(),
                               key=lambda m: rank_key(ACC, LL, ctx.y_val, m.val_pred),
                               reverse=True)
                preds = [c.val_pred for c in cands]

                def score(weights):
                    raw = fold_ensemble(ctx, cands, weights).predict_raw(Xte)
                    return accuracy_score(yte, est.classes_[raw.argmax(1)])

                row = {"dataset": ds, "budget": budget, "seed": seed,
                       "code": os.environ.get("LEPTON_CODE"), "choice": est.final_choice_,
                       "n_trials": len(est.study_.trials), "n_kept": len(cands),
                       "fit_wall": est.fit_time_, "final": accuracy_score(yte, est.predict(Xte))}
                w, _ = greedy_ensemble_selection(preds, ctx.y_val, ACC, rounds=8, tiebreak=LL)
                row["greedy"], row["greedy_members"] = score(w), len(w)
                for k in (3, 5, 10):
                    top = min(k, len(cands))
                    row[f"top{k}"] = score({i: 1 / top for i in range(top)})
                for k in (3, 5):
                    # the top k to start with, then up to 8 greedy additions
                    w, _ = greedy_ensemble_selection(preds, ctx.y_val, ACC, tiebreak=LL,
                                                     rounds=min(k, len(preds)) + 8,
                                                     start=range(k))
                    row[f"init{k}"], row[f"init{k}_members"] = score(w), len(w)
                emit(row, out)


if __name__ == "__main__":
    main()
