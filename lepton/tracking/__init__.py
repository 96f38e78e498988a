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

import os

from ._base import SearchTracker, TrackingError
from ._mlflow import MLflowTracker  # imports mlflow only inside its methods
from ._store import default_store_dir, default_tracking_uri, lepton_home

__all__ = ["SearchTracker", "MLflowTracker", "TrackingError", "make_tracker",
           "default_tracking_uri", "default_store_dir", "lepton_home"]


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
    return MLflowTracker(tracking_uri=tracking_uri, experiment_name=experiment_name,
                         registered_model_name=registered_model_name, **kwargs)

