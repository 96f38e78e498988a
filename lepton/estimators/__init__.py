"""scikit-learn estimators: fixed architectures here, searched ones in lepton.search."""

from .neural_network import NeuralNetwork, NeuralNetworkClassifier, NeuralNetworkRegressor

__all__ = ["NeuralNetwork", "NeuralNetworkClassifier", "NeuralNetworkRegressor"]
