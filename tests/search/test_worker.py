"""``lepton worker``: processes that add trials to a search a ``lepton run`` is running on
a persistent study (the design's "scaling out": many machines on one study), against real
storages and real processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import optuna
import pytest
import yaml

from lepton import steps
from lepton.cli import main
from lepton.search._search import ENDS_AT_ATTR, PROCESS_ATTR, RUN_ATTR, make_storage
from lepton.search._search import UNSTARTED_ATTR as UNSTARTED

from .conftest import TINY_SPACE


def _lepton(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "lepton.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
@pytest.mark.services
def test_a_worker_adds_trials_to_a_running_search_and_ends_with_it(fresh_postgres_url,
                                                                    tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY_SPACE))
    # the worker starts first: it waits for the run to create the study and open its window
    worker = _lepton("worker", "--storage", fresh_postgres_url, "--verbose", "0",
                     "--device", "cpu")
    run = _lepton("run", "breast_cancer", "--storage", fresh_postgres_url, "--study-name",
                  "shared", "--time-budget", "25", "--no-tracking", "--verbose", "0",
                  "--search-space", str(space))
    run_out, _ = run.communicate(timeout=120)
    run_ended = time.time()
    worker_out, _ = worker.communicate(timeout=60)
    worker_ended = time.time()
    assert run.returncode == 0, run_out[-3000:]
    assert worker.returncode == 0, worker_out[-3000:]
    assert "lepton worker --storage" in run_out  # the run says how to add workers
    assert "joining study 'shared' (breast_cancer, classification, metric accuracy)" in worker_out

    study = optuna.load_study(study_name="shared", storage=make_storage(fresh_postgres_url))
    trials = study.get_trials(deepcopy=False)
    by_process: dict[str, list] = {}
    for t in trials:
        if t.state != optuna.trial.TrialState.WAITING:
            by_process.setdefault(t.user_attrs[PROCESS_ATTR], []).append(t)
    run_label = f"{socket.gethostname()}:{run.pid}"
    assert set(by_process) == {run_label, f"{socket.gethostname()}:{worker.pid}"}
    for ran in by_process.values():  # the run's trials and the worker's, in one study
        assert any(t.state == optuna.trial.TrialState.COMPLETE for t in ran)
        assert {t.user_attrs.get("lepton.device") for t in ran} - {None} == {"cpu"}
    assert not [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    # the run counts the worker's trials as the study's
    own = sum(t.state.name in ("COMPLETE", "PRUNED") for t in by_process[run_label])
    assert int(re.search(r"searched (\d+) trials", run_out).group(1)) > own
    assert re.search(r"ran [1-9]\d* trials \(.*\) in [\d.]+s; the study has \d+ finished",
                     worker_out)
    # the run recorded its recipe, and closed its window when its search ended
    recipe = study.user_attrs[RUN_ATTR]
    assert recipe["dataset"] == "breast_cancer" and recipe["search_space"] == str(space)
    assert study.user_attrs[ENDS_AT_ATTR] <= run_ended
    assert study.user_attrs["lepton.search_alive_at"] <= run_ended  # its sign of life
    # the worker followed the run's search: its trials ended with that window, and it
    # did not outlive the run (which went on to its final model after its search)
    last = max(t.datetime_complete.timestamp() for t in trials
               if t.datetime_complete and t.user_attrs[PROCESS_ATTR] != run_label)
    assert last <= study.user_attrs[ENDS_AT_ATTR] + 4.0  # read every 2 s, after each epoch
    assert worker_ended <= run_ended + 5.0


def test_a_worker_with_no_search_to_join_says_why(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    # no such file (a typo): said, and not created (opening it would)
    for given in (storage, str(tmp_path / "studies.db"), str(tmp_path / "studies.log")):
        assert main(["worker", "--storage", given, "--wait", "0.5"]) == 2
        assert "does not exist (waited 0.5s); a worker joins the study a run keeps there" in \
            capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # nothing in the storage
    from lepton.search._search import make_storage

    make_storage(storage)
    assert main(["worker", "--storage", storage, "--wait", "0.5"]) == 2
    assert "(it holds no study); start one with `lepton run" in capsys.readouterr().out
    assert main(["worker", "--storage", storage, "--study-name", "nightly",
                 "--wait", "0.5"]) == 2
    out = capsys.readouterr().out
    assert "no search of study 'nightly' started in 0.5s (studies in the storage: none)" in out
    assert "lepton run DATASET --storage" in out

    # a study a Python fit created: no recipe to load the data from
    from lepton import LeptonClassifier
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    LeptonClassifier(time_budget=10, n_trials=2, search_space=TINY_SPACE, cv=None,
                     storage=storage, study_name="in-python", random_state=0).fit(X, y)
    assert main(["worker", "--storage", storage, "--study-name", "in-python",
                 "--wait", "0.5"]) == 2
    assert "was not started by `lepton run`" in capsys.readouterr().out

    # a run whose search is over: nothing to join, and not an error
    split = steps.load_split("iris", seed=0)
    model = steps.build_estimator(split, time_budget=8, storage=storage, study_name="done",
                                  search_space=TINY_SPACE, tracking=False, verbose=0)
    steps.search(model, split)
    assert main(["worker", "--storage", storage, "--study-name", "done", "--wait", "0.5"]) == 0
    assert "the search of study 'done' ended at" in capsys.readouterr().out
    # and without --study-name, several studies and none running: which one?
    assert main(["worker", "--storage", storage, "--wait", "0.5"]) == 2
    out = capsys.readouterr().out
    assert "no search running in the storage after 0.5s (its studies: done, in-python)" in out
    # two searches running: which one?
    for name in ("done", "other"):
        study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True)
        study.set_user_attr(RUN_ATTR, {"dataset": "iris"})
        study.set_user_attr(ENDS_AT_ATTR, time.time() + 60)
    assert main(["worker", "--storage", storage]) == 2
    assert "2 searches are running in the storage (done, other): give --study-name" in \
        capsys.readouterr().out


@pytest.mark.parametrize("given", ["study.txt", "redis//127.0.0.1:6379"])
def test_a_worker_given_no_storages_form_says_so_at_once(tmp_path, capsys, monkeypatch, given):
    """`lepton worker --storage study.txt` waited (--wait) for the file a run would create,
    then said it 'does not exist': no run keeps a study there, so it is said at once."""
    monkeypatch.chdir(tmp_path)
    assert main(["worker", "--storage", given, "--wait", "1"]) == 2
    err = capsys.readouterr().err
    assert f"storage={given!r} is not a recognised storage: use a URL" in err, err
    assert "does not exist" not in err and list(tmp_path.iterdir()) == []


def test_a_persistent_run_records_what_a_worker_needs(tmp_path, monkeypatch):
    """The recipe names a file by its absolute path (a worker starts elsewhere), and a
    study in memory records nothing."""
    data = tmp_path / "rows.csv"
    data.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    monkeypatch.chdir(tmp_path)
    split = steps.load_split("rows.csv", target="label", seed=3, test_size=0.2)
    assert split.recipe == {"dataset": str(data), "target": "label", "task": "auto",
                            "test_size": 0.2, "seed": 3, "time_column": None,
                            "weight_column": None, "input_shape": None}
    model = steps.build_estimator(split, storage="studies.db", metric="f1_macro", seed=3,
                                  search_space="space.yaml", tracking=False)
    assert model._study_attrs[RUN_ATTR] == {**split.recipe, "metric": "f1_macro",
                                            "search_space": str(tmp_path / "space.yaml"),
                                            "images": True}
    assert not hasattr(steps.build_estimator(split, tracking=False), "_study_attrs")


def test_a_worker_trial_ends_when_the_run_closes_its_window():
    """What makes a worker's trials end with the run's search: the run records the end of
    its window (again when it grows), and closes it when its search stops early; the
    worker reads it at most every 2 s and prunes its running trial after the epoch that
    finds it closed."""
    from lepton.search._search import FollowsRun
    from lepton.search.budget import Budget
    from lepton.search.estimators import _close_window, _publish_window_end
    from lepton.steps import _Follow

    study = optuna.create_study()
    budget = Budget(60)
    budget.open_search_window()
    opened = _publish_window_end(study, "a storage", None, budget)
    assert time.time() + 50 < opened == study.user_attrs[ENDS_AT_ATTR] < time.time() + 60
    assert _publish_window_end(study, "a storage", lambda: None, budget) is None  # a worker's
    assert _publish_window_end(study, None, None, budget) is None  # in memory: no workers

    follow = _Follow(study, opened, own_end=float("inf"), every=0.2)
    FollowsRun(follow).on_epoch_end({"epoch": 3})  # the window is open: trains on
    _close_window(study, opened)  # the run's search stopped early (patience, Ctrl-C)
    assert study.user_attrs[ENDS_AT_ATTR] <= time.time()
    assert follow() == opened  # read again only every 0.2 s
    time.sleep(0.25)
    with pytest.raises(optuna.TrialPruned, match=r"the search this worker joined ended"):
        FollowsRun(follow).on_epoch_end({"epoch": 4})
    # the worker's own --time-budget ends it sooner than the run's window
    assert _Follow(study, opened, own_end=5.0)() == 5.0

    # a window another run of the study recorded since is left open
    study.set_user_attr(ENDS_AT_ATTR, opened + 30)
    _close_window(study, opened)
    assert study.user_attrs[ENDS_AT_ATTR] == opened + 30


def test_a_worker_stops_once_its_run_gives_no_sign_of_life():
    """A run killed outright (SIGKILL, its machine lost) closes no window: its worker
    trained on until the window's recorded end (13.96 s more in the review's run, the
    budget's length on a schedule), then exited 0 as if nothing happened. The run records a
    sign of life every ALIVE_EVERY_S while it searches; once it is ALIVE_GRACE_S old, a
    worker stops, and no new worker joins that search."""
    from lepton.search._search import (ALIVE_AT_ATTR, ALIVE_GRACE_S, FollowsRun, SignOfLife,
                                       run_gone)
    from lepton.steps import _Follow, _window_open

    study = optuna.create_study()
    with SignOfLife(study, every=0.05):
        time.sleep(0.2)
        beat = study.user_attrs[ALIVE_AT_ATTR]
        assert time.time() - 0.2 < beat <= time.time()
    opened = time.time() + 600
    study.set_user_attr(ENDS_AT_ATTR, opened)
    study.set_user_attr(RUN_ATTR, {"dataset": "iris"})
    follow = _Follow(study, opened, own_end=float("inf"), every=0.0)
    assert follow() == opened and follow.run_gone is None and _window_open(study.user_attrs)
    study.set_user_attr(ALIVE_AT_ATTR, time.time() - ALIVE_GRACE_S - 5)  # killed outright
    assert follow() <= time.time() and follow.run_gone > ALIVE_GRACE_S
    with pytest.raises(optuna.TrialPruned, match=r"the search this worker joined ended"):
        FollowsRun(follow).on_epoch_end({"epoch": 2})
    assert not _window_open(study.user_attrs)  # no new worker joins it
    assert run_gone({}) is None  # a run from before signs of life: its window decides


def test_a_worker_given_the_runs_file_at_another_path_joins_only_with_the_same_rows(
        tmp_path, capsys):
    """Machines without a shared disk each hold a copy of the run's file: --dataset
    names it; a copy whose rows differ is refused before any trial (the study would mix
    scores on other data), and the study is left as it was."""
    rows = "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(60))
    (tmp_path / "run.csv").write_text("a,b,label\n" + rows)
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    split = steps.load_split(str(tmp_path / "run.csv"), target="label", seed=0)
    model = steps.build_estimator(split, time_budget=6, storage=storage, study_name="s",
                                  search_space=TINY_SPACE, tracking=False, verbose=0)
    steps.search(model.set_params(n_trials=3), split)  # far from converged (patience 20)
    study = optuna.load_study(study_name="s", storage=storage)
    study.set_user_attr(ENDS_AT_ATTR, time.time() + 60)  # as while the run searches
    before = len(study.trials)

    (tmp_path / "run.csv").rename(tmp_path / "elsewhere.csv")  # not at the run's path here
    assert main(["worker", "--storage", storage, "--time-budget", "4"]) == 2
    assert (f"the run's dataset {tmp_path / 'run.csv'} is not on this machine: give this "
            "machine's copy with --dataset PATH") in capsys.readouterr().err

    (tmp_path / "other.csv").write_text("a,b,label\n" + rows.replace("6,", "5,"))
    assert main(["worker", "--storage", storage, "--dataset", str(tmp_path / "other.csv"),
                 "--time-budget", "4", "--verbose", "0"]) == 2
    out, err = capsys.readouterr()
    assert "already exists in this storage with a different dataset" in err
    # what a worker can do: give the run's rows (another study_name would join no run),
    # and it did not say it joined
    assert ("this worker cannot join its search (its trials would not compare with the "
            "run's). Give the worker the run's own rows: --dataset PATH, this machine's copy "
            f"of the run's file ({tmp_path / 'run.csv'}).") in err, err
    assert "new study_name" not in err and "joined study" not in out, out
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == before

    (tmp_path / "copy.csv").write_text("a,b,label\n" + rows)
    assert main(["worker", "--storage", storage, "--dataset", str(tmp_path / "copy.csv"),
                 "--time-budget", "4", "--verbose", "1"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"ran [1-9]\d* trials", out)
    # a worker joins the run's search (it does not resume it), and its progress gives its
    # window (what was left of its 4 s: 3.99...) to a tenth of a second
    assert "lepton search: joining study 's' (" in err and "resuming" not in err, err
    assert re.search(r"^lepton search: \d+/\d+(\.\d)?s trials=", err, re.M), err
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) > before
    assert study.user_attrs[RUN_ATTR]["dataset"] == str(tmp_path / "run.csv")  # the run's

    # a study that has converged (the study's last 20 trials brought no better one, as a
    # run on patience stops): the worker runs no trial, and says why
    best = max(t.value for t in study.trials if t.value is not None)
    for _ in range(20):
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=best - 0.5,
            params=study.best_trial.params, distributions=study.best_trial.distributions))
    assert main(["worker", "--storage", storage, "--dataset", str(tmp_path / "copy.csv"),
                 "--time-budget", "4", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "ran 0 trials" in out and "converged: no better trial in the study's last 20" in out


@pytest.mark.slow
def test_a_worker_logs_its_trials_under_the_runs_mlflow_search_run(tmp_path):
    """Comparing trials in the MLflow UI shows the workers' trials beside the run's: the
    run records where it tracks, and the worker's trials become children of its search
    run (the run alone finishes that run, with its summary and models)."""
    from mlflow.tracking import MlflowClient

    from lepton.tracking._writer import TAG_TRIAL

    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY_SPACE))
    worker = _lepton("worker", "--storage", storage, "--verbose", "0")
    run = _lepton("run", "breast_cancer", "--storage", storage, "--time-budget", "30",
                  "--tracking-uri", tracking_uri, "--verbose", "0",
                  "--search-space", str(space))
    run_out, _ = run.communicate(timeout=120)
    worker_out, _ = worker.communicate(timeout=60)
    assert run.returncode == 0, run_out[-3000:]
    assert worker.returncode == 0, worker_out[-3000:]
    assert "logging trials to MLflow under the run's search run" in worker_out

    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0],
                              storage=storage)
    recorded = study.user_attrs["lepton.tracking"]
    assert recorded["uri"] == tracking_uri
    client = MlflowClient(tracking_uri=tracking_uri)
    parent = client.get_run(recorded["parent_run_id"])
    assert parent.info.status == "FINISHED"  # the run's to end, and it did
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    logged = {int(r.data.tags[TAG_TRIAL]) for r in children}
    run_label = f"{socket.gethostname()}:{run.pid}"
    # every trial that ran (not those the window's end left unstarted: no run of theirs)
    ran = [t for t in study.trials if t.state.is_finished() and not t.user_attrs.get(UNSTARTED)]
    by_worker = {t.number for t in ran if t.user_attrs[PROCESS_ATTR] != run_label}
    assert by_worker and by_worker <= logged
    assert {t.number for t in ran} == logged


def test_a_worker_that_cannot_reach_the_runs_mlflow_store_says_so_and_searches_on(
        tmp_path, monkeypatch):
    from lepton.steps import _join_tracking
    from lepton.tracking import MLflowTracker, TrackingError

    said: list[str] = []
    recorded = {"uri": f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}",
                "experiment": "lepton-x", "parent_run_id": "0" * 32}
    assert _join_tracking(recorded, None, "s", said.append) is None
    assert f"its store {tmp_path / 'elsewhere' / 'mlflow.db'} is not on this machine" in said[0]
    assert "--tracking-uri names the run's store" in said[0]
    hidden = {**recorded, "uri": "postgresql://lepton:***@db.example/mlflow"}
    assert _join_tracking(hidden, None, "s", said.append) is None
    assert "its URI holds a password the study does not record" in said[1]
    # a store that is reachable but does not hold the run: said, unless the user named it
    here = {**recorded, "uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    MLflowTracker(tracking_uri=here["uri"], experiment_name="lepton-x")  # the store exists
    assert _join_tracking(here, None, "s", said.append) is None
    assert f"has no run {'0' * 32}" in said[2]
    with pytest.raises(TrackingError, match="has no run"):
        _join_tracking(recorded, here["uri"], "s", said.append)

    import lepton.tracking

    monkeypatch.setattr(lepton.tracking, "mlflow_installed", lambda: False)  # a core install
    assert _join_tracking(here, None, "s", said.append) is None
    assert "MLflow is not installed here: pip install 'lepton-automl[tracking]'" in said[3]
    with pytest.raises(TrackingError, match="--tracking-uri was given, but MLflow is not"):
        _join_tracking(here, here["uri"], "s", said.append)


def test_a_worker_shows_no_storage_password(fresh_postgres_url, capsys):
    # 'start one with `lepton run DATASET --storage postgresql://postgres:s3cret@...`': the
    # password in a terminal's scrollback or a scheduler's log (the server trusts this host)
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(fresh_postgres_url)
    secret = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:s3cret@"
                                              f"{parts.hostname}:{parts.port or 5432}"))
    for extra in ([], ["--study-name", "nightly"]):
        assert main(["worker", "--storage", secret, "--wait", "0.5", *extra]) == 2
        out, err = capsys.readouterr()
        assert "--storage postgresql://" in out + err and ":***@" in out + err, out + err
        assert "s3cret" not in out + err


def test_uris_are_shown_without_their_passwords():
    from lepton.tracking._store import redact_uri

    assert redact_uri("redis://:s3cret@h:6379/0?prefix=a") == "redis://:***@h:6379/0?prefix=a"
    assert redact_uri("postgresql://u:p@[::1]:5432/d") == "postgresql://u:***@[::1]:5432/d"
    assert redact_uri("postgresql://u@h/d?sslmode=require&password=xx&a=1") == \
        "postgresql://u@h/d?sslmode=require&password=***&a=1"
    assert redact_uri("sqlite:///a.db") == "sqlite:///a.db"
    # passwords holding '?', '/' or '@', as SQLAlchemy and redis-py take them (urlsplit
    # ended the user part at the '?' or '/' and showed them: review helper-76)
    assert redact_uri("postgresql://u:pa?ss@host/db") == "postgresql://u:***@host/db"
    assert redact_uri("postgresql://u:pa/ss@host/db") == "postgresql://u:***@host/db"
    assert redact_uri("redis://:p@ss-w0rd@host:6379/0") == "redis://:***@host:6379/0"
    # an HTTP URL's bare token, a token in the query; a user without a password kept
    assert redact_uri("https://tok3n@mlflow.example/") == "https://***@mlflow.example/"
    assert redact_uri("https://h/api?token=abc&x=1") == "https://h/api?token=***&x=1"
    assert redact_uri("postgresql://alice@db/x") == "postgresql://alice@db/x"
    assert redact_uri("sqlite:////tmp/x@y/study.db") == "sqlite:////tmp/x@y/study.db"
    from lepton.tracking._store import redact_text

    assert redact_text("404 Client Error: Not Found for url: http://bob:s3cret@127.0.0.1:1/"
                       "api/2.0/mlflow-artifacts/artifacts?path=a") == (
        "404 Client Error: Not Found for url: http://bob:***@127.0.0.1:1/api/2.0/"
        "mlflow-artifacts/artifacts?path=a")
