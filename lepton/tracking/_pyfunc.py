"""The pyfunc model that serves a whole fitted Lepton estimator (imports mlflow).

The estimator, preprocessing included, is pickled into the model's artifacts; serving
needs ``lepton`` importable in the serving environment (``--env-manager local`` or an
environment where lepton-automl is installed).
"""

from __future__ import annotations

import pickle

import mlflow.pyfunc
import numpy as np
import pandas as pd

from ..estimators._base import left_out_columns

__all__ = ["LeptonEstimatorModel", "ESTIMATOR_ARTIFACT", "named_prediction"]

ESTIMATOR_ARTIFACT = "estimator"


def named_prediction(estimator, prediction):
    """``prediction`` as an array, or, where ``y`` was a DataFrame of several columns (a
    multilabel model's labels, a regression's targets: ``target_names_``), a frame whose
    columns bear their names, as ``lepton predict`` writes them (the pyfunc gave an
    unnamed (n, k) array: review helper-53)."""
    prediction = np.asarray(prediction)
    names = getattr(estimator, "target_names_", None)
    if prediction.ndim == 2 and names and len(names) == prediction.shape[1]:
        return pd.DataFrame(prediction, columns=list(names))
    return prediction


class LeptonEstimatorModel(mlflow.pyfunc.PythonModel):
    """``predict(raw_rows)`` returns ``estimator.predict(raw_rows)``: an array, or, for a
    model logged since stop 38 (``named``), a frame of the target's columns where it had
    several, named (:func:`named_prediction`). The class is loaded by reference, its
    instance from the model: models logged before keep the array their signature records
    (a registered multilabel model's consumers indexed it as ``pred[:, 0]``; review
    helper-55)."""

    named = False  # models logged before the parameter

    def __init__(self, named: bool = True):
        self.named = named

    def load_context(self, context) -> None:
        with open(context.artifacts[ESTIMATOR_ARTIFACT], "rb") as fh:
            self.estimator = pickle.load(fh)  # noqa: S301 (our own artifact)

    # MLflow reads the hint on ``model_input`` when the class is created: a DataFrame hint
    # tells it the schema comes from the logged signature (not from the hint), which is what
    # an unhinted method does too, minus its "add type hints" warning on every search. Models
    # logged from array input receive an ndarray here.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        columns = getattr(self.estimator, "feature_names_in_", None)
        if columns is not None and hasattr(model_input, "columns"):
            # pyfunc schema enforcement may reorder/retype columns; restore the fit order.
            # Names as the estimator keeps them: strings (pd.DataFrame(array) has 0, 1, ...)
            names = [str(c) for c in model_input.columns]
            if len(set(names)) == len(names):
                model_input = model_input.set_axis(names, axis=1)
            # a column the model leaves out (an identifier) may be absent: empty then
            absent = set(columns) - set(model_input.columns)
            if absent and absent <= {str(c) for c in left_out_columns(self.estimator)}:
                model_input = model_input.reindex(columns=list(columns))
            else:
                model_input = model_input[list(columns)]
        prediction = self.estimator.predict(model_input)
        return (named_prediction(self.estimator, prediction) if self.named
                else np.asarray(prediction))
