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
