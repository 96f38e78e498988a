"""Replay stopping and final-model rules on recorded searches (``search_traces.py``).

    python benchmarks/dev/replay_policies.py TRACE_DIR [BUDGET]

For each recorded search, the product's final ensemble is rebuilt from the trace (the 10
best finished trials, greedy selection with the log-loss tie-break for classifiers) and
compared with the same rule applied to the trials a different stopping rule would have
run: ``prefix{k}`` (only the first k trials), ``pat{p}`` (stop after p finished trials
without a better score, as ``run_trials`` does), ``sig{p}`` (the same, but a trial counts
as better only when it beats the best by more than one standard error of the metric on the
out-of-fold rows). Prints per dataset: wins-ties-losses against the replayed product, the
mean test score, and how many trials each rule ran (median).
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from lepton.search.ensemble import greedy_ensemble_selection
from lepton.search.metrics import METRICS

ACC, LL, R2 = METRICS["accuracy"], METRICS["log_loss"], METRICS["r2"]
KEEP, ROUNDS = 10, 8


def test_score(task, y_test, pred):
    if task == "classification":
        return float(np.mean(pred.argmax(1) == y_test))
    return float(R2(y_test.reshape(-1, 1), pred.reshape(len(y_test), -1)))


def final_weights(tr, task, allowed) -> dict[int, float]:
    """The product's final model from the finished trials whose number is in ``allowed``:
    {index into the trace's trials: weight} of the greedy ensemble (one member: the best
    trial's fold networks, which the product would refit)."""
    idx = [i for i, n in enumerate(tr["number"]) if n in allowed]
    metric, tiebreak = (ACC, LL) if task == "classification" else (R2, None)
    order = sorted(idx, key=lambda i: -tr["value"][i])[:KEEP]  # stable: earlier first
    preds = [tr["val_pred"][i] for i in order]
    w, _ = greedy_ensemble_selection(preds, tr["y_val"], metric, rounds=ROUNDS,
                                     tiebreak=tiebreak)
    return {order[j]: wj for j, wj in w.items()}


def final_pred(tr, task, allowed):
    """Test predictions of ``final_weights``' ensemble."""
    return sum(tr["test_pred"][i] * w for i, w in final_weights(tr, task, allowed).items())


def stop_after(states, values, patience, margin=0.0):
    """How many trials a search runs when it stops after ``patience`` finished trials
    without a score better than the best by more than ``margin``."""
    best, since = None, 0
    for k, (s, v) in enumerate(zip(states, values)):
        if s == "COMPLETE" and (best is None or v > best + margin):
            best, since = v, 0
        elif s in ("COMPLETE", "PRUNED") and best is not None:
            since += 1
        if best is not None and since >= patience:
            return k + 1
    return len(states)


def main():
    root = Path(sys.argv[1])
    only_budget = float(sys.argv[2]) if len(sys.argv) > 2 else None
    rows = [json.loads(line) for line in open(root / "searches.jsonl")]
    res = defaultdict(lambda: defaultdict(list))  # search -> policy -> [(seed, score, trials)]
    for row in rows:
        if only_budget is not None and row["budget"] != only_budget:
            continue
        tr = dict(np.load(root / row["file"]))
        task = "classification" if tr["val_pred"].ndim == 3 and tr["val_pred"].shape[2] > 1 \
            else "regression"
        states, values = list(tr["states"]), list(tr["values"])
        n = len(states)
        yv = tr["y_val"]
        if task == "classification":
            p = float(np.max(tr["value"]))
            se = np.sqrt(max(p * (1 - p), 1.0 / len(yv)) / len(yv))
        else:
            # R^2's standard error, roughly: (1 - R^2) * sqrt(2 / n)
            se = (1 - float(np.max(tr["value"]))) * np.sqrt(2.0 / len(yv))
        policies = {"product": n}
        for k in (10, 15, 20, 25):
            policies[f"prefix{k}"] = min(k, n)
        for pat in (8, 10, 15):
            policies[f"pat{pat}"] = stop_after(states, values, pat)
        for pat in (8, 10, 15, 20):
            policies[f"sig{pat}"] = stop_after(states, values, pat, margin=se)
        key = f"{row['dataset']} {row['budget']:g}"
        for name, k in policies.items():
            pred = final_pred(tr, task, set(range(k)))
            res[key][name].append((row["seed"], test_score(task, tr["y_test"], pred), k))
        res[key]["actual"].append((row["seed"], row["final"], n))
    for key, pol in sorted(res.items()):
        base = {s: v for s, v, _ in pol["product"]}
        print(f"\n== {key}  ({len(base)} searches)")
        for name, vals in pol.items():
            d = [v - base[s] for s, v, _ in vals]
            w, t, l_ = sum(x > 1e-12 for x in d), sum(abs(x) <= 1e-12 for x in d), \
                sum(x < -1e-12 for x in d)
            print(f"  {name:10s} mean {np.mean([v for _, v, _ in vals]):.4f}  "
                  f"vs product {w}-{t}-{l_}  trials {np.median([k for *_, k in vals]):.0f}")


if __name__ == "__main__":
    main()
