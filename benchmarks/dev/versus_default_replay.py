"""Dev replay (stop 22): the search's final model against the default trial (trial 0) on
recorded searches (``search_traces.py`` output), and the rule "keep the final model only if
b - c > z * sqrt(b + c)" (b: out-of-fold rows it gets right and the default wrong; c: the
reverse) for several z. Prints test errors summed over the searches: the replayed product,
the rule per z, the default alone; then (b, c) per search.

    python benchmarks/dev/versus_default_replay.py TRACE_DIR

Tried in the product at 6a0471e and reverted
(benchmarks/results/dev/default_unless_significant_stop22.md); the searches replayed there
are listed in benchmarks/results/dev/search_traces_{wine,breast_cancer}_30_stop22.jsonl (the
.npz traces, 3.5 MB, were not kept).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_policies import final_weights  # noqa: E402

MARGINS = (1.0, 1.5, 2.0, 3.0)


def main(trace_dir: str) -> None:
    import json

    errors = {"product": 0, **{f"z={z}": 0 for z in MARGINS}, "default": 0}
    counts = []
    for line in open(Path(trace_dir) / "searches.jsonl"):
        tr = dict(np.load(Path(trace_dir) / json.loads(line)["file"]))
        numbers = list(tr["number"])
        if 0 not in numbers:  # the default trial did not finish
            continue
        w = final_weights(tr, "classification", set(numbers))
        final_val = sum(tr["val_pred"][i] * wi for i, wi in w.items())
        final_test = sum(tr["test_pred"][i] * wi for i, wi in w.items())
        i0 = numbers.index(0)
        right = final_val.argmax(1) == tr["y_val"]
        right0 = tr["val_pred"][i0].argmax(1) == tr["y_val"]
        b, c = int((right & ~right0).sum()), int((~right & right0).sum())
        counts.append((b, c))
        wrong = int((final_test.argmax(1) != tr["y_test"]).sum())
        wrong0 = int((tr["test_pred"][i0].argmax(1) != tr["y_test"]).sum())
        errors["product"] += wrong
        errors["default"] += wrong0
        for z in MARGINS:
            errors[f"z={z}"] += wrong if b - c > z * np.sqrt(b + c) else wrong0
    print(trace_dir, f"{len(counts)} searches, test errors:", errors)
    print("(b, c) per search:", counts)


if __name__ == "__main__":
    main(sys.argv[1])
