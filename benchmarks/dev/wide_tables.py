"""Dev experiment: searches on wide tables (more than one column per ten rows), the
evidence behind the priors' ``feature_fraction`` (lepton/search/priors.py).

    python benchmarks/dev/wide_tables.py BUDGET FIRST_SEED END_SEED OLD_CHECKOUT [OUT.jsonl]
    python benchmarks/dev/wide_tables.py 30 0 3 /tmp/old_src results.jsonl
    BENCH_TABLES=cls_few,reg_few python benchmarks/dev/wide_tables.py 120 0 1 /tmp/old_src

For each table and seed (75/25 split by seed): ``LeptonClassifier``/``LeptonRegressor``
at BUDGET seconds from this checkout ("new") and from OLD_CHECKOUT ("old": a copy of the
code before, e.g. ``git archive HEAD lepton | tar -x -C /tmp/old_src``), each in its own
process, one after the other; and a linear baseline fitted here (standardised logistic
regression, RidgeCV). Tables:

- ``cls_few``: make_classification, 3,000 x 2,000, 20 informative columns;
- ``reg_few``: make_regression, 3,000 x 2,000, 20 informative, noise 10;
- ``cls_many``: make_classification, 3,000 x 400, 300 informative (little to select);
- ``reg_many``: make_regression, 3,000 x 1,000, 800 informative, noise 10;
- ``digits_500``: scikit-learn's digits as 64 columns, 500 training rows (pixels, all
  of some use), the other 1,297 rows for the test.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _rows import emit

HERE = Path(__file__).resolve().parents[2]
#: BENCH_TABLES=cls_few,reg_few runs some of them
TABLES = tuple(os.environ.get("BENCH_TABLES",
                              "cls_few,reg_few,cls_many,reg_many,digits_500").split(","))


def table(name: str, seed: int):
    from sklearn.datasets import load_digits, make_classification, make_regression
    from sklearn.model_selection import train_test_split

    if name == "digits_500":
        X, y = load_digits(return_X_y=True)
        return train_test_split(X, y, train_size=500, random_state=seed, stratify=y)
    if name.startswith("cls"):
        n_features, informative = (2000, 20) if name == "cls_few" else (400, 300)
        X, y = make_classification(3000, n_features, n_informative=informative,
                                   n_redundant=0, random_state=seed)
    else:
        n_features, informative = (2000, 20) if name == "reg_few" else (1000, 800)
        X, y = make_regression(3000, n_features, n_informative=informative, noise=10.0,
                               random_state=seed)
    return train_test_split(X, y, test_size=0.25, random_state=seed)


def baseline(name: str, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_tr, X_te, y_tr, y_te = table(name, seed)
    model = (RidgeCV(alphas=np.logspace(-3, 4, 15)) if name.startswith("reg") else
             LogisticRegression(max_iter=5000))
    return float(make_pipeline(StandardScaler(), model).fit(X_tr, y_tr).score(X_te, y_te))


def lepton_arm(name: str, seed: int, budget: float) -> dict:
    """Runs in the arm's own process (``--arm``): fit, then the held-out score."""
    from lepton import LeptonClassifier, LeptonRegressor

    X_tr, X_te, y_tr, y_te = table(name, seed)
    cls = LeptonRegressor if name.startswith("reg") else LeptonClassifier
    started = time.perf_counter()
    model = cls(time_budget=budget, random_state=seed).fit(X_tr, y_tr)
    fit_s = time.perf_counter() - started
    kept = model.leaderboard_.get("param_feature_fraction")
    best = model.study_.best_trial
    return {"score": float(model.score(X_te, y_te)), "fit_s": round(fit_s, 2),
            "trials": int(len(model.leaderboard_)),
            "best_fraction": best.params.get("feature_fraction"),
            "fractions_searched": None if kept is None else int(kept.notna().sum()),
            "final": model.final_model_info_["choice"]}


def main() -> None:
    if sys.argv[1] == "--arm":
        name, seed, budget = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(lepton_arm(name, seed, budget)))
        return
    budget, first, end, old = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    out = open(sys.argv[5], "a") if len(sys.argv) > 5 else None
    # BENCH_COMMIT: the commit of a copy run outside the repository (git archive)
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
        text=True).stdout.strip()
    for seed in range(first, end):
        for name in TABLES:
            row = {"table": name, "seed": seed, "budget": budget, "commit": commit,
                   "linear": round(baseline(name, seed), 4)}
            for arm, path in (("new", str(HERE)), ("old", old)):
                env = {**os.environ, "PYTHONPATH": path}
                done = subprocess.run([sys.executable, __file__, "--arm", name, str(seed),
                                       str(budget)], env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(done.stderr[-3000:])
                result = json.loads(done.stdout.strip().splitlines()[-1])
                row.update({f"{arm}_{k}": v for k, v in result.items()})
            emit(row, out)


if __name__ == "__main__":
    main()
