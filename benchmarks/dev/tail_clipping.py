"""Dev experiment (splits 100+, never the benchmark's 0-9): smooth clipping of every
numeric column against clipping only the heavy-tailed ones, with a fixed network.

    python benchmarks/dev/tail_clipping.py DATASET FIRST_SEED END_SEED [OUT.jsonl]

Stop 10's probe (``input_scaling.py``) found clipping costs accuracy on wine (robust
scaling without the clip beat it 11-2 of 40 splits) and helps on breast_cancer (lost 5-15
without it). Wine's columns are light-tailed (largest robust z 4.5, excess kurtosis <= 2);
most of breast_cancer's are heavy-tailed (largest robust z up to 25, kurtosis up to 49).
The smooth clip ``z / sqrt(1 + (z/3)^2)`` bends the body of a column too (z=2 -> 1.66), so
these arms clip a column only when its training rows say it has heavy tails:

- ``robust3``: every column clipped (Lepton's default, but for f35dde1);
- ``robust_noclip``: no column clipped;
- ``tail_z5``: a column is clipped when its largest |robust z| on the training rows > 5;
- ``tail_k3``: a column is clipped when its excess kurtosis on the training rows > 3.

One line per split (75/25, stratified): test accuracy of the fixed
``NeuralNetworkClassifier`` (2x256, defaults) with early stopping on (``_es1``) and off
(``_es0``), and of scikit-learn's MLP defaults behind a StandardScaler (``sk_mlp``).

Stop 14 (rows in ``benchmarks/results/dev/tail_clipping_stop14.jsonl``; wine splits
100-139, breast_cancer 100-129), test errors summed over the splits, early stopping on
(off): wine robust3 51 (51), robust_noclip 40 (40), tail_z5 40 (40), tail_k3 41 (41),
sk_mlp 41; breast_cancer robust3 115 (98), robust_noclip 129 (116), tail_z5 116 (103),
tail_k3 115 (105), sk_mlp 112 (run with this probe's first version, whose ``tail_z5`` arm
did not yet cut light columns at 5 at predict time). Split by split against robust3: wine 11-27-2 for every
other arm; breast_cancer tail_z5 5-19-6 (2-21-7), tail_k3 6-18-6 (4-16-10), robust_noclip
5-10-15 (2-11-17). Search trials train with early stopping. ``tail_z5`` became the
product's robust scaling (``RobustClipScaler(tail_threshold=5.0)``) in f35dde1, and was
turned back in stop 15: in the search, on the benchmark's splits 0-9, it lost to ``robust3``
(figures in ``benchmarks/results/search_benchmark.md``, notes of stop 15).
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
from _rows import emit  # noqa: E402
from scipy.stats import kurtosis  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import lepton.preprocessing as P  # noqa: E402
from lepton import NeuralNetworkClassifier  # noqa: E402
from lepton.datasets import load_dataset  # noqa: E402

BASE = P.RobustClipScaler


class ClipAll(BASE):
    """Every column clipped (Lepton's robust scaling)."""

    def __init__(self, clip: float = 3.0, tail_threshold=None):
        super().__init__(clip=clip, tail_threshold=tail_threshold)


class TailZ5(BASE):
    """A column is clipped when its fit rows reach beyond 5 robust z."""

    def __init__(self, clip: float = 3.0, tail_threshold=5.0):
        super().__init__(clip=clip, tail_threshold=tail_threshold)


class KurtosisClip(BASE):
    """A column is clipped when its excess kurtosis on the fit rows is above 3."""

    def fit(self, X, y=None):
        super().fit(X, y)
        self.clipped_ = np.nan_to_num(kurtosis(np.asarray(X, dtype=np.float64), axis=0)) > 3.0
        return self

    def transform(self, X):
        z = (np.asarray(X, dtype=np.float64) - self.center_) / self.scale_
        clipped = z / np.sqrt(1.0 + (z / self.clip) ** 2)
        return np.where(self.clipped_, clipped, z).astype(np.float32)


ARMS = [("robust3", ClipAll, 3.0), ("robust_noclip", ClipAll, 0.0),
        ("tail_z5", TailZ5, 3.0), ("tail_k3", KurtosisClip, 3.0)]


def main():
    ds, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    d = load_dataset(ds)
    y = np.asarray(d.y)
    for seed in range(first, end):
        Xtr, Xte, ytr, yte = train_test_split(d.X, y, test_size=0.25, random_state=seed,
                                              stratify=y)
        row = {"dataset": ds, "seed": seed}
        sk = MLPClassifier(random_state=seed)
        row["sk_mlp"] = accuracy_score(
            yte, make_pipeline(StandardScaler(), sk).fit(Xtr, ytr).predict(Xte))
        for name, scaler, clip in ARMS:
            P.RobustClipScaler = scaler
            P.TabularPreprocessor.__init__.__kwdefaults__["clip"] = clip
            for es in (True, False):
                model = NeuralNetworkClassifier(input_scaling="robust", early_stopping=es,
                                                random_state=seed)
                row[f"{name}_es{int(es)}"] = accuracy_score(yte, model.fit(Xtr, ytr).predict(Xte))
        P.RobustClipScaler = BASE
        P.TabularPreprocessor.__init__.__kwdefaults__["clip"] = 3.0
        emit(row, out)


if __name__ == "__main__":
    main()
