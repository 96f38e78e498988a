"""The adaptive search: LeptonClassifier / LeptonRegressor and their parts."""

from .._warn import auto_tqdm

auto_tqdm()  # before Optuna imports tqdm.auto: in a notebook without ipywidgets, quietly

from ._search import StorageError, Terminated  # noqa: E402
from .budget import Budget
from .ensemble import greedy_ensemble_selection
from .estimators import (BudgetTooSmall, LeptonClassifier, LeptonEnsemble, LeptonRegressor,
                         SearchError)
from .metrics import METRICS, Metric, get_metric
from .portfolio import CNN_PORTFOLIO, TABULAR_PORTFOLIO, portfolio_params
from .priors import MetaFeatures, apply_priors, choose_space, compute_meta_features
from .spaces import BUILTIN_SPACES, SearchSpace, SearchSpaceError, load_search_space

__all__ = ["Budget", "greedy_ensemble_selection", "LeptonClassifier", "LeptonEnsemble",
           "LeptonRegressor", "SearchError", "BudgetTooSmall", "METRICS", "Metric", "get_metric",
           "CNN_PORTFOLIO", "TABULAR_PORTFOLIO", "portfolio_params", "MetaFeatures",
           "apply_priors", "choose_space", "compute_meta_features", "BUILTIN_SPACES",
           "SearchSpace", "SearchSpaceError", "load_search_space", "StorageError",
           "Terminated"]
