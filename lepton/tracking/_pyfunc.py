"""The pyfunc model that serves a whole fitted Lepton estimator (imports mlflow).

The estimator, preprocessing included, is pickled into the model's artifacts; serving
needs ``lepton`` importable in the serving environment (``--env-manager local`` or an
environment where lepton-automl is installed).
"""

from __future__ import annotations

import pickle
import warnings

with warnings.catch_warnings():
    # MLflow's first import of mlflow.pyfunc warns of its own type hints ("Any type hint is
    # inferred as AnyType", 4 times) and hides the warning itself: where warnings are
    # errors (python -W error, a test suite) the import failed and no model was logged
    # (review helper-77)
    warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType")
    import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from ..estimators._base import empty_prediction, left_out_columns, proba_labels, target_columns

__all__ = ["ESTIMATOR_ARTIFACT", "PREDICT_METHOD", "InvalidInputError", "LeptonEstimatorModel",
           "named_prediction", "params_schema", "proba_frame"]

ESTIMATOR_ARTIFACT = "estimator"
# the inference parameter choosing the estimator's method, named after mlflow.sklearn's
# ``pyfunc_predict_fn`` choice of the same methods (which that flavour fixes when logging)
PREDICT_METHOD = "predict_method"
PREDICT_METHODS = ("predict", "predict_proba")


class InvalidInputError(MlflowException, ValueError):
    """Lepton's checks refused the rows (a column of text where numbers were fitted,
    infinity, the wrong width). An MlflowException of INVALID_PARAMETER_VALUE, as a scoring
    server answers those with their message (any other error: a generic one, Lepton's
    text at the end of its stack trace), and still a ValueError, as the estimator's."""


def params_schema():
    """The logged signature's params: ``predict_method``, "predict" (labels or values) by
    default or "predict_proba" (a classifier's probabilities, a column per class). Without
    it MLflow drops a request's ``params`` with a warning."""
    from mlflow.types import ParamSchema, ParamSpec

    return ParamSchema([ParamSpec(PREDICT_METHOD, "string", PREDICT_METHODS[0])])


def named_prediction(estimator, prediction):
    """``prediction`` as an array, or, where ``y`` was a DataFrame of several columns (a
    multilabel model's labels, a regression's targets: ``target_names_``), a frame whose
    columns bear their names, as ``lepton predict`` writes them (the pyfunc gave an
    unnamed (n, k) array: review helper-53)."""
    prediction = np.asarray(prediction)
    names = getattr(estimator, "target_names_", None)
    if prediction.ndim == 2 and names and len(names) == prediction.shape[1]:
        return pd.DataFrame(target_columns(estimator, prediction, list(names)))
    return prediction


def proba_frame(estimator, proba) -> pd.DataFrame:
    """``predict_proba``'s (n, k) array as a frame with a column per class (a multilabel
    model's: per label), named ``proba_<class>`` as ``lepton predict --proba`` names them."""
    return pd.DataFrame(np.asarray(proba),
                        columns=[f"proba_{label}" for label in proba_labels(estimator)])


def _n_rows(model_input) -> int:
    shape = getattr(model_input, "shape", None)  # a sparse matrix has no len()
    if shape is not None:
        return int(shape[0])
    if isinstance(model_input, dict):  # columns by name: their length (review helper-66)
        return len(np.atleast_1d(next(iter(model_input.values()), ())))
    return len(model_input)


class LeptonEstimatorModel(mlflow.pyfunc.PythonModel):
    """``predict(raw_rows)`` returns ``estimator.predict(raw_rows)``: an array, or, for a
    model logged since stop 38 (``named``), a frame of the target's columns where it had
    several, named (:func:`named_prediction`). The class is loaded by reference, its
    instance from the model: models logged before keep the array their signature records
    (a registered multilabel model's consumers indexed it as ``pred[:, 0]``; review
    helper-55).

    ``params={"predict_method": "predict_proba"}`` returns a classifier's probabilities
    (:func:`proba_frame`) where the logged signature has the params (:func:`params_schema`;
    MLflow drops them for a model logged before). 0 rows give an empty prediction of the
    same columns and dtype; rows Lepton's checks refuse raise :class:`InvalidInputError`."""

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
        proba = self._wants_proba(params)  # a bad value is refused before any work
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
        if _n_rows(model_input) == 0:  # as `lepton predict` of a file without rows
            prediction = (np.empty((0, len(self.estimator.classes_))) if proba
                          else empty_prediction(self.estimator))
        else:
            method = self.estimator.predict_proba if proba else self.estimator.predict
            try:
                prediction = method(model_input)
            except (ValueError, TypeError) as exc:
                raise InvalidInputError(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        if proba:
            return proba_frame(self.estimator, prediction)
        return (named_prediction(self.estimator, prediction) if self.named
                else np.asarray(prediction))

    def _wants_proba(self, params) -> bool:
        method = (params or {}).get(PREDICT_METHOD, PREDICT_METHODS[0])
        if method not in PREDICT_METHODS:
            raise MlflowException.invalid_parameter_value(
                f"params {PREDICT_METHOD}={method!r} is not one of "
                f"{', '.join(map(repr, PREDICT_METHODS))}.")
        if method == "predict_proba" and not hasattr(self.estimator, "predict_proba"):
            raise MlflowException.invalid_parameter_value(
                f"params {PREDICT_METHOD}={method!r} needs a classifier; this model is a "
                f"regressor: ask for {PREDICT_METHOD}='predict' (its values), or leave it out.")
        return method == "predict_proba"
