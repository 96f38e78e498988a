"""Drive a small search through a tracker's hooks (the way lepton.search calls them)."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pandas as pd
from sklearn.datasets import load_iris

from lepton import NeuralNetworkClassifier


def iris_frame():
    data = load_iris(as_frame=True)
    X = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return X, data.target.to_numpy()


def drive_search(tracker, *, study_name="iris", storage=None, n_trials=3, fail_trial=None,
                 prune_trial=None, epochs=4, seed=0, metric="accuracy"):
    """Run ``n_trials`` tiny fits as trials; return (study, best_estimator, X, y)."""
    X, y = iris_frame()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                load_if_exists=True,
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    tracker.start_search(study_name=study_name,
                         meta_features={"n_rows": len(X), "n_columns": X.shape[1], "n_classes": 3},
                         search_space={"family": "mlp", "width": [8, 32], "lr": [1e-3, 1e-1]},
                         settings={"time_budget": 30, "n_trials": n_trials, "metric": metric,
                                   "n_jobs": 1, "storage": storage, "random_state": seed,
                                   "task": "classification"})
    fitted = {}

    def objective(trial):
        t0 = time.perf_counter()
        width = trial.suggest_int("width", 8, 32)
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        model_config = {"family": "mlp", "layers": [{"width": width, "activation": "relu"}]}
        training_config = {"learning_rate": lr, "epochs": epochs, "batch_size": 32}
        tracker.start_trial(trial.number, params=dict(trial.params), model_config=model_config,
                            training_config=training_config)
        try:
            if trial.number == fail_trial:
                raise RuntimeError("diverged: loss is NaN")
            # 30 validation rows of iris's 150: the fewest that early stopping (and so a
            # per-epoch val_loss/val_score) is used on (lepton.defaults.MIN_EARLY_STOPPING_ROWS)
            est = NeuralNetworkClassifier(hidden_layer_sizes=(width,), learning_rate=lr,
                                          epochs=epochs, random_state=seed, early_stopping=True,
                                          validation_fraction=0.2)
            est.fit(X, y)
            for record in est.history_:
                tracker.log_epoch(trial.number, record)
            if trial.number == prune_trial:
                raise optuna.TrialPruned("pruned at epoch 2 by hyperband")
        except optuna.TrialPruned as exc:
            tracker.end_trial(trial.number, state="pruned", value=None,
                              duration=time.perf_counter() - t0, reason=str(exc))
            raise
        except Exception as exc:
            tracker.end_trial(trial.number, state="failed", value=None,
                              duration=time.perf_counter() - t0, reason=str(exc))
            raise
        value = float(est.history_[-1]["val_score"])
        fitted[trial.number] = est
        tracker.end_trial(trial.number, state="complete", value=value,
                          duration=time.perf_counter() - t0)
        return value

    study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    best = fitted[max(fitted, key=lambda n: study.trials[n].value)] if fitted else None
    return study, best, X, y


def leaderboard(study):
    return pd.DataFrame([{"number": t.number, "state": t.state.name, "score": t.value,
                          **t.params} for t in study.trials])


def finish(tracker, study, best, X, y, *, score=None, metric="accuracy"):
    y_pred = best.predict(X)
    tracker.end_search(estimator=best, X_sample=X.iloc[:5], study=study,
                       leaderboard=leaderboard(study),
                       final={"choice": "refit", "metric": metric,
                              "validation_score": score if score is not None else
                              study.best_value},
                       holdout=(y, y_pred))
    return np.asarray(y_pred)
