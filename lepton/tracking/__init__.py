"""Experiment tracking for the search (MLflow), optional: nothing here imports mlflow
until a tracker is actually requested."""

from __future__ import annotations

import os

from ._base import SearchTracker

__all__ = ["SearchTracker", "make_tracker"]


def make_tracker(*, tracking_uri: str | None = None, experiment_name: str | None = None,
                 registered_model_name: str | None = None) -> SearchTracker:
    """The no-op tracker unless tracking is requested (an argument, or MLFLOW_TRACKING_URI)."""
    if tracking_uri is None and experiment_name is None and registered_model_name is None \
            and not os.environ.get("MLFLOW_TRACKING_URI"):
        return SearchTracker()
    from .mlflow_tracker import MLflowTracker

    return MLflowTracker(tracking_uri=tracking_uri, experiment_name=experiment_name,
                         registered_model_name=registered_model_name)
