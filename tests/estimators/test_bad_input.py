"""Bad input fails early with a ValueError/TypeError that says what to fix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from lepton import (LeptonClassifier, LeptonRegressor, NeuralNetwork, NeuralNetworkClassifier,
                    NeuralNetworkRegressor)

TINY = dict(hidden_layer_sizes=(4,), epochs=2, random_state=0, device="cpu")
KNOWN = "elu, gelu, identity, leaky_relu, mish, relu, selu, sigmoid, silu, softplus, tanh"


def _X(n=20, d=3):
    return np.random.default_rng(0).normal(size=(n, d))


# -- targets -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("cls", [NeuralNetworkClassifier, NeuralNetworkRegressor, NeuralNetwork])
def test_nan_or_inf_in_y(cls, bad):
    y = np.arange(20.0) % 2
    y[[3, 7]] = bad
    with pytest.raises(ValueError, match=r"y contains NaN or infinity in 2 row\(s\) \(first rows: "
                                         r"\[3, 7\]\); drop those rows or fill in the target"):
        cls(**TINY).fit(_X(), y)


def test_missing_labels_of_a_multilabel_target_are_refused_by_row_and_column():
    """A 0/1 column per label with empty cells: named (the first), with the fix; before,
    the error called them 'other values (e.g. nan)' and advised a classifier per column."""
    labels = (_X(40, 3) > 0).astype(float)
    labels[[6, 9], [2, 0]] = np.nan
    with pytest.raises(ValueError, match=r"y has 2 missing labels \(NaN\), the first in row "
                                         r"6, column 'urgent': a multilabel target needs every "
                                         r"label of every row\. Fill them \(0 where"):
        LeptonClassifier(time_budget=5).fit(_X(40), pd.DataFrame(
            labels, columns=["spam", "work", "urgent"]))
    with pytest.raises(ValueError, match=r"the first in row 6, label column 2:"):
        NeuralNetworkClassifier(**TINY).fit(_X(40), labels)


def test_a_class_per_column_is_refused_with_the_way_to_fit_it():
    """Several 0/1 columns are a multilabel target (tests/estimators/test_multilabel.py);
    columns of other values (a class each) are refused, naming a value, with the advice."""
    from sklearn.multioutput import MultiOutputClassifier

    Y = np.where(_X(40, 2) > 0, "spam", "ham")
    with pytest.raises(ValueError, match=r"y has 2 columns \(shape \(40, 2\)\): "
                                         r"NeuralNetworkClassifier takes several labels per "
                                         r"row as a 0/1 .* hold other values \(e.g. '(spam|ham)'"
                                         r"\).*MultiOutputClassifier\(NeuralNetworkClassifier"):
        NeuralNetworkClassifier(**TINY).fit(_X(40), Y)
    with pytest.raises(ValueError, match=r"LeptonClassifier takes several labels.* \(e.g. 2\)"
                                         r".*each fit with its own time budget"):
        LeptonClassifier(time_budget=5).fit(_X(40), pd.DataFrame(
            (_X(40, 2) > 0) * 2, columns=["a", "b"]))  # 0/2: not labels' 0/1
    # the advice works: one network per column
    both = MultiOutputClassifier(NeuralNetworkClassifier(**TINY)).fit(_X(40), Y)
    assert both.predict(_X(40)).shape == (40, 2)
    # one column is one label (scikit-learn's column vector, with its warning)
    with pytest.warns(Warning, match="column-vector y"):
        NeuralNetworkClassifier(**TINY).fit(_X(40), Y[:, :1])


def test_missing_value_in_string_labels():
    y = np.array(["a", "b"] * 10, dtype=object)
    y[4] = None
    with pytest.raises(ValueError, match=r"y contains missing values \(None/NaN\) in 1 row\(s\) "
                                         r"\(first rows: \[4\]\); drop those rows"):
        NeuralNetworkClassifier(**TINY).fit(_X(), y)


@pytest.mark.parametrize("y, shown", [(np.ones(20), "1.0"), (np.array(["spam"] * 20), "'spam'")])
def test_single_class(y, shown):
    with pytest.raises(ValueError, match=rf"y contains only one class \({shown}\); a classifier "
                                         r"needs at least 2 classes"):
        NeuralNetworkClassifier(**TINY).fit(_X(), y)


def test_labels_mixing_strings_and_numbers_are_refused_with_their_types():
    y = np.array([1, "a"] * 10, dtype=object)
    with pytest.raises(ValueError, match=r"y mixes strings and other labels \(e\.g\. 'a' and 1 "
                                         r"\(int\)\); give every label one type"):
        NeuralNetworkClassifier(**TINY).fit(_X(), y)


def test_labels_of_decimals_or_booleans_beside_numbers_say_which_and_how_to_go_on():
    """scikit-learn's 'Unknown label type: continuous (or unknown)' named neither the
    values nor a way out (review helper-47)."""
    with pytest.raises(ValueError, match=r"Unknown label type: continuous\. y holds numbers that "
                                         r"are not whole \(e\.g\. 0\.5; 2 "
                                         r"distinct values\): NeuralNetworkClassifier takes "
                                         r"classes as whole numbers, strings or booleans"):
        NeuralNetworkClassifier(**TINY).fit(_X(), np.array([0.5, 1.5] * 10))
    with pytest.raises(ValueError, match=r"Unknown label type: unknown\. y mixes booleans and "
                                         r"other labels \(e\.g\. True and "
                                         r"2\); give every label one type"):
        NeuralNetworkClassifier(**TINY).fit(_X(), np.array([True, 2] * 10, dtype=object))


def test_regressor_with_a_date_target_says_to_convert_it():
    """Dates as y were regressed on as nanoseconds, without a word."""
    y = pd.Series(pd.date_range("2024-01-01", periods=20, freq="D"))
    for model in (NeuralNetworkRegressor(**TINY), NeuralNetwork(**TINY)):
        with pytest.raises(ValueError, match=r"is a regressor but y holds dates \(dtype "
                                             r"datetime64\[\w+\]\); convert them to numbers"):
            model.fit(_X(), y)


def test_complex_columns_of_a_frame_are_refused_as_complex_arrays_are():
    X = pd.DataFrame({"a": np.arange(20.0), "z": np.arange(20) * (1 + 1j)})
    with pytest.raises(ValueError, match=r"Complex data not supported; column 'z' of X has "
                                         r"dtype complex128"):
        NeuralNetworkClassifier(**TINY).fit(X, np.arange(20) % 2)


def test_a_torch_device_is_a_device():
    import torch

    model = NeuralNetworkClassifier(**{**TINY, "device": torch.device("cpu")})
    assert model.fit(_X(), np.arange(20) % 2).predict(_X()).shape == (20,)


def test_regressor_with_string_target():
    with pytest.raises(ValueError, match=r"NeuralNetworkRegressor is a regressor but y holds "
                                         r"non-numeric values"):
        NeuralNetworkRegressor(**TINY).fit(_X(), np.array(["a", "b"] * 10))


def test_y_none():
    with pytest.raises(ValueError, match="requires y to be passed"):
        NeuralNetworkClassifier(**TINY).fit(_X(), None)


# -- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("X, match", [
    (np.empty((0, 3)), r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1"),
    (np.empty((5, 0)), r"Found array with 0 feature\(s\) \(shape=\(5, 0\)\) while a minimum of 1"),
    (pd.DataFrame({"a": []}), r"Found array with 0 sample\(s\)"),
    (pd.DataFrame(index=range(4)), r"Found array with 0 feature\(s\)"),
])
def test_empty_input(X, match):
    with pytest.raises(ValueError, match=match):
        NeuralNetworkClassifier(**TINY).fit(X, np.arange(len(X)) % 2)


def test_single_sample():
    with pytest.raises(ValueError, match=r"got 1 sample \(n_samples=1\); at least 2 are needed"):
        NeuralNetworkRegressor(**TINY).fit(_X(1), [1.0])


@pytest.mark.parametrize("cls", [NeuralNetworkClassifier, NeuralNetworkRegressor])
def test_x_y_length_mismatch(cls):
    with pytest.raises(ValueError, match=r"X and y have different lengths: X has 20 rows, y has "
                                         r"19; they must describe the same samples"):
        cls(**TINY).fit(_X(), np.arange(19) % 2)


def test_a_validation_fraction_that_leaves_no_training_rows():
    with pytest.raises(ValueError, match=r"validation_fraction=0\.99 of 40 rows holds out 40 rows, "
                                         r"leaving none to train on"):
        NeuralNetworkClassifier(**TINY, validation_fraction=0.99).fit(_X(40), np.arange(40) % 2)


# -- predict-time mismatches -------------------------------------------------------------
@pytest.fixture(scope="module")
def frame_model():
    X = pd.DataFrame({"age": np.arange(20.0), "city": ["a", "b"] * 10, "ok": [True] * 20})
    return NeuralNetworkClassifier(**TINY).fit(X, np.arange(20) % 2), X


def test_fitted_on_an_array_predicts_a_frame_by_column_position():
    X, y = _X(), np.arange(20) % 2
    model = NeuralNetworkClassifier(**TINY).fit(X, y)
    with pytest.warns(UserWarning, match="X has feature names, but NeuralNetworkClassifier was "
                                         "fitted without feature names"):
        proba = model.predict_proba(pd.DataFrame(X, columns=["a", "b", "c"]))
    np.testing.assert_array_equal(proba, model.predict_proba(X))


def test_a_frame_of_unnamed_columns_gives_no_feature_names(recwarn):
    """pd.DataFrame(array) names its columns 0, 1, ...: no feature names, as scikit-learn
    has it, so arrays and such frames predict alike without a warning (it recorded '0',
    '1', ... and warned at every array)."""
    import warnings

    X, y = _X(), np.arange(20) % 2
    model = NeuralNetworkClassifier(**TINY).fit(pd.DataFrame(X), y)
    assert not hasattr(model, "feature_names_in_") and model.n_features_in_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(model.predict_proba(X),
                                      model.predict_proba(pd.DataFrame(X)))
    # names of which some are strings stay names, as strings
    mixed = NeuralNetworkClassifier(**TINY).fit(pd.DataFrame(X, columns=[0, "b", "c"]), y)
    assert list(mixed.feature_names_in_) == ["0", "b", "c"]


def test_predict_with_a_missing_column(frame_model):
    model, X = frame_model
    with pytest.raises(ValueError, match=r"(?s)Feature names seen at fit time, yet now missing:"
                                         r"\n- city"):
        model.predict(X.drop(columns="city"))


def test_predict_with_an_unknown_column(frame_model):
    model, X = frame_model
    with pytest.raises(ValueError, match=r"(?s)Feature names unseen at fit time:\n- town"):
        model.predict(X.rename(columns={"city": "town"}))


def test_predict_with_reordered_columns(frame_model):
    model, X = frame_model
    with pytest.raises(ValueError, match="Feature names must be in the same order as they were"):
        model.predict(X[["city", "age", "ok"]])


@pytest.mark.parametrize("cls", [NeuralNetworkClassifier, NeuralNetworkRegressor, NeuralNetwork])
def test_predict_with_a_different_feature_count(cls):
    model = cls(**TINY).fit(_X(), np.arange(20) % 2)
    with pytest.raises(ValueError, match=rf"X has 4 features, but {cls.__name__} is expecting 3 "
                                         r"features as input"):
        model.predict(_X(5, 4))


def test_predict_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="is not fitted yet"):
        NeuralNetworkClassifier().predict(_X())


# -- values ------------------------------------------------------------------------------
def test_numeric_column_with_unparseable_strings_at_fit():
    # ('n/a', '?', 'unknown' ... are missing values: test_preprocessing.py)
    X = pd.DataFrame({"income": ["100", "250", "12k", "300", "120", "90"], "x": np.arange(6.0)})
    with pytest.raises(ValueError, match=r"Column 'income' is numeric in 5 of 6 rows but holds "
                                         r"values that are not numbers: \['12k'\]\. Fix or remove"):
        NeuralNetworkRegressor(**TINY).fit(X, np.arange(6.0))


@pytest.mark.parametrize("bad_rows", [[5, 17, 40], [7]])
@pytest.mark.parametrize("make", [
    lambda: NeuralNetworkClassifier(epochs=1, random_state=0),
    lambda: LeptonClassifier(time_budget=30, n_trials=1, random_state=0)],
    ids=["validation split", "search folds"])
def test_a_mixed_column_is_reported_with_the_counts_of_all_rows(make, bad_rows):
    """Preprocessors are fitted on part of the rows (the training split, a fold): their
    error counted that part ('237 of 240 rows'), or, with every bad value among the held-out
    rows, said the column 'was numeric during fit'."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300).astype(object), "b": rng.normal(size=300)})
    X.loc[bad_rows, "a"] = "tbd"
    n_good = 300 - len(bad_rows)
    with pytest.raises(ValueError, match=rf"Column 'a' is numeric in {n_good} of 300 rows but "
                                         r"holds values that are not numbers: \['tbd'\]"):
        make().fit(X, (X.b > 0).astype(int))


def test_numeric_column_with_unparseable_strings_at_predict():
    X = pd.DataFrame({"income": ["100", "250", "80", "300", "120", "90"], "x": np.arange(6.0)})
    model = NeuralNetworkRegressor(**TINY).fit(X, np.arange(6.0))
    X.loc[2, "income"] = "lots"
    with pytest.raises(ValueError, match=r"Column 'income' was numeric during fit but holds "
                                         r"values that are not numbers: \['lots'\]"):
        model.predict(X)


def test_inf_in_x_names_the_column():
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0)})
    X.loc[4, "b"] = np.inf
    with pytest.raises(ValueError, match="Column 'b' contains infinity"):
        NeuralNetworkRegressor(**TINY).fit(X, np.arange(20.0))
    arr = _X()
    arr[3, 1] = -np.inf
    with pytest.raises(ValueError, match=r"Input X contains infinity \(first in column 1\)"):
        NeuralNetworkRegressor(**TINY).fit(arr, np.arange(20.0))


def test_unencodable_values_in_x():
    X = pd.DataFrame({"meta": [{"k": i} for i in range(6)], "x": np.arange(6.0)})
    with pytest.raises(TypeError, match=r"Column 'meta' holds dict values; a column must hold "
                                        r"numbers, strings, booleans or categories"):
        NeuralNetworkClassifier(**TINY).fit(X, np.arange(6) % 2)


# -- parameters ----------------------------------------------------------------------------
def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match=rf"activation='relux' is not a known activation; "
                                         rf"choose one of {KNOWN}\."):
        NeuralNetworkClassifier(activation="relux", **TINY).fit(_X(), np.arange(20) % 2)
    with pytest.raises(ValueError, match=r"activation\[1\]='Relu' is not a known activation"):
        NeuralNetworkRegressor(hidden_layer_sizes=(4, 4), activation=["relu", "Relu"]).fit(
            _X(), np.arange(20.0))


def test_cuda_device_when_unavailable():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match=r"device='cuda' but CUDA is not available here; use "
                                         r"'auto' or 'cpu'"):
        NeuralNetworkClassifier(device="cuda", **{k: v for k, v in TINY.items()
                                                  if k != "device"}).fit(_X(), np.arange(20) % 2)


def test_divergence_before_any_usable_epoch_says_what_to_change():
    from lepton.training import DivergedError

    X = _X(64, 4)
    with pytest.raises(DivergedError, match=r"NeuralNetworkRegressor training diverged: loss "
                                            r"became (inf|nan) at epoch [12] \(learning_rate=1e\+12\); "
                                            r"a lower learning rate or gradient clipping"):
        NeuralNetworkRegressor(hidden_layer_sizes=(8,), learning_rate=1e12, gradient_clip=None,
                               lr_schedule="constant", epochs=20, random_state=0).fit(X, X[:, 0])


# -- a refused fit, and parameters that cannot go together ---------------------------------
@pytest.mark.parametrize("refit", [
    lambda m, X, y: m.fit(X[:, :2], y, sample_weight=-np.ones(len(y))),  # refused weights
    lambda m, X, y: m.fit(pd.DataFrame(X[:, :2], columns=["a", "b"]), np.full(len(y), 1.0)
                          .tolist()[:-1] + [np.nan]),  # refused target, after the new names
])
def test_a_refused_fit_leaves_the_fitted_model_as_it_was(refit):
    """A refused second fit had already recorded the new columns: the model fitted before
    then refused its own rows ('X has 3 features, but ... is expecting 2')."""
    X, y = _X(), np.arange(20) % 2
    model = NeuralNetworkClassifier(**TINY).fit(X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError):
        refit(model, X, y)
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_a_refused_search_leaves_the_fitted_search_as_it_was():
    X, y = _X(40), np.arange(40) % 2
    model = LeptonClassifier(time_budget=5, n_trials=1, random_state=0).fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        model.fit(X[:, :2], y, sample_weight=-np.ones(40))
    assert model.n_features_in_ == 3
    np.testing.assert_array_equal(model.predict(X), before)


def test_refitting_a_network_on_another_task_drops_the_old_tasks_attributes():
    X = _X()
    model = NeuralNetwork(**TINY).fit(X, np.arange(20) % 3)
    model.fit(X, X[:, 0] * 2.0)
    assert model.task_ == "regression" and not hasattr(model, "classes_")
    model.fit(X, np.arange(20) % 3)
    assert model.task_ == "classification" and not hasattr(model, "y_scaler_")


def test_label_smoothing_on_a_regression_target_is_refused():
    with pytest.raises(ValueError, match=r"label_smoothing=0\.1 applies to classification, and "
                                         r"y is a regression target"):
        NeuralNetwork(**TINY, label_smoothing=0.1).fit(_X(), np.linspace(0, 1, 20))


def test_batch_normalisation_with_batches_of_one_row_is_refused():
    """torch said 'Expected more than 1 value per channel when training'."""
    with pytest.raises(ValueError, match=r"batch_size=1 with normalization='batch': batch "
                                         r"normalisation needs at least 2 rows"):
        NeuralNetwork(hidden_layer_sizes=[5, 2], normalization="batch", random_state=0).fit(
            _X(), np.arange(20) % 2, epochs=1, batch_size=1)


def test_a_validation_fraction_that_leaves_fewer_training_rows_than_classes():
    """scikit-learn's 'The train_size = 1 should be greater or equal to the number of
    classes = 3' named no parameter."""
    with pytest.raises(ValueError, match=r"validation_fraction=0\.95 of 40 rows holds out 38 "
                                         r"rows, leaving 2 to train on, fewer than the 3 classes"):
        NeuralNetworkClassifier(**TINY, validation_fraction=0.95).fit(_X(40), np.arange(40) % 3)


def test_sparse_input_with_missing_values_is_refused_not_predicted_as_nan():
    """A model fitted on a sparse matrix predicted NaN probabilities (and class 0) for a
    dense row holding NaN; a sparse one said only 'Input contains NaN.'"""
    import scipy.sparse as sp

    X = sp.random(60, 8, density=0.3, format="csr", random_state=0)
    model = NeuralNetworkClassifier(**TINY).fit(X, np.arange(60) % 2)
    dense = X[:2].toarray()
    dense[0, 0] = np.nan
    said = r"X holds 1 value\(s\) that are NaN or infinite \(e\.g\. nan\) and "
    with pytest.raises(ValueError, match=said + "the model was fitted on a sparse matrix, "
                                                "whose preprocessing scales but does not impute"):
        model.predict(dense)
    with pytest.raises(ValueError, match=said + "X is a sparse matrix"):
        model.predict(sp.csr_matrix(dense))


def test_images_of_another_shape_than_input_shape_are_refused():
    """(8, 8) images with input_shape=(4, 16), the same 64 values, were reshaped into
    other images without a word; a channel of 1 is the same shape."""
    X, y = np.random.default_rng(0).normal(size=(30, 8, 8)), np.arange(30) % 2
    cnn = dict(architecture={"family": "cnn", "conv_channels": [2], "layers": []}, epochs=1)
    with pytest.raises(ValueError, match=r"X has per-sample shape \[8, 8\] but "
                                         r"input_shape=\[4, 16\]"):
        NeuralNetworkClassifier(**cnn, input_shape=(4, 16)).fit(X, y)
    assert NeuralNetworkClassifier(**cnn, input_shape=(1, 8, 8)).fit(X, y).n_features_in_ == 64


def test_columns_left_out_are_named_in_a_warning_by_every_estimator(tmp_path, capsys):
    # amounts written as German text (pandas read '3.311,03' as a string) were left out as
    # an identifier, and the estimator API said nothing: only `lepton run`'s notes did
    from lepton import LeftOutColumnsWarning
    from lepton.cli import main

    rng = np.random.default_rng(0)
    amount = rng.uniform(100, 9000, 120).round(2)
    X = pd.DataFrame({"betrag": [f"{a:,.2f}".replace(",", " ").replace(".", ",") for a in amount],
                      "menge": rng.integers(1, 9, 120)})
    y = np.where(amount > 3000, "hoch", "tief")
    for model in (NeuralNetworkClassifier(hidden_layer_sizes=(8,), epochs=2),
                  LeptonClassifier(time_budget=10, n_trials=1, cv=None)):
        with pytest.warns(LeftOutColumnsWarning) as caught:
            model.fit(X, y)
        ours = [w for w in caught if w.category is LeftOutColumnsWarning]
        said = [str(w.message) for w in ours]
        assert len(said) == 1, said
        assert said[0].startswith(f"{type(model).__name__}: 1 column(s) of X left out of the "
                                  "features: 'betrag' ("), said[0]
        assert ours[0].filename == __file__  # at the line that called fit
    with warnings.catch_warnings():  # nothing left out: no warning
        warnings.simplefilter("error", LeftOutColumnsWarning)
        NeuralNetworkClassifier(hidden_layer_sizes=(8,), epochs=2).fit(X[["menge"]], y)
    # `lepton run` says it in its notes, once: not again as a warning
    X.assign(kunde=[f"K{i:04d}" for i in range(120)], label=y).to_csv(tmp_path / "table.csv",
                                                                      index=False)
    for extra in (["--time-budget", "8", "--no-tracking"], ["--fixed"]):
        assert main(["run", str(tmp_path / "table.csv"), "--target", "label", *extra]) == 0
        out, err = capsys.readouterr()
        assert "column 'kunde' left out: an identifier" in out and "left out" not in err, err


@pytest.mark.parametrize("cls", [NeuralNetworkRegressor, LeptonRegressor])
def test_a_target_too_large_to_standardise_is_refused_with_its_size(cls):
    # one price of 1e300: its square overflows; the search ran on with every score NaN and
    # said to hold out more rows
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = np.linspace(1.0, 2.0, 40)
    y[3] = 1e300
    with pytest.raises(ValueError, match=r"y holds values too large to standardise in float64 "
                                         r"\(up to 1e\+300\).*Rescale y"):
        cls().fit(X, y)
