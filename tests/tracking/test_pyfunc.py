"""The pyfunc model that serves a fitted estimator: array input, and no MLflow advice."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris

from lepton import NeuralNetworkClassifier


def _served(estimator, signature, tmp_path, input_example=None):
    """``estimator`` saved as Lepton's pyfunc model and loaded back."""
    import mlflow.pyfunc

    from lepton.tracking._pyfunc import ESTIMATOR_ARTIFACT, LeptonEstimatorModel

    pkl = tmp_path / "estimator.pkl"
    pkl.write_bytes(pickle.dumps(estimator))
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=LeptonEstimatorModel(),
                             artifacts={ESTIMATOR_ARTIFACT: str(pkl)}, signature=signature,
                             input_example=input_example,  # checked against the signature
                             pip_requirements=["numpy"])  # inferring them takes seconds
    return mlflow.pyfunc.load_model(str(tmp_path / "model"))


def test_array_fed_model_predicts_like_the_estimator(tmp_path):
    from mlflow.models import infer_signature

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    model = _served(est, infer_signature(X[:5], est.predict(X[:5])), tmp_path)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_an_array_fed_models_signature_takes_what_predict_takes(tmp_path):
    """Logged from float64 rows, the model refused int, uint8 and float32 arrays and lists
    (MLflow's tensor spec takes one dtype) that predict takes: no input schema now."""
    from lepton.tracking._mlflow import model_signature

    X, y = load_iris(return_X_y=True)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    model = _served(est, model_signature(X[:5], est.predict(X[:5])), tmp_path)
    assert model.metadata.get_input_schema() is None
    for rows in (X, X.round().astype(np.int64), X.round().astype(np.uint8),
                 X.astype(np.float32)):
        np.testing.assert_array_equal(model.predict(rows), est.predict(rows))
    with pytest.raises(ValueError, match="features"):  # the width is still checked
        model.predict(X[:, :3])


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


def test_table_fed_model_scores_missing_values_and_either_number_type(tmp_path):
    # MLflow's inferred schema refused what the estimator handles: a missing value (or a
    # float) in a column that was integer in training, integers in a float column; and
    # a column with a missing value in the sample became optional, so a request could omit it
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from lepton.tracking._mlflow import model_signature

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(18, 80, 120), "income": rng.normal(50, 10, 120),
                      "city": rng.choice(["Paris", "Lyon"], 120)})
    X.loc[4, "income"] = np.nan  # in the 5 sample rows
    y = (X["income"].fillna(50) > 50).astype(int)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    model = _served(est, model_signature(X[:5], est.predict(X[:5])), tmp_path)
    new = pd.DataFrame({"age": [30.0, np.nan, 41.5], "income": [50, 70, 60],
                        "city": ["Paris", None, "Lyon"]})
    np.testing.assert_array_equal(model.predict(new), est.predict(new))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    with pytest.raises(MlflowException, match=r"missing inputs \['income'\]"):
        model.predict(new.drop(columns="income"))


def test_model_signature_reads_columns_by_position_and_drops_mlflows_integer_advice():
    import warnings

    import pandas as pd

    from lepton.tracking._mlflow import model_signature

    sample = pd.DataFrame({0: [1, 2, 3], "city": ["a", "b", None], "x": [0.5, np.nan, 1.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MLflow's "Hint: Inferred schema contains integer"
        inputs = model_signature(sample, np.array([0, 1, 0])).inputs.to_dict()
    assert [(c["name"], c["type"], c["required"]) for c in inputs] == [
        (0, "any", True), ("city", "any", True), ("x", "any", True)]


def test_table_fed_model_takes_categories_missing_text_and_dates_as_predict_does(tmp_path):
    """A pandas category column made the input example fail MLflow's check ("Can not
    safely convert category to <U0"): a tracked search logged no model and registered
    nothing, with a warning only. A batch whose text column is all missing (float64, as
    read_csv gives it) and dates as text for a datetime64 column were refused too."""
    import pandas as pd

    from lepton.tracking._mlflow import model_signature

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"store": pd.Categorical(rng.choice(["a", "b", "c"], 120)),
                      "city": rng.choice(["Paris", "Lyon"], 120),
                      "day": pd.date_range("2024-01-01", periods=120, freq="D"),
                      "x": rng.normal(size=120)})
    y = (X["x"] > 0).astype(int)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    sample = X[:5]
    model = _served(est, model_signature(sample, est.predict(sample)), tmp_path,
                    input_example=sample)
    batches = [X[:8], X[:8].assign(city=np.nan),
               X[:8].assign(day=X["day"][:8].dt.strftime("%Y-%m-%d"),
                            store=X["store"][:8].astype(str))]
    for batch in batches:
        np.testing.assert_array_equal(model.predict(batch), est.predict(batch))


def test_model_of_a_dataframe_with_integer_column_names_scores_that_dataframe(tmp_path):
    # pd.DataFrame(array) names its columns 0, 1, ...; the estimator keeps them as strings,
    # and the model selected those strings from MLflow's input: KeyError
    import pandas as pd

    from lepton.tracking._mlflow import model_signature

    X, y = load_iris(return_X_y=True)
    X = pd.DataFrame(X)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    model = _served(est, model_signature(X[:5], est.predict(X[:5])), tmp_path)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_a_request_may_lack_the_identifier_the_model_leaves_out(tmp_path):
    """The model drops an identifier column ('customer': every value distinct), yet its
    signature required it ("Model is missing inputs ['customer']") where `lepton predict`
    takes files without it."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from lepton.estimators._base import left_out_columns
    from lepton.tracking._mlflow import model_signature

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"customer": [f"c{i:04d}" for i in range(120)],
                      "x": rng.normal(size=120), "city": rng.choice(["a", "b"], 120)})
    y = (X["x"] > 0).astype(int)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    assert left_out_columns(est) == {"customer"}
    sample = X[:5]
    model = _served(est, model_signature(sample, est.predict(sample),
                                         optional=left_out_columns(est)), tmp_path,
                    input_example=sample)
    np.testing.assert_array_equal(model.predict(X.drop(columns="customer")), est.predict(X))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    with pytest.raises(MlflowException, match=r"missing inputs \['x'\]"):
        model.predict(X.drop(columns="x"))


def test_a_model_of_several_target_columns_predicts_them_by_name(tmp_path):
    """A multilabel model's pyfunc gave an unnamed (n, 3) array where `lepton predict`
    names the labels (review helper-53); the logged signature names them too."""
    import pandas as pd

    from lepton.tracking._mlflow import model_signature
    from lepton.tracking._pyfunc import named_prediction

    X, y = load_iris(return_X_y=True)
    X = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = pd.DataFrame({"urgent": y == 0, "vip": y == 1, "refund": X.a > 5.8}).astype(int)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, labels)
    signature = model_signature(X[:5], named_prediction(est, est.predict(X[:5])))
    assert signature.outputs.input_names() == ["urgent", "vip", "refund"]
    served = _served(est, signature, tmp_path).predict(X)
    assert list(served.columns) == ["urgent", "vip", "refund"]
    np.testing.assert_array_equal(served.to_numpy(), est.predict(X))
    # one target: the array as before
    single = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    assert isinstance(named_prediction(single, single.predict(X)), np.ndarray)


def test_a_model_logged_before_names_keeps_its_array(tmp_path):
    """The pyfunc class is loaded by reference: a multilabel model registered before stop
    38 gave a frame after the upgrade where its signature and its consumers had an array
    (review helper-55); its instance, from the model, has no ``named``."""
    import pandas as pd

    from lepton.tracking._pyfunc import LeptonEstimatorModel

    X, y = load_iris(return_X_y=True)
    labels = pd.DataFrame({"a": y == 0, "b": y == 1}).astype(int)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, labels)
    old = LeptonEstimatorModel()
    del old.named  # as unpickled from a model logged before
    old.estimator = est
    prediction = old.predict(None, X)
    assert isinstance(prediction, np.ndarray) and prediction.shape == (150, 2)
    fresh = LeptonEstimatorModel()
    fresh.estimator = est
    assert list(fresh.predict(None, X).columns) == ["a", "b"]
