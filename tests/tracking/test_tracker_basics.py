"""The no-op default, laziness, and failing fast on a bad tracking URI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lepton.tracking import MLflowTracker, SearchTracker, TrackingError, make_tracker
from lepton.tracking.ui import free_port


def test_import_lepton_does_not_import_mlflow():
    code = ("import sys, lepton, lepton.tracking; from lepton.tracking import MLflowTracker; "
            "assert 'mlflow' not in sys.modules, 'mlflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_tracking_requested_gives_noop(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = make_tracker(tracking_uri=None, experiment_name=None, registered_model_name=None)
    assert type(tracker) is SearchTracker and not tracker.enabled
    # every hook accepts unknown keyword arguments and does nothing
    tracker.start_search(study_name="s", meta_features={}, search_space={}, settings={}, new=1)
    tracker.start_trial(0, params={}, model_config={}, training_config={}, new=1)
    tracker.log_epoch(0, {"epoch": 0}, new=1)
    tracker.end_trial(0, state="complete", value=1.0, duration=0.1, new=1)
    tracker.fail_search(error=ValueError("x"), new=1)


def test_env_tracking_uri_requests_tracking(monkeypatch, sqlite_uri):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    tracker = make_tracker(tracking_uri=None, experiment_name=None, registered_model_name=None)
    assert isinstance(tracker, MLflowTracker) and tracker.tracking_uri == sqlite_uri


def test_default_store_under_lepton_home(monkeypatch, tmp_path):
    from lepton.tracking import default_store_dir, default_tracking_uri

    monkeypatch.setenv("LEPTON_HOME", str(tmp_path))
    assert default_store_dir() == tmp_path / "mlflow"
    assert default_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"



def test_a_default_store_that_cannot_be_written_says_the_ways_around_it(monkeypatch,
                                                                          tmp_path):
    """A read-only or full LEPTON_HOME named the folder and no way out (review helper-87)."""
    from lepton.tracking import TrackingError, default_tracking_uri
    from lepton.tracking._store import check_tracking_uri

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "file" / "home"))  # mkdir fails
    with pytest.raises(TrackingError, match=r"cannot create the folder .* It is the default "
                                            r"store, under LEPTON_HOME .*: set LEPTON_HOME to "
                                            r"a writable folder.*--no-tracking"):
        check_tracking_uri(default_tracking_uri())
    given = f"sqlite:///{tmp_path / 'file' / 'elsewhere' / 'm.db'}"
    with pytest.raises(TrackingError) as raised:  # a store of the user's own: no such advice
        check_tracking_uri(given)
    assert "LEPTON_HOME" not in str(raised.value)


@pytest.mark.parametrize("uri, match", [
    ("foo://somewhere/x", r"tracking_uri='foo://somewhere/x' has an unsupported scheme 'foo'"),
    ("/tmp/mlruns", r"tracking_uri='/tmp/mlruns' is a plain file store"),
])
def test_misconfigured_uri_fails_fast(uri, match, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(TrackingError, match=match):
        make_tracker(tracking_uri=uri, experiment_name=None, registered_model_name=None)


def test_unreachable_server_fails_fast():
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(TrackingError, match=rf"tracking_uri='{uri}' is unreachable"):
        make_tracker(tracking_uri=uri, experiment_name="x", registered_model_name=None)


def test_unreachable_database_fails_fast_without_password_in_message():
    uri = f"postgresql+psycopg2://lepton:s3cret@127.0.0.1:{free_port()}/mlflow"
    with pytest.raises(TrackingError, match=r"cannot connect to the database") as info:
        make_tracker(tracking_uri=uri, experiment_name="x", registered_model_name=None)
    assert "s3cret" not in str(info.value) and "lepton:***@127.0.0.1" in str(info.value)


@pytest.mark.parametrize("name", ["team/model", "model:v2", " ", ".."])
def test_an_invalid_model_name_fails_before_the_search(name, sqlite_uri):
    """MLflow's registry refuses such a name; found only at the end of a search, the model
    went unregistered with a warning."""
    with pytest.raises(ValueError, match=rf"registered_model_name={name!r} is not a valid MLflow "
                                         r"model name: it must not be blank"):
        make_tracker(tracking_uri=sqlite_uri, experiment_name="x", registered_model_name=name)


def test_a_deleted_experiment_is_named_with_how_to_restore_it(sqlite_uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_uri)
    exp_id = client.create_experiment("binned-experiment")
    client.delete_experiment(exp_id)
    with pytest.raises(TrackingError, match=(
            rf"the experiment 'binned-experiment' is deleted in .*; restore it \(`mlflow "
            rf"experiments restore --experiment-id {exp_id}`\) or choose another experiment "
            r"\(experiment_name=; on the command line --experiment\)")):
        MLflowTracker(tracking_uri=sqlite_uri, experiment_name="binned-experiment")
