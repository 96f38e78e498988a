"""lepton.steps: the steps ``lepton run`` and the Prefect flow share."""

from __future__ import annotations

import joblib
import pytest

from lepton import steps


def test_save_replaces_the_file_whole_and_keeps_joblib_compression(tmp_path):
    path = tmp_path / "model.joblib.gz"
    steps.save({"version": 1}, str(path))
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip: joblib read the suffix
    assert joblib.load(path) == {"version": 1}

    with pytest.raises(Exception):  # a lambda cannot be pickled: the dump fails midway
        steps.save({"version": 2, "bad": lambda: None}, str(path))
    assert joblib.load(path) == {"version": 1}  # the previous model is intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib.gz"]  # no partial left

    steps.save({"version": 3}, str(path))
    assert joblib.load(path) == {"version": 3}


def test_load_split_checks_its_arguments():
    with pytest.raises(ValueError, match="task='clustering'"):
        steps.load_split("iris", task="clustering")
    with pytest.raises(ValueError, match="test_size=1.5"):
        steps.load_split("iris", test_size=1.5)
    split = steps.load_split("iris", test_size=0.2, seed=3)
    assert (split.name, split.task, split.rows, len(split.y_test)) == (
        "iris", "classification", 150, 30)
    assert split.default_metric == "accuracy"


def test_check_writable_names_the_option(tmp_path):
    with pytest.raises(ValueError, match=r"save .*does not exist"):
        steps.check_writable(str(tmp_path / "missing" / "m.joblib"), what="save")
    steps.check_writable(str(tmp_path / "m.joblib"))
