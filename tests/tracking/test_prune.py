"""`lepton prune`: old searches go with their trials, models and files; registered,
running and newest searches stay, and so does what is not Lepton's."""

from __future__ import annotations

import io
import re
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from lepton.cli import main
from lepton.search._search import process_label
from lepton.tracking import MLflowTracker, TrackingError
from lepton.tracking._store import process_instance
from lepton.tracking.prune import parse_age, plan_prune

from ._drive import drive_search, finish


def _search(uri, *, register=None, log_models=True, end=True):
    tracker = MLflowTracker(tracking_uri=uri, experiment_name="prune", strict=True,
                            registered_model_name=register, log_models=log_models)
    study, best, X, y = drive_search(tracker, study_name="prune", n_trials=2)
    if end:
        finish(tracker, study, best, X, y, score=0.9)
    return tracker, best, X


def _files(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_prune_deletes_old_searches_whole_and_keeps_registered_running_and_others(
        tmp_path, monkeypatch, capsys):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    registered, best, X = _search(uri, register="prune-nn")  # oldest: v1, the champion
    old, _, _ = _search(uri, register="prune-nn")  # v2, not better: no alias
    newest, _, _ = _search(uri, log_models=False)
    running, _, _ = _search(uri, log_models=False, end=False)
    client = registered.client
    exp_id = registered.experiment_id
    assert client.get_registered_model("prune-nn").aliases == {"champion": 1}
    # not Lepton's: a run of the user's own, and one the user deleted and may restore
    mine = client.create_run(exp_id, run_name="mine").info.run_id
    binned = client.create_run(exp_id, run_name="binned").info.run_id
    client.delete_run(binned)

    def trials(search):
        return [r.info.run_id for r in client.search_runs(
            [exp_id], filter_string=f"tags.mlflow.parentRunId = '{search.parent_run_id}'")]

    old_trials, registered_trials = trials(old), trials(registered)
    assert len(old_trials) == len(registered_trials) == 2
    old_models = [m.model_id for m in client.search_logged_models([exp_id])
                  if m.source_run_id == old.parent_run_id]
    assert len(old_models) == 2
    artifacts = Path(client.get_run(old.parent_run_id).info.artifact_uri[len("file://"):])
    old_bytes = _files(artifacts)
    assert old_bytes > 0
    try:
        # registered searches past the newest two lose their trial runs only
        plan = plan_prune(uri, keep=2)
        assert [(s.run_id, s.whole) for s in plan.delete] == [
            (old.parent_run_id, False), (registered.parent_run_id, False)]
        assert plan.kept["prune"] == {"newest": 2, "registered": 2}
        assert plan.runs == 4
        assert ("prune: 4 searches; delete 0 (0 bytes of files); of 2 older registered "
                "searches, delete the 4 trial runs") in plan.describe()
        # --delete-versions: the one whose version holds no alias goes whole, v2 with it
        plan = plan_prune(uri, keep=2, delete_versions=True)
        assert [(s.run_id, s.whole, s.versions) for s in plan.delete] == [
            (old.parent_run_id, True, [("prune-nn", "2")]),
            (registered.parent_run_id, False, [])]
        assert ("prune: 4 searches; delete 1 (2 trial runs, 2 logged models, 1 registered "
                "version, ") in plan.describe()

        # not a terminal and no --yes: it says so and deletes nothing; --dry-run lists
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        prune = ["prune", "--tracking-uri", uri, "--keep", "2", "--delete-versions"]
        assert main(prune) == 2
        assert main([*prune, "--dry-run"]) == 0
        assert client.get_run(old.parent_run_id).info.lifecycle_stage == "active"

        before = db.stat().st_size
        capsys.readouterr()
        assert main([*prune, "--yes"]) == 0
        said = capsys.readouterr().out
        freed = re.search(r"deleted 5 runs, 2 logged models, 1 registered version; freed "
                          r"([\d.]+) (KB|MB)", said)
        assert freed, said
        assert float(freed[1]) * {"KB": 1e3, "MB": 1e6}[freed[2]] >= old_bytes * 0.99
        for run_id in [old.parent_run_id, *old_trials, *registered_trials]:
            with pytest.raises(MlflowException):  # gone for good, not only marked deleted
                client.get_run(run_id)
        for model_id in old_models:
            with pytest.raises(MlflowException):
                client.get_logged_model(model_id)
        with pytest.raises(MlflowException):
            client.get_model_version("prune-nn", "2")
        assert not artifacts.exists() and not artifacts.parent.exists()
        assert db.stat().st_size < before  # compacted

        # what stays: the other searches' runs, the user's runs, the one deleted by hand
        # (still restorable), and the champion, which loads and predicts
        for run_id in (registered.parent_run_id, newest.parent_run_id,
                       running.parent_run_id, mine):
            assert client.get_run(run_id).info.lifecycle_stage == "active"
        assert client.get_run(binned).info.lifecycle_stage == "deleted"
        client.restore_run(binned)
        mlflow.set_tracking_uri(uri)
        try:
            model = mlflow.pyfunc.load_model("models:/prune-nn@champion")
        finally:
            mlflow.set_tracking_uri(None)
        assert np.array_equal(np.asarray(model.predict(X.iloc[:10])).ravel(),
                              best.predict(X.iloc[:10]))
        # a second prune has nothing left to delete
        assert plan_prune(uri, keep=2, delete_versions=True).empty
    finally:
        running.fail_search(error=RuntimeError("test over"))


def test_prune_keeps_searches_active_within_older_than_and_names_bad_input(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(TrackingError, match="no store there"):
        plan_prune(uri, keep=1)
    tracker, _, _ = _search(uri, log_models=False)
    plan = plan_prune(uri, older_than=3600)
    assert plan.delete == [] and plan.kept["prune"] == {"recent": 1}
    # a trial of it running in a live process (a worker's): the search is running
    trial = tracker.client.create_run(tracker.experiment_id, tags={
        "lepton.role": "trial", "mlflow.parentRunId": tracker.parent_run_id,
        "lepton.process": process_label(), "lepton.process_start": process_instance()})
    plan = plan_prune(uri, keep=0)
    assert plan.delete == [] and plan.kept["prune"] == {"running": 1}
    tracker.client.set_terminated(trial.info.run_id)
    # a version a user registered from a trial run keeps that run, whatever its search
    tracker.client.create_registered_model("from-a-trial")
    tracker.client.create_model_version("from-a-trial", source=trial.info.artifact_uri,
                                        run_id=trial.info.run_id)
    plan = plan_prune(uri, keep=0)
    assert [s.run_id for s in plan.delete] == [tracker.parent_run_id]
    assert trial.info.run_id not in plan.delete[0].trial_ids
    with pytest.raises(ValueError, match=r"experiment='nope' is not in .*'prune'"):
        plan_prune(uri, experiment="nope", keep=0)
    with pytest.raises(ValueError, match="keep=-1 is not a whole number"):
        plan_prune(uri, keep=-1)
    with pytest.raises(ValueError, match="say which searches to keep"):
        plan_prune(uri)


@pytest.mark.parametrize("text, seconds", [("90d", 90 * 86400), ("12h", 43200),
                                           ("1.5h", 5400), ("30m", 1800)])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["90", "0d", "-1d", "2w", "d"])
def test_parse_age_refuses_what_is_not_an_age(text):
    with pytest.raises(ValueError, match=f"older_than={text!r} is not an age.*90d"):
        parse_age(text)


@pytest.mark.parametrize("where", ["postgres", "server"])
def test_prune_on_postgres_frees_and_on_a_tracking_server_marks_deleted(where, request):
    uri = request.getfixturevalue("pg_store_uri" if where == "postgres" else "team_server")
    old, _, _ = _search(uri, log_models=False)
    new, _, _ = _search(uri, log_models=False)
    trials = [r.info.run_id for r in old.client.search_runs(
        [old.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{old.parent_run_id}'")]
    plan = plan_prune(uri, experiment="prune", keep=1)
    assert [s.run_id for s in plan.delete] == [old.parent_run_id]
    # a server's files are not measured from here: not '0 bytes of files'
    said = plan.describe()
    assert ("files in a remote artifact store, not measured from here" in said) \
        == (where == "server") and "0 bytes" not in said
    result = plan.execute()
    assert result.runs == 3
    for run_id in [old.parent_run_id, *trials]:
        if where == "postgres":  # gone for good
            with pytest.raises(MlflowException):
                old.client.get_run(run_id)
        else:  # the server's own `mlflow gc` frees them
            assert old.client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert result.freed == (where == "postgres")
    assert ("mlflow gc" in result.describe()) == (where == "server")
    assert old.client.get_run(new.parent_run_id).info.lifecycle_stage == "active"


def _fake_search(client, exp_id: str, name: str, trials: int = 2) -> tuple[str, list[str]]:
    """A finished search as Lepton's tracker tags it, with a file, and its trial runs."""
    parent = client.create_run(exp_id, run_name=name, tags={"lepton.role": "search"}).info
    client.log_text(parent.run_id, "x" * 1000, "leaderboard.txt")
    ids = []
    for _ in range(trials):
        trial = client.create_run(exp_id, tags={"lepton.role": "trial",
                                                "mlflow.parentRunId": parent.run_id}).info
        client.set_terminated(trial.run_id)
        ids.append(trial.run_id)
    client.set_terminated(parent.run_id)
    return parent.run_id, ids


@pytest.fixture
def fake_store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    return uri, client, exp_id


def test_prune_leaves_a_search_deleted_by_hand_its_trials(fake_store):
    """Its trial runs were taken for orphans and deleted for good, whatever --keep said:
    restored, the search had none (review helper-79)."""
    uri, client, exp_id = fake_store
    kept, _ = _fake_search(client, exp_id, "a")
    binned, trials = _fake_search(client, exp_id, "b")
    client.delete_run(binned)
    assert plan_prune(uri, keep=100).empty
    assert plan_prune(uri, keep=0).delete[0].run_id == kept
    client.restore_run(binned)
    for run_id in trials:
        assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_prune_keeps_the_searches_of_a_separate_registrys_versions(fake_store, tmp_path):
    """With the registry in another store (MLflowTracker(registry_uri=...)), prune read
    versions from the tracking store and deleted the champion's run (review helper-79)."""
    from mlflow.tracking import MlflowClient

    uri, client, exp_id = fake_store
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    champion, _ = _fake_search(client, exp_id, "a")
    _fake_search(client, exp_id, "b")
    versions = MlflowClient(tracking_uri=uri, registry_uri=registry)
    versions.create_registered_model("nn")
    versions.create_model_version("nn", source=f"runs:/{champion}/model", run_id=champion)
    plan = plan_prune(uri, keep=1, registry_uri=registry)
    assert [(s.run_id, s.whole) for s in plan.delete] == [(champion, False)]
    assert plan.kept["e"] == {"newest": 1, "registered": 1}


def test_an_interrupted_prune_leaves_nothing_half_deleted(fake_store, monkeypatch):
    """It marked every run deleted first and freed them after: a Ctrl-C between left runs
    marked deleted that no later prune found (review helper-79). Each is freed as it is
    deleted now, and the next prune finishes the work."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri, client, exp_id = fake_store
    searches = [_fake_search(client, exp_id, name) for name in ("a", "b", "c")]
    calls, hard_delete = [], SqlAlchemyStore._hard_delete_run

    def interrupted(self, run_id):
        calls.append(run_id)
        if len(calls) == 2:  # the first search's first trial
            raise KeyboardInterrupt
        hard_delete(self, run_id)

    monkeypatch.setattr(SqlAlchemyStore, "_hard_delete_run", interrupted)
    result = plan_prune(uri, keep=0).execute()
    assert result.interrupted and "run the prune again" in result.describe()
    monkeypatch.setattr(SqlAlchemyStore, "_hard_delete_run", hard_delete)
    store = SqlAlchemyStore(uri, "file:///unused")
    assert store._get_deleted_runs() == [calls[1]]  # the one run the Ctrl-C caught
    plan_prune(uri, keep=0).execute()
    left = [run_id for parent, trials in searches for run_id in [parent, *trials]
            if run_id != calls[1]]
    for run_id in left:
        with pytest.raises(MlflowException):
            client.get_run(run_id)


def test_prune_finds_the_orphans_of_an_experiment_with_no_search_left(fake_store):
    """An interrupted prune that had freed an experiment's last search run left its trial
    runs; the next prune skipped the experiment, which held no search (found reading the
    change again)."""
    uri, client, exp_id = fake_store
    parent, trials = _fake_search(client, exp_id, "a")
    client.delete_run(parent)
    from mlflow.tracking import _get_store

    _get_store(uri)._hard_delete_run(parent)  # as the interrupted prune left it
    plan = plan_prune(uri, keep=0)
    assert sorted(plan.orphans["e"]) == sorted(trials) and plan.delete == []
    assert "e: 0 searches; delete 0 (0 bytes of files); delete 2 trial runs whose search " \
           "run is gone" in plan.describe()
    assert plan.execute().runs == 2
    for run_id in trials:
        with pytest.raises(MlflowException):
            client.get_run(run_id)


def test_prune_keeps_a_search_whose_own_run_is_running_past_keep(tmp_path):
    """The one search running in the other tests was among the newest kept: the plan's
    check of a running search was never reached (mutation review helper-82)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    running, _, _ = _search(uri, log_models=False, end=False)
    try:
        plan = plan_prune(uri, keep=0)
        assert plan.delete == [] and plan.kept["prune"] == {"running": 1}
    finally:
        running.fail_search(error=RuntimeError("test over"))


def test_a_search_running_again_since_the_plan_is_skipped_not_deleted(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker, _, _ = _search(uri, log_models=False)
    plan = plan_prune(uri, keep=0)
    assert [s.run_id for s in plan.delete] == [tracker.parent_run_id]
    # resumed meanwhile by a live process (this one: its tags name it)
    tracker.client.update_run(tracker.parent_run_id, status="RUNNING")
    result = plan.execute()
    assert result.skipped == [tracker.parent_run_id]
    assert tracker.client.get_run(tracker.parent_run_id).info.lifecycle_stage == "active"


def test_prune_asks_and_only_a_yes_deletes(tmp_path, monkeypatch, capsys):
    """No test answered the question at a terminal (mutation review helper-82: Enter
    deleting survived)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker, _, _ = _search(uri, log_models=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    for answer in ("", "n", "whatever"):
        monkeypatch.setattr("builtins.input", lambda prompt: answer)
        assert main(["prune", "--tracking-uri", uri, "--keep", "0"]) == 1
        assert tracker.client.get_run(tracker.parent_run_id).info.lifecycle_stage == "active"
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert main(["prune", "--tracking-uri", uri, "--keep", "0"]) == 0
    with pytest.raises(MlflowException):
        tracker.client.get_run(tracker.parent_run_id)
