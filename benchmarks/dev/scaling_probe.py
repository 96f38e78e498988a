"""Dev probe: which input scaling suits a table, and does the scaling probe see it?

Two modes, on the benchmark's splits (``search_benchmark.load_split``):

    python scaling_probe.py fixed DATASET SEED [SEED ...]
        scikit-learn's MLP defaults and a logistic regression on the data preprocessed with
        each of Lepton's scalings (TabularPreprocessor), plus the MLP under the scaling the
        probe (priors.probe_input_scaling, 5-fold splits of the training rows) chooses:
        test errors summed over the seeds, and the probe's choice per seed (r/s).

    python scaling_probe.py search DATASET SEED [SEED ...]
        the probe's measurements and choice as a LeptonClassifier search on that split makes
        them (a one-trial fit with the benchmark's random_state): which searches it changes.

Seeds 0-29 are the benchmark's; dev probes use 100 and up.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import search_benchmark as sb  # noqa: E402


def fixed(dataset: str, seeds: list[int]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline

    from lepton.preprocessing import SCALINGS, TabularPreprocessor
    from lepton.search.priors import probe_input_scaling

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
        losses = probe_input_scaling(X_tr, y_enc, splits, seed=seed)
        choice = min(losses, key=losses.get)
        picks.append(choice[0])
        errors["mlp_probe"] = errors.get("mlp_probe", 0) + mlp[choice]
    print(f"{dataset} seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}): test errors {errors}")
    print("probe choices:", "".join(picks))


def search(dataset: str, seeds: list[int]) -> None:
    for seed in seeds:
        task, X_tr, _, y_tr, _, shape = sb.load_split(dataset, seed)
        est, kwargs = sb.make_estimator("lepton", task, 600, seed, input_shape=shape)
        est.set_params(n_trials=1)
        est.fit(X_tr, y_tr, **kwargs)
        print(dataset, seed, est.search_space_.scalings()[0], est.scaling_probe_, flush=True)


if __name__ == "__main__":
    mode, dataset, *seed_args = sys.argv[1:]
    {"fixed": fixed, "search": search}[mode](dataset, [int(s) for s in seed_args])
