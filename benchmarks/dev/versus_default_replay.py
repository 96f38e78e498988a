"""Dev replay (stop 22): the search's final model against the default trial (trial 0) on
recorded searches (``search_traces.py`` output), and the rule "keep the final model only if
b - c > z * sqrt(b + c)" (b: out-of-fold rows it gets right and the default wrong; c: the
reverse) for several z. Prints test errors summed over the searches: the replayed product
(z=0), the rule per z, the default alone; then (b, c) per search.

    python benchmarks/dev/versus_default_replay.py TRACE_DIR

Tried in the product at 6a0471e and reverted
(benchmarks/results/dev/default_unless_significant_stop22.md); the searches replayed there
are listed in benchmarks/results/dev/search_traces_{wine,breast_cancer}_30_stop22.jsonl (the
.npz traces, 3.5 MB, were not kept).
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lepton.search.ensemble import greedy_ensemble_selection  # noqa: E402
from lepton.search.metrics import METRICS  # noqa: E402
ACC, LL = METRICS["accuracy"], METRICS["log_loss"]
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/searches.jsonl")]
res = {}
for r in rows:
    z = dict(np.load(f"{d}/" + r["file"]))
    yv, yt = z["y_val"], z["y_test"]
    num = list(z["number"])
    # product's final (replayed): ensemble OOF and test predictions
    idx = sorted(range(len(num)), key=lambda i: -z["value"][i])[:10]
    w, _ = greedy_ensemble_selection([z["val_pred"][i] for i in idx], yv, ACC, rounds=8, tiebreak=LL)
    fin_val = sum(z["val_pred"][idx[j]] * wj for j, wj in w.items())
    fin_test = sum(z["test_pred"][idx[j]] * wj for j, wj in w.items())
    if 0 not in num:
        continue
    i0 = num.index(0)
    d_val, d_test = z["val_pred"][i0], z["test_pred"][i0]
    right_f, right_d = fin_val.argmax(1) == yv, d_val.argmax(1) == yv
    b, c = int((right_f & ~right_d).sum()), int((~right_f & right_d).sum())
    err = lambda p: int((p.argmax(1) != yt).sum())
    for z_ in (0.0, 1.0, 1.5, 2.0, 3.0):
        keep = (b - c) > z_ * np.sqrt(b + c) if z_ > 0 else True
        res.setdefault(f"z={z_}", 0)
        res[f"z={z_}"] += err(fin_test) if keep else err(d_test)
    res.setdefault("default", 0); res["default"] += err(d_test)
    res.setdefault("n", 0); res["n"] += 1
    res.setdefault("bc_list", []).append((b, c))
print(d, {k: v for k, v in res.items() if k != "bc_list"})
print("b,c per split:", res["bc_list"])
