"""The trial writer: a child process by default, a thread as the fallback, the same MLflow
content either way; a child that dies mid-search or loses its parent loses no more than
it must, and none outlives its search."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from lepton.tracking import MLflowTracker, TrackingError
from lepton.tracking import _writer
from lepton.tracking._writer import WriterProcess

from ._drive import drive_search, finish, leaderboard
from .conftest import is_running, writer_children

pytestmark = pytest.mark.slow


def content(tracker: MLflowTracker) -> dict:
    """What a search wrote to its trial runs and parent progress metric, without ids,
    timestamps and wall-clock metrics."""
    client = tracker.client
    runs = client.search_runs([tracker.experiment_id], max_results=1000,
                              filter_string=f"tags.`mlflow.parentRunId` = '{tracker.parent_run_id}'")
    trials = {}
    for run in runs:
        metrics = {key: sorted((m.step, m.value) for m in client.get_metric_history(
            run.info.run_id, key)) for key in run.data.metrics if key != "duration"}
        tags = {k: v for k, v in run.data.tags.items() if k.startswith("lepton.")}
        trials[tags["lepton.trial_number"]] = {
            "name": run.info.run_name, "status": run.info.status, "tags": tags,
            "params": dict(run.data.params), "metrics": metrics}
    progress = sorted((m.step, m.value)
                      for m in client.get_metric_history(tracker.parent_run_id, "trial_value"))
    return {"trials": trials, "trial_value": progress}


def test_the_writer_script_imports_neither_lepton_nor_mlflow_at_load():
    # the child runs this file with -P; its imports at load must stay stdlib only
    code = (f"import runpy, sys; runpy.run_path({_writer.__file__!r}); "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'lepton', 'torch', 'sklearn', 'mlflow', 'numpy'}); print(heavy)")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def parent_run(sqlite_uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment_id = client.create_experiment(f"writer-{time.time_ns()}")
    run = client.create_run(experiment_id, run_name="search")
    init = {"tracking_uri": sqlite_uri, "registry_uri": sqlite_uri,
            "experiment_id": experiment_id, "parent_run_id": run.info.run_id,
            "study_name": "writer"}
    return client, init


def batch(number: int, *, status: str | None = "FINISHED", value: float | None = 0.5,
          metrics=None) -> dict:
    return {"what": "end_trial", "number": number, "start_ms": int(time.time() * 1000),
            "params": {"width": "8"}, "tags": {"lepton.state": "complete"}, "status": status,
            "value": value, "metrics": metrics if metrics is not None else
            [("val_loss", 1.0 / epoch, 1000 + epoch, epoch) for epoch in (1, 2, 3)]}


def test_the_child_writes_what_it_received_when_its_parent_goes_away(parent_run):
    client, init = parent_run
    writer = WriterProcess(init)
    writer.send("trial", batch(0))
    writer.send("trial", batch(1))
    writer.proc.stdin.close()  # what a parent killed mid-search leaves: end of stdin, no close
    assert writer.proc.wait(timeout=120) == 0
    runs = client.search_runs([init["experiment_id"]],
                              filter_string="tags.`lepton.role` = 'trial'")
    assert sorted(r.data.tags["lepton.trial_number"] for r in runs) == ["0", "1"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.params == {"width": "8"}
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == [1, 2, 3]
    # the parent's progress metric buffered in the child was written before it exited
    assert sorted(m.step for m in client.get_metric_history(init["parent_run_id"],
                                                            "trial_value")) == [0, 1]


def test_the_best_value_so_far_stays_the_latest_when_trials_end_out_of_order(parent_run):
    """With n_jobs > 1 trial 2 (0.95) can end after trial 3 (0.8): the runs table shows a
    metric's highest step, which held 0.8 (the best when trial 3 ended)."""
    from lepton.tracking._writer import RunWriter

    client, init = parent_run
    writer = RunWriter(client, experiment_id=init["experiment_id"],
                       parent_run_id=init["parent_run_id"], study_name="writer")
    for number, value in [(0, 0.7), (1, 0.75), (3, 0.8), (2, 0.95)]:
        writer.trial(batch(number, value=value))
    writer._write_parent_metrics()
    assert client.get_run(init["parent_run_id"]).data.metrics["best_trial_value"] == 0.95
    best = client.get_metric_history(init["parent_run_id"], "best_trial_value")
    assert sorted((m.step, m.value) for m in best) == [(0, 0.7), (1, 0.75), (3, 0.8),
                                                       (3, 0.95)]


def test_flush_returns_run_ids_and_the_child_s_errors_by_their_type(parent_run):
    client, init = parent_run
    writer = WriterProcess(init)
    try:
        writer.send("trial", batch(0))
        writer.send("trial", batch(1, metrics=[("../escape", 1.0, 1000, 1)]))  # a bad name
        reply = writer.flush()
    finally:
        assert writer.close() == 0
    assert set(reply["runs"]) == {0, 1}  # trial 1's run exists; its metrics were refused
    assert client.get_run(reply["runs"][0]).data.tags["lepton.trial_number"] == "0"
    [(what, error)] = reply["errors"]
    assert what == "end_trial" and error.kind == "MlflowException"
    assert "../escape" in str(error)


def test_process_and_thread_writers_write_the_same_content(sqlite_uri):
    written = {}
    for writer in ("process", "thread"):
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name=f"same-{writer}",
                                log_models=False, strict=True, writer=writer)
        study, best, X, y = drive_search(tracker, study_name="same", n_trials=4, fail_trial=1,
                                         prune_trial=2, epochs=3)
        finish(tracker, study, best, X, y)
        assert tracker.tracking_errors == [] and tracker.writer_fallback is None
        if writer == "process":
            assert tracker.writer_process.returncode == 0
        else:
            assert tracker.writer_process is None
        # the run ids came back to the tracker
        assert [tracker._trials[n].run_id is not None for n in range(4)] == [True] * 4
        written[writer] = content(tracker)
    trials = written["process"]["trials"]
    assert sorted(trials) == ["0", "1", "2", "3"]
    assert [trials[n]["status"] for n in "0123"] == ["FINISHED", "FAILED", "KILLED", "FINISHED"]
    for number in "023":  # each epoch once, in the trial's own run
        assert [step for step, _ in trials[number]["metrics"]["val_loss"]] == [1, 2, 3]
    assert [step for step, _ in written["process"]["trial_value"]] == [0, 3]
    assert written["process"] == written["thread"]  # training is seeded


def test_a_killed_writer_process_falls_back_to_a_thread(sqlite_uri):
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="killed",
                            log_models=False)
    end_trial = tracker.end_trial
    killed = []

    def kill_before_trial_2_ends(number, **kwargs):
        if number == 2:
            tracker.writer_process.send_signal(signal.SIGKILL)
            tracker.writer_process.wait(timeout=30)
            killed.append(tracker.writer_process.pid)
        end_trial(number, **kwargs)

    tracker.end_trial = kill_before_trial_2_ends
    with pytest.warns(RuntimeWarning, match=r"writer process failed: WriterDied: writer "
                      r"process \(pid \d+\) was killed by SIGKILL.*may be missing from "
                      r"MLflow.*thread of this process from now on"):
        study, best, X, y = drive_search(tracker, study_name="killed", n_trials=4, epochs=3)
        finish(tracker, study, best, X, y)
    assert killed and not is_running(killed[0])
    assert tracker.writer_fallback and "SIGKILL" in tracker.writer_fallback
    client = tracker.client
    parent = client.get_run(tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert "writer process" in parent.data.tags["lepton.tracking_errors"]
    # the trials that ended after the kill were written by the fallback, completely
    written = content(tracker)["trials"]
    for number in ("2", "3"):
        assert written[number]["status"] == "FINISHED"
        assert [s for s, _ in written[number]["metrics"]["val_loss"]] == [1, 2, 3]


def test_a_stalled_writer_holds_end_search_for_drain_timeout_then_finishes_alone(sqlite_uri):
    # A store that stops answering must not hold fit forever: end_search waits for the
    # writer up to drain_timeout, says what is still being written, and the writer
    # completes in the background once the store answers again.
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="stalled", log_models=False,
                            drain_timeout=2.0)
    start_trial = tracker.start_trial

    def stall_the_writer_first(number, **kwargs):
        if number == 0:
            tracker.writer_process.send_signal(signal.SIGSTOP)  # a real stall, not a mock
        start_trial(number, **kwargs)

    tracker.start_trial = stall_the_writer_first
    study, best, X, y = drive_search(tracker, study_name="stalled", n_trials=3, epochs=3)
    child = tracker.writer_process
    try:
        ended = threading.Event()

        def end():
            tracker.end_search(estimator=best, X_sample=X.iloc[:5], study=study,
                               leaderboard=leaderboard(study),
                               final={"choice": "refit", "metric": "accuracy",
                                      "validation_score": study.best_value})
            ended.set()

        with pytest.warns(RuntimeWarning, match=r"trial writes failed: TimeoutError: still being "
                          rf"written after [\d.]+s \(writer process pid {child.pid};.*background"):
            thread = threading.Thread(target=end)
            thread.start()
            thread.join(timeout=120)  # a hang guard: without the drain timeout it never ends
        assert ended.is_set()
        parent = tracker.client.get_run(tracker.parent_run_id)
        assert parent.info.status == "FINISHED"
        assert "still being written" in parent.data.tags["lepton.tracking_errors"]
        assert content(tracker)["trials"] == {}  # nothing written while the writer is stopped
        assert child.poll() is None
    finally:
        child.send_signal(signal.SIGCONT)
    assert child.wait(timeout=120) == 0  # it wrote what it held, then stopped by itself
    trials = content(tracker)["trials"]
    assert sorted(trials) == ["0", "1", "2"]
    assert all(t["status"] == "FINISHED" for t in trials.values())
    # the tracker can run its next search; the finished background writer is let go
    tracker.drain_timeout = 120.0
    del tracker.start_trial  # no more stalls
    study, best, X, y = drive_search(tracker, study_name="stalled-2", n_trials=1, epochs=2)
    finish(tracker, study, best, X, y)
    assert tracker._detached is None and tracker.writer_process.returncode == 0


def test_an_experiments_artifacts_stay_in_a_folder_of_the_artifacts_root(sqlite_uri):
    """Experiment names '..' and '.' placed the artifacts beside the store's database
    and in the artifacts root itself (security review helper-75)."""
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    from lepton.tracking._store import artifact_root_for

    root = artifact_root_for(sqlite_uri).resolve()

    def folder_of(name: str) -> Path:
        tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name=name)
        location = tracker.client.get_experiment(tracker._ensure_experiment()).artifact_location
        return Path(unquote(urlparse(location).path))

    for name in ("..", ".", "../../etc", ".hidden"):
        folder = folder_of(name)
        assert folder.parent == root and not folder.name.startswith("."), (name, folder)
    # a new experiment does not share the folder of another's files (one deleted and
    # garbage-collected leaves its logged models: review helper-74)
    (root / "reborn").mkdir(exist_ok=True)
    (root / "reborn" / "left.txt").write_text("an earlier experiment's file")
    assert folder_of("reborn") == root / "reborn-2"
    assert folder_of("fresh") == root / "fresh"


def test_drain_timeout_comes_from_the_argument_or_the_environment(sqlite_uri, monkeypatch):
    monkeypatch.setenv("LEPTON_MLFLOW_DRAIN_TIMEOUT", "15")
    assert MLflowTracker(tracking_uri=sqlite_uri, experiment_name="d").drain_timeout == 15.0
    assert MLflowTracker(tracking_uri=sqlite_uri, experiment_name="d",
                         drain_timeout=3).drain_timeout == 3.0
    monkeypatch.setenv("LEPTON_MLFLOW_DRAIN_TIMEOUT", "soon")
    with pytest.raises(ValueError, match=r"LEPTON_MLFLOW_DRAIN_TIMEOUT='soon' is not valid.*>= 0"):
        MLflowTracker(tracking_uri=sqlite_uri, experiment_name="d")
    monkeypatch.delenv("LEPTON_MLFLOW_DRAIN_TIMEOUT")
    assert MLflowTracker(tracking_uri=sqlite_uri, experiment_name="d").drain_timeout == 120.0
    with pytest.raises(ValueError, match=r"drain_timeout=-1 is not valid"):
        MLflowTracker(tracking_uri=sqlite_uri, experiment_name="d", drain_timeout=-1)


def test_a_killed_writer_process_fails_a_strict_search_at_flush(sqlite_uri):
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="killed-strict",
                            log_models=False, strict=True)
    tracker.start_search(study_name="strict", meta_features={}, search_space={},
                         settings={"storage": None})
    tracker.writer_process.kill()
    tracker.writer_process.wait(timeout=30)
    tracker.start_trial(0, params={"x": 1}, model_config={}, training_config={})
    tracker.end_trial(0, state="complete", value=1.0, duration=0.1)
    with pytest.raises(TrackingError, match=r"writer process failed: .*killed by SIGKILL"):
        tracker.flush()
    tracker.fail_search(error=RuntimeError("stop"))
    run = tracker.client.get_run(tracker.parent_run_id)
    assert run.info.status == "FAILED"


def test_a_tracker_copies_without_its_writer_and_none_outlives_the_search(sqlite_uri):
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="copies", log_models=False)
    tracker.start_search(study_name="copies", meta_features={}, search_space={},
                         settings={"storage": None})
    pid = tracker.writer_process.pid
    assert is_running(pid) and pid in writer_children()
    # below training's priority (once its interpreter is up), so busy cores go to training
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + _writer.NICENESS)
    deadline = time.monotonic() + 120  # the child lowers its priority once mlflow is imported
    while os.getpriority(os.PRIO_PROCESS, pid) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.getpriority(os.PRIO_PROCESS, pid) == expected
    clone = copy.deepcopy(tracker)  # while the child runs: the Popen is not copied
    assert clone.writer_process is None and clone.parent_run_id == tracker.parent_run_id
    assert clone.client.get_run(clone.parent_run_id).info.run_id == tracker.parent_run_id
    tracker.fail_search(error=KeyboardInterrupt())
    assert tracker.writer_process.returncode == 0 and not is_running(pid)
    assert pid not in writer_children()


def test_an_unknown_writer_is_refused_with_the_choices(sqlite_uri, monkeypatch):
    with pytest.raises(ValueError, match=r"writer='fork' is not one of process, thread"):
        MLflowTracker(tracking_uri=sqlite_uri, writer="fork")
    monkeypatch.setenv("LEPTON_MLFLOW_WRITER", "threads")
    with pytest.raises(ValueError, match=r"LEPTON_MLFLOW_WRITER='threads' is not one of"):
        MLflowTracker(tracking_uri=sqlite_uri)
