"""Lepton: AutoML for neural networks.

``import lepton`` loads torch, scikit-learn and optuna only; MLflow and Prefect are
imported where they are used.

- fixed architectures: :class:`NeuralNetworkClassifier`, :class:`NeuralNetworkRegressor`,
  :class:`NeuralNetwork` (``lepton/estimators/``);
- searched architectures: :class:`LeptonClassifier`, :class:`LeptonRegressor`
  (``lepton/search/``);
- where a trial gets trained: :func:`lepton.training.train` (``lepton/training.py``).
"""

from .estimators import NeuralNetwork, NeuralNetworkClassifier, NeuralNetworkRegressor
from .search import LeptonClassifier, LeptonRegressor

__version__ = "0.1.0"

__all__ = ["NeuralNetwork", "NeuralNetworkClassifier", "NeuralNetworkRegressor",
           "LeptonClassifier", "LeptonRegressor", "__version__"]
