"""Lepton: AutoML for neural networks.

- fixed architectures: :class:`NeuralNetworkClassifier`, :class:`NeuralNetworkRegressor`,
  :class:`NeuralNetwork` (``lepton/estimators/``);
- searched architectures: :class:`LeptonClassifier`, :class:`LeptonRegressor`
  (``lepton/search/``);
- where a trial gets trained: :func:`lepton.training.train` (``lepton/training.py``).

``import lepton`` itself loads nothing heavy: the estimators (torch, scikit-learn, optuna)
are imported on first use of their names, so that ``lepton --help`` and the command's
usage errors answer at once. MLflow and Prefect are imported only where they are used.
"""

from importlib import import_module

__version__ = "0.1.0"

# name -> the module that defines it (relative to this package)
_EXPORTS = {
    "NeuralNetwork": ".estimators",
    "NeuralNetworkClassifier": ".estimators",
    "NeuralNetworkRegressor": ".estimators",
    "LeptonClassifier": ".search",
    "LeptonRegressor": ".search",
    "LeptonWarning": "._warn",
    "DataWarning": "._warn",
    "SearchWarning": "._warn",
    "TrainingWarning": "._warn",
    "TrackingWarning": "._warn",
    "LeftOutColumnsWarning": "._warn",
    "LeptonVersionWarning": "._warn",
    "BudgetTooSmall": ".search",
    "Terminated": ".search",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    """Import an exported estimator on first access (PEP 562) and keep it here."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'lepton' has no attribute {name!r}") from None
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
