"""Dev experiment (splits 100+, never the benchmark's 0-9): how numeric input scaling
changes a fixed network's test score, the evidence behind the searched ``input_scaling``.

    python benchmarks/dev/input_scaling.py DATASET FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/input_scaling.py wine 100 140

One line per split (75/25, stratified for classification): test accuracy (R^2 for
regression) of scikit-learn's MLP defaults behind a StandardScaler (``sk_mlp``) and of
Lepton's fixed ``NeuralNetworkClassifier`` / ``Regressor`` (2x256, defaults) behind four
scalings of the numeric columns, each with early stopping on (``_es1``) and off (``_es0``):

- ``robust3``: median / IQR, smooth clip at 3 (Lepton's default, RealMLP's preprocessing);
- ``robust_noclip``: median / IQR, no clip;
- ``std_noclip``: mean / standard deviation, no clip (``input_scaling='standard'``);
- ``std3``: mean / standard deviation, smooth clip at 3.

Stop 10 (rows in ``benchmarks/results/dev/input_scaling_stop10.jsonl``), ``std_noclip_es1``
against ``robust3_es1``, wins-losses: wine 12-4 (40 splits), breast_cancer 10-7 (30),
diabetes 5-5 (10), digits 4-1 (6), california_synthetic 5-1 (6; 40 epochs, batch 256).
Clipping itself: on wine ``robust_noclip`` beat ``robust3`` 11-2, on breast_cancer it lost
5-15. Neither scaling wins everywhere; searching it per trial (2868849) then lost on the
search benchmark's classification rows (12-26-22 against the control), so the built-in
spaces keep robust scaling: benchmarks/results/search_benchmark.md, Notes.
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
from _rows import emit  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import lepton.preprocessing as P  # noqa: E402
from lepton import NeuralNetworkClassifier, NeuralNetworkRegressor  # noqa: E402
from lepton.datasets import load_dataset  # noqa: E402

# (name, input_scaling, clip): the clip variants set the preprocessor's clip directly
VARIANTS = [("robust3", "robust", 3.0), ("robust_noclip", "robust", 0.0),
            ("std_noclip", "standard", 0.0), ("std3", "standard", 3.0)]


def _clipped_standard(clip):
    """A StandardScaler followed by the smooth clip (the ``std3`` arm only)."""
    class Clipped(StandardScaler):
        def transform(self, X, copy=None):
            z = super().transform(X, copy=copy)
            return z / np.sqrt(1.0 + (z / clip) ** 2) if clip else z
    return Clipped()


def main():
    ds, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    d = load_dataset(ds)
    y = np.asarray(d.y)
    cls = d.task == "classification"
    score = accuracy_score if cls else r2_score
    net = NeuralNetworkClassifier if cls else NeuralNetworkRegressor
    big = len(y) > 10_000  # california_synthetic: fewer, larger steps to keep it short
    extra = {"epochs": 40, "batch_size": 256} if big else {}
    standard_scaler = P.StandardScaler
    for seed in range(first, end):
        Xtr, Xte, ytr, yte = train_test_split(d.X, y, test_size=0.25, random_state=seed,
                                              stratify=y if cls else None)
        row = {"dataset": ds, "seed": seed}
        sk = (MLPClassifier if cls else MLPRegressor)(random_state=seed)
        row["sk_mlp"] = score(yte, make_pipeline(StandardScaler(), sk).fit(Xtr, ytr).predict(Xte))
        for name, scaling, clip in VARIANTS:
            P.TabularPreprocessor.__init__.__kwdefaults__["clip"] = clip
            P.StandardScaler = (lambda c=clip: _clipped_standard(c)) if clip else standard_scaler
            for es in ((True,) if big else (True, False)):
                model = net(input_scaling=scaling, early_stopping=es, random_state=seed, **extra)
                row[f"{name}_es{int(es)}"] = score(yte, model.fit(Xtr, ytr).predict(Xte))
        P.TabularPreprocessor.__init__.__kwdefaults__["clip"] = 3.0
        P.StandardScaler = standard_scaler
        emit(row, out)


if __name__ == "__main__":
    main()
