"""The Prefect flow and its schedule against a real ``prefect server`` on 127.0.0.1.

One server per test process (module scope); the tests share the ``prefect`` xdist group so
that they run in one worker and start it once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import joblib
import pandas as pd
import pytest

from _procs import children
from lepton import steps
from lepton.search import SearchError
from lepton.search._search import HEARTBEAT_GRACE_S
from lepton.tracking import TrackingError
from lepton.tracking.ui import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect")]

flows = pytest.importorskip("lepton.pipelines.flows")
server = pytest.importorskip("lepton.pipelines.server")

TASKS = ["evaluate", "load", "record", "save", "search"]


@pytest.fixture(scope="module")
def prefect_api():
    """The API URL of a real Prefect server, this process and its children pointed at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    proc, url = server.start_server()
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)  # send the run logs while the server is up

        os.environ.pop("PREFECT_API_URL", None)
        server.stop(proc)


def test_the_server_answers_no_other_web_pages_origin(prefect_api):
    """Prefect's default CORS (any origin) let any web page read the server's deployments
    and start runs (security review helper-75): its own address only now."""
    import urllib.error
    import urllib.request

    def preflight(origin: str) -> str | None:
        request = urllib.request.Request(
            f"{prefect_api}/flow_runs/filter", method="OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.headers.get("access-control-allow-origin")
        except urllib.error.HTTPError as exc:  # refused: 400
            return exc.headers.get("access-control-allow-origin")

    own = prefect_api.rsplit("/api", 1)[0]
    assert preflight(own) == own
    local = own.replace("127.0.0.1", "localhost")  # the UI opened so (review helper-76)
    assert preflight(local) == local
    assert preflight("http://evil.example") is None
    # the UI it serves calls its own API, not Prefect's default port 4200
    with urllib.request.urlopen(f"{own}/ui-settings", timeout=10) as response:
        assert json.loads(response.read())["api_url"] == prefect_api


def _task_runs(flow_run_id) -> dict[str, object]:
    """The flow run's task runs by task name (the last attempt of each)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name.rsplit("-", 1)[0]: run for run in runs}


def test_flow_runs_the_steps_and_records_them(prefect_api, tmp_path):
    import mlflow

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # last night's search, which keep_searches=1 deletes with its trial
    client = mlflow.MlflowClient(store)
    last_night = client.create_run(client.create_experiment("nightly-iris"),
                                   tags={"lepton.role": "search"}).info
    trial = client.create_run(last_night.experiment_id, tags={
        "lepton.role": "trial", "mlflow.parentRunId": last_night.run_id}).info
    for run_id in (trial.run_id, last_night.run_id):
        client.set_terminated(run_id)
    state = flows.search_flow(dataset="iris", time_budget=20, tracking_uri=store,
                              experiment="nightly-iris", registered_model_name="nightly-iris",
                              save=str(tmp_path / "model.joblib"),
                              storage=str(tmp_path / "study.db"), verbose=0, importance=2,
                              keep_searches=1, return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["dataset"] == "iris" and summary["task"] == "classification"
    # the two columns whose shuffling drops the held-out accuracy most: petals, for iris
    assert len(summary["column_importance"]) == 2
    assert all("petal" in name for name in summary["column_importance"]), summary
    assert summary["train_rows"] + summary["test_rows"] == 150
    held_out = steps.load_split("iris", seed=0)  # the flow's own split (seed 0)
    model = joblib.load(summary["model_path"])
    assert summary["held_out"]["accuracy"] == model.score(held_out.X_test, held_out.y_test)
    assert summary["held_out"]["accuracy"] > 1 / 3  # better than chance on three classes
    assert summary["n_trials"] >= 1 and summary["fit_seconds"] <= 20 * 1.05
    assert summary["devices"] == ["cpu"]  # where the trials trained
    # a persistent study of its own, named after the flow run (a retry resumes it)
    flow_run_id = state.state_details.flow_run_id
    assert summary["study_name"] == f"lepton-search-iris-{flow_run_id}"

    runs = _task_runs(flow_run_id)
    # importance: asked for here; promote: a registered model is made champion or not;
    # prune: keep_searches
    assert sorted(runs) == sorted([*TASKS, "importance", "promote", "prune"])
    assert summary["pruned"]["runs"] == 2
    for run_id in (trial.run_id, last_night.run_id):
        with pytest.raises(mlflow.exceptions.MlflowException):
            client.get_run(run_id)
    assert all(run.state.is_completed() and run.run_count == 1 for run in runs.values())

    assert model.study_.study_name == summary["study_name"]
    run = mlflow.MlflowClient(store).get_run(summary["mlflow_run_id"])
    assert run.data.metrics["test_accuracy"] == pytest.approx(summary["held_out"]["accuracy"])
    assert summary["registered_model"] == {"name": "nightly-iris", "version": "1",
                                           "promotion": "first champion"}
    logged = pd.read_csv(mlflow.MlflowClient(store).download_artifacts(
        summary["mlflow_run_id"], "column_importance.csv", tmp_path))
    assert len(logged) == 4 and set(logged.feature[:2]) == set(summary["column_importance"])
    # the MLflow run leads back to the Prefect run that made it
    assert run.data.tags["lepton.prefect.flow_run_id"] == str(flow_run_id)
    assert run.data.tags["lepton.prefect.flow_run_name"] == "iris-20.0s"
    assert str(flow_run_id) in run.data.tags["lepton.prefect.flow_run_url"]
    # ... and is told apart from other datasets' searches in the runs table
    assert run.info.run_name == "search-iris" and run.data.tags["lepton.dataset"] == "iris"


def test_a_flow_run_on_a_dated_weighted_table_holds_out_its_latest_rows(prefect_api, tmp_path):
    import numpy as np
    import pandas as pd

    n = 160
    days = pd.date_range("2024-01-01", periods=n, freq="D")
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "ticket": [f"T{i}" for i in range(n)],
                          "units": 10.0 + 5.0 * (days.day_of_week >= 5) + np.arange(n) / 20,
                          "weight": np.where(days.day_of_week >= 5, 3.0, 1.0)})
    path = tmp_path / "sales.csv"
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)  # not in time order
    state = flows.search_flow(dataset=str(path), target="units", time_column="day",
                              weight_column="weight", time_budget=10, tracking=False, verbose=0,
                              save=str(tmp_path / "m.joblib"), return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert (summary["train_rows"], summary["test_rows"]) == (120, 40)
    from prefect import get_client

    with get_client(sync_client=True) as client:  # named after the file, not its path
        assert client.read_flow_run(state.state_details.flow_run_id).name == "sales.csv-10.0s"
    assert summary["notes"] == [
        "held out the latest 40 rows by 'day' (from 2024-04-30); the search validates on "
        "TimeSeriesSplit(5), forward in time",
        "rows weighted by 'weight' (min 1, median 1, max 3): the search's training and "
        "validation, and the held-out scores, count each row by its weight",
        "column 'day': dates (ISO 8601), learnt from as days since 1970 and the position in "
        "the year, week and day",
        "column 'ticket' left out: an identifier: 120 distinct values in 120 rows"]
    # the held-out score is the latest 40 days' (load_split with the same time column)
    held_out = steps.load_split(str(path), target="units", time_column="day",
                                weight_column="weight")
    assert held_out.X_test["day"].min() == "2024-04-30"
    assert "weight" not in held_out.X_test.columns  # a weight, not a feature
    model = joblib.load(summary["model_path"])
    assert summary["held_out"]["r2"] == model.score(held_out.X_test, held_out.y_test,
                                                    sample_weight=held_out.w_test)
    assert summary["final_choice"] != "ensemble"  # forward splits: the refit


def test_transient_errors_are_retried_and_bad_input_is_not(prefect_api, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    state = flows.search_flow(dataset="iris", time_budget=15, tracking_uri=closed, retries=1,
                              retry_delay_seconds=0, verbose=0, return_state=True)
    assert state.is_failed()
    with pytest.raises(TrackingError, match="127.0.0.1"):
        state.result()
    runs = _task_runs(state.state_details.flow_run_id)
    assert runs["search"].run_count == 2 and runs["search"].state.is_failed()

    # a file not there yet (tonight's export, late) is tried again; one that lacks the
    # target is bad input, refused at once
    (tmp_path / "no_target.csv").write_text("a,b\n1,2\n3,4\n")
    for name, said, attempts in [("missing.csv", "missing.csv", 3),
                                 ("no_target.csv", "'y' is not a column of no_target.csv", 1)]:
        state = flows.search_flow(dataset=str(tmp_path / name), target="y", retries=2,
                                  retry_delay_seconds=0, verbose=0, return_state=True)
        assert state.is_failed()
        with pytest.raises(ValueError, match=said):
            state.result()
        runs = _task_runs(state.state_details.flow_run_id)
        assert list(runs) == ["load"] and runs["load"].run_count == attempts

    state = flows.search_flow(dataset="iris", importance=0, verbose=0, return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match="importance=0: give the number of columns"):
        state.result()
    assert _task_runs(state.state_details.flow_run_id) == {}  # refused before any task


def test_is_transient():
    from lepton.search import StorageError

    assert flows.is_transient(TrackingError("unreachable"))
    assert flows.is_transient(StorageError("no answer"))
    assert flows.is_transient(ConnectionResetError())
    assert not flows.is_transient(ValueError("bad input"))
    assert not flows.is_transient(SearchError("every trial failed"))
    assert not flows.is_transient(None)


def test_a_table_file_not_there_yet_is_retried(tmp_path):
    """`lepton schedule` takes a file that does not exist yet (tonight's export), and a
    run that started before it arrived failed at once, its retries unused (review
    helper-51)."""
    from lepton.datasets import load_dataset

    with pytest.raises(ValueError, match="nor an existing table file") as missing:
        load_dataset(str(tmp_path / "tonight.csv"), target="y")
    assert flows.is_transient(missing.value)


def test_a_table_read_that_met_an_io_error_is_retried_and_a_corrupt_file_is_not(tmp_path,
                                                                                 monkeypatch):
    """read_table says what it could not read as a ValueError; the flow's load retries it
    where the operating system failed the read (a network share), not where the file is
    not what it claims (a broken gzip stream)."""
    import errno
    import gzip

    import pandas as pd

    from lepton.datasets import read_table

    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError) as corrupt:
        read_table(tmp_path / "bad.csv.gz")
    assert isinstance(corrupt.value.__cause__, gzip.BadGzipFile)
    assert not flows.is_transient(corrupt.value)
    # a gzip header over a broken stream: zlib's error, said the same way (it escaped)
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b\x08 not deflate at all")
    with pytest.raises(ValueError, match="cannot be read as CSV: error: Error -3"):
        read_table(tmp_path / "bad.csv.gz")

    def failing_read(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    (tmp_path / "share.csv").write_text("a,b\n1,2\n")
    monkeypatch.setattr(pd, "read_csv", failing_read)
    with pytest.raises(ValueError, match="cannot be read as CSV: OSError") as io_error:
        read_table(tmp_path / "share.csv")
    assert flows.is_transient(io_error.value)


def test_schedule_checks_before_serving():
    for bad, expected in [(dict(cron="0 25 * * *"), "Invalid cron string"),
                          (dict(cron="0 3 * * *", timezone="Mars/Base"), "Invalid timezone"),
                          (dict(interval=0), "interval=0"),
                          (dict(), "exactly one of cron")]:
        with pytest.raises(ValueError, match=expected):
            flows.make_schedule(**bad)
    with pytest.raises(ValueError, match="'nope'"):
        flows.deployment_parameters(dataset="nope")
    with pytest.raises(ValueError, match=r"\['budget'\] are not parameters"):
        flows.deployment_parameters(budget=3)
    # options a run would refuse at its first scheduled start (they were served)
    for bad, expected in [(dict(time_budget=-1), r"'time_budget' parameter .* Got -1"),
                          (dict(test_size=5), r"test_size=5\.0: give the held-out fraction"),
                          (dict(metric="bogus"), r"metric='bogus' is not a metric"),
                          (dict(search_space="nope.yaml"), r"nope\.yaml"),
                          (dict(device="bogus"), r"bogus"),
                          (dict(n_jobs=0), r"n_jobs=0 is not valid"),
                          (dict(retries=-1), r"retries=-1: give a number >= 0"),
                          (dict(seed=-1), r"seed=-1: give a whole number from 0 to 4294967295"),
                          (dict(seed=1.5), r"seed: Input should be a valid integer, got a "
                                           r"number with a fractional part"),
                          (dict(retries=1.5), r"retries: Input should be a valid integer"),
                          (dict(images=2), r"images: Input should be a valid boolean"),
                          (dict(verbose=-1), r"verbose=-1: give 0 \(the summary only\), 1"),
                          (dict(importance=0), r"importance=0: give the number of columns"),
                          (dict(experiment=""), r"experiment='': give a name that is not empty"),
                          (dict(study_name=" "), r"study_name=' ': give a name"),
                          (dict(tracking_uri=""), r"tracking_uri='': give a name"),
                          (dict(registered_model_name=""), r"registered_model_name='': give"),
                          (dict(target=["label"]), r"the dataset is the built-in 'digits'"),
                          (dict(dataset="iris", metric="r2"),  # was served, each run failing
                           r"metric='r2' is not a classification metric"),
                          (dict(save="/nonexistent/m.joblib"),
                           r"save '/nonexistent/m\.joblib': the folder '/nonexistent' does not "
                           r"exist")]:
        with pytest.raises(ValueError, match=expected):
            flows.deployment_parameters(**bad)
    # what Prefect converts for each run is taken as it is (a run takes it)
    assert flows.deployment_parameters(seed="3", verbose=True, importance=2.0)["seed"] == "3"
    params = flows.deployment_parameters(dataset="data.csv", save="m.joblib", storage="s.db",
                                         tracking_uri="sqlite:///x.db", time_column="day")
    assert params["time_column"] == "day"
    assert params["dataset"] == str(Path("data.csv").resolve())
    assert params["save"] == str(Path("m.joblib").resolve())
    assert params["storage"] == str(Path("s.db").resolve())
    assert params["tracking_uri"] == "sqlite:///x.db"


def test_a_schedule_naming_one_study_for_a_data_file_is_warned_of(recwarn):
    """Every run of a schedule resumes its study_name; once the file grows, each run is
    refused (the study holds another dataset's trials): from the second run on."""
    with pytest.warns(UserWarning, match=r"study_name='nightly' names one study for every "
                                         r"scheduled run: once data\.csv changes"):
        flows.deployment_parameters(dataset="data.csv", storage="s.db", study_name="nightly")
    flows.deployment_parameters(dataset="data.csv", storage="s.db")  # each data its study
    flows.deployment_parameters(dataset="wine", storage="s.db", study_name="nightly")
    assert not [w for w in recwarn if "study_name" in str(w.message)]


def test_a_schedule_whose_uris_hold_a_password_is_warned_of(recwarn):
    """A deployment keeps its parameters as written in Prefect's database, and every run
    shows them (security review helper-75): a password in them is said, with where the
    runs can read it instead."""
    with pytest.warns(UserWarning, match=r"storage and tracking_uri hold\(s\) a password, "
                                         r"which the deployment keeps in Prefect's database.*"
                                         r"PGPASSWORD or ~/\.pgpass"):
        flows.deployment_parameters(dataset="wine",
                                    storage="postgresql://u:s3cret@127.0.0.1/studies",
                                    tracking_uri="postgresql://u@127.0.0.1/ml?password=s3cret")
    flows.deployment_parameters(dataset="wine", storage="postgresql://u@127.0.0.1/studies",
                                tracking_uri="sqlite:///x.db")
    assert not [w for w in recwarn if "password" in str(w.message)]


def test_a_deployment_on_an_existing_file_checks_its_columns_and_metric(tmp_path):
    """A misspelt column or a metric of the other task was served, and failed every
    scheduled run from the first; the file, where it exists already, is read once now."""
    path = tmp_path / "data.csv"
    pd.DataFrame({"x": range(40), "day": range(40), "w": [1.0] * 40,
                  "label": ["a", "b"] * 20}).to_csv(path, index=False)
    for bad, expected in [(dict(target="labl"), r"target='labl' is not a column of data\.csv"),
                          (dict(metric="r2"), r"metric='r2' is not a classification metric"),
                          (dict(time_column="when"), r"time_column='when' is not a column"),
                          (dict(weight_column="weight"), r"weight_column='weight' is not a")]:
        with pytest.raises(ValueError, match=expected):
            flows.deployment_parameters(**{"dataset": str(path), "target": "label", **bad})
    params = flows.deployment_parameters(dataset=str(path), target="label", metric="f1_macro",
                                         time_column="day", weight_column="w")
    assert params["dataset"] == str(path)
    # a file that is not there yet (another job writes it) is checked by its runs
    assert flows.deployment_parameters(dataset=str(tmp_path / "later.csv"), target="label")


def test_lepton_schedule_reads_the_table_file_once(tmp_path, monkeypatch, capsys):
    """The command checked the deployment's parameters (reading the file), then serving
    checked them again and read it a second time."""
    from lepton.cli import main

    path = tmp_path / "data.csv"
    pd.DataFrame({"x": range(40), "label": ["a", "b"] * 20}).to_csv(path, index=False)
    reads, served = [], []
    load_split = steps.load_split
    monkeypatch.setattr(steps, "load_split", lambda *a, **k: reads.append(a) or load_split(
        *a, **k))

    @contextlib.contextmanager
    def api():
        yield "http://127.0.0.1:9/api", False

    monkeypatch.setattr(server, "prefect_api", api)
    monkeypatch.setattr(flows.search_flow, "serve", lambda **kw: served.append(kw))
    assert main(["schedule", str(path), "--target", "label", "--cron", "0 3 * * *",
                 "--no-tracking"]) == 0
    assert len(reads) == 1 and served[0]["parameters"]["dataset"] == str(path)
    assert "serving deployment lepton-search/data" in capsys.readouterr().out


def test_a_deployments_search_space_file_is_checked_and_made_absolute(tmp_path, monkeypatch):
    from importlib import resources

    (tmp_path / "space.yaml").write_text(
        resources.files("lepton.search_spaces").joinpath("mlp.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    params = flows.deployment_parameters(search_space="space.yaml")
    assert params["search_space"] == str(tmp_path / "space.yaml")  # the runs start elsewhere
    assert flows.deployment_parameters(search_space="resnet")["search_space"] == "resnet"


def test_lepton_schedule_on_a_prefect_api_that_does_not_answer_says_so_in_a_line(tmp_path):
    """It printed 'serving deployment ...', then a 104-line httpx traceback, exit code 1
    (review helper-51)."""
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    out = subprocess.run([sys.executable, "-m", "lepton.cli", "schedule", "iris", "--cron",
                          "0 3 * * *", "--no-tracking"], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 2 and "serving" not in out.stdout
    assert out.stderr.startswith(
        "lepton schedule: error: the Prefect API at http://127.0.0.1:9/api (PREFECT_API_URL, "
        "or the active Prefect profile) does not answer (ConnectError"), out.stderr
    assert len(out.stderr.splitlines()) == 1


def test_lepton_schedule_rejects_a_bad_cron_at_once():
    out = subprocess.run([sys.executable, "-m", "lepton.cli", "schedule", "iris", "--cron",
                          "0 25 * * *"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "cron='0 25 * * *'" in out.stderr and "Invalid cron string" in out.stderr
    assert "serving" not in out.stdout


def test_lepton_schedule_serves_a_cron_deployment(prefect_api, tmp_path):
    from prefect import get_client
    from prefect.deployments import run_deployment

    name = f"nightly-{os.getpid()}"
    model_path = tmp_path / "model.joblib"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lepton.cli", "schedule", "iris", "--cron", "0 3 * * *",
         "--timezone", "Europe/Paris", "--name", name, "--time-budget", "10", "--no-tracking",
         "--save", str(model_path), "--verbose", "0"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deployment = None
        deadline = time.monotonic() + 120
        with get_client(sync_client=True) as client:
            while deployment is None and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    deployment = client.read_deployment_by_name(f"lepton-search/{name}")
                except Exception:  # noqa: BLE001 - not registered yet
                    time.sleep(1)
        assert deployment is not None, "the deployment was not registered within 120 s"
        [schedule] = deployment.schedules
        assert schedule.schedule.cron == "0 3 * * *"
        assert schedule.schedule.timezone == "Europe/Paris" and schedule.active
        assert deployment.parameters["save"] == str(model_path)
        assert deployment.parameters["tracking"] is False

        flow_run = run_deployment(f"lepton-search/{name}", timeout=300, poll_interval=1)
        assert flow_run.state.is_completed(), flow_run.state.message
        summary = flow_run.state.result()
        assert summary["dataset"] == "iris" and summary["mlflow_run_id"] is None
        held_out = steps.load_split("iris", seed=0)
        model = joblib.load(model_path)
        assert summary["held_out"]["accuracy"] == model.score(held_out.X_test, held_out.y_test)
    finally:
        proc.send_signal(signal.SIGTERM)  # Prefect's runner stops on SIGTERM
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert f"serving deployment lepton-search/{name} (cron '0 3 * * *' Europe/Paris)" in out
    assert "is being served" not in out  # Prefect's banner, its command without the API
    with get_client(sync_client=True) as client:  # paused on shutdown: no runs without it
        assert client.read_deployment_by_name(f"lepton-search/{name}").paused


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s")


@contextlib.contextmanager
def _served(prefect_api, tmp_path, dataset: str, name: str, *options: str):
    """``lepton schedule`` serving ``dataset`` as lepton-search/<name> (cron at 03:00, so
    only the runs a test starts run); yields the process, stopped with SIGTERM after."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    serve = subprocess.Popen(
        [sys.executable, "-m", "lepton.cli", "schedule", dataset, "--cron", "0 3 * * *",
         "--name", name, "--verbose", "0", *options],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            def registered():
                assert serve.poll() is None, serve.stdout.read()
                try:
                    return client.read_deployment_by_name(f"lepton-search/{name}")
                except Exception:  # noqa: BLE001 - not registered yet
                    return None
            _wait(registered, 120, "the deployment was not registered")
        yield serve
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.communicate()


def _study_trials(study_name: str, storage: str) -> list:
    import optuna

    try:
        return optuna.load_study(study_name=study_name, storage=storage).trials
    except KeyError:  # the study does not exist yet
        return []


def _mid_search(study_name: str, storage: str):
    """The study's trials once two have finished and one is running (else None)."""
    import optuna

    trials = _study_trials(study_name, storage)
    done = [t for t in trials if t.state.is_finished()]
    running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    return trials if len(done) >= 2 and running else None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the process in /proc")
def test_a_crashed_flow_run_retried_resumes_its_study(prefect_api, tmp_path):
    """The flow run's process is killed mid-search (SIGKILL: nothing can clean up);
    `prefect flow-run retry` runs it again under the same id, which names its study: the
    search continues where it stopped, with no finished trial lost or repeated."""
    import optuna
    from prefect import get_client
    from prefect.deployments import run_deployment

    name = f"crashy-{os.getpid()}"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # breast_cancer's trials take about a second: 20 s leaves the retry many to run
    with _served(prefect_api, tmp_path, "breast_cancer", name, "--time-budget", "20",
                 "--no-tracking",
                 "--storage", storage) as serve, get_client(sync_client=True) as client:
        flow_run = run_deployment(f"lepton-search/{name}", timeout=0)
        study_name = f"lepton-search-breast_cancer-{flow_run.id}"
        _wait(lambda: _mid_search(study_name, storage), 120,
              "the search did not finish two trials")
        [pid] = children(serve.pid, b"spawn_main")  # the flow run's process
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        trials = _study_trials(study_name, storage)
        before = {t.number: (t.state, t.value) for t in trials if t.state.is_finished()}
        killed = [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        _wait(lambda: client.read_flow_run(flow_run.id).state.is_crashed(), 60,
              "the killed flow run was not reported crashed")
        # The killed trial is dead to the study once its heartbeat is older than the grace
        # period, which a trial starting after that finds. A retry quicker than that (the
        # crash reported at once) could end its search before: the trial then stays
        # RUNNING, as it should while its process might still be alive.
        time.sleep(max(0.0, HEARTBEAT_GRACE_S + 1 - (time.monotonic() - killed_at)))

        retry = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "retry",
                                str(flow_run.id)], capture_output=True, text=True,
                               env={**os.environ, "PREFECT_API_URL": prefect_api}, timeout=120)
        assert retry.returncode == 0, retry.stdout + retry.stderr
        state = _wait(lambda: (s := client.read_flow_run(flow_run.id).state).is_final() and s,
                      240, "the retried flow run did not finish")
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["study_name"] == study_name
    after = optuna.load_study(study_name=study_name, storage=storage).trials
    assert {t.number: (t.state, t.value) for t in after if t.number in before} == before
    assert len(after) > len(before) + len(killed)  # it went on searching ...
    # ... and trained (the killed trial's queued copy alone met the line above: review
    # helper-68)
    assert any(t.state == optuna.trial.TrialState.COMPLETE and t.number not in before
               for t in after)
    for number in killed:  # failed by the heartbeat, and its configuration ran again
        assert after[number].state == optuna.trial.TrialState.FAIL
        assert any(t.system_attrs.get("failed_trial") == number for t in after)
    assert not [t for t in after if t.state == optuna.trial.TrialState.RUNNING]


def test_a_cancelled_flow_run_stops_its_search_cleanly(prefect_api, tmp_path):
    """Cancelling a flow run sends its process SIGTERM; Prefect's handler used to raise
    wherever the search was (the running trial stayed RUNNING, the MLflow run ended
    FAILED). The search now stops as on SIGTERM, then Prefect cancels the run."""
    import mlflow
    import optuna
    from prefect import get_client
    from prefect.deployments import run_deployment

    name = f"cancelled-{os.getpid()}"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # digits as images: trials of several seconds, so the search is still running when
    # the cancellation arrives (breast_cancer's can converge first)
    with _served(prefect_api, tmp_path, "digits", name, "--time-budget", "60", "--storage",
                 storage, "--tracking-uri", store, "--experiment", "cancelled"), \
            get_client(sync_client=True) as client:
        flow_run = run_deployment(f"lepton-search/{name}", timeout=0)
        study_name = f"lepton-search-digits-{flow_run.id}"
        _wait(lambda: _mid_search(study_name, storage), 120,
              "the search did not finish two trials")
        cancel = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "cancel",
                                 str(flow_run.id)], capture_output=True, text=True,
                                env={**os.environ, "PREFECT_API_URL": prefect_api}, timeout=120)
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        # the run's process reports Crashed as it exits; the runner then marks it Cancelled
        _wait(lambda: client.read_flow_run(flow_run.id).state.is_cancelled(), 120,
              "the flow run was not cancelled")
    trials = _study_trials(study_name, storage)
    states = [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in trials]
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING], states
    # the trial the signal stopped (none when it landed between trials or in the final
    # model's step, as the cancellation takes seconds to arrive) is queued to run again
    interrupted = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert all(t.user_attrs["fail_reason"].startswith("interrupted (SIGTERM)")
               for t in interrupted), states
    queued = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert len(queued) == len(interrupted), states
    client = mlflow.MlflowClient(store)
    [parent] = client.search_runs(
        [client.get_experiment_by_name("cancelled").experiment_id],
        filter_string="tags.`lepton.role` = 'search'")
    assert parent.info.status == "KILLED"


def test_a_server_that_cannot_start_is_a_clear_error():
    import socket

    with socket.socket() as taken:  # the port is in use: the server exits at once
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(server.PrefectServerError, match="prefect server exited"):
            server.start_server(port=taken.getsockname()[1], timeout=120)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG, /proc")
def test_the_server_lepton_schedule_started_dies_with_it(tmp_path):
    """Without PREFECT_API_URL, `lepton schedule` starts a prefect server; SIGKILL of the
    command (nothing in it can clean up) used to leave that server running."""
    import select

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "lepton.cli", "schedule", "iris", "--cron",
                             "0 3 * * *", "--name", "orphan"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, out = time.monotonic() + 180, ""
        while "serving deployment" not in out and time.monotonic() < deadline:
            assert proc.poll() is None, out + proc.stdout.read()
            if select.select([proc.stdout], [], [], 1)[0]:
                out += proc.stdout.readline()
        assert "a Prefect server started for this command" in out, out
        [server_pid] = children(proc.pid, b"server\x00start")
    finally:
        proc.kill()
        proc.communicate()
    _wait(lambda: _gone(server_pid), 60, "the prefect server outlived lepton schedule")


def test_a_flow_that_fails_after_its_search_has_saved_its_model(prefect_api, tmp_path,
                                                               monkeypatch):
    """The model is saved right after the search: a run cancelled or failing in the steps
    after it (held-out scores, record, promotion) keeps its model; it was saved last."""
    from prefect import task

    @task(name="evaluate")
    def failing_evaluate(model, split):
        raise RuntimeError("the run stops here")

    monkeypatch.setattr(flows, "evaluate_task", failing_evaluate)
    path = tmp_path / "model.joblib"
    state = flows.search_flow(dataset="iris", time_budget=10, tracking=False, save=str(path),
                              verbose=0, return_state=True)
    assert state.is_failed() and "the run stops here" in str(state.message)
    assert joblib.load(path).predict(steps.load_split("iris").X_test).shape == (38,)
