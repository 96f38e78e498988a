"""scikit-learn's estimator checks over every estimator, with tiny CPU configs."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from lepton import NeuralNetwork, NeuralNetworkClassifier, NeuralNetworkRegressor

# Small enough to keep the whole file fast on 2 cores, large enough that the checks
# that compare against a dummy baseline (check_classifiers_train, check_regressors_train)
# are met.
TINY = dict(hidden_layer_sizes=(16,), epochs=30, batch_size=32, learning_rate=1e-2,
            random_state=0, device="cpu")

ESTIMATORS = [
    NeuralNetworkClassifier(**TINY),
    NeuralNetworkRegressor(**TINY),
    NeuralNetwork(task="classification", **TINY),
    NeuralNetwork(task="regression", **TINY),
]


# Every check passes: no expected_failed_checks.
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
