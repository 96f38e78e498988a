"""Messy input the preprocessing must read as the user meant it: codes that lost their
leading zeros, other libraries' data frames, durations in any unit, missing values counted
in the unseen-category warning, numbers written for another locale, inf in object arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lepton.preprocessing import TabularPreprocessor, check_X


# -- codes with leading zeros ------------------------------------------------------------
def _zip_codes(n=60):
    codes = ["02134", "02139", "SW1A", "EC1A", "W1"] * (n // 5)
    return pd.DataFrame({"zip": codes, "x": np.arange(float(n))})


def test_whole_numbers_match_the_known_code_written_with_leading_zeros():
    """A batch whose zip codes were all digits comes back from read_csv as ints (2134 for
    '02134'): they were unseen categories, and the prediction flipped."""
    X = _zip_codes()
    pre = TabularPreprocessor().fit(X, np.arange(len(X)) % 2)
    as_text = pre.transform(pd.DataFrame({"zip": ["02134", "02139"], "x": [1.0, 2.0]}))
    as_ints = pd.DataFrame({"zip": [2134, 2139], "x": [1.0, 2.0]})
    np.testing.assert_array_equal(pre.transform(as_ints), as_text)
    assert pre.unseen_categories(as_ints) == {}
    # floats (a blank in the batch) too; a number no code writes stays unseen
    as_floats = pd.DataFrame({"zip": [2134.0, np.nan, 2135.0], "x": [1.0, 2.0, 3.0]})
    assert pre.unseen_categories(as_floats) == {"zip": ([None, "2135.0"], 2, 2)}
    np.testing.assert_array_equal(pre.transform(as_floats)[:1], as_text[:1])


def test_a_number_two_known_codes_write_with_zeros_stays_unseen_and_exact_matches_win():
    X = pd.DataFrame({"code": ["02134", "002134", "0042", "42", "ab", "cd", "ef", "gh"] * 10,
                      "x": np.arange(80.0)})
    pre = TabularPreprocessor().fit(X)
    batch = pd.DataFrame({"code": [2134, 42], "x": [0.0, 0.0]})
    # 2134: '02134' or '002134'? neither; 42 is written as in the fit rows
    assert pre.unseen_categories(batch) == {"code": (["2134"], 1, 1)}
    unknown = pre.transform(pd.DataFrame({"code": ["new"], "x": [0.0]}))
    np.testing.assert_array_equal(pre.transform(batch)[:1], unknown)
    np.testing.assert_array_equal(pre.transform(batch)[1:],
                                  pre.transform(pd.DataFrame({"code": ["42"], "x": [0.0]})))


# -- other libraries' data frames --------------------------------------------------------
def test_a_pyarrow_tables_column_names_are_recorded_and_checked():
    """A Table was read as an array: its names lost, a table whose columns came in another
    order at predict time was read by position without a word (accuracy 0.99 -> 0.48)."""
    pa = pytest.importorskip("pyarrow")
    from lepton import NeuralNetworkClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60) * 5,
                      "c": rng.choice(["x", "y"], 60)})
    table = pa.Table.from_pandas(X, preserve_index=False)
    model = NeuralNetworkClassifier(epochs=2, random_state=0).fit(table, X["a"] > 0)
    assert model.feature_names_in_.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(model.predict_proba(table), model.predict_proba(X))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        model.predict(table.select(["b", "a", "c"]))
    assert isinstance(check_X(table), pd.DataFrame)
    pre = TabularPreprocessor().fit(table)
    assert pre.categorical_columns_ == ["c"]
    np.testing.assert_array_equal(pre.transform(table), TabularPreprocessor().fit_transform(X))


# -- durations ---------------------------------------------------------------------------
def test_durations_are_seconds_whatever_the_unit_of_their_dtype():
    """pandas' raw counts are in the dtype's unit: fitted on timedelta64[s], the same
    durations in [ms] were 1,000 times further out (every row clipped to 3)."""
    wait = pd.Series(pd.to_timedelta(np.arange(40) % 7, unit="h")).astype("timedelta64[s]")
    X = pd.DataFrame({"wait": wait, "x": np.arange(40.0)})
    pre = TabularPreprocessor().fit(X)
    expected = pre.transform(X)
    for unit in ("ms", "us", "ns"):
        np.testing.assert_array_equal(
            pre.transform(X.assign(wait=wait.astype(f"timedelta64[{unit}]"))), expected)
    assert pre.numeric_columns_ == ["wait", "x"] and pre.timedelta_columns_ == ["wait"]
    # as a CSV writes them; a missing one is imputed
    text = X.assign(wait=wait.astype(str).where(wait > pd.Timedelta(0), "?"))
    np.testing.assert_array_equal(pre.transform(text)[wait > pd.Timedelta(0)],
                                  expected[wait > pd.Timedelta(0)])
    with pytest.raises(ValueError, match=r"Column 'wait' held durations \(timedelta64\) during "
                                         r"fit but holds values that are not: \['3600'\]"):
        pre.transform(X.assign(wait="3600"))  # in which unit?
    pa = pytest.importorskip("pyarrow")
    arrow = X.assign(wait=wait.astype(pd.ArrowDtype(pa.duration("ms"))))
    np.testing.assert_array_equal(pre.transform(arrow), expected)
    np.testing.assert_array_equal(TabularPreprocessor().fit(arrow).transform(X), expected)


def test_a_preprocessor_pickled_before_durations_were_seconds_transforms_as_fitted():
    # fitted before durations were seconds: on the raw counts of the dtype's unit (ns
    # here, where counts and seconds differ: in [s] they are the same numbers, and this
    # test passed without the fallback); it must read them so still, not as seconds
    wait = pd.Series(pd.to_timedelta(np.arange(40) % 7, unit="h")).astype("timedelta64[ns]")
    X = pd.DataFrame({"wait": wait, "x": np.arange(40.0)})
    counts = X.assign(wait=wait.astype(np.int64))
    old = TabularPreprocessor().fit(counts)
    vars(old).pop("timedelta_columns_", None)
    np.testing.assert_array_equal(old.transform(X), old.transform(counts))


# -- the unseen-category warning ---------------------------------------------------------
def test_missing_values_written_as_none_are_counted_as_unseen_rows():
    """isin([nan]) does not find None: '0 of 300 rows hold values the model was not trained
    on (a missing value)' while 6 did."""
    X = pd.DataFrame({"c": ["x", "y"] * 20, "a": np.arange(40.0)})
    pre = TabularPreprocessor().fit(X)
    for missing in (None, np.nan):
        batch = pd.DataFrame({"c": pd.Series(["x", missing, missing, "y"], dtype=object),
                              "a": [0.0] * 4})
        assert pre.unseen_categories(batch) == {"c": ([None], 1, 2)}
    batch = pd.DataFrame({"c": pd.Series(["new", None, "new", "y"], dtype=object),
                          "a": [0.0] * 4})
    assert pre.unseen_categories(batch) == {"c": (["new", None], 2, 3)}


# -- numbers written for another locale -------------------------------------------------
@pytest.mark.parametrize("values, example, args", [
    ([f"{i}.{i:03d},{i % 100:02d}" for i in range(1, 91)], "1.001,01",
     "decimal=',', thousands='.'"),
    ([f"{i} {i:03d},5" for i in range(1, 91)], "1 001,5", "decimal=',', thousands=' '"),
    ([f"{i}\u202f{i:03d}" for i in range(1, 91)], "1\u202f001", "thousands='\\u202f'"),
    ([f"{i},{i % 7}" for i in range(1, 91)], "1,1", "decimal=','"),
])
def test_numbers_written_for_another_locale_are_named_as_such(values, example, args):
    """'3.311,03' (German) or '3 311,03' (French), read without read_csv's decimal=',':
    left out as "an identifier: 90 distinct values in 90 rows", which misled."""
    pre = TabularPreprocessor().fit(pd.DataFrame({"amount": values, "x": np.arange(90.0)}))
    assert pre.dropped_columns_ == {"amount": (
        f"numbers written as text (like {example!r}), not read as numbers, or an identifier: "
        f"if they are amounts, read the file with pandas.read_csv(..., {args}), or convert "
        "the column to numbers")}


def test_identifiers_that_are_not_numbers_are_still_identifiers():
    for values in ([f"u{i}" for i in range(90)], [f"1.{i}.{i}" for i in range(90)],
                   [f"555 {i:04d}" for i in range(90)]):
        pre = TabularPreprocessor().fit(pd.DataFrame({"id": values, "x": np.arange(90.0)}))
        assert pre.dropped_columns_ == {"id": "an identifier: 90 distinct values in 90 rows"}


# -- inf -------------------------------------------------------------------------------------
def test_inf_in_an_object_array_of_numbers_names_the_column():
    X = np.array([[1, 2.0, "3"], [4, 5.0, "-inf"]], dtype=object)
    with pytest.raises(ValueError, match=r"Input X contains infinity \(first in column 2\)"):
        check_X(X)


def test_numbers_as_text_with_repeats_stay_categories_and_durations_refuse_dates():
    """Second reading: a column of decimal-comma numbers of which 41% are distinct ('8,1')
    was one-hot encoded before the locale reason, and left out by it, which cost the
    accuracy the column carried (0.61-0.74 -> 0.51-0.61): only a column of nearly all
    distinct values is left out, with that reason (which allows an identifier). A date in
    a duration column at predict raised pandas' TypeError, naming no column."""
    rng = np.random.default_rng(0)
    repeats = pd.DataFrame({"gewicht": [f"{v:.1f}".replace(".", ",")
                                        for v in rng.integers(50, 90, 100) / 10]})
    pre = TabularPreprocessor().fit(repeats)
    assert pre.categorical_columns_ == ["gewicht"] and not pre.dropped_columns_
    unique = pd.DataFrame({"betrag": [f"{v:,.2f}".replace(",", " ").replace(".", ",")
                                      for v in rng.uniform(1000, 9000, 100)], "x": 1.0})
    why = TabularPreprocessor().fit(unique).dropped_columns_["betrag"]
    assert why.startswith("numbers written as text (like '") and "or an identifier" in why
    durations = pd.DataFrame({"wait": pd.to_timedelta(np.arange(30), unit="h")})
    pre = TabularPreprocessor().fit(durations)
    batch = durations.head(3).astype(object)
    batch.loc[1, "wait"] = pd.Timestamp("2024-01-01")
    with pytest.raises(ValueError, match=r"Column 'wait' held durations .* holds values that "
                                         r"are not: \['2024-01-01 00:00:00'\]"):
        pre.transform(batch)
    import datetime
    batch.loc[1, "wait"] = datetime.timedelta(hours=1)  # Python's own durations are durations
    assert np.allclose(pre.transform(batch), pre.transform(durations.head(3)))
