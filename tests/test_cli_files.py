"""`lepton run` and `lepton predict` on table files: what a run says of its target, what it
refuses before searching, and the columns a prediction file gets."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from lepton import LeptonRegressor, NeuralNetworkClassifier, NeuralNetworkRegressor
from lepton.cli import main


def _header(path) -> str:
    return path.read_text().splitlines()[0]


@pytest.mark.parametrize("make, y_of", [
    (lambda: NeuralNetworkRegressor(hidden_layer_sizes=(4,), epochs=2), lambda y: y),
    (lambda: NeuralNetworkRegressor(hidden_layer_sizes=(4,), epochs=2), lambda y: y[:, None]),
    (lambda: NeuralNetworkRegressor(hidden_layer_sizes=(4,), epochs=2),
     lambda y: np.c_[y, -y]),
    (lambda: LeptonRegressor(time_budget=8, n_trials=1, cv=None), lambda y: np.c_[y, -y]),
    (lambda: NeuralNetworkClassifier(hidden_layer_sizes=(4,), epochs=2),
     lambda y: np.where(y > 0, "a", "b")),
], ids=["1-d", "one-column", "two-outputs", "search-two-outputs", "classes"])
def test_an_empty_file_gets_the_columns_a_file_of_rows_gets(tmp_path, make, y_of):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    model = make().fit(X, y_of(X.a.to_numpy() + rng.normal(scale=0.1, size=60)))
    joblib.dump(model, tmp_path / "model.joblib")
    X.head(3).to_csv(tmp_path / "rows.csv", index=False)
    X.head(0).to_csv(tmp_path / "empty.csv", index=False)
    for name in ("rows", "empty"):
        assert main(["predict", str(tmp_path / "model.joblib"), str(tmp_path / f"{name}.csv"),
                     "--out", str(tmp_path / f"{name}_out.csv")]) == 0
    # a model fitted on an unnamed 2-D y wrote 'prediction' for no rows, 'prediction_0,
    # prediction_1' for some
    assert _header(tmp_path / "empty_out.csv") == _header(tmp_path / "rows_out.csv")
    assert len((tmp_path / "empty_out.csv").read_text().splitlines()) == 1


def test_a_target_of_a_few_whole_numbers_is_said_to_be_taken_as_classes(tmp_path, capsys):
    # visit counts: `lepton run` showed only task=classification (held-out accuracy 0.145;
    # R^2 0.447 with --task regression)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120)})
    frame["visits"] = np.clip(np.round(3 + 2 * frame.a), 0, 7).astype(int)
    frame["label"] = np.where(frame.a > 0, 1, 0)
    frame.to_csv(tmp_path / "t.csv", index=False)
    from lepton.steps import load_split

    notes = load_split(str(tmp_path / "t.csv"), target="visits").notes()
    assert ("target 'visits': 8 distinct whole numbers (0 to 7), taken as classes (up to 20 "
            "are); task 'regression' (--task regression) predicts them as numbers") in notes
    # 0/1, a task given, a built-in dataset's classes: nothing to say
    assert not any("whole numbers" in n for n in load_split(str(tmp_path / "t.csv"),
                                                            target="label").notes())
    assert not any("whole numbers" in n for n in load_split(
        str(tmp_path / "t.csv"), target="visits", task="classification").notes())
    assert not any("whole numbers" in n for n in load_split("wine").notes())


def test_an_infinite_target_is_refused_by_its_rows_before_the_search(tmp_path, capsys):
    # in the held-out rows it failed the run after the whole search ("Input contains
    # infinity"); in the training rows it was said by positions in the shuffled split
    frame = pd.DataFrame({"a": np.arange(40.0), "price": np.arange(40.0) * 2})
    frame["price"] = frame.price.astype(object)
    frame.loc[[0, 6], "price"] = ["inf", "-Infinity"]
    frame.to_csv(tmp_path / "p.csv", index=False)
    assert main(["run", str(tmp_path / "p.csv"), "--target", "price", "--time-budget", "60",
                 "--no-tracking"]) == 2
    err = capsys.readouterr().err
    assert ("target 'price' is infinite in 2 row(s) (rows 1, 7 of the table, its first row "
            "under the header being row 1): fix those values, or empty them") in err, err
    frame.assign(other=frame.price).to_csv(tmp_path / "two.csv", index=False)
    assert main(["run", str(tmp_path / "two.csv"), "--target", "other", "price"]) == 2
    assert "target 'other' is infinite in 2 row(s)" in capsys.readouterr().err


def test_a_target_of_many_repeated_whole_numbers_is_said_to_be_taken_as_numbers(tmp_path):
    # 200 class codes: regressed on without a word, R^2 0.22 (accuracy 0.87 as classes;
    # review helper-47)
    from lepton.steps import load_split

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=800), "code": np.repeat(np.arange(200), 4),
                          "count": np.arange(800)})
    frame.to_csv(tmp_path / "c.csv", index=False)
    assert ("target 'code': 200 distinct whole numbers (0 to 199), taken as numbers to "
            "regress on (more than 20 are); if they are codes of classes, task "
            "'classification' (--task classification) predicts them as classes"
            ) in load_split(str(tmp_path / "c.csv"), target="code").notes()
    # distinct values (not repeated), or a task given: nothing to say
    assert not any("whole numbers" in n for n in load_split(str(tmp_path / "c.csv"),
                                                            target="count").notes())
    assert not any("whole numbers" in n for n in load_split(
        str(tmp_path / "c.csv"), target="code", task="regression").notes())


def test_imbalanced_classes_are_said_and_balanced_accuracy_is_reported(tmp_path, capsys):
    # a 1:200 table said 'held-out accuracy: 0.9970' and nothing else, where predicting the
    # majority scored 0.9950 (review helper-47)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=800), "b": rng.normal(size=800)})
    frame["label"] = np.where(np.arange(800) % 40 == 0, "fraud", "ok")
    frame.to_csv(tmp_path / "imb.csv", index=False)
    assert main(["run", str(tmp_path / "imb.csv"), "--target", "label", "--time-budget", "8",
                 "--no-tracking", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert ("classes are imbalanced: 'fraud' is 2.5% of the training rows, 'ok' 97.5%; "
            "accuracy rewards predicting 'ok' (0.9750 by that alone): --metric "
            "balanced_accuracy weighs every class's recall the same") in out, out
    assert "held-out accuracy: " in out and "held-out balanced_accuracy: " in out
    assert main(["run", str(tmp_path / "imb.csv"), "--target", "label", "--time-budget", "8",
                 "--no-tracking", "--verbose", "0", "--metric", "balanced_accuracy"]) == 0
    out = capsys.readouterr().out
    assert "imbalanced" not in out and out.count("held-out balanced_accuracy: ") == 1


def test_a_model_of_unnamed_columns_says_which_columns_a_file_must_hold(tmp_path, capsys):
    # `lepton predict --help` said the target column is ignored; for a model trained on an
    # array (a built-in dataset's) it is refused: the error now says what to give
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    model = NeuralNetworkClassifier(hidden_layer_sizes=(4,), epochs=2).fit(X, X[:, 0] > 0)
    joblib.dump(model, tmp_path / "model.joblib")
    pd.DataFrame(X, columns=["p0", "p1", "p2"]).assign(label=1, id=range(60)).to_csv(
        tmp_path / "rows.csv", index=False)
    assert main(["predict", str(tmp_path / "model.joblib"), str(tmp_path / "rows.csv"),
                 "--keep", "id"]) == 2
    assert ("rows.csv has 4 feature columns (besides --keep); the model was trained on 3 "
            "unnamed columns (an array, or a built-in dataset): give the file those columns "
            "alone, in their order (the target dropped; others copied out with --keep)"
            ) in capsys.readouterr().err
    pd.DataFrame(X, columns=["p0", "p1", "p2"]).assign(id=range(60)).to_csv(
        tmp_path / "rows.csv", index=False)
    assert main(["predict", str(tmp_path / "model.joblib"), str(tmp_path / "rows.csv"),
                 "--keep", "id"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "id,prediction"


def test_a_file_of_pixel_columns_is_searched_as_images_with_input_shape(tmp_path, capsys):
    # `--search-space cnn` said to pass input_shape=(height, width), which lepton run had no
    # way to (review helper-46): a CSV of MNIST-like pixel columns could not reach a CNN
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(X[:400], columns=[f"pixel{i}" for i in range(64)])
    frame.insert(0, "label", y[:400])
    frame.to_csv(tmp_path / "digits.csv", index=False)
    run = ["run", str(tmp_path / "digits.csv"), "--target", "label", "--no-tracking",
           "--verbose", "0"]
    assert main(run + ["--input-shape", "8", "8", "--time-budget", "10",
                       "--save", str(tmp_path / "m.joblib")]) == 0
    assert "space=cnn" in capsys.readouterr().out
    model = joblib.load(tmp_path / "m.joblib")
    assert tuple(model.input_shape_) == (8, 8) and model.search_space_.family == "cnn"
    frame.drop(columns="label").head(5).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(tmp_path / "m.joblib"), str(tmp_path / "new.csv")]) == 0
    predicted = capsys.readouterr().out.splitlines()
    assert predicted[0] == "prediction" and len(predicted) == 6
    for extra, said in [
            (["--search-space", "cnn"], "searches networks for images, and the rows of digits "
                                        "are not images: for a file whose feature columns are "
                                        "pixels, give their shape with --input-shape"),
            (["--input-shape", "8", "9"], "input_shape=[8, 9] is 72 pixels a row, and digits "
                                          "has 64 feature columns")]:
        assert main(run + extra) == 2
        assert said in capsys.readouterr().err
    assert main(["run", "digits", "--flat", "--search-space", "cnn", "--no-tracking"]) == 2
    assert "--search-space cnn searches networks for images: drop --flat" in (
        capsys.readouterr().err)
    # a fixed network takes the pixels as numbers too (13 of 64 had been target-encoded
    # as codes, and said so; review helper-52)
    assert main(run + ["--input-shape", "8", "8", "--fixed", "--save",
                       str(tmp_path / "f.joblib")]) == 0
    assert "codes" not in capsys.readouterr().out
    fixed = joblib.load(tmp_path / "f.joblib")
    assert fixed.input_shape_ == (8, 8) and fixed.preprocessor_.code_columns_ == []
    frame.assign(day=range(400)).to_csv(tmp_path / "dated.csv", index=False)
    assert main(["run", str(tmp_path / "dated.csv"), "--target", "label", "--input-shape",
                 "8", "8", "--time-column", "day", "--no-tracking"]) == 2
    assert "the time column would be a feature beside the pixels" in capsys.readouterr().err
    from lepton.steps import load_split

    # what `lepton worker` and a scheduled run load the same rows with
    split = load_split(str(tmp_path / "digits.csv"), target="label", input_shape=[8, 8])
    assert split.recipe["input_shape"] == [8, 8] and split.input_shape == (8, 8)


@pytest.mark.parametrize("labels", [
    lambda a: np.where(a > 0, "pos", "neg"),
    lambda a: np.where(a > 0, 7, 2),
    lambda a: a > 0,
    lambda a: np.c_[a > 0, a > 1].astype(int),
    lambda a: a,
], ids=["text", "int", "bool", "multilabel", "regression"])
def test_an_empty_batch_writes_the_column_types_a_batch_of_rows_writes(tmp_path, labels):
    """A day without rows, to Parquet, had float64 predictions and null-typed kept columns,
    and a folder of daily outputs failed to read as one dataset ('Unsupported cast from
    int64 to null')."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    y = labels(X.a.to_numpy())
    regression = y.dtype.kind == "f"
    model = (NeuralNetworkRegressor if regression else NeuralNetworkClassifier)(
        hidden_layer_sizes=(4,), epochs=2).fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    X.assign(id=[f"{i:05d}" for i in range(60)]).head(3).to_csv(tmp_path / "rows.csv",
                                                                 index=False)
    (tmp_path / "empty.csv").write_text("a,b,id\n")
    (tmp_path / "days").mkdir()
    for day, name in enumerate(["empty", "rows"]):  # the empty day sorts first
        assert main(["predict", str(tmp_path / "model.joblib"), str(tmp_path / f"{name}.csv"),
                     "--keep", "id", "--out", str(tmp_path / "days" / f"{day}.parquet")]
                    + ([] if regression else ["--proba"])) == 0
    empty, rows = (pd.read_parquet(tmp_path / "days" / f"{day}.parquet") for day in (0, 1))
    assert len(empty) == 0 and empty.dtypes.to_dict() == rows.dtypes.to_dict()
    assert pd.read_parquet(tmp_path / "days")["id"].tolist() == ["00000", "00001", "00002"]


def test_classes_written_with_leading_zeros_are_predicted_as_written(tmp_path, capsys):
    """Classes 002, 005, 010 were read as the numbers 2, 5, 10: predicted 5, named
    proba_5, silently. Numbers with a fraction, or none padded, stay numbers; so do padded
    ones for --task regression."""
    from lepton.datasets import load_dataset
    from lepton.steps import load_split

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=90)})
    def grades(written):  # three bands of a
        return np.select([frame.a < -0.4, frame.a < 0.4], written[:2], written[2])

    frame["grade"] = grades(["002", "005", "010"])
    frame.loc[4, "grade"] = None  # a row without a target: left out, as for numbers
    path = tmp_path / "grades.csv"
    frame.to_csv(path, index=False)
    assert "002" in path.read_text()
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "grade", "--fixed", "--save", str(saved)]) == 0
    assert ("target 'grade': classes written with leading zeros ('002', '005', '010'), read "
            "as text, so predictions give them as written; task 'regression' (--task "
            "regression) takes them as numbers") in capsys.readouterr().out
    frame[["a"]].head(4).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(saved), str(tmp_path / "new.csv"), "--proba"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction,proba_002,proba_005,proba_010"
    assert {line.split(",")[0] for line in lines[1:]} <= {"002", "005", "010"}

    split = load_split(str(path), target="grade", task="regression")
    assert split.y_train.dtype.kind == "i" and set(split.y_train) == {2, 5, 10}
    assert not any("leading zeros" in note for note in split.notes())
    # a workbook's text cells are the labels as written too
    frame.to_excel(tmp_path / "grades.xlsx", index=False)
    assert set(load_dataset(str(tmp_path / "grades.xlsx"), target="grade").y) == {
        "002", "005", "010"}
    # a number with a fraction among them: numbers; none padded: whole numbers
    for written, kind in [(["002", "0.5", "010"], "f"), (["002", "007.5", "010"], "f"),
                          (["0", "1", "2"], "i"), (["2", "5", "10"], "i")]:
        frame.assign(grade=grades(written)).to_csv(path, index=False)
        assert load_dataset(str(path), target="grade").y.dtype.kind == kind, written
