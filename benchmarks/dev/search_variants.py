"""Dev experiment (splits 100+, never the benchmark's 0-9): the whole search, on the
benchmark's 75/25 splits, with a variant of its space or of what it is told about the data.

    python benchmarks/dev/search_variants.py DATASET VARIANT BUDGET FIRST_SEED END_SEED [OUT]
    python benchmarks/dev/search_variants.py digits image 30 100 106 /tmp/v.jsonl

Variants (no code change needed: each is a ``search_space`` or ``input_shape`` argument):

- ``auto``: what the benchmark runs (``search_space='auto'``, the 64 digit pixels as columns);
- ``standard``: the built-in space of the data's family with ``input_scaling`` fixed to
  ``standard`` (mean / standard deviation, no clip) instead of robust scaling;
- ``image``: digits only, ``input_shape=(8, 8)`` (the dataset's declared shape): the priors
  then choose the ``cnn`` space;
- ``image_standard``: both (the cnn space's pixels standardised one by one, as before
  stop 37; ``image`` scales them by one mean and deviation since).

Image rows also give the accuracy on the test images shifted one pixel right, left, down
and up (``shifted``).

One JSON line per split: test score, fit wall time, the search's best validation score,
final choice, number of trials.
"""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _rows import emit  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from lepton import LeptonClassifier, LeptonRegressor  # noqa: E402
from lepton.datasets import load_dataset  # noqa: E402

VARIANTS = ("auto", "standard", "image", "image_standard")
#: which checkout ran the row (a worktree of older code sets LEPTON_CODE)
CODE = os.environ.get("LEPTON_CODE", "HEAD")


def estimator(variant, data, budget, seed):
    cls = data.task == "classification"
    image = variant.startswith("image")
    space = "auto"
    if variant.endswith("standard"):
        space = {"base": "cnn" if image else "mlp", "parameters": {"input_scaling": "standard"}}
    return (LeptonClassifier if cls else LeptonRegressor)(
        time_budget=budget, random_state=seed, n_jobs=1, search_space=space,
        input_shape=data.input_shape if image else None)


def main():
    ds, variant, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first, end = int(sys.argv[4]), int(sys.argv[5])
    if variant not in VARIANTS:
        raise SystemExit(f"variant={variant!r} is not one of {', '.join(VARIANTS)}")
    out = open(sys.argv[6], "a") if len(sys.argv) > 6 else None
    torch.set_num_threads(1)
    data = load_dataset(ds)
    y = np.asarray(data.y)
    cls = data.task == "classification"
    for seed in range(first, end):
        X_tr, X_te, y_tr, y_te = train_test_split(data.X, y, test_size=0.25, random_state=seed,
                                                  stratify=y if cls else None)
        est = estimator(variant, data, budget, seed)
        t0 = time.perf_counter()
        est.fit(X_tr, y_tr)
        wall = time.perf_counter() - t0
        pred = est.predict(X_te)
        score = accuracy_score(y_te, pred) if cls else r2_score(y_te, pred)
        row = dict(dataset=ds, variant=variant, budget=budget, seed=seed, score=float(score),
                   fit_wall=round(wall, 2), best_score=float(est.best_score_),
                   final_choice=est.final_choice_, n_trials=int(est.n_trials_), code=CODE)
        if variant.startswith("image") and cls:  # the test images moved by one pixel
            row["shifted"] = shifted_accuracy(est, X_te, y_te, data.input_shape)
        emit(row, out)


def shifted_accuracy(est, X_te, y_te, shape) -> list[float]:
    """Accuracy on the test images shifted one pixel right, left, down and up (the pixel
    moved in from the edge is 0): how much the model leans on where a digit sits."""
    images = np.asarray(X_te, dtype=np.float64).reshape(len(X_te), *shape)
    scores = []
    for axis, step in ((-1, 1), (-1, -1), (-2, 1), (-2, -1)):
        moved = np.roll(images, step, axis=axis)
        edge = [slice(None)] * moved.ndim
        edge[axis] = 0 if step > 0 else -1
        moved[tuple(edge)] = 0.0
        scores.append(round(float(accuracy_score(y_te, est.predict(
            moved.reshape(len(X_te), -1)))), 4))
    return scores


if __name__ == "__main__":
    main()
