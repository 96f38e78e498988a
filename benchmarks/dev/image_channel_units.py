"""Dev experiment: images whose channels come in other units. Digits (8x8, 0-16) with a
second channel of the same shape holding a "depth" around 2,000 mm (noise, no signal):
the cnn space scales pixels by one mean and deviation ('global'); before stop 38 one
pair for both channels, since one pair a channel.

    python benchmarks/dev/image_channel_units.py BUDGET FIRST_SEED END_SEED [OUT]
    python benchmarks/dev/image_channel_units.py 20 0 3 /tmp/channels.jsonl

One JSON line per split (stratified 70/30, ``random_state`` the seed): the search's
held-out accuracy, best validation score and family. Run it on another commit (a ``git
archive`` of it first on PYTHONPATH) for the other arm.
"""
import sys
import time

import numpy as np
from _rows import emit
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import lepton
from lepton import LeptonClassifier


def main(budget: float, first: int, end: int, out=None) -> None:
    X, y = load_digits(return_X_y=True)
    images = X.reshape(-1, 1, 8, 8)
    depth = 2000 + 300 * np.random.default_rng(0).normal(size=images.shape)
    both = np.concatenate([images, depth], axis=1)
    for seed in range(first, end):
        X_train, X_test, y_train, y_test = train_test_split(
            both, y, test_size=0.3, random_state=seed, stratify=y)
        start = time.perf_counter()
        model = LeptonClassifier(time_budget=budget, random_state=seed).fit(X_train, y_train)
        emit({"seed": seed, "budget": budget, "lepton": lepton.__file__,
              "family": model.search_space_.family, "fit_s": round(time.perf_counter() - start, 2),
              "best_score": round(float(model.best_score_), 4),
              "test_accuracy": round(float(model.score(X_test, y_test)), 4)}, out)


if __name__ == "__main__":
    args = sys.argv[1:]
    with open(args[3], "a") if len(args) > 3 else open("/dev/null", "w") as out:
        main(float(args[0]), int(args[1]), int(args[2]), out)
