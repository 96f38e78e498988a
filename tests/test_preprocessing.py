"""TabularPreprocessor and check_X: typing, imputation, scaling, encoding, errors."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sklearn.base import clone

from lepton.preprocessing import (GlobalScaler, RobustClipScaler, TabularPreprocessor, check_X,
                                  feature_ranking)


def _fit(X, **kw):
    pre = TabularPreprocessor(**kw)
    return pre, pre.fit_transform(check_X(X))


# -- numeric -----------------------------------------------------------------------------
def test_numeric_imputation_with_missing_indicator():
    X = np.array([[1.0, 10.0], [2.0, np.nan], [np.nan, 30.0], [4.0, 40.0], [5.0, 50.0]])
    pre, Xt = _fit(X)
    assert Xt.dtype == np.float32 and Xt.shape == (5, 4)  # 2 scaled + 2 indicators
    np.testing.assert_array_equal(Xt[:, 2:], np.isnan(X).astype(np.float32))
    # missing values take the median, which scales to 0
    assert Xt[2, 0] == 0.0 and Xt[1, 1] == pytest.approx(0.0)
    # a column with no missing values during fit gets no indicator, but is still imputed
    full = np.array([[1.0], [2.0], [3.0], [4.0]])
    pre, Xt = _fit(full)
    assert Xt.shape == (4, 1)
    assert pre.transform(np.array([[np.nan]])).tolist() == [[0.0]]
    # nothing missing: the imputer hands X on as it is (0.26 s of 1.0 s on 1,600 images),
    # and nothing after it writes into the caller's array
    np.testing.assert_array_equal(pre.transform(full), Xt)
    assert full.tolist() == [[1.0], [2.0], [3.0], [4.0]]


def test_global_scaling_keeps_pixels_in_proportion():
    """'global' (the cnn space's): one mean and deviation for every numeric column. Each
    on its own, a pixel dark in every training image but one got a scale of 0.03, and a
    new image lit there a value of hundreds (review helper-46)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 17, size=(200, 16)).astype(float)
    X[:, 0] = 0.0
    X[0, 0] = 1.0  # the border pixel, lit once
    pre, Xt = _fit(X, scaling="global")
    np.testing.assert_allclose(Xt, (X - X.mean()) / X.std(), rtol=1e-5, atol=1e-5)
    lit = pre.transform(np.full((1, 16), 16.0))
    assert np.ptp(lit) == 0 and abs(lit[0, 0]) < 3
    assert abs(_fit(X, scaling="standard")[0].transform(np.full((1, 16), 16.0))[0, 0]) > 100


def test_global_scaling_scales_each_channel_on_its_own():
    """Images' channels in other units (a depth in millimetres beside a grey level of
    0-16): one mean and deviation for both left the grey channel within 0.02 of -0.98,
    a fixed CNN's held-out accuracy on such digits 0.10-0.12 (0.976-0.978 scaled a channel
    each); each channel gets its own now, its pixels still in proportion."""
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 17, size=(100, 1, 4, 4)).astype(float)
    depth = 2000 + 300 * rng.normal(size=(100, 1, 4, 4))
    X = np.concatenate([grey, depth], axis=1).reshape(100, -1)
    pre, Xt = _fit(X, scaling="global", channels=2)
    np.testing.assert_allclose(Xt[:, :16], (X[:, :16] - X[:, :16].mean()) / X[:, :16].std(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Xt[:, 16:], (X[:, 16:] - X[:, 16:].mean()) / X[:, 16:].std(),
                               rtol=1e-5, atol=1e-5)
    assert _fit(X, scaling="global")[1][:, :16].std() < 0.01  # one mean: grey is lost
    np.testing.assert_array_equal(pre.transform(X), Xt)
    # a scaler pickled before channels (floats, no parameter) transforms as it did
    old = GlobalScaler().fit(X)
    old.mean_, old.scale_ = float(X.mean()), float(X.std())
    del old.channels
    np.testing.assert_allclose(old.transform(X), (X - X.mean()) / X.std(), rtol=1e-5)
    assert "channels" not in repr(old) and clone(old).channels == 1
    with pytest.raises(ValueError, match=r"channels=3 must be a whole number >= 1 that divides "
                                         r"the 32 columns into equal blocks"):
        _fit(X, scaling="global", channels=3)


def test_missing_indicator_can_be_turned_off():
    X = np.array([[1.0], [np.nan], [3.0], [4.0]])
    assert _fit(X, add_missing_indicator=False)[1].shape == (4, 1)


def test_robust_scaling_bounds_outliers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    X[:3, 0] = [1e6, -1e6, 50.0]
    pre, Xt = _fit(X, clip=3.0)
    assert np.abs(Xt).max() <= 3.0
    assert Xt[0, 0] > 2.99 and Xt[1, 0] < -2.99  # smooth clip: just under the bound
    body = Xt[3:, 0]
    assert abs(np.median(body)) < 0.1 and 0.7 < np.std(body) < 1.3  # the bulk stays ~N(0, 1)
    # outliers at predict time are bounded the same way
    assert np.abs(pre.transform(np.array([[1e9], [-1e9]]))).max() <= 3.0


def test_robust_clip_scaler_formula_and_constant_columns():
    X = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    sc = RobustClipScaler(clip=3.0).fit(X)  # the default clips every column
    scale = (3.0 - 1.0) / 1.349
    assert sc.center_.tolist() == [2.0, 5.0] and sc.scale_[0] == pytest.approx(scale)
    z = (4.0 - 2.0) / scale
    assert sc.transform(X)[4, 0] == pytest.approx(z / np.sqrt(1 + (z / 3) ** 2), rel=1e-6)
    assert sc.scale_[1] == 1.0 and np.all(sc.transform(X)[:, 1] == 0)  # no division by 0


def test_standard_scaling_keeps_outliers_where_robust_scaling_clips_them():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=2.0, size=(200, 2))
    X[0, 0] = 60.0
    pre, Xt = _fit(X, scaling="standard")
    np.testing.assert_allclose(Xt.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Xt.std(0), 1.0, atol=1e-5)
    assert Xt[0, 0] > 10  # not clipped: its distance from the bulk is kept
    assert _fit(X, scaling="robust")[1][0, 0] < 3.0
    with pytest.raises(ValueError, match=r"scaling='minmax' is not one of robust, standard"):
        TabularPreprocessor(scaling="minmax").fit(X)


# -- categorical ---------------------------------------------------------------------------
def test_one_hot_up_to_the_cardinality_limit_then_ordinal():
    frame = pd.DataFrame({"low": [f"l{i % 4}" for i in range(40)],
                          "high": [f"h{i % 20}" for i in range(40)]})
    # a wide column is one-hot within the cells allowed (here: none), else, without a
    # target, ordinal
    pre, Xt = _fit(frame, max_onehot_cardinality=16, onehot_cells=0)
    assert pre.onehot_columns_ == ["low"] and pre.ordinal_columns_ == ["high"]
    assert pre.target_columns_ == []
    assert Xt.shape == (40, 4 + 1)
    onehot = Xt[:, :4]
    assert set(onehot.ravel().tolist()) == {0.0, 1.0} and np.all(onehot.sum(1) == 1)
    ordinal = Xt[:, 4]
    assert len(np.unique(ordinal)) == 20
    assert abs(ordinal.mean()) < 1e-5  # standardised codes
    pre, Xt = _fit(frame, max_onehot_cardinality=20, onehot_cells=0)
    assert pre.ordinal_columns_ == [] and Xt.shape == (40, 24)
    pre, Xt = _fit(frame, max_onehot_cardinality=16)    # 40 x 24 cells: well within
    assert pre.onehot_columns_ == ["low", "high"] and Xt.shape == (40, 24)


def test_wide_columns_are_one_hot_narrowest_first_then_target_encoded():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({k: [f"{k}{v}" for v in rng.integers(0, size, n)]
                          for k, size in (("a", 20), ("b", 30), ("c", 50))})
    effect = {f"c{v}": v / 10 for v in range(50)}
    y = frame.c.map(effect).to_numpy() + rng.normal(0, 0.1, n)
    pre = TabularPreprocessor(onehot_cells=n * (20 + 30)).fit(frame, y)
    assert (pre.onehot_columns_, pre.target_columns_, pre.ordinal_columns_) == (
        ["a", "b"], ["c"], [])
    Xt = pre.transform(frame)
    assert Xt.shape == (n, 20 + 30 + 1)
    # the code of a category follows its mean target; an unseen one gets the overall mean
    code = pd.Series(Xt[:, -1]).groupby(frame.c.to_numpy()).mean()
    assert np.corrcoef(code[list(effect)], list(effect.values()))[0, 1] > 0.99
    unseen = pre.transform(frame.iloc[:2].assign(c="new"))[:, -1]
    assert unseen[0] == unseen[1] and code.min() < unseen[0] < code.max()
    # classes: a code per class and column; several targets: ordinal codes
    classes = (y > 2.5).astype(int) + (y > 4).astype(int)
    pre = TabularPreprocessor(onehot_cells=0).fit(frame, classes)
    assert pre.target_columns_ == ["a", "b", "c"] and pre.n_features_out_ == 3 * 3
    pre = TabularPreprocessor(onehot_cells=0).fit(frame, np.c_[y, -y])
    assert pre.ordinal_columns_ == ["a", "b", "c"] and pre.target_columns_ == []
    # a class of fewer rows than the encoder's 5 folds: folds without stratifying, not
    # scikit-learn's 'least populated class' warning (it reached `lepton run`'s output)
    rare = np.zeros(n, dtype=int)
    rare[:4] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pre = TabularPreprocessor(onehot_cells=0).fit(frame, rare)
    assert pre.target_columns_ == ["a", "b", "c"]


def test_the_estimators_pass_the_target_for_encoding(monkeypatch):
    from lepton import LeptonRegressor, NeuralNetworkRegressor, defaults

    monkeypatch.setattr(defaults, "ONEHOT_CELLS", 0)
    rng = np.random.default_rng(0)
    stores = rng.integers(0, 40, 300)
    X = pd.DataFrame({"store": [f"s{v}" for v in stores], "x": rng.normal(size=300)})
    y = stores / 10 + X.x.to_numpy()
    net = NeuralNetworkRegressor(epochs=3, random_state=0).fit(X, y)
    assert net.preprocessor_.target_columns_ == ["store"]
    search = LeptonRegressor(time_budget=10, n_trials=2, cv=None, ensemble_size=1,
                             random_state=0).fit(X, y)
    assert search.best_estimator_.preprocessor_.target_columns_ == ["store"]
    assert np.isfinite(search.predict(X.assign(store="unseen"))).all()


def test_unseen_categories_at_transform_do_not_fail():
    frame = pd.DataFrame({"low": [f"l{i % 4}" for i in range(40)],
                          "high": [f"h{i % 20}" for i in range(40)]})
    pre, Xt = _fit(frame, max_onehot_cardinality=16, onehot_cells=0)
    out = pre.transform(pd.DataFrame({"low": ["new", "l1"], "high": ["new", "h1"]}))
    assert out.shape == (2, 5) and np.isfinite(out).all()
    assert out[0, :4].tolist() == [0.0, 0.0, 0.0, 0.0]  # unseen: all-zeros one-hot
    assert out[0, 4] not in set(Xt[:, 4].tolist())  # unseen: its own ordinal code
    np.testing.assert_array_equal(out[1], Xt[1])  # row 1 is (l1, h1)


def test_missing_category_is_its_own_level():
    frame = pd.DataFrame({"c": ["a", None, "b", "a", np.nan]})
    _, Xt = _fit(frame)
    assert Xt.shape == (5, 3)
    np.testing.assert_array_equal(Xt[1], Xt[4])
    assert not np.array_equal(Xt[0], Xt[1])


def test_booleans_are_numeric():
    frame = pd.DataFrame({"b": [True, False, True, True, False, False],
                          "nb": pd.array([True, None, False, True, False, True], dtype="boolean"),
                          "ob": np.array([True, False, None, True, False, True], dtype=object)})
    pre, Xt = _fit(frame)
    assert pre.numeric_columns_ == ["b", "nb", "ob"] and pre.categorical_columns_ == []
    assert Xt.shape == (6, 5)  # 3 values + indicators for nb and ob
    assert len(np.unique(Xt[:, 0])) == 2 and Xt[0, 0] > Xt[1, 0]  # True above False


def test_object_column_of_numeric_strings_is_parsed():
    frame = pd.DataFrame({"s": np.array(["1", "2.5", None, "4", "1e1"], dtype=object),
                          "t": pd.array(["1", "2", "3", None, "5"], dtype="string")})
    pre, Xt = _fit(frame)
    assert pre.numeric_columns_ == ["s", "t"]
    _, ref_t = _fit(pd.DataFrame({"s": [1, 2.5, np.nan, 4, 10.0],
                                    "t": [1, 2, 3, np.nan, 5.0]}))
    np.testing.assert_allclose(Xt, ref_t)


@pytest.mark.parametrize("column", [
    np.array(["1", "2", "3", "x", "5", "6"], dtype=object),
    pd.array(["1", "2", "3", "x", "5", "6"], dtype="string"),
], ids=["object", "string"])
def test_numeric_column_with_unparseable_strings_fails_at_fit(column):
    frame = pd.DataFrame({"ok": np.arange(6.0), "price": column})
    with pytest.raises(ValueError, match=r"Column 'price' is numeric in 5 of 6 rows but holds "
                                         r"values that are not numbers: \['x'\]"):
        TabularPreprocessor().fit(frame)


def test_numeric_column_with_unparseable_strings_fails_at_transform():
    frame = pd.DataFrame({"price": np.array(["1", "2", "3", "4"], dtype=object)})
    pre = TabularPreprocessor().fit(frame)
    bad = pd.DataFrame({"price": np.array(["5", "n/a", "12 kg"], dtype=object)})
    with pytest.raises(ValueError, match=r"Column 'price' was numeric during fit but holds "
                                         r"values that are not numbers: \['12 kg'\]"):
        pre.transform(bad)


def test_numbers_with_currency_signs_separators_and_percent_are_numbers():
    """As a spreadsheet exports them; pandas leaves them text."""
    frame = pd.DataFrame({
        "price": ["$1,234.50", "$99", "?", "$12,000.00", "€ 7", "5 £"],
        "margin": ["200", "-", "(1,060)", "$(5.00)", "-$3", "(4)"],    # accounting negatives
        "rate": ["12%", "5%", "7.5 %", "100%", "0%", "+3%"],
        "code": ["1,5", "2,25", "3,0", "4,5", "5,5", "6,0"],          # decimal commas: text
        "mixed": ["a", "b", "1,000", "c", "$5", "d"]})                 # mostly words
    pre, Xt = _fit(frame)
    assert pre.numeric_columns_ == ["price", "margin", "rate"]
    assert pre.formatted_numbers_ == ["price", "margin", "rate"]
    assert pre.categorical_columns_ == ["code", "mixed"]
    clean = pre._clean(frame)
    np.testing.assert_array_equal(clean["price"], [1234.5, 99, np.nan, 12000, 7, 5])
    np.testing.assert_array_equal(clean["margin"], [200, np.nan, -1060, -5, -3, -4])
    np.testing.assert_array_equal(clean["rate"], [12, 5, 7.5, 100, 0, 3])
    # plain numbers, other signs and markers at predict time; anything else names itself
    new = frame.head(2).assign(price=["1234.5", "n/a"], margin=["$7", "0"])  # '-' missing
    np.testing.assert_array_equal(pre._clean(new)["price"], [1234.5, np.nan])
    with pytest.raises(ValueError, match=r"Column 'price' was numeric during fit but holds "
                                         r"values that are not numbers: \['1\.234,50 €'\]"):
        pre.transform(frame.head(1).assign(price=["1.234,50 €"]))
    with pytest.raises(ValueError, match=r"Column 'price' is numeric in 4 of 5 rows but holds "
                                         r"values that are not numbers: \['call us'\]"):
        TabularPreprocessor().fit(frame.assign(price=frame.price.replace("$99", "call us")))
    from lepton.preprocessing import column_notes

    assert column_notes(frame)[:2] == [
        "column 'price': numbers written with signs or separators ('$1,234.50'), read as "
        "numbers",
        "column 'margin': numbers written with signs or separators ('(1,060)'), read as "
        "numbers"]


def test_durations_as_a_csv_holds_them_are_durations(tmp_path):
    """pandas writes timedelta64 to a CSV as '0 days 05:06:22' ('3 days' where all are
    whole days), which read_csv leaves text: it was free text (TF-IDF of its words), from
    which a network learnt hours + x to held-out R^2 0.913, against 0.997 from durations."""
    from lepton.preprocessing import column_notes

    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame({
        "wait": pd.to_timedelta(rng.integers(60, 6 * 3600, n), unit="s"),  # 0 days 05:06:22
        "stay": pd.to_timedelta(rng.integers(-3, 30, n), unit="D"),         # 3 days, -2 days
        "lag": pd.to_timedelta(rng.normal(0, 3600, n), unit="s"),  # -1 days +23:39:25.43...
        "x": rng.normal(size=n)})
    frame.loc[[3, 9], "wait"] = frame.loc[5, "stay"] = pd.NaT
    frame.to_csv(tmp_path / "t.csv", index=False)
    read = pd.read_csv(tmp_path / "t.csv")
    read.loc[5, "stay"] = "?"
    pre = TabularPreprocessor().fit(read)
    assert pre.timedelta_columns_ == ["wait", "stay", "lag"] and pre.text_columns_ == []
    assert pre.missing_markers_ == {"stay": {"?": 1}}
    # the features of the timedelta64 column, from text or timedelta64 at predict alike
    expected = TabularPreprocessor().fit_transform(frame)
    np.testing.assert_allclose(pre.transform(read), expected, atol=1e-6)
    np.testing.assert_allclose(pre.transform(frame), expected, atol=1e-6)
    assert "column 'wait': durations written as text ('0 days 05:06:22'), read as seconds" in (
        column_notes(read))
    # without the word days, no duration: times of day, numbers, dates stay what they were
    others = pd.DataFrame({"clock": [f"{h % 24:02d}:{h % 60:02d}" for h in range(n)],
                           "hms": frame.wait.astype(str).str[7:],  # 05:06:22
                           "n": [str(v) for v in range(n)],
                           "day": _days(n).strftime("%Y-%m-%d %H:%M:%S")})
    typed = TabularPreprocessor().fit(others)
    assert typed.timedelta_columns_ == [] and list(typed.datetime_columns_) == ["day"]


def test_the_index_a_dataframe_wrote_to_its_csv_is_left_out(tmp_path):
    """``to_csv`` writes the index unless told not to; read back it is 'Unnamed: 0'."""
    from lepton.preprocessing import column_notes

    frame = pd.DataFrame({"x": np.linspace(0, 1, 60), "c": ["a", "b", "c"] * 20})
    frame.sort_values("x", ascending=False).to_csv(tmp_path / "t.csv")  # index included
    read = pd.read_csv(tmp_path / "t.csv")
    assert list(read.columns) == ["Unnamed: 0", "x", "c"]
    pre, Xt = _fit(read)
    assert list(pre.dropped_columns_) == ["Unnamed: 0"] and pre.numeric_columns_ == ["x"]
    np.testing.assert_array_equal(Xt, _fit(read.drop(columns="Unnamed: 0"))[1])
    assert column_notes(read) == ["column 'Unnamed: 0' left out: a row number: an unnamed "
                                  "column of distinct whole numbers (a DataFrame's index, "
                                  "written to the file with it)"]
    # a subset of the rows (a fold) still is; a named column, repeats, fractions are not
    assert list(_fit(read.iloc[::3])[0].dropped_columns_) == ["Unnamed: 0"]
    for kept in (read.rename(columns={"Unnamed: 0": "id"}),
                 read.assign(**{"Unnamed: 0": np.arange(60) // 2}),
                 read.assign(**{"Unnamed: 0": np.arange(60) + 0.5})):
        assert _fit(kept)[0].dropped_columns_ == {}


def test_whole_number_codes_are_target_encoded_beside_their_numbers():
    """Store 17 is not between stores 16 and 18: a column of whole numbers whose mean
    target jumps from one value to the next is also target-encoded; one whose mean target
    follows its order (an age) keeps its numbers only."""
    from lepton import NeuralNetworkClassifier, NeuralNetworkRegressor

    rng = np.random.default_rng(0)
    n = 3000
    store, age, x = rng.integers(0, 100, n), rng.integers(18, 80, n), rng.normal(size=n)
    effect = rng.normal(size=100)
    y = 1.5 * effect[store] + np.sin((age - 18) / 10) + x + rng.normal(0, 0.3, n)
    X = pd.DataFrame({"store": store, "age": age, "x": x})
    pre = TabularPreprocessor().fit(X, y)
    assert pre.code_columns_ == ["store"] and pre.numeric_columns_ == ["store", "age", "x"]
    assert pre.transform(X).shape[1] == 4  # three numbers and the store's encoding
    assert TabularPreprocessor().fit(X).code_columns_ == []  # no target, no encoding
    assert TabularPreprocessor().fit(X, (y > 0).astype(int)).code_columns_ == ["store"]
    assert TabularPreprocessor().fit(X.assign(store=store % 10), y).code_columns_ == []
    from lepton.preprocessing import column_notes

    note = ("column 'store': whole numbers that act as codes (the mean target jumps from one "
            "value to the next), target-encoded beside their numbers")
    assert column_notes(X, y) == [note] and column_notes(X) == []
    assert column_notes(X, np.where(y > 0, "up", "down")) == [note]
    # unseen stores at predict time take the overall mean
    assert np.isfinite(pre.transform(X.head(3).assign(store=[500, 501, 502]))).all()
    # the estimators pass their target (what it buys: benchmarks/dev/integer_codes.py)
    reg = NeuralNetworkRegressor(epochs=2, random_state=0).fit(X, y)
    clf = NeuralNetworkClassifier(epochs=2, random_state=0).fit(X, y > 0)
    assert reg.preprocessor_.code_columns_ == clf.preprocessor_.code_columns_ == ["store"]


def test_text_numbers_reads_targets_written_as_text():
    from lepton import NeuralNetworkRegressor
    from lepton.preprocessing import text_numbers

    np.testing.assert_array_equal(text_numbers(pd.Series(["1", "$2.50", "?", None, "12%"])),
                                  [1, 2.5, np.nan, np.nan, 12])
    for not_numbers in (pd.Series(["a", "1"]), pd.Series(["?", "-"]), pd.Series([1.0, 2.0]),
                        pd.Series(["1", "2"], dtype="category")):
        assert text_numbers(not_numbers) is None
    # a regressor takes such a target; a missing one names its row
    X = np.arange(12.0).reshape(6, 2)
    y = ["$1,000", "$2,000", "$3,000", "$4,000", "$5,000", "$6,000"]
    reg = NeuralNetworkRegressor(epochs=3, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (6,)
    with pytest.raises(ValueError, match=r"y contains NaN or infinity in 1 row\(s\) \(first "
                                         r"rows: \[2\]\)"):
        NeuralNetworkRegressor(epochs=3).fit(X, y[:2] + ["?"] + y[3:])
    with pytest.raises(ValueError, match="is a regressor but y holds non-numeric values"):
        NeuralNetworkRegressor(epochs=3).fit(X, y[:5] + ["lots"])


def test_missing_markers_in_number_and_date_columns_are_missing_values():
    """'?' (the UCI tables), '-', 'unknown' ... in a column of numbers or dates read from a
    CSV: pandas leaves the column text; Lepton reads the numbers and dates, and the
    markers as missing values (imputed, with the indicator)."""
    days = pd.date_range("2024-01-01", periods=8).strftime("%Y-%m-%d").tolist()
    frame = pd.DataFrame({
        "income": np.array(["10", "?", "30", "40", " Unknown ", "60", "70", "80"], dtype=object),
        "age": pd.array(["20", "30", "-", "50", "60", "70", "80", "90"], dtype="string"),
        "when": days[:3] + ["N/A"] + days[4:],
        "grade": ["a", "?", "b", "a", "?", "b", "a", "b"]})  # categories: '?' is one of them
    pre, Xt = _fit(frame)
    assert pre.numeric_columns_ == ["income", "age"] and pre.categorical_columns_ == ["grade"]
    assert pre.datetime_columns_ == {"when": "ISO8601"}
    assert pre.missing_markers_ == {"income": {"?": 1, " Unknown ": 1}, "age": {"-": 1},
                                    "when": {"N/A": 1}}
    as_missing = frame.assign(income=[10, np.nan, 30, 40, np.nan, 60, 70, 80.0],
                              age=[20, 30, np.nan, 50, 60, 70, 80, 90.0],
                              when=days[:3] + [None] + days[4:])
    np.testing.assert_allclose(Xt, _fit(as_missing)[1])
    # at predict time too, markers not seen during fit included
    new = frame.head(2).assign(income=["n.a.", "#N/A"], age=["", "--"])
    np.testing.assert_allclose(pre.transform(new), _fit(as_missing)[0].transform(
        as_missing.head(2).assign(income=[np.nan, np.nan], age=[np.nan, np.nan])))
    from lepton.preprocessing import column_notes

    assert column_notes(frame)[-3:] == [
        "column 'income': '?' (1 row), ' Unknown ' (1 row) read as missing",
        "column 'age': '-' (1 row) read as missing",
        "column 'when': 'N/A' (1 row) read as missing"]
    # other text is still an error, counted without the markers
    with pytest.raises(ValueError, match=r"Column 'income' is numeric in 5 of 6 rows but holds "
                                         r"values that are not numbers: \['12k'\]\. Fix or "
                                         r"remove those values \(leave them empty, or write a "
                                         r"missing value as NA\)"):
        TabularPreprocessor().fit(frame.assign(income=frame.income.replace("80", "12k")))
    # a column of markers and words only is categorical
    pre, _ = _fit(pd.DataFrame({"x": ["?", "yes", "no", "?"], "y": [1.0, 2.0, 3.0, 4.0]}))
    assert pre.categorical_columns_ == ["x"] and pre.missing_markers_ == {}


@pytest.mark.parametrize("X, column", [
    (pd.DataFrame({"a": [1.0, 2.0], "b": [np.inf, 1.0]}), "'b'"),
    (pd.DataFrame({"a": ["1", "-inf"]}), "'a'"),
])
def test_inf_names_the_column(X, column):
    with pytest.raises(ValueError, match=f"Column {column} contains infinity"):
        TabularPreprocessor().fit(X)
    pre = TabularPreprocessor().fit(X.replace([np.inf, -np.inf, "-inf"], 0.0))
    with pytest.raises(ValueError, match=f"Column {column} contains infinity"):
        pre.transform(X)


def test_inf_in_an_array_names_the_column():
    with pytest.raises(ValueError, match=r"Input X contains infinity \(first in column 2\)"):
        check_X(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, -np.inf]]))


# -- sparse, arrays, fit-on-train ------------------------------------------------------------
def test_sparse_input_stays_sparse():
    X = sp.random(30, 12, density=0.2, format="csc", random_state=0) * 10
    pre, Xt = _fit(X)
    assert sp.issparse(Xt) and Xt.format == "csr" and Xt.dtype == np.float32
    assert Xt.nnz == X.nnz and abs(Xt).max() == pytest.approx(1.0)  # MaxAbs scaling
    assert sp.issparse(pre.transform(X[:5]))
    # dense rows at predict time are accepted and scaled the same way
    np.testing.assert_allclose(pre.transform(X[:5].toarray()).toarray(), Xt[:5].toarray())


def test_fitted_on_training_data_only():
    train = np.arange(20.0).reshape(-1, 1)
    test = np.array([[1000.0], [10.0]])
    pre, Xt = _fit(train)
    before = Xt.copy()
    out = pre.transform(test)
    # statistics come from the training rows: 1000 is an outlier, 10 is near the centre
    assert out[0, 0] > 2.9 and abs(out[1, 0]) < 0.1
    np.testing.assert_array_equal(pre.transform(train), before)  # transform learns nothing
    cats = pd.DataFrame({"c": ["a", "b"] * 5})
    pre_c = TabularPreprocessor().fit(cats)
    assert pre_c.transform(pd.DataFrame({"c": ["z"] * 3})).shape == (3, 2)


def test_estimator_fits_the_preprocessor_on_its_training_split_only():
    from lepton import NeuralNetworkClassifier

    # 40 distinct categories: one-hot if the preprocessor sees the 10 training rows only
    # (<= 16 levels), ordinal (1 column) if it had seen all 40 rows. 30 validation rows:
    # the minimum for early stopping to hold rows out (defaults.MIN_EARLY_STOPPING_ROWS).
    X = pd.DataFrame({"c": [f"v{i}" for i in range(40)]})
    y = np.arange(40) % 2
    est = NeuralNetworkClassifier(hidden_layer_sizes=(4,), epochs=1, validation_fraction=0.75,
                                  random_state=0).fit(X, y)
    assert est.preprocessor_.onehot_columns_ == ["c"]
    assert est.preprocessor_.n_features_out_ == 10


def test_object_array_with_mixed_columns():
    # positions and labels of the columns must not get mixed up (categorical column first)
    X = np.array([["a", 1.0, "x"], ["b", 2.0, "y"], ["a", np.nan, "x"], ["c", 4.0, "y"]],
                 dtype=object)
    pre, Xt = _fit(X)
    assert pre.numeric_columns_ == [1] and pre.categorical_columns_ == [0, 2]
    frame = pd.DataFrame(X, columns=["p", "q", "r"]).astype({"q": float})
    np.testing.assert_array_equal(Xt, _fit(frame)[1])
    np.testing.assert_array_equal(pre.transform(X), Xt)


def test_image_shaped_array_is_flattened():
    X = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    assert check_X(X).shape == (2, 12)
    assert check_X(X, input_shape=(12,)).shape == (2, 12)
    with pytest.raises(ValueError, match=r"X has per-sample shape \[3, 4\] but input_shape=\[5\]"):
        check_X(X, input_shape=(5,))


def test_values_that_are_neither_numbers_nor_strings_are_rejected():
    with pytest.raises(TypeError, match=r"Column 'd' holds dict values"):
        TabularPreprocessor().fit(pd.DataFrame({"d": [{"a": 1}, {"b": 2}]}))
    with pytest.raises(ValueError, match="Complex data not supported"):
        check_X(np.array([[1 + 2j]]))


def test_a_frame_at_predict_takes_an_array_fitted_preprocessors_columns_by_position():
    """Fitted on an array (columns are positions), a DataFrame at transform is read by
    position, whatever its column names (it raised KeyError: 0)."""
    rng = np.random.default_rng(0)
    mixed = np.array([[rng.normal(), "a" if i % 2 else "b", rng.normal()] for i in range(30)],
                     dtype=object)
    for X in (rng.normal(size=(30, 3)), mixed):
        pre = TabularPreprocessor()
        Xt = pre.fit_transform(X)
        for frame in (pd.DataFrame(X, columns=["a", "b", "c"]), pd.DataFrame(X)):
            np.testing.assert_array_equal(pre.transform(check_X(frame)), Xt)


def test_object_arrays_with_missing_values_and_dates_are_typed_per_column():
    """An object array holding pd.NA or a Timestamp is typed column by column like one
    holding strings, whichever column comes first (it raised numpy's TypeError)."""
    dates = pd.date_range("2024-01-01", periods=20, freq="D")
    frame = pd.DataFrame({"d": dates, "n": pd.array([1, None, 3, 4] * 5, dtype="Int64"),
                          "s": ["x", "y"] * 10})
    for order in (["d", "n", "s"], ["n", "s", "d"], ["s", "d", "n"]):
        X = check_X(frame[order].to_numpy())
        assert X.dtype == object
        pre = TabularPreprocessor()
        Xt = pre.fit_transform(X)
        assert Xt.shape[0] == 20 and np.isfinite(Xt).all()
        assert list(pre.datetime_columns_) == [order.index("d")]
        np.testing.assert_array_equal(pre.transform(X), Xt)
    with pytest.raises(TypeError, match=r"argument must be a string or a real number, not "
                                        r"'dict': column 1 of X holds dict values"):
        check_X(np.array([[pd.NA, {"a": 1}], [1.0, {"b": 2}]], dtype=object))


def test_tail_threshold_clips_only_heavy_tailed_columns():
    rng = np.random.default_rng(0)
    light = rng.uniform(-1.0, 1.0, size=500)           # reaches ~1.35 robust z
    heavy = rng.standard_t(df=2, size=500)             # Student t: far beyond 5 robust z
    X = np.column_stack([light, heavy])
    assert RobustClipScaler().fit(X).clipped_.all()    # the default clips every column
    sc = RobustClipScaler(clip=3.0, tail_threshold=5.0).fit(X)
    assert sc.clipped_.tolist() == [False, True]
    z = (X - sc.center_) / sc.scale_
    Xt = sc.transform(X)
    # the light column is only centred and scaled: its extremes keep their distance
    np.testing.assert_allclose(Xt[:, 0], z[:, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(Xt[:, 1], z[:, 1] / np.sqrt(1 + (z[:, 1] / 3) ** 2),
                               rtol=1e-6, atol=1e-6)
    assert np.abs(Xt[:, 1]).max() < 3.0
    # the choice is made on the fit rows; a far value at predict time in a light column is
    # cut at the threshold (fit rows never reach it), so inputs stay bounded
    assert sc.transform(np.array([[100.0, 0.0], [-1e9, 0.0]]))[:, 0].tolist() == [5.0, -5.0]
    # the threshold is the reach in robust z: above the light column's reach, nothing clips
    assert not RobustClipScaler(tail_threshold=1e9).fit(X).clipped_.any()
    assert RobustClipScaler(tail_threshold=None).fit(X).clipped_.all()
    # a scaler fitted with a threshold predicts the same after a round trip through pickle
    restored = pickle.loads(pickle.dumps(sc))
    np.testing.assert_array_equal(restored.transform(X), Xt)


def test_a_scaler_pickled_before_tail_clipping_clips_every_column():
    X = np.column_stack([np.linspace(-1.0, 1.0, 50), np.linspace(0.0, 2.0, 50)])
    sc = RobustClipScaler(clip=3.0).fit(X)
    del sc.clipped_                                     # as fitted by an earlier version
    restored = pickle.loads(pickle.dumps(sc))
    z = (X - sc.center_) / sc.scale_
    np.testing.assert_allclose(restored.transform(X), z / np.sqrt(1 + (z / 3) ** 2),
                               rtol=1e-6, atol=1e-6)


# -- dates and identifiers ---------------------------------------------------------------
def _days(n, start="2023-01-01", freq="D"):
    return pd.date_range(start, periods=n, freq=freq)


def test_text_dates_become_days_and_cycles_that_new_dates_keep():
    dates = _days(120)
    frame = pd.DataFrame({"when": dates.strftime("%Y-%m-%d"), "x": np.arange(120.0)})
    pre, Xt = _fit(frame.iloc[:100])
    assert pre.datetime_columns_ == {"when": "ISO8601"} and pre.categorical_columns_ == []
    # dates without times: no time-of-day pair
    assert [part for _, _, part in pre.date_features_] == [
        "days", "year_sin", "year_cos", "week_sin", "week_cos"]
    assert Xt.shape == (100, 6)
    # dates after the fit rows (unseen as categories) still differ, in order, and each
    # weekday keeps its own pair of values
    later = pre.transform(frame.iloc[100:])
    days = later[:, 1]
    assert np.all(np.diff(days) > 0)
    week = later[:, 4:6]
    np.testing.assert_allclose(week[:7], week[7:14], atol=1e-6)
    assert len({tuple(np.round(row, 5)) for row in week[:7]}) == 7


def test_date_formats_are_read_only_where_every_value_is_a_date():
    n = 60
    dates = _days(n)
    frame = pd.DataFrame({
        "iso_time": (dates + pd.Timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S"),
        "european": dates.strftime("%d.%m.%Y"),      # day first: 13.01.2023 and on
        "american": dates.strftime("%m/%d/%Y"),
        "month_name": dates.strftime("%d %B %Y"),
        "month_only": np.tile(["May", "June"], n // 2),  # pandas would read these as dates
        "numbers": [str(20230101 + i) for i in range(n)],
    })
    pre = TabularPreprocessor().fit(frame)
    assert pre.datetime_columns_ == {"iso_time": "ISO8601", "european": "%d.%m.%Y",
                                     "american": "%m/%d/%Y", "month_name": "%d %B %Y"}
    assert pre.numeric_columns_ == ["numbers"]
    assert pre.categorical_columns_ == ["month_only"]
    # the same day read from each format gives the same days since 1970
    Xt = pre.transform(frame)
    labels = pre._numeric_inputs()
    days = {label.split(":")[0]: Xt[:, labels.index(label)] for label in labels
            if label.endswith(":days")}
    np.testing.assert_allclose(days["european"], days["american"], atol=1e-6)
    np.testing.assert_allclose(days["european"], days["month_name"], atol=1e-6)


def test_a_date_column_with_a_few_other_values_is_an_error_naming_them():
    text = list(_days(59).strftime("%d.%m.%Y")) + ["31.02.2023"]
    with pytest.raises(ValueError, match=r"Column 'when' holds dates \('%d\.%m\.%Y'\) in 59 of "
                                         r"60 rows but also values that are not: \['31\.02\.2023'\]"
                                         r"\. Fix or remove those values \(leave them empty\), "
                                         r"or cast the column to 'category'"):
        TabularPreprocessor().fit(pd.DataFrame({"when": text}))
    # cast to 'category', it is one
    pre = TabularPreprocessor().fit(pd.DataFrame({"when": pd.Categorical(text)}))
    assert pre.categorical_columns_ == ["when"]


def test_datetime64_columns_match_their_text_and_missing_dates_are_imputed():
    dates = pd.Series(_days(80, freq="7h"))
    text = dates.dt.strftime("%Y-%m-%d %H:%M:%S")
    aware = pd.DataFrame({"t": dates.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")})
    np.testing.assert_allclose(_fit(pd.DataFrame({"t": dates}))[1],
                               _fit(pd.DataFrame({"t": text}))[1], atol=1e-6)
    # tz-aware: as its text with offsets (the cycles in its own local time, not UTC's)
    np.testing.assert_allclose(_fit(aware)[1], _fit(aware.astype(str))[1], atol=1e-6)
    # times that vary: the time-of-day pair is there
    assert [p for _, _, p in TabularPreprocessor().fit(aware).date_features_][-2:] == [
        "day_sin", "day_cos"]
    gaps = text.where(np.arange(80) % 10 != 3)
    pre, Xt = _fit(pd.DataFrame({"t": gaps}))
    n_parts = len(pre.date_features_)
    assert Xt.shape == (80, 2 * n_parts)                      # values, then missing indicators
    assert Xt[3, n_parts:].tolist() == [1.0] * n_parts and Xt[4, n_parts:].sum() == 0


def test_date_cycles_follow_each_values_own_local_time():
    """Weekday, time of day and day of year from the wall-clock time a value was written
    in, days since 1970 from the instant. In UTC, 08:00 and 10:00 of a Saturday in Tokyo
    (+09:00) were a Friday and a Saturday, and a local-weekend effect was learnt worse."""
    from lepton.preprocessing import DATE_PARTS

    local = pd.Series(_days(120, start="2024-03-20", freq="5h"))  # spans Paris' summer time
    zones = np.array(["Asia/Tokyo", "UTC", "America/New_York", "Europe/Paris"])[np.arange(120) % 4]
    aware = pd.Series([t.tz_localize(z) for t, z in zip(local, zones)], dtype=object)
    columns = {
        "naive": local.dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "tokyo": local.dt.tz_localize("Asia/Tokyo").map(lambda t: t.isoformat()),
        "tokyo_dtype": local.dt.tz_localize("Asia/Tokyo"),
        "paris": local.dt.tz_localize("Europe/Paris").astype(str),  # +01:00, then +02:00
        "each_its_own": aware.map(lambda t: t.isoformat().replace("+00:00", "Z")),
    }
    fitted = {name: _fit(pd.DataFrame({"t": values})) for name, values in columns.items()}
    (pre, Xt), cycles = fitted["naive"], slice(1, 7)
    assert [p for _, _, p in pre.date_features_] == list(DATE_PARTS)
    for name, (other, Xo) in fitted.items():
        np.testing.assert_allclose(Xo[:, cycles], Xt[:, cycles], atol=1e-6, err_msg=name)
        # new rows: the same wall-clock times in other offsets, 'Z' or none, row by row
        for batch in (columns["each_its_own"], columns["naive"], columns["tokyo_dtype"]):
            new = other.transform(pd.DataFrame({"t": batch}))
            np.testing.assert_allclose(new[:, cycles], Xo[:, cycles], atol=1e-6, err_msg=name)
            one = other.transform(pd.DataFrame({"t": batch[7:8]}))  # alone: as in the batch
            np.testing.assert_array_equal(one, new[7:8])
    # days since 1970 stay the instant's: those of the same instants written in UTC
    utc = local.dt.tz_localize("Asia/Tokyo").dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M")
    np.testing.assert_allclose(fitted["tokyo"][1][:, 0], _fit(pd.DataFrame({"t": utc}))[1][:, 0],
                               atol=1e-6)


def test_a_preprocessor_pickled_before_local_time_cycles_transforms_as_it_was_fitted():
    """A model fitted before stop 37 took its dates' cycles in UTC; the new local-time
    cycles moved its predictions by up to 0.62 on dates with an offset, and its scaler,
    without the new ``days`` parameter, could not be printed or cloned (review
    helper-52)."""
    from sklearn.base import clone

    tokyo = pd.Series(_days(60, start="2024-03-20", freq="5h")).dt.tz_localize("Asia/Tokyo")
    utc = tokyo.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S")
    frame = pd.DataFrame({"t": tokyo.map(lambda t: t.isoformat()), "x": np.arange(60.0)})
    pre, Xt = _fit(frame)
    as_utc = pre.transform(frame.assign(t=utc))  # the wall-clock times of UTC
    del pre.local_dates_  # as fitted before stop 37
    scaler = pre.transformer_.named_transformers_["num"][-1]
    del scaler.__dict__["days"]
    old = pre.transform(frame)
    cycles = [pre._numeric_inputs().index(label) for label, _, part in pre.date_features_
              if part != "days"]
    np.testing.assert_allclose(old, as_utc, atol=1e-6)
    assert np.abs(Xt[:, cycles] - old[:, cycles]).max() > 0.5
    assert clone(scaler).days == () and "days" not in repr(scaler)


@pytest.mark.parametrize("scaling", ["robust", "standard"])
def test_days_since_1970_are_scaled_near_linearly_past_the_fit_rows(scaling):
    """The dates to predict lie past the fit rows by design: their days since 1970 are
    clipped far out only (fitted on 2020-2023, robust scaling with the columns' clip of 3
    put 2025-12-31 at 2.01 where the line goes through 2.70, and 2035 at 2.84), yet a
    placeholder date stays bounded (1900-01-01: -80.7 on the line; review helper-48)."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"date": pd.date_range("2020-01-01", "2023-12-31"),
                          "x": rng.normal(size=1461)})
    later = pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2023-12-31", "2025-12-31",
                                                  "2035-01-01", "1900-01-01"]),
                          "x": [0.0, 0.0, 0.0, 0.0, 1e6]})
    pre = TabularPreprocessor(scaling=scaling).fit(train)
    Xt = pre.transform(later)
    days, x = Xt[:, pre._numeric_inputs().index("date:days")], Xt[:, 0]
    elapsed = (later.date - later.date[0]).dt.days.to_numpy()
    line = days[0] + elapsed * (days[1] - days[0]) / elapsed[1]
    if scaling == "standard":  # nothing clipped: each day the same step
        np.testing.assert_allclose(days, line, rtol=1e-4, atol=1e-4)
        return
    assert abs(days[2] / line[2] - 1) < 0.04 and days[3] > 6.0  # 2.61 of 2.70; 6.6 of 8.8
    assert line[4] < -80 and -10 < days[4] < -9.5
    assert 2.9 < x[4] <= 3.0  # the other columns are clipped as before


def test_weekly_dates_get_no_weekday_pair():
    pre = TabularPreprocessor().fit(pd.DataFrame({"w": _days(30, freq="W-MON").astype(str)}))
    assert [p for _, _, p in pre.date_features_] == ["days", "year_sin", "year_cos"]


def test_a_value_that_is_not_a_date_at_predict_time_names_the_column():
    pre = TabularPreprocessor().fit(pd.DataFrame({"when": _days(30).strftime("%d.%m.%Y")}))
    with pytest.raises(ValueError, match=r"Column 'when' held dates \('%d\.%m\.%Y'\) during fit "
                                         r"but holds values that are not: \['2023-13-45'\]"):
        pre.transform(pd.DataFrame({"when": ["01.02.2023", "2023-13-45"]}))
    # missing is fine
    assert pre.transform(pd.DataFrame({"when": ["01.02.2023", None]})).shape[0] == 2


def test_identifier_columns_are_left_out():
    n = 60
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "city": np.tile(list("abc"), 20),
                          "x": np.arange(float(n))})
    pre, Xt = _fit(frame)
    assert pre.dropped_columns_ == {"id": "an identifier: 60 distinct values in "
                                          "60 rows"}
    assert Xt.shape == (n, 4)                                  # x, then city one-hot
    assert pre.transform(frame.assign(id="new")).tolist() == Xt.tolist()
    # a few rows cannot tell an identifier; a column typed 'category' is the user's choice
    assert "id" in TabularPreprocessor().fit(frame.iloc[:20]).categorical_columns_
    kept = TabularPreprocessor().fit(frame.astype({"id": "category"}))
    assert "id" in kept.categorical_columns_ and not kept.dropped_columns_
    with pytest.raises(ValueError, match=r"X has no column left to learn from: 'id' is an "
                                         r"identifier: 60 distinct values"):
        TabularPreprocessor().fit(frame[["id"]])


def test_object_array_with_dates_and_an_identifier_matches_the_dataframe():
    n = 60
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "x": np.arange(float(n)),
                          "when": _days(n).strftime("%Y-%m-%d"), "c": np.tile(list("ab"), 30)})
    pre, Xt = _fit(frame.to_numpy(dtype=object))
    assert pre.datetime_columns_ == {2: "ISO8601"} and list(pre.dropped_columns_) == [0]
    assert [label for label, _, _ in pre.date_features_] == [4, 5, 6, 7, 8]
    np.testing.assert_array_equal(Xt, _fit(frame)[1])
    np.testing.assert_array_equal(pre.transform(frame.to_numpy(dtype=object)), Xt)


def test_a_preprocessor_pickled_before_dates_were_read_still_transforms():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": list("abab")})
    pre, Xt = _fit(frame)
    for name in ("datetime_columns_", "date_features_", "dropped_columns_", "text_columns_",
                 "target_columns_"):
        delattr(pre, name)                                 # as fitted by an earlier version
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pre)).transform(frame), Xt)


def test_column_notes_name_the_dates_and_the_columns_left_out():
    from lepton.preprocessing import column_notes

    n = 60
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "when": _days(n).astype(str),
                          "x": np.arange(float(n))})
    assert column_notes(frame) == [
        "column 'when': dates (ISO 8601), learnt from as days since 1970 and the position in "
        "the year, week and day",
        "column 'id' left out: an identifier: 60 distinct values in 60 rows"]
    assert column_notes(np.zeros((3, 2))) == []


def test_column_notes_say_how_wide_categorical_columns_are_encoded(monkeypatch):
    from lepton import defaults
    from lepton.preprocessing import column_notes

    frame = pd.DataFrame({"narrow": [f"n{i % 5}" for i in range(90)],
                          "wide": [f"w{i % 30}" for i in range(90)]})
    assert column_notes(frame) == ["column 'wide': 30 categories, one-hot"]
    monkeypatch.setattr(defaults, "ONEHOT_CELLS", 100)
    assert column_notes(frame) == [
        "column 'wide': 30 categories, target-encoded (one-hot would pass 100 cells)"]


def test_a_network_predicts_from_dates_it_has_not_seen():
    from lepton import NeuralNetworkRegressor

    dates = _days(400)
    y = np.where(dates.day_of_week >= 5, 10.0, 0.0) + 0.01 * np.arange(400)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d")})
    model = NeuralNetworkRegressor(epochs=60, random_state=0).fit(frame.iloc[:300], y[:300])
    # the last 100 days are after every training date: as categories they were all unseen
    assert model.score(frame.iloc[300:], y[300:]) > 0.8


def test_a_datetime64_column_takes_iso_text_at_predict_time():
    """Fitted on Parquet (datetime64), predicting from a CSV (text, as pandas writes dates)."""
    dates = _days(60, freq="5h")
    pre, Xt = _fit(pd.DataFrame({"t": dates}))
    np.testing.assert_array_equal(pre.transform(pd.DataFrame({"t": dates.astype(str)})), Xt)
    with pytest.raises(ValueError, match=r"Column 't' held dates \(datetime64; as text: ISO 8601\) "
                                         r"during fit but holds values that are not: "
                                         r"\['05/03/2024'\]"):
        pre.transform(pd.DataFrame({"t": ["2024-03-05", "05/03/2024"]}))


# -- free text ---------------------------------------------------------------------------
def _reviews(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    filler = "the product it was and this my for with arrived box item order".split()
    words = {1: "great excellent love perfect".split(), 0: "terrible awful broken poor".split()}
    text = [" ".join([*rng.choice(filler, 6), rng.choice(words[label]), *rng.choice(filler, 3)])
            for label in y]
    return pd.DataFrame({"review": text, "price": rng.gamma(2, 20, n)}), y


def test_free_text_becomes_tfidf_components():
    X, y = _reviews(300)
    X.loc[[4, 7], "review"] = None
    pre = TabularPreprocessor().fit(X, y)
    assert pre.text_columns_ == ["review"] and pre.categorical_columns_ == []
    Xt = pre.transform(X)
    # 32 components at most, the 2 classes' scores and the price
    assert Xt.shape[0] == 300 and 4 < Xt.shape[1] <= 32 + 2 + 1 and np.isfinite(Xt).all()
    # new texts, unseen words and all, are read the same way
    new = pre.transform(pd.DataFrame({"review": ["an entirely new sentence here", None],
                                      "price": [10.0, 20.0]}))
    assert new.shape == (2, Xt.shape[1]) and np.isfinite(new).all()
    # a label of several words with few distinct values stays a category
    labels = pd.DataFrame({"city": np.tile(["New York City area", "Los Angeles metro area",
                                            "San Francisco bay area"], 30)})
    assert TabularPreprocessor().fit(labels).categorical_columns_ == ["city"]


def test_free_text_of_category_dtype_is_text_and_labels_of_it_stay_categories():
    """Reviews cast to 'category' (or read from a Parquet file's dictionary-encoded
    strings) were one-hot encoded, a column a review (accuracy 0.506-0.538 against
    0.832-0.872 as text, benchmarks/dev/text_columns.py); a category of a few labels is
    still one."""
    X, y = _reviews(300)
    X.loc[[4, 7], "review"] = None
    as_category = X.astype({"review": "category"})
    pre = TabularPreprocessor().fit(as_category, y)
    assert pre.text_columns_ == ["review"] and pre.categorical_columns_ == []
    np.testing.assert_array_equal(pre.transform(as_category),
                                  TabularPreprocessor().fit(X, y).transform(X))
    new = pre.transform(pd.DataFrame({"review": pd.Categorical(["an entirely new text", None]),
                                      "price": [10.0, 20.0]}))
    assert np.isfinite(new).all()
    labels = pd.DataFrame({"city": pd.Categorical(np.tile(
        ["New York City area", "Los Angeles metro area", "San Francisco bay area"], 30))})
    assert TabularPreprocessor().fit(labels).categorical_columns_ == ["city"]


def test_a_text_column_with_hardly_any_words_still_transforms():
    X = pd.DataFrame({"note": [f"a b {chr(97 + i % 26)} {chr(97 + i // 26)}" for i in range(60)],
                      "x": np.arange(60.0)})
    pre = TabularPreprocessor().fit(X)
    assert pre.text_columns_ == ["note"]   # one-letter tokens only: no vocabulary at all
    assert pre.transform(X).shape == (60, 2)


def test_a_network_learns_from_free_text():
    from lepton import NeuralNetworkClassifier
    from lepton.preprocessing import column_notes

    X, y = _reviews(600)
    model = NeuralNetworkClassifier(random_state=0).fit(X.iloc[:450], y[:450])
    assert model.score(X.iloc[450:], y[450:]) > 0.9    # the sentiment word decides
    assert column_notes(X, y) == ["column 'review': free text, learnt from as up to 32 "
                                  "numbers (TF-IDF of its words, reduced by SVD) and what its "
                                  "words say of the target"]
    assert column_notes(X) == ["column 'review': free text, learnt from as up to 32 numbers "
                               "(TF-IDF of its words, reduced by SVD)"]  # no target: no scores


def _topics(n, classes, seed=0):
    """Documents whose class is their topic: each class uses its own 30 of 1,000 words,
    a fifth of the time, beside a shared Zipf background (review helper-54's)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:04d}" for i in range(1000)])
    background = 1.0 / np.arange(1, 1001) ** 1.05
    background /= background.sum()
    topics = np.zeros((classes, 1000))
    for c in range(classes):
        topics[c, np.random.default_rng(c).choice(1000, 30, replace=False)] = 1 / 30
    y = rng.integers(0, classes, n)
    text = [" ".join(words[rng.choice(1000, 25, p=0.8 * background + 0.2 * topics[c])])
            for c in y]
    return pd.DataFrame({"text": text}), y


def test_text_says_what_its_words_say_of_the_target():
    """The SVD alone kept the directions frequent words fill: on 20 topics a logistic
    regression on its 32 components scored 0.64 held out here, 0.87 with the scores (on
    3,000 documents of 3,000 words, 0.28 against 0.90; review helper-54). Fitted
    with a target, each class's naive Bayes log-probability joins them, cross-fitted on the
    fit rows (a row's own class does not score it) and from every fit row for new rows."""
    from sklearn.linear_model import LogisticRegression

    X, y = _topics(1500, 20)
    pre = TabularPreprocessor()
    Xt, Xnew = pre.fit_transform(X[:1000], y[:1000]), pre.transform(X[1000:])
    svd = TabularPreprocessor().fit(X[:1000])  # no target: the components alone
    assert Xt.shape[1] == svd.transform(X[:1000]).shape[1] + 20
    def held_out(train, new):
        model = LogisticRegression(max_iter=2000).fit(train, y[:1000])
        return model.score(new, y[1000:])
    assert held_out(Xt, Xnew) > 0.8
    assert held_out(svd.transform(X[:1000]), svd.transform(X[1000:])) < 0.7
    # cross-fitted: the fit rows' scores are not those of the model fitted on all of them
    assert not np.allclose(Xt[:, -20:], pre.transform(X[:1000])[:, -20:])
    # a regression's target: one column, a ridge regression's prediction
    values = y[:1000].astype(np.float64)
    assert (TabularPreprocessor().fit_transform(X[:1000], values).shape[1]
            == svd.transform(X[:1000]).shape[1] + 1)
    # a text feature fitted before the scores transforms as it did
    old = pickle.loads(pickle.dumps(svd))
    text = old.transformer_.named_transformers_["text:text"]
    del text.scorer_
    np.testing.assert_array_equal(old.transform(X[1000:]), svd.transform(X[1000:]))


@pytest.mark.parametrize("reduce, args", [(np.median, ()), (np.nanmedian, ()),
                                          (np.percentile, ([25, 50, 75],)),
                                          (np.nanpercentile, ([25, 50, 75],))])
def test_column_statistics_are_those_of_numpy(reduce, args):
    # blocks of contiguous columns give numpy's values exactly (40 columns: three blocks)
    from lepton.preprocessing import _by_column

    X = np.random.default_rng(0).standard_t(3, size=(1001, 40))
    X[::7, 5] = np.nan
    if reduce in (np.median, np.percentile):
        X = np.nan_to_num(X)
    np.testing.assert_array_equal(_by_column(reduce, X, *args), reduce(X, *args, axis=0))


def test_column_statistics_of_a_large_table_come_from_a_fixed_sample(monkeypatch):
    from lepton import preprocessing
    from lepton.preprocessing import _by_column

    monkeypatch.setattr(preprocessing, "QUANTILE_SAMPLE_ROWS", 2000)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 3))
    X[:, 2] = np.nan
    sampled = np.random.default_rng(0).choice(50_000, 2000, replace=False)  # as drawn there
    outside = np.setdiff1d(np.arange(50_000), sampled)[[0, -1]]
    X[outside, 2] = [4.0, 6.0]  # a column whose only values the sample leaves out
    exact = np.nanpercentile(X, [25, 50, 75], axis=0)
    estimate = _by_column(np.nanpercentile, X, [25, 50, 75])
    np.testing.assert_allclose(estimate[:, :2], exact[:, :2], atol=0.1)  # ~3 std errors
    assert not np.array_equal(estimate[:, :2], exact[:, :2])  # a sample, not every row
    np.testing.assert_array_equal(estimate[:, 2], [4.5, 5.0, 5.5])  # from all its rows
    np.testing.assert_array_equal(estimate, _by_column(np.nanpercentile, X, [25, 50, 75]))


def test_the_robust_scaler_bends_as_its_formula_says():
    from lepton.preprocessing import RobustClipScaler

    X = np.random.default_rng(0).standard_t(2, size=(500, 4))
    scaler = RobustClipScaler(clip=3.0).fit(X)
    z = (X - scaler.center_) / scaler.scale_
    np.testing.assert_array_equal(scaler.transform(X),
                                  (z / np.sqrt(1.0 + (z / 3.0) ** 2)).astype(np.float32))


def test_pyarrow_backed_text_is_typed_as_text():
    """pandas' pyarrow text parsed to double[pyarrow] holding NaN, which isna() does not
    count: every text column (categories, dates as text) was typed numeric, all missing."""
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "color": rng.choice(["red", "blue"], 60),
                          "day": pd.date_range("2024-01-01", periods=60).strftime("%Y-%m-%d")})
    typed = []
    for X in (frame, frame.convert_dtypes(dtype_backend="pyarrow")):
        pre = TabularPreprocessor().fit(X)
        typed.append((pre.numeric_columns_, pre.categorical_columns_,
                      list(pre.datetime_columns_)))
    assert typed[0] == typed[1] == (["x"], ["color"], ["day"])


def test_feature_ranking_puts_the_informative_columns_first_for_each_kind_of_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 30))
    X[:, 7] = 1.0  # constant: no statistic, last
    labels = (X[:, 3] + 0.5 * X[:, 11] > 0).astype(int)
    assert list(feature_ranking(X, labels, classes=True)[:2]) == [3, 11]
    assert feature_ranking(X, labels, classes=True)[-1] == 7
    values = 2 * X[:, 20] - X[:, 5] + 0.1 * rng.normal(size=400)
    assert list(feature_ranking(X, values, classes=False)[:2]) == [20, 5]
    # several targets (multilabel; multi-output regression): a column's best statistic
    both = np.column_stack([X[:, 2] > 0, X[:, 25] > 0]).astype(int)
    assert set(feature_ranking(X, both, classes=True)[:2]) == {2, 25}
    assert list(feature_ranking(sp.csr_matrix(X), labels, classes=True)[:2]) == [3, 11]
    # a column constant within each class (a one-hot that decides a class) has an infinite
    # statistic: first, where it was ranked with the constant columns, last
    decides = np.column_stack([X, labels.astype(float)])
    assert feature_ranking(decides, labels, classes=True)[0] == 30
    assert feature_ranking(np.column_stack([X, values]), values, classes=False)[0] == 30


def test_a_preprocessor_keeping_some_columns_outputs_them_and_survives_pickle():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(50, 4)), columns=list("abcd"))
    X["city"] = rng.choice(["x", "y"], 50)
    pre = TabularPreprocessor().fit(X)
    full = pre.transform(X)
    kept = pre.keeping([1, 4])
    assert kept.n_features_out_ == 2 and pre.selected_features_ is None  # pre unchanged
    np.testing.assert_array_equal(kept.transform(X), full[:, [1, 4]])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(kept)).transform(X), full[:, [1, 4]])
    assert kept.fit_transform(X).shape[1] == full.shape[1]  # a new fit keeps every column
    sparse = TabularPreprocessor().fit(sp.csr_matrix(X[list("abcd")].to_numpy()))
    assert sparse.keeping([0, 3]).transform(sp.csr_matrix(X[list("abcd")].to_numpy())).shape == (
        50, 2)


def test_category_codes_read_back_as_floats_are_the_same_categories():
    """Codes beside words (2, 3, 'ground') are a categorical column; a batch whose column
    is all numbers and a blank comes back from read_csv as floats (3.0), which was the
    unseen category '3.0': a flat predicted as on no known floor, without a word."""
    X = pd.DataFrame({"area": np.arange(40.0),
                      "floor": ["ground", "attic", "2", "3", "basement"] * 8})
    pre = TabularPreprocessor().fit(X)
    assert pre.categorical_columns_ == ["floor"]
    as_text = pre.transform(pd.DataFrame({"area": [60.0, 61.0], "floor": ["3", None]}))
    as_floats = pre.transform(pd.DataFrame({"area": [60.0, 61.0], "floor": [3.0, np.nan]}))
    as_ints = pre.transform(pd.DataFrame({"area": [60.0, 61.0], "floor": pd.array(
        [3, None], dtype="Int64")}))
    np.testing.assert_array_equal(as_floats, as_text)
    np.testing.assert_array_equal(as_ints, as_text)
    # a pandas category of numbers, predicted with floats (after a merge, say)
    stores = pd.DataFrame({"store": pd.Categorical([10, 20, 30] * 10), "x": np.arange(30.0)})
    pre = TabularPreprocessor().fit(stores, np.arange(30) % 2)
    np.testing.assert_array_equal(pre.transform(stores.assign(store=stores.store.astype(float))),
                                  pre.transform(stores))
    # text written as floats in the fit rows ('1.0' beside words) matches floats as before
    versions = pd.DataFrame({"version": ["1.0", "2.0", "beta", "rc", "final"] * 8})
    pre = TabularPreprocessor().fit(versions)
    np.testing.assert_array_equal(pre.transform(pd.DataFrame({"version": [1.0, 2.0]})),
                                  pre.transform(pd.DataFrame({"version": ["1.0", "2.0"]})))
    assert pre.transform(pd.DataFrame({"version": [1.0]})).sum() == 1  # a known one-hot
    # other numbers stay as written: 2.5 is not 2 or 3
    halves = pd.DataFrame({"k": pd.Categorical([0.5, 2.5, 3.0] * 10)})
    pre = TabularPreprocessor().fit(halves)
    out = pre.transform(pd.DataFrame({"k": [2.5, 3, 0.5]}))
    np.testing.assert_array_equal(out, pre.transform(halves.iloc[[1, 2, 0]]))


def test_predicting_categories_never_seen_in_training_is_warned_of():
    """'Paris' for a trained 'paris', a new city, a missing city where training had none:
    predicted as none of the known categories without a word (a probability 0.99 -> 0.63)."""
    import warnings

    from lepton import NeuralNetworkClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"city": rng.choice(["paris", "lyon", "nice"], 90),
                      "x": rng.normal(size=90)})
    y = (X["city"] == "paris").astype(int)
    model = NeuralNetworkClassifier(epochs=2, random_state=0).fit(X, y)
    new = pd.DataFrame({"city": ["Paris", "lyon", None, "marseille"], "x": [0.0] * 4})
    with pytest.warns(UserWarning, match=r"column 'city': 3 of 4 rows hold values the model "
                                         r"was not trained on \('Paris', a missing value, "
                                         r"'marseille'\); they are predicted as none of the "
                                         r"known categories"):
        model.predict(new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_proba(X)  # the training rows: nothing to say
        model.predict(X.assign(x=X["x"].to_numpy()[::-1]))
        model.predict(new)  # said once for these values (importances predict many times)
    many = pd.DataFrame({"city": [f"new{i}" for i in range(7)], "x": [0.0] * 7})
    with pytest.warns(UserWarning, match=r"\('new0', 'new1', 'new2', 'new3', 'new4', \.\.\. 7 in "
                                         r"all\)"):
        model.predict(many)


def test_a_number_or_date_missing_where_no_training_row_missed_it_is_said():
    """A row without its date was scored as a row of the median date without a word
    (stop 37's notes); unseen categories were said, missing numbers and dates not. Said
    once per column and count, not where the training rows missed the column too, nor by
    a preprocessor fitted before it recorded its complete columns."""
    from lepton import NeuralNetworkRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=200), "gappy": rng.normal(size=200),
                      "when": pd.date_range("2024-01-01", periods=200).strftime("%Y-%m-%d")})
    X.loc[::10, "gappy"] = np.nan
    model = NeuralNetworkRegressor(epochs=2, random_state=0).fit(X, X.x * 2)
    assert model.preprocessor_.complete_columns_ == ["x", "when"]
    new = X.head(5).copy()
    new.loc[1, "when"] = "?"
    new.loc[2, "x"] = np.nan
    new.loc[3, "gappy"] = np.nan
    with pytest.warns(UserWarning) as caught:
        model.predict(new)
    assert sorted(str(w.message) for w in caught) == [
        "column 'when': 1 of 5 rows miss their date, which no training row did; each is "
        "filled in with the training rows' median.",
        "column 'x': 1 of 5 rows miss their number, which no training row did; each is "
        "filled in with the training rows' median."]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(new)  # said once
        model.predict(X.head(5))
        old = pickle.loads(pickle.dumps(model))
        del old.preprocessor_.complete_columns_  # fitted before
        old.predict(new)


def test_a_named_frame_at_predict_is_read_by_name_whatever_its_column_order():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 50), "b": rng.normal(100, 30, 50),
                          "c": rng.choice(["x", "y"], 50)})
    pre = TabularPreprocessor().fit(frame)
    np.testing.assert_array_equal(pre.transform(frame[["c", "b", "a"]]), pre.transform(frame))


def test_an_ensemble_warns_only_of_columns_none_of_its_members_saw_missing():
    """No test had members fitted on columns missing in different rows (mutation review
    helper-82)."""
    from lepton.preprocessing import _warn_newly_missing

    rng = np.random.default_rng(0)
    full = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    holed = full.copy()
    holed.loc[:4, "a"] = np.nan
    members = [TabularPreprocessor().fit(full), TabularPreprocessor().fit(holed)]
    new = full.iloc[:3].copy()
    new.loc[0, "a"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_newly_missing(members, new)  # member 2 was fitted with 'a' missing: no word
    new.loc[1, "b"] = np.nan
    with pytest.warns(UserWarning, match=r"column 'b': 1 of 3 rows miss their number"):
        _warn_newly_missing(members, new)
