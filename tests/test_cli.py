"""The ``lepton`` command."""

from __future__ import annotations

import re

import pytest

from lepton.cli import main


@pytest.mark.slow
def test_lepton_run_digits_reports_a_good_held_out_accuracy(capsys):
    # 30 s: creating a fresh MLflow store (schema migrations) alone takes ~8 s of it
    assert main(["run", "digits", "--time-budget", "30"]) == 0
    out = capsys.readouterr().out
    assert "dataset=digits task=classification rows=1797" in out
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.9
    assert "searched" in out and "tracked in MLflow experiment 'lepton-digits'" in out
    assert "space=cnn" in out  # digits declares its 8x8 shape: the search sees images


def test_lepton_run_fixed_network(capsys):
    assert main(["run", "iris", "--fixed"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"trained \d+ epochs", out) and "held-out accuracy" in out


def test_lepton_run_with_an_unknown_dataset_is_a_usage_error(capsys):
    assert main(["run", "no-such-dataset"]) == 2
    err = capsys.readouterr().err
    assert "lepton: error: dataset='no-such-dataset' is neither a built-in dataset" in err
    assert "digits" in err


def test_lepton_run_csv_with_a_target_column(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
    frame["label"] = np.where((frame.a > 0) ^ (frame.b == "x"), "pos", "neg")
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    assert main(["run", str(path), "--target", "label", "--time-budget", "8",
                 "--no-tracking"]) == 0
    out = capsys.readouterr().out
    assert "dataset=table task=classification rows=200" in out
    assert re.search(r"held-out accuracy: [0-9.]+", out)
    assert main(["run", str(path), "--target", "nope"]) == 2
    assert "target='nope' is not a column of table.csv" in capsys.readouterr().err


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
