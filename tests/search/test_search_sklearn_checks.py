"""scikit-learn's estimator checks over LeptonClassifier / LeptonRegressor, tiny budgets."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from lepton import LeptonClassifier, LeptonRegressor

# Fixed shape, searched learning rate and schedule: small enough that each of the ~50
# checks' fits takes a fraction of a second, good enough for check_*_train's thresholds.
CHECK_SPACE = {"base": "mlp", "parameters": {
    "n_layers": 1, "width": 16, "epochs": 30, "batch_size": 32, "dropout": 0.0,
    "normalization": "none", "residual": False, "label_smoothing": 0.0,
    "learning_rate": {"type": "float", "low": 5e-3, "high": 2e-2, "log": True},
}}
# Minibatch training: weights are not repeated rows (tests/estimators/test_sklearn_checks.py).
WEIGHTS_NOT_REPEATS = dict.fromkeys(
    ("check_sample_weight_equivalence_on_dense_data",
     "check_sample_weight_equivalence_on_sparse_data"),
    "minibatch SGD: weights are not repeated rows (different batches and steps)")
# n_trials, not the wall clock, ends these searches: a budget that never binds keeps
# them reproducible for the checks that fit twice and compare (check_fit_idempotent ...).
TINY = dict(time_budget=300, n_trials=2, search_space=CHECK_SPACE, cv=None, ensemble_size=2,
            random_state=0, device="cpu")


@parametrize_with_checks([LeptonClassifier(**TINY), LeptonRegressor(**TINY)],
                         expected_failed_checks=lambda est: WEIGHTS_NOT_REPEATS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
