"""Dev probe: scikit-learn's MLP defaults on the splits of a dev rows file, paired with the
Lepton scores stored there (the benchmark's split function and MLP pipeline; dev splits
are never the benchmark's seeds 0-9).

    python mlp_defaults_paired.py ../results/dev/averaging_arms_stop12.jsonl [field]

``field`` names the Lepton score in the rows (default ``final``: the product's final
model). Prints, per dataset and budget: splits, medians, means, test errors summed over
the splits, and Lepton against the MLP seed by seed (wins-ties-losses).
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import search_benchmark as sb  # noqa: E402


def main(path: str, field: str = "final") -> None:
    lepton = collections.defaultdict(dict)
    for line in open(path):
        row = json.loads(line)
        lepton[(row["dataset"], float(row["budget"]))][int(row["seed"])] = row[field]
    mlp, n_test = {}, {}
    for dataset, seed in sorted({(d, s) for (d, _), rows in lepton.items() for s in rows}):
        task, X_tr, X_te, y_tr, y_te, _ = sb.load_split(dataset, seed)
        est, _ = sb.make_estimator("mlp", task, 0, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLP defaults stop at max_iter=200 unconverged
            est.fit(X_tr, y_tr)
        mlp[dataset, seed] = float(est.score(X_te, y_te))
        n_test[dataset] = len(y_te)
    for (dataset, budget), rows in sorted(lepton.items()):
        seeds = sorted(rows)
        ours = [rows[s] for s in seeds]
        theirs = [mlp[dataset, s] for s in seeds]
        wins = sum(a > b + 1e-12 for a, b in zip(ours, theirs))
        losses = sum(a < b - 1e-12 for a, b in zip(ours, theirs))
        errors = [round(sum(1 - x for x in xs) * n_test[dataset]) for xs in (ours, theirs)]
        print(f"{dataset} {budget:g}s splits {seeds[0]}-{seeds[-1]} ({len(seeds)}): "
              f"median {statistics.median(ours):.4f} vs MLP {statistics.median(theirs):.4f}, "
              f"mean {statistics.mean(ours):.4f} vs {statistics.mean(theirs):.4f}, "
              f"errors {errors[0]} vs {errors[1]}, "
              f"seed by seed {wins}-{len(seeds) - wins - losses}-{losses}")


if __name__ == "__main__":
    main(*sys.argv[1:])
