"""Experiment tracking of searches (MLflow), optional and lazy.

``make_tracker`` returns a no-op :class:`SearchTracker` unless tracking is asked for
(a ``tracking_uri``, ``experiment_name`` or ``registered_model_name``, or the
``MLFLOW_TRACKING_URI`` environment variable); then an :class:`MLflowTracker`, which
imports mlflow on first use. Without a tracking URI the embedded store is used:
SQLite at ``$LEPTON_HOME/mlflow/mlflow.db`` with artifacts in
``$LEPTON_HOME/mlflow/artifacts`` (``LEPTON_HOME`` defaults to ``~/.lepton``); browse it
with ``lepton ui``. For a shared team server see ``mlflow/README.md``.
"""

from __future__ import annotations

import importlib.util
import os

from ._base import SearchTracker, TrackingError
from ._mlflow import MLflowTracker  # imports mlflow only inside its methods
from ._store import default_store_dir, default_tracking_uri, lepton_home, redact_uri

__all__ = ["SearchTracker", "MLflowTracker", "TrackingError", "make_tracker",
           "default_tracking_uri", "default_store_dir", "lepton_home", "mlflow_installed",
           "INSTALL_TRACKING"]


#: what to install for tracking, in the error and the warning that say it is missing
INSTALL_TRACKING = "pip install 'lepton-automl[tracking]'"


def mlflow_installed() -> bool:
    """Whether MLflow can be imported (it is the ``tracking`` extra, not a requirement)."""
    return importlib.util.find_spec("mlflow") is not None


def environment_without_mlflow() -> TrackingError:
    """The error for a tracking URI from the environment alone where MLflow is missing."""
    return TrackingError(
        f"MLFLOW_TRACKING_URI is set ({redact_uri(os.environ['MLFLOW_TRACKING_URI'])!r}), "
        f"but MLflow is not installed: {INSTALL_TRACKING} (or leave tracking off: unset "
        "MLFLOW_TRACKING_URI; on the command line, --no-tracking).")


def make_tracker(*, tracking_uri: str | None = None, experiment_name: str | None = None,
                 registered_model_name: str | None = None, **kwargs) -> SearchTracker:
    """The tracker a search should use.

    Raises :class:`TrackingError` naming the URI, within seconds, when the tracking store
    is unreachable or misconfigured, so no training time is spent first.
    """
    requested = tracking_uri or experiment_name or registered_model_name or \
        os.environ.get("MLFLOW_TRACKING_URI")
    if not requested:
        return SearchTracker()
    if not mlflow_installed():
        if not (tracking_uri or experiment_name or registered_model_name):
            raise environment_without_mlflow()
        raise TrackingError(f"tracking was asked for, but MLflow is not installed: "
                            f"{INSTALL_TRACKING} (or leave tracking off: no tracking_uri, "
                            "experiment_name or registered_model_name; on the command line "
                            "no --tracking-uri, --experiment or --register).")
    return MLflowTracker(tracking_uri=tracking_uri, experiment_name=experiment_name,
                         registered_model_name=registered_model_name, **kwargs)

