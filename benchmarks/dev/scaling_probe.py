"""Dev probe: which input scaling suits a table, and does the scaling probe see it?

On the benchmark's splits (``search_benchmark.load_split``):

    python scaling_probe.py fixed DATASET SEED [SEED ...]
        scikit-learn's MLP defaults and a logistic regression on the data preprocessed with
        each of Lepton's scalings (TabularPreprocessor), plus the MLP under the scaling the
        probe (probe_input_scaling below, 5-fold splits of the training rows) chooses:
        test errors summed over the seeds, and the probe's choice per seed (r/s).

The probe was part of LeptonClassifier at c97bc2d and reverted after the search benchmark
(benchmarks/results/dev/scaling_probe_stop22.md); its ``search`` mode there gave the files
scaling_probe_choices_*_stop22.txt. Seeds 0-29 are the benchmark's; dev probes use 100 and up.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import search_benchmark as sb  # noqa: E402


def probe_input_scaling(X, y_encoded: np.ndarray, splits) -> dict[str, float]:
    """Out-of-fold log loss (per validation row) of a logistic regression on the data
    preprocessed with each of Lepton's scalings, over ``splits``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils import _safe_indexing

    from lepton.preprocessing import SCALINGS, TabularPreprocessor

    n_classes = int(np.max(y_encoded)) + 1
    losses = {}
    for scaling in SCALINGS:
        total, count = 0.0, 0
        for train, valid in splits:
            pre = TabularPreprocessor(scaling=scaling)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LogisticRegression(max_iter=300).fit(
                    pre.fit_transform(_safe_indexing(X, train)), y_encoded[train])
            proba = np.zeros((len(valid), n_classes))
            proba[:, model.classes_] = model.predict_proba(pre.transform(_safe_indexing(X, valid)))
            p_true = proba[np.arange(len(valid)), y_encoded[valid]]
            total += float(-np.log(np.clip(p_true, 1e-15, None)).sum())
            count += len(valid)
        losses[scaling] = total / count
    return losses


def fixed(dataset: str, seeds: list[int]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline

    from lepton.preprocessing import SCALINGS, TabularPreprocessor

    errors: dict[str, int] = {}
    picks = []
    for seed in seeds:
        _, X_tr, X_te, y_tr, y_te, _ = sb.load_split(dataset, seed)
        y_tr, y_te = np.asarray(y_tr), np.asarray(y_te)
        mlp = {}
        for scaling in SCALINGS:
            for name, model in (("mlp", MLPClassifier(random_state=seed)),
                                ("lr", LogisticRegression(max_iter=1000))):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # MLP defaults stop unconverged
                    fitted = make_pipeline(TabularPreprocessor(scaling=scaling), model).fit(
                        X_tr, y_tr)
                wrong = int((fitted.predict(X_te) != y_te).sum())
                errors[f"{name}_{scaling}"] = errors.get(f"{name}_{scaling}", 0) + wrong
                if name == "mlp":
                    mlp[scaling] = wrong
        classes = np.unique(y_tr)
        y_enc = np.searchsorted(classes, y_tr)
        splits = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(X_tr, y_enc))
        losses = probe_input_scaling(X_tr, y_enc, splits)
        choice = min(losses, key=losses.get)
        picks.append(choice[0])
        errors["mlp_probe"] = errors.get("mlp_probe", 0) + mlp[choice]
    print(f"{dataset} seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}): test errors {errors}")
    print("probe choices:", "".join(picks))


if __name__ == "__main__":
    mode, dataset, *seed_args = sys.argv[1:]
    {"fixed": fixed}[mode](dataset, [int(s) for s in seed_args])
