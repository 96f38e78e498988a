"""scikit-learn's estimator checks over every estimator, with tiny CPU configs."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from lepton import NeuralNetwork, NeuralNetworkClassifier, NeuralNetworkRegressor

# Small enough to keep the whole file fast on 2 cores, large enough that the checks
# that compare against a dummy baseline (check_classifiers_train, check_regressors_train)
# are met.
TINY = dict(hidden_layer_sizes=(16,), epochs=30, batch_size=32, learning_rate=1e-2,
            random_state=0, device="cpu")

# Minibatch training: a row of weight 2 is one row whose loss counts twice in its batch,
# not two rows in two batches, and an epoch over the repeated rows takes more steps; the
# networks differ as they would for any other batch order. tests/test_sample_weight.py
# checks what weights do instead (weight 0 = a row that is not there, for the loss; a
# weighted class is predicted more).
WEIGHTS_NOT_REPEATS = {
    check: "minibatch SGD: weights are not repeated rows (different batches and steps)"
    for check in ("check_sample_weight_equivalence_on_dense_data",
                  "check_sample_weight_equivalence_on_sparse_data")}

ESTIMATORS = [
    NeuralNetworkClassifier(**TINY),
    NeuralNetworkRegressor(**TINY),
    NeuralNetwork(task="classification", **TINY),
    NeuralNetwork(task="regression", **TINY),
]


# Every other check passes.
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: WEIGHTS_NOT_REPEATS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
