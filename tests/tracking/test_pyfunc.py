"""The pyfunc model that serves a fitted estimator: array input, and no MLflow advice."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
from sklearn.datasets import load_iris

from lepton import NeuralNetworkClassifier


def test_array_fed_model_predicts_like_the_estimator(tmp_path):
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    from lepton.tracking._pyfunc import ESTIMATOR_ARTIFACT, LeptonEstimatorModel

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    pkl = tmp_path / "estimator.pkl"
    pkl.write_bytes(pickle.dumps(est))
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=LeptonEstimatorModel(),
                             artifacts={ESTIMATOR_ARTIFACT: str(pkl)},
                             signature=infer_signature(X[:5], est.predict(X[:5])))
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_defining_the_model_class_raises_no_type_hint_warning():
    # MLflow checks predict's hints once per class, at class creation: a fresh process
    code = ("import warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    import lepton.tracking._pyfunc\n"
            "print([str(w.message) for w in caught if 'type hint' in str(w.message).lower()])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_opening_a_new_store_prints_no_table_creation_lines(tmp_path):
    # MLflow logs "Creating initial MLflow database tables..." at INFO on a new SQL store
    code = ("from lepton.tracking import MLflowTracker\n"
            f"MLflowTracker(tracking_uri='sqlite:///{tmp_path / 'new.db'}', "
            "experiment_name='e')\n"
            "print('opened')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip().endswith("opened")
    assert "Creating initial MLflow database tables" not in proc.stderr + proc.stdout
    assert (tmp_path / "new.db").exists()
