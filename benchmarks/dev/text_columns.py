"""Dev experiment: a free-text column (product reviews) read as TF-IDF + SVD features
against left out, the evidence behind ``TabularPreprocessor``'s text columns.

    python benchmarks/dev/text_columns.py fixed FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/text_columns.py category FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/text_columns.py search FIRST_SEED END_SEED BUDGET [OUT.jsonl]
    python benchmarks/dev/text_columns.py fixed 0 3

The table (2,000 rows): ``review``, 7-17 words drawn from neutral filler with one or two
sentiment words, positive for the positive class (85% of the time) and negative for the
other; ``price`` (no signal). 75/25 split by seed. ``fixed``: Lepton's fixed
``NeuralNetworkClassifier`` on the table as it comes; ``search``: ``LeptonClassifier`` at
BUDGET seconds; ``category``: ``fixed`` with the reviews cast to pandas' ``category``
dtype (as a Parquet file's dictionary-encoded strings come back). Run it from a checkout
of the code to compare (``PYTHONPATH=<checkout>``).
"""
import sys
import time

import numpy as np
import pandas as pd
from _rows import emit

POSITIVE = "great excellent love perfect happy recommend wonderful".split()
NEGATIVE = "terrible awful hate broken disappointed refund poor".split()
FILLER = ("the product it was and this i my for with arrived box item order quality price "
          "delivery").split()


def table(n: int = 2000):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)

    def review(label: int) -> str:
        words = list(rng.choice(FILLER, rng.integers(6, 15)))
        for _ in range(rng.integers(1, 3)):
            source = POSITIVE if (label == 1) ^ (rng.random() < 0.15) else NEGATIVE
            words.insert(rng.integers(0, len(words)), rng.choice(source))
        return " ".join(words)

    X = pd.DataFrame({"review": [review(label) for label in y], "price": rng.gamma(2, 20, n)})
    return X, y


def main() -> None:
    from sklearn.model_selection import train_test_split

    mode, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    budget = float(sys.argv[4]) if mode == "search" else None
    rest = sys.argv[5:] if mode == "search" else sys.argv[4:]
    out = open(rest[0], "a") if rest else None
    X, y = table()
    if mode == "category":
        X = X.astype({"review": "category"})
    for seed in range(first, end):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
        from lepton import LeptonClassifier, NeuralNetworkClassifier  # not in fit_s

        t0 = time.perf_counter()
        if mode in ("fixed", "category"):
            model = NeuralNetworkClassifier(random_state=seed).fit(X_tr, y_tr)
        else:
            model = LeptonClassifier(time_budget=budget, random_state=seed).fit(X_tr, y_tr)
        emit({"mode": mode, "seed": seed, "budget": budget,
              "accuracy": round(model.score(X_te, y_te), 4),
              "fit_s": round(time.perf_counter() - t0, 2)}, out)


if __name__ == "__main__":
    main()
