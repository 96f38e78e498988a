"""What a tracked process killed outright (SIGKILL: no handler, no atexit) leaves behind,
and who cleans it up: its runs left RUNNING are closed by the next search of the
experiment on its machine (or, for a trial the study failed, by the resumed search's end),
its model versions are complete from their creation, and its scratch folders are removed
by the next tracker that starts."""

from __future__ import annotations

import builtins
import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from lepton.tracking import MLflowTracker
from lepton.tracking._mlflow import (
    PENDING_HELD_OUT, TAG_PROCESS, TAG_PROCESS_START, TAG_ROWS, TAG_PROMOTION,
)
from lepton.tracking._store import process_gone, process_instance, quiet_mlflow_env

from ._drive import drive_search, finish, iris_frame, leaderboard

pytestmark = pytest.mark.slow

SPAWN_TIMEOUT = 120  # seconds for a child to import lepton and mlflow on a busy machine


def _spawn(tmp_path: Path, code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    script = tmp_path / f"child_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.Popen([sys.executable, str(script), *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, **quiet_mlflow_env(), **(env or {})})


def _read_line(proc: subprocess.Popen, prefix: str) -> str:
    """The rest of the child's first output line that starts with ``prefix``."""
    deadline = time.monotonic() + SPAWN_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    proc.kill()
    pytest.fail(f"the child never printed {prefix!r}:\n{''.join(seen)[-3000:]}")


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)  # no cleanup, no atexit
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# A search killed mid-trial, once the trial's run exists (a long trial's periodic flush)
KILLED_MID_TRIAL = """
    import sys, time
    import optuna
    from lepton.tracking import MLflowTracker

    uri, storage, writer = sys.argv[1], sys.argv[2] or None, sys.argv[3]
    tracker = MLflowTracker(tracking_uri=uri, experiment_name=sys.argv[4], log_models=False,
                            writer=writer, flush_interval=0.0)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                load_if_exists=True)
    tracker.start_search(study_name="s", meta_features={}, search_space={},
                         settings={"storage": storage, "metric": "accuracy"})
    trial = study.ask()
    tracker.start_trial(trial.number, params={"width": 8}, model_config={},
                        training_config={})
    tracker.log_epoch(trial.number, {"epoch": 0, "train_loss": 1.0})  # creates its run
    tracker.flush()
    print("parent", tracker.parent_run_id, flush=True)
    time.sleep(600)
"""


def test_a_process_is_gone_once_killed_even_before_it_is_reaped():
    proc = subprocess.Popen(["sleep", "60"])
    label, instance = f"{socket.gethostname()}:{proc.pid}", process_instance(proc.pid)
    try:
        assert instance and not process_gone(label, instance)
        ticks, _, machine = instance.partition("/")
        assert process_gone(label, f"{int(ticks) + 1}/{machine}")  # its pid, given again
        assert not process_gone(label, f"{ticks}/1@another-boot")  # not this machine's
        assert not process_gone(f"elsewhere:{proc.pid}", instance)
        proc.kill()
        time.sleep(0.5)  # a zombie until reaped: nothing runs
        assert process_gone(label, instance)
    finally:
        proc.kill()
        proc.wait()
    assert process_gone(label, instance)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_another_users_live_process_that_proc_hides_is_not_gone(monkeypatch):
    """/proc mounted hidepid=2: another user's live process has no /proc/<pid>/stat. It
    was taken for gone: another user's live trials of a shared study were failed and run
    again, their runs closed KILLED. The kernel is asked then (EPERM: alive)."""
    import lepton.tracking._store as store

    proc = subprocess.Popen(["sleep", "60"])
    label, instance = f"{socket.gethostname()}:{proc.pid}", process_instance(proc.pid)
    hidden, real_kill = f"/proc/{proc.pid}/stat", os.kill

    def hiding_open(file, *args, **kwargs):  # as hidepid=2 shows another user's process
        if str(file) == hidden:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", file)
        return builtins.open(file, *args, **kwargs)

    def kill(pid, sig):
        if pid == proc.pid and sig == 0:
            real_kill(pid, 0)  # ProcessLookupError once it has ended
            raise PermissionError(errno.EPERM, "Operation not permitted")  # another user's
        return real_kill(pid, sig)

    monkeypatch.setattr(store, "open", hiding_open, raising=False)
    monkeypatch.setattr(os, "kill", kill)
    try:
        assert instance and not process_gone(label, instance)
        assert not process_gone(label, None)
    finally:
        proc.kill()
        proc.wait()
    assert process_gone(label, instance)  # reaped: the kernel knows its pid no more
    assert process_gone(label, None)


def test_scratch_tempdir_blocks_of_two_threads_that_overlap_restore_the_tempdir():
    """Two tracked fits of one process (a thread pool): A's block opens, B's opens, A's
    ends, B's ends. Each restored what it found: tempfile.tempdir stayed the scratch
    folder for good, and the scratch root nested inside it."""
    import threading

    from lepton.tracking import _store

    before, root = tempfile.tempdir, _store._scratch_root()
    if root is None:
        pytest.skip("no scratch root here")
    seen = {}
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with _store.scratch_tempdir():
            seen["a"] = tempfile.gettempdir()
            a_in.set()
            b_in.wait(30)
        a_out.set()

    def b() -> None:
        a_in.wait(30)
        with _store.scratch_tempdir():
            b_in.set()
            a_out.wait(30)
            seen["b"] = tempfile.gettempdir()  # A's block has ended, B's has not
            seen["root"] = _store._scratch_root()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen["a"] == seen["b"] and Path(seen["a"]).parent == root
    assert seen["root"] == root  # not nested in the scratch folder
    assert tempfile.tempdir == before and _store._scratch_root() == root


def _trial_runs(client, parent_run_id: str) -> list:
    return client.search_runs(
        [client.get_run(parent_run_id).info.experiment_id], max_results=100,
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")


def test_runs_a_killed_process_left_running_are_closed_by_the_next_search(sqlite_uri, tmp_path):
    """No storage (nothing resumes the killed search): the next search of the experiment
    on this machine marks the killed process's search and trial runs KILLED, saying why.
    Runs of a live process, of another machine, and runs that are not Lepton's stay."""
    proc = _spawn(tmp_path, KILLED_MID_TRIAL, sqlite_uri, "", "thread", "killed-search")
    killed = _read_line(proc, "parent ")
    _kill(proc)
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="killed-search",
                            log_models=False, writer="thread")
    client, host = tracker.client, socket.gethostname()
    assert client.get_run(killed).data.tags[TAG_PROCESS] == f"{host}:{proc.pid}"
    [trial] = _trial_runs(client, killed)
    assert trial.info.status == "RUNNING"
    machine = process_instance().partition("/")[2]
    others = {  # tags of runs that must stay RUNNING, or (pid reused) be closed
        "live": {TAG_PROCESS: f"{host}:{os.getpid()}", TAG_PROCESS_START: process_instance()},
        "pid reused": {TAG_PROCESS: f"{host}:{os.getpid()}", TAG_PROCESS_START: f"1/{machine}"},
        "another machine": {TAG_PROCESS: f"elsewhere:{proc.pid}",
                            TAG_PROCESS_START: process_instance().replace(machine, "1@x")},
        "not lepton's": {}}
    ids = {what: client.create_run(tracker.experiment_id, tags={"lepton.role": "search", **tags}
                                   if tags else {}).info.run_id
           for what, tags in others.items()}

    tracker.start_search(study_name="next", meta_features={}, search_space={},
                         settings={"storage": None, "metric": "accuracy"})
    parent, trial = client.get_run(killed), client.get_run(trial.info.run_id)
    assert parent.info.status == "KILLED" and parent.info.end_time is not None
    assert parent.data.tags["lepton.error"].startswith(
        f"killed: the process that ran this search ({host}:{proc.pid}) ended without "
        f"closing its run; closed by {host}:{os.getpid()} at ")
    assert trial.info.status == "KILLED" and trial.data.tags["lepton.state"] == "killed"
    assert trial.data.tags["lepton.reason"].startswith(
        f"killed: the process that ran this trial ({host}:{proc.pid}) ended")
    status = {what: client.get_run(run_id).info.status for what, run_id in ids.items()}
    assert status == {"live": "RUNNING", "pid reused": "KILLED", "another machine": "RUNNING",
                      "not lepton's": "RUNNING"}
    tracker.fail_search(error=RuntimeError("done"))


@pytest.mark.parametrize("where", ["this machine", "another machine"])
def test_a_resumed_study_closes_the_trial_run_its_killed_process_left_running(
        sqlite_uri, tmp_path, where):
    """A persistent study's search killed mid-trial, after the trial's run was created: the
    resumed search's run ends FINISHED and the killed trial's run KILLED, not RUNNING for
    ever. On this machine the resumed search's start closes it (its process is gone);
    for a process of another machine, the resumed search's end does, once the study failed
    the trial (as the heartbeat of an RDB storage does)."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    experiment = f"killed-trial-{where.split()[0]}"
    proc = _spawn(tmp_path, KILLED_MID_TRIAL, sqlite_uri, storage, "process", experiment)
    killed = _read_line(proc, "parent ")
    _kill(proc)
    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name=experiment,
                            log_models=False, strict=True)
    client = tracker.client
    [trial] = _trial_runs(client, killed)
    if where == "another machine":  # a worker elsewhere: its pid says nothing here
        for run_id in (killed, trial.info.run_id):
            client.set_tag(run_id, TAG_PROCESS, f"elsewhere:{proc.pid}")
        study = optuna.load_study(study_name="s", storage=storage)
        # as the study's heartbeat fails a trial whose process stopped (lepton.search)
        study._storage.set_trial_user_attr(study.trials[0]._trial_id, "fail_reason",
                                           f"its process (elsewhere:{proc.pid}) stopped "
                                           "mid-trial (killed or crashed)")
        study._storage.set_trial_state_values(study.trials[0]._trial_id,
                                              optuna.trial.TrialState.FAIL)
    study, best, X, y = drive_search(tracker, study_name="s", storage=storage, n_trials=2,
                                     epochs=2)
    assert tracker.parent_run_id == killed
    if where == "another machine":  # not before the study says the trial ended
        assert client.get_run(trial.info.run_id).info.status == "RUNNING"
    finish(tracker, study, best, X, y)
    parent, trial = client.get_run(killed), client.get_run(trial.info.run_id)
    assert parent.info.status == "FINISHED" and "lepton.error" not in parent.data.tags
    assert trial.info.status == "KILLED", trial.data.tags
    assert trial.data.tags["lepton.state"] == "killed"
    assert trial.data.tags["lepton.reason"].startswith(
        f"killed: its process (elsewhere:{proc.pid}) stopped mid-trial, and the study "
        "failed the trial" if where == "another machine" else
        f"killed: the process that ran this trial ({socket.gethostname()}:{proc.pid})")
    # every other trial run of the search ended as its trial did
    assert {r.info.status for r in _trial_runs(client, killed)} - {"KILLED"} <= {"FINISHED",
                                                                                  "FAILED"}


def test_a_trial_another_machine_just_completed_keeps_its_run_for_its_writer(sqlite_uri,
                                                                            tmp_path,
                                                                            monkeypatch):
    """Another machine's worker completed a trial a moment ago; its writer, asynchronous,
    has not ended the trial's run yet. This search's end left it alone only where the
    study failed the trial for a stopped process: it was closed KILLED, and the 'killed'
    reason stayed once that writer ended it FINISHED."""
    from lepton.tracking._mlflow import TAG_REASON, TAG_ROLE, TAG_TRIAL

    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="just-completed",
                            log_models=False, writer="thread")
    study, best, X, y = drive_search(tracker, study_name="s",
                                     storage=f"sqlite:///{tmp_path / 'study.db'}",
                                     n_trials=2, epochs=2)
    theirs = study.ask()
    study.tell(theirs, 0.5)
    run = tracker.client.create_run(tracker.experiment_id, tags={
        "mlflow.parentRunId": tracker.parent_run_id, TAG_ROLE: "trial",
        TAG_TRIAL: str(theirs.number), TAG_PROCESS: "other-machine:4242"})
    finish(tracker, study, best, X, y)
    left = tracker.client.get_run(run.info.run_id)
    assert left.info.status == "RUNNING" and TAG_REASON not in left.data.tags
    # ... unless its trial ended long before: that process died before its writer ended it
    from lepton.tracking import _mlflow

    monkeypatch.setattr(_mlflow, "UNCLOSED_AFTER_S", 0.0)
    assert tracker._close_ended_trials(study) == [run.info.run_id]
    closed = tracker.client.get_run(run.info.run_id)
    assert closed.info.status == "KILLED" and closed.data.tags[TAG_REASON] == (
        "killed: its process (other-machine:4242) never ended the run of its trial, which "
        "ended COMPLETE over 0s before")


class _Killed(BaseException):
    """Stands for the process being killed: nothing after it runs."""


def test_a_model_version_is_created_with_its_pending_and_training_rows_tags(sqlite_uri,
                                                                           monkeypatch):
    """A process killed right after the registry created the version (before any later
    request) leaves a version that says it is undecided and names its training rows."""
    from lepton import NeuralNetworkClassifier

    tracker = MLflowTracker(tracking_uri=sqlite_uri, experiment_name="born-complete",
                            registered_model_name="born-complete-nn", writer="thread",
                            defer_promotion=True)
    study, _, _, _ = drive_search(tracker, study_name="born-complete", n_trials=1, epochs=2)
    X, y = iris_frame()
    est = NeuralNetworkClassifier(epochs=2, random_state=0).fit(X, y)
    create = tracker.client.create_model_version
    created = []

    def create_then_die(*args, **kwargs):
        created.append(create(*args, **kwargs))
        raise _Killed

    monkeypatch.setattr(tracker.client, "create_model_version", create_then_die)
    with pytest.raises(_Killed):
        tracker.end_search(estimator=est, X_sample=X.iloc[:5], study=study,
                           leaderboard=leaderboard(study), fit_rows=(X, y),
                           final={"choice": "refit", "metric": "accuracy",
                                  "validation_score": 0.9})
    [version] = created
    tags = tracker.client.get_model_version("born-complete-nn", version.version).tags
    assert tags[TAG_PROMOTION] == PENDING_HELD_OUT
    rows = tags[TAG_ROWS]
    assert rows.startswith("lepton/training_rows_") and rows.endswith(".npy")
    # the file it names is there already
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        hashes = np.load(tracker.client.download_artifacts(version.run_id, rows, tmp))
    assert len(hashes) == len(X.assign(y=y).drop_duplicates())


# A search killed while its model is being logged (the estimator's pickle is written)
KILLED_LOGGING_MODEL = """
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from tracking._drive import drive_search, finish
    from lepton.tracking import MLflowTracker

    tracker = MLflowTracker(tracking_uri=sys.argv[1], experiment_name="killed-logging",
                            writer="thread")
    study, best, X, y = drive_search(tracker, study_name="killed-logging", n_trials=1,
                                     epochs=2)
    import mlflow.pyfunc
    save = mlflow.pyfunc.save_model

    def save_then_wait(*args, **kwargs):  # the model saved in MLflow's temporary folder,
        save(*args, **kwargs)             # which it would log, then remove
        print("saved", flush=True)
        time.sleep(600)

    mlflow.pyfunc.save_model = save_then_wait
    finish(tracker, study, best, X, y)
"""

HOLDS_SCRATCH = """
    import time
    from lepton.tracking._store import scratch_dir

    with scratch_dir("lepton-model-") as tmp:
        print("scratch", tmp, flush=True)
        time.sleep(600)
"""


def test_the_scratch_folders_of_a_killed_process_are_removed_by_the_next_tracker(
        sqlite_uri, tmp_path, monkeypatch):
    """The temporary folders a model is logged through (Lepton's and MLflow's, each with a
    pickle of the whole estimator) lie in one folder per process; those of a killed
    process are removed when the next tracker starts, those of a live process stay."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    tests = str(Path(__file__).resolve().parents[1])
    killed = _spawn(tmp_path, KILLED_LOGGING_MODEL, sqlite_uri, tests, env=env)
    live = _spawn(tmp_path, HOLDS_SCRATCH, env=env)
    try:
        kept = Path(_read_line(live, "scratch "))
        _read_line(killed, "saved")
        _kill(killed)
        pickles = [p for p in tmp.rglob("*.pkl") if kept not in p.parents]
        # the estimator's pickle (Lepton's copy) and MLflow's copy of it, in its model
        assert {p.name for p in pickles} >= {"estimator.pkl", "python_model.pkl"}, pickles
        monkeypatch.setenv("TMPDIR", str(tmp))
        monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
        MLflowTracker(tracking_uri=sqlite_uri, experiment_name="killed-logging")
        assert not [p for p in pickles if p.exists()]
        # the live process's folder alone is left: every temporary folder of the killed
        # process was in its own
        assert sorted(tmp.rglob("*")) == [kept.parent.parent, kept.parent, kept]
    finally:
        live.kill()
        live.wait(timeout=30)
