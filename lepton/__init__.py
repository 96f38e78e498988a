"""Lepton: AutoML for neural networks.

``import lepton`` loads torch, scikit-learn and optuna only; MLflow and Prefect are
imported where they are used.
"""

from .estimators import NeuralNetwork, NeuralNetworkClassifier, NeuralNetworkRegressor

__version__ = "0.1.0"

__all__ = ["NeuralNetwork", "NeuralNetworkClassifier", "NeuralNetworkRegressor", "__version__"]
