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

    tmp_path.mkdir(parents=True, exist_ok=True)  # a folder of tmp_path, for several models
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


def test_durations_and_decimals_make_an_input_example_mlflow_writes(tmp_path):
    """A timedelta or decimal column made Model.log fail ("Object of type Timedelta is not
    JSON serializable"): a tracked search logged no model and registered nothing, with a
    warning only (review helper-78). The example holds them as text and floats, which
    predict reads as it reads the columns."""
    import datetime
    import decimal

    import pandas as pd
    import pyarrow as pa

    from lepton.tracking._mlflow import input_example, model_signature

    rng = np.random.default_rng(0)
    wait = pd.Series(pd.to_timedelta(rng.integers(0, 7200, 120), unit="s"))
    price = np.round(rng.uniform(0, 100, 120), 2)
    X = pd.DataFrame({
        "wait": wait, "wait_arrow": wait.astype(pd.ArrowDtype(pa.duration("us"))),
        "wait_objects": [datetime.timedelta(seconds=int(s)) for s in wait.dt.total_seconds()],
        "price": [decimal.Decimal(f"{p:.2f}") for p in price],
        "price_arrow": pd.Series(pa.array(price).cast(pa.decimal128(8, 2)),
                                 dtype=pd.ArrowDtype(pa.decimal128(8, 2))),
        "x": rng.normal(size=120)})
    y = (X["x"] + wait.dt.total_seconds() / 3600 > 1).astype(int)
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    sample = X[:5]
    model = _served(est, model_signature(sample, est.predict(sample)), tmp_path,
                    input_example=input_example(sample))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    np.testing.assert_array_equal(est.predict(input_example(X)), est.predict(X))


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


def _iris_frame():
    import pandas as pd

    X, y = load_iris(return_X_y=True)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]), y


def test_a_request_may_ask_for_class_probabilities_named_as_lepton_predict_names_them(
        tmp_path):
    """The model had no way to return probabilities: the signature had no params, so
    MLflow dropped ``params={...}`` with a warning and served labels."""
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    from lepton import NeuralNetworkRegressor
    from lepton.tracking._mlflow import model_signature
    from lepton.tracking._pyfunc import named_prediction

    X, y = _iris_frame()
    species = np.array(["setosa", "versicolor", "virginica"])[y]
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, species)
    model = _served(est, model_signature(X[:5], est.predict(X[:5])), tmp_path / "cls",
                    input_example=X[:5])
    proba = model.predict(X, params={"predict_method": "predict_proba"})
    assert list(proba.columns) == ["proba_setosa", "proba_versicolor", "proba_virginica"]
    np.testing.assert_allclose(proba.to_numpy(), est.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))  # the default: labels
    np.testing.assert_array_equal(model.predict(X, params={"predict_method": "predict"}),
                                  est.predict(X))
    with pytest.raises(MlflowException, match=r"predict_method='proba' is not one of "
                                              r"'predict', 'predict_proba'") as caught:
        model.predict(X, params={"predict_method": "proba"})
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"

    # a multilabel model: a probability per label, named proba_<label>
    labels = pd.DataFrame({"urgent": y == 0, "vip": y == 1}).astype(int)
    multi = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, labels)
    served = _served(multi, model_signature(X[:5], named_prediction(multi, multi.predict(X[:5]))),
                     tmp_path / "multi")
    proba = served.predict(X, params={"predict_method": "predict_proba"})
    assert list(proba.columns) == ["proba_urgent", "proba_vip"]
    np.testing.assert_allclose(proba.to_numpy(), multi.predict_proba(X))

    reg = NeuralNetworkRegressor(epochs=3, random_state=0).fit(X, y.astype(float))
    served = _served(reg, model_signature(X[:5], reg.predict(X[:5])), tmp_path / "reg")
    with pytest.raises(MlflowException, match=r"predict_method='predict_proba' needs a "
                                              r"classifier; this model is a regressor"):
        served.predict(X, params={"predict_method": "predict_proba"})

    # a model logged before (no params in its signature) predicts as it did: MLflow drops
    # the params
    before = _served(est, infer_signature(X[:5], est.predict(X[:5])), tmp_path / "before")
    np.testing.assert_array_equal(before.predict(X, params={"predict_method": "predict_proba"}),
                                  est.predict(X))


def test_zero_rows_give_an_empty_prediction_of_the_models_columns_and_dtype(tmp_path):
    """0 rows were refused ("Found array with 0 sample(s)") where `lepton predict` of a file
    without rows writes the columns' names."""
    import pandas as pd

    from lepton import NeuralNetworkRegressor
    from lepton.tracking._mlflow import model_signature
    from lepton.tracking._pyfunc import LeptonEstimatorModel, named_prediction

    X, y = _iris_frame()
    species = np.array(["setosa", "versicolor", "virginica"])[y]
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, species)
    model = _served(est, model_signature(X[:5], est.predict(X[:5])), tmp_path / "cls")
    labels = model.predict(X[:0])
    assert labels.shape == (0,) and labels.dtype == est.predict(X[:3]).dtype
    proba = model.predict(X[:0], params={"predict_method": "predict_proba"})
    assert proba.shape == (0, 3) and list(proba.columns) == [
        "proba_setosa", "proba_versicolor", "proba_virginica"]
    assert (proba.dtypes == np.float64).all()

    multi_y = pd.DataFrame({"urgent": y == 0, "vip": y == 1})  # booleans, predicted so
    multi = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, multi_y)
    served = _served(multi, model_signature(X[:5], named_prediction(multi, multi.predict(X[:5]))),
                     tmp_path / "multi").predict(X[:0])
    assert list(served.columns) == ["urgent", "vip"] and len(served) == 0
    assert (served.dtypes == multi.predict(X[:3]).dtype).all()

    reg = NeuralNetworkRegressor(epochs=3, random_state=0).fit(X, y.astype(float))
    served = _served(reg, model_signature(X[:5], reg.predict(X[:5])), tmp_path / "reg")
    values = served.predict(X[:0])
    assert values.shape == (0,) and values.dtype == np.float64

    targets = pd.DataFrame({"c": X.c, "d": X.d})
    reg2 = NeuralNetworkRegressor(epochs=3, random_state=0).fit(X[["a", "b"]], targets)
    served = _served(reg2, model_signature(X[:5][["a", "b"]],
                                           named_prediction(reg2, reg2.predict(X[:5][["a", "b"]]))),
                     tmp_path / "reg2").predict(X[:0][["a", "b"]])
    assert list(served.columns) == ["c", "d"] and len(served) == 0
    assert (served.dtypes == np.float64).all()
    old = LeptonEstimatorModel()  # a model logged before names: the (0, 2) array
    del old.named
    old.estimator = reg2
    assert old.predict(None, X[:0][["a", "b"]]).shape == (0, 2)

    array_fed = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X.to_numpy(), y)
    served = _served(array_fed, model_signature(X.to_numpy()[:5],
                                               array_fed.predict(X.to_numpy()[:5])),
                     tmp_path / "array")
    assert served.predict(np.empty((0, 4))).shape == (0,)


def test_rows_lepton_refuses_raise_mlflows_invalid_parameter_value_with_leptons_message(
        tmp_path):
    """A scoring server answered Lepton's refusal of a request's values (text in a numeric
    column, infinity) with "Encountered an unexpected error while evaluating the model",
    Lepton's message at the end of its stack trace only: the model raised a ValueError,
    not the MlflowException whose message the server returns."""
    from mlflow.exceptions import MlflowException

    from lepton.tracking._mlflow import model_signature

    X, y = _iris_frame()
    est = NeuralNetworkClassifier(epochs=3, random_state=0).fit(X, y)
    model = _served(est, model_signature(X[:5], est.predict(X[:5])), tmp_path)
    for bad, message in ((X[:2].astype({"a": object}).assign(a=["abc", 1.0]),
                          (r"Column 'a' was numeric during fit but holds values that are "
                           r"not numbers: \['abc'\]")),
                         (X[:2].assign(a=np.inf), "Column 'a' contains infinity")):
        with pytest.raises(MlflowException, match=message) as caught:
            model.predict(bad)
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
        assert isinstance(caught.value, ValueError)  # as the estimator raised it


def test_rows_are_counted_in_a_dict_of_columns():
    # review helper-66: a dict's length is its columns, not its rows (0 rows: an empty answer)
    from lepton.tracking._pyfunc import _n_rows

    assert _n_rows({"a": [1, 2, 3], "b": [4, 5, 6]}) == 3
    assert _n_rows({"a": []}) == 0 and _n_rows({"a": 7}) == 1
