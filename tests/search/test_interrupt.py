"""Ctrl-C (and SIGTERM) during a search: a real SIGINT to a search subprocess. ``fit``
returns with a model from the trials it finished; the trials the signal interrupted are
failed with their reason and queued to run again, so fitting again with the same storage
and study name continues with them. Parallel trials (worker threads, which never see the
signal) are stopped too, instead of running on to their end. The signal is sent while a
trial trains (it has reported an epoch), which is where a search spends its time. (How an
interrupted trial shows in MLflow: tests/tracking/test_search_tracking.py.) SIGTERM stops
the search the same way and then the process (status 143), with no model built."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification

from lepton import LeptonClassifier

# 15 epochs of 120 batches: trials of a few seconds, so the one that has reported an
# epoch when the signal is sent is still training when it arrives (with 60 batches, an
# epoch took ~60 ms on a busy CI machine: a trial seen at epoch 2 could reach the
# pruner's first rung, at epoch 3, and end before the signal landed)
SPACE = {"base": "mlp", "parameters": {
    "n_layers": {"type": "int", "low": 1, "high": 2},
    "width": {"type": "int", "low": 8, "high": 32, "per_layer": True},
    "epochs": 15,
    "batch_size": 16,
    "numeric_embedding": "none",
}}
DATA = dict(n_samples=2400, n_features=10, n_informative=5, random_state=0)

# A shell or test runner may start its children with SIGINT ignored; a terminal does not.
SEARCH_SCRIPT = textwrap.dedent("""
    import json, signal, sys, warnings
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from sklearn.datasets import make_classification
    from lepton import LeptonClassifier
    storage, space, n_jobs, data, tracking_uri = sys.argv[1:6]
    X, y = make_classification(**json.loads(data))
    clf = LeptonClassifier(time_budget=600, n_trials=500, storage=storage, study_name="ctrl-c",
                           search_space=json.loads(space), cv=None, n_jobs=int(n_jobs),
                           random_state=0, tracking_uri=tracking_uri or None,
                           experiment_name="signals" if tracking_uri else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            clf.fit(X, y)
        finally:  # SIGTERM: fit raises SystemExit after warning
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
    print(json.dumps({
        "interrupted": clf.search_interrupted_, "choice": clf.final_choice_,
        "n_trials": clf.n_trials_,
        "refit": clf.final_model_info_["refit"],
        "accuracy": float((clf.predict(X) == y).mean()),
        "warnings": [str(w.message) for w in caught]}))
""")

STATES = optuna.trial.TrialState


def _trials(storage, states=None) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(study_name="ctrl-c", storage=storage)
    except KeyError:
        return []
    return [t for t in study.get_trials(deepcopy=False) if states is None or t.state in states]


def _start(storage_url: str, n_jobs: int, space=SPACE, tracking_uri: str = ""
           ) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SEARCH_SCRIPT, storage_url, json.dumps(space),
                             str(n_jobs), json.dumps(DATA), tracking_uri],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _training(storage, up_to: int = 1) -> bool:
    """A trial is running and has reported its first epoch of 15 (it is in its training
    loop, two epochs before the pruner's first rung at epoch 3: a trial pruned there, or
    one near its end, may end before the signal lands, and then no trial is interrupted;
    seen in CI with up to 7 epochs allowed, and with 2 of 60-batch epochs). ``up_to``: or
    any of its first epochs, where it cannot end that soon."""
    return any(1 <= len(t.intermediate_values) <= up_to
               for t in _trials(storage, (STATES.RUNNING,)))


def _interrupt_when(proc: subprocess.Popen, ready, what: str, signum=signal.SIGINT
                    ) -> tuple[str, str]:
    deadline = time.monotonic() + 180
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the search ended before {what}:\n{proc.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within 180 s")
        time.sleep(0.05)
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the search did not end within 120 s of {signal.Signals(signum).name}")
    return out.decode(), err.decode()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ctrl_c_keeps_the_finished_trials_and_a_resumed_fit_reruns_the_interrupted_one(
        n_jobs, tmp_path, capsys):
    from lepton.search._search import make_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = make_storage(url)
    proc = _start(url, n_jobs)
    out, err = _interrupt_when(
        proc, lambda: len(_trials(storage, (STATES.COMPLETE,))) >= 2 and _training(storage),
        "two complete trials and a training one")
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert summary["choice"] in ("ensemble", "best_trial")  # from the trials: no refit
    assert summary["refit"] in (None, {"status": "skipped: search interrupted"})
    assert summary["accuracy"] > 0.7
    assert any("search interrupted (Ctrl-C)" in w and "study_name='ctrl-c'" in w
               for w in summary["warnings"]), summary["warnings"]
    assert "lepton: Ctrl-C: stopping the search;" in err  # heard at once, said so

    trials = {t.number: t for t in _trials(storage)}
    assert not [t for t in trials.values() if t.state == STATES.RUNNING]
    interrupted = [t for t in trials.values() if t.state == STATES.FAIL]
    # with n_jobs=2 the signal reaches the main thread only, which runs no trial: the
    # workers' trials end as interrupted only because the search told them to stop
    assert interrupted
    for t in interrupted:
        assert t.user_attrs["fail_reason"].startswith("interrupted (Ctrl-C) after ")
    # the trials that ran to an end ('searched N trials'): not the interrupted ones, which
    # run again (counted then)
    assert summary["n_trials"] == sum(t.state in (STATES.COMPLETE, STATES.PRUNED)
                                      for t in trials.values())
    retries = {t.system_attrs["retry_history"][-1]: t for t in trials.values()
               if t.system_attrs.get("retry_history")}
    assert sorted(retries) == sorted(t.number for t in interrupted)
    for number, retry in retries.items():
        assert retry.state == STATES.WAITING and retry.params == trials[number].params

    # resumed: the interrupted configurations run first, nothing finished is repeated
    done = {t.number: (t.state, t.value, t.params) for t in trials.values()
            if t.state in (STATES.COMPLETE, STATES.PRUNED)}
    X, y = make_classification(**DATA)
    target = len(done) + len(retries) + 1
    capsys.readouterr()
    clf = LeptonClassifier(time_budget=120, n_trials=target, storage=url, study_name="ctrl-c",
                           search_space=SPACE, cv=None, random_state=0, verbose=1).fit(X, y)
    assert clf.search_interrupted_ is False
    n_complete = sum(t.state == STATES.COMPLETE for t in trials.values())
    waiting = sum(t.state == STATES.WAITING for t in trials.values())
    line = next(line for line in capsys.readouterr().err.splitlines() if "resuming" in line)
    assert line.startswith(
        f"lepton search: resuming study 'ctrl-c' ({url}): {n_complete} complete, "
        f"{len(done) - n_complete} pruned, {len(interrupted)} failed, best accuracy="), line
    assert line.endswith(f"; {waiting} queued, {len(retries)} of them to run again"), line
    after = {t.number: t for t in clf.study_.trials}
    assert {n: (after[n].state, after[n].value, after[n].params) for n in done} == done
    for number, retry in retries.items():
        assert after[retry.number].state in (STATES.COMPLETE, STATES.PRUNED)
        assert after[retry.number].params == trials[number].params
    reasons = dict(zip(clf.leaderboard_.trial, clf.leaderboard_.reason))
    for number, retry in retries.items():
        assert reasons[number].endswith(f"; retried as trial {retry.number}"), reasons[number]


def test_ctrl_c_before_any_trial_finished_stops_fit(tmp_path):
    """Nothing to build a model from: the KeyboardInterrupt propagates (and the
    interrupted trial is still queued to run again)."""
    from lepton.search._search import make_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = make_storage(url)
    # 2,000 epochs: the first trial cannot finish before the signal, unless early stopping
    # ends it (20 epochs without improvement); any of its first 5 epochs will do (waiting
    # for its first alone, a loaded CI machine missed it, the trial stopped early and the
    # signal hit the second trial, with the first one's model to keep)
    space = {**SPACE, "parameters": {**SPACE["parameters"], "epochs": 2000}}
    proc = _start(url, 1, space=space)
    out, err = _interrupt_when(proc, lambda: _training(storage, up_to=5), "a training trial")
    assert proc.returncode == 1, err[-2000:]
    assert err.rstrip().splitlines()[-1].startswith("KeyboardInterrupt"), err[-2000:]
    assert "no trial has finished yet" in err and "comes from the finished" not in err, err
    trials = _trials(storage)
    assert not [t for t in trials if t.state in (STATES.RUNNING, STATES.COMPLETE)]
    failed = [t for t in trials if t.state == STATES.FAIL]
    assert [t.user_attrs["fail_reason"][:23] for t in failed] == ["interrupted (Ctrl-C) af"]
    assert any(t.system_attrs.get("retry_history") == [failed[0].number] for t in trials)


def test_ctrl_c_on_a_resumed_study_whose_best_is_an_earlier_sessions_says_it_refits(
        tmp_path):
    """Ctrl-C said 'without a refit' and then refitted: this process holds no networks of
    the study's best trial, an earlier session's. It says so now."""
    from lepton.search._search import make_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    X, y = make_classification(**DATA)
    LeptonClassifier(time_budget=120, n_trials=2, storage=url, study_name="ctrl-c",
                     search_space=SPACE, cv=None, random_state=0).fit(X, y)
    storage = make_storage(url)
    # the earlier session's best, scored out of reach of this session's trials
    study = optuna.load_study(study_name="ctrl-c", storage=storage)
    best = study.best_trial
    study.add_trial(optuna.trial.create_trial(
        params=best.params, distributions=best.distributions, value=1.0,
        user_attrs=best.user_attrs))
    before = len(_trials(storage, (STATES.COMPLETE,)))
    proc = _start(url, 1)
    out, err = _interrupt_when(
        proc, lambda: len(_trials(storage, (STATES.COMPLETE,))) > before and _training(storage),
        "a complete trial of the resumed session and a training one")
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] is True and summary["choice"] == "refit"
    assert summary["accuracy"] > 0.7  # the earlier session's best, refitted
    said = [w for w in summary["warnings"] if "search interrupted (Ctrl-C)" in w]
    assert said and "of an earlier session, whose networks this process does not hold: the " \
        "final model refits it" in said[0] and "without a refit" not in said[0], said


def test_sigterm_winds_the_search_down_then_exits_143_with_the_study_ready_to_resume(
        tmp_path):
    """SIGTERM (a scheduler cancelling the run, ``docker stop``) used to end the process
    at once: the running trial stayed RUNNING until its heartbeat went stale, and the
    MLflow runs RUNNING for good. Now the trials stop as for Ctrl-C and are queued, the
    MLflow runs end KILLED, and the process exits 143 instead of building a model."""
    import mlflow

    from lepton.search._search import make_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = make_storage(url)
    proc = _start(url, 1, tracking_uri=tracking_uri)
    out, err = _interrupt_when(
        proc, lambda: len(_trials(storage, (STATES.COMPLETE,))) >= 1 and _training(storage),
        "a complete trial and a training one", signum=signal.SIGTERM)
    assert proc.returncode == 143, err[-3000:]
    assert out == ""  # no model: fit did not return
    assert "lepton: SIGTERM: stopping the search;" in err  # heard at once, said so
    assert "SIGTERM stopped the search after " in err and "study_name='ctrl-c'" in err, err

    trials = {t.number: t for t in _trials(storage)}
    assert not [t for t in trials.values() if t.state == STATES.RUNNING]
    interrupted = [t for t in trials.values() if t.state == STATES.FAIL]
    assert len(interrupted) == 1
    assert interrupted[0].user_attrs["fail_reason"].startswith("interrupted (SIGTERM) after ")
    retry = [t for t in trials.values() if t.system_attrs.get("retry_history")]
    assert [t.system_attrs["retry_history"] for t in retry] == [[interrupted[0].number]]
    assert retry[0].state == STATES.WAITING and retry[0].params == interrupted[0].params

    client = mlflow.MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("signals").experiment_id])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.status == "KILLED"
    assert parent.data.tags["lepton.error"].startswith("Terminated: LeptonClassifier: SIGTERM")
    killed = next(r for r in runs
                  if r.data.tags.get("lepton.trial_number") == str(interrupted[0].number))
    assert killed.info.status == "KILLED"
    assert killed.data.tags["lepton.reason"].startswith("interrupted (SIGTERM) after ")


@pytest.mark.parametrize("forced", [False, True])
def test_sigterm_during_the_final_refit_exits_and_keeps_the_study(forced, monkeypatch,
                                                                   tmp_path):
    """SIGTERM in the refit (here: the refit's event set as its handler would) stops it
    after the current batch, and fit raises Terminated (exit status 143) instead of
    returning a model from what the refit finished; the search's trials stay in storage.
    ``forced``: a resumed study's best trial has no networks in this process, so its
    refit cannot fall back on them (that path raised KeyboardInterrupt, status 1)."""
    import lepton.search.estimators as est
    from lepton.search import Terminated

    from .conftest import TINY_SPACE

    real_fit_model = est.fit_model

    def fit_model(*args, interrupt=None, **kwargs):
        if args[2] is None:  # no validation rows: a refit seed
            interrupt.set_by("SIGTERM")
        return real_fit_model(*args, interrupt=interrupt, **kwargs)

    X, y = make_classification(**DATA)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    clf = LeptonClassifier(time_budget=120, n_trials=3, ensemble_size=1, cv=None, storage=url,
                           study_name="term", search_space=TINY_SPACE, random_state=0)
    if forced:  # the study's 3 trials finished in an earlier process: nothing left to run
        clone(clf).fit(X, y)
    monkeypatch.setattr(est, "fit_model", fit_model)
    with pytest.warns(UserWarning, match=r"SIGTERM stopped the final refit after 3 finished "
                                         r"trials .* study_name='term' to continue") as caught:
        with pytest.raises(Terminated) as exc_info:
            clf.fit(X, y)
    # the warning points at the line that called fit
    assert [w.filename for w in caught if "SIGTERM" in str(w.message)] == [__file__]
    # the refit runs no trial: it says none was interrupted and queued
    assert not [w for w in caught if "queued to run again" in str(w.message)]
    assert isinstance(exc_info.value, SystemExit) and exc_info.value.code == 143
    assert not hasattr(clf, "best_estimator_")
    study = optuna.load_study(study_name="term", storage=url)
    assert len(study.get_trials(states=(STATES.COMPLETE, STATES.PRUNED))) == 3


@pytest.mark.parametrize("at_seed", [0, 1])
def test_ctrl_c_during_the_final_refit_keeps_the_search(at_seed, monkeypatch):
    """The refit is the last step of a fit and can be long; Ctrl-C there used to throw the
    whole search away. The signal sets the refit's event (here set directly, at the start
    of refit seed ``at_seed``); the training loop stops at its next batch. Seeds finished
    before are kept, else the best trial's own networks predict."""
    import lepton.search.estimators as est

    from .conftest import TINY_SPACE

    real_fit_model = est.fit_model
    refits = []

    def fit_model(*args, interrupt=None, **kwargs):
        if args[2] is None:  # no validation rows: a refit seed
            refits.append(interrupt)
            if len(refits) == at_seed + 1:
                interrupt.set()
        return real_fit_model(*args, interrupt=interrupt, **kwargs)

    monkeypatch.setattr(est, "fit_model", fit_model)
    X, y = make_classification(**DATA)
    with pytest.warns(UserWarning, match=r"the final refit was interrupted \(Ctrl-C\)") as caught:
        clf = LeptonClassifier(time_budget=120, n_trials=3, ensemble_size=1, cv=None,
                               search_space=TINY_SPACE, random_state=0).fit(X, y)
    # attributed to the line that called fit, not to Lepton's own fit
    assert [w.filename for w in caught if "refit was" in str(w.message)] == [__file__]
    assert len(refits) == at_seed + 1 and clf.search_interrupted_
    report = clf.final_model_info_["refit"]
    assert report["interrupted"] and report["seeds"] == at_seed
    if at_seed == 0:
        assert clf.final_choice_ == "best_trial" and report["status"] == "interrupted (Ctrl-C)"
    else:
        assert clf.final_choice_ == "refit" and clf.ensemble_ is None  # one seed: no average
    assert (clf.predict(X) == y).mean() > 0.7


@pytest.mark.parametrize("given, shown", [
    ("postgresql://postgres@127.0.0.1:5432/rev_par_a",
     "postgresql://postgres@127.0.0.1:5432/rev_par_a"),
    ("postgresql://lepton:s3cret@db.example:5432/studies",
     "postgresql://lepton:***@db.example:5432/studies"),
])
def test_messages_name_the_storage_to_fit_again_with_only_its_password_hidden(given, shown):
    """After SIGTERM: 'fit again with storage='postgresql://***@127.0.0.1:5432/rev_par_a''
    for a URL with no password: not a URL the user could give again. Only a password is
    hidden in messages now; the MLflow tag (lepton.storage) a resumed search matches its
    search run by keeps its value."""
    from lepton.search import Budget, get_metric
    from lepton.search.estimators import _resume_line, _storage_label

    study = optuna.create_study(study_name="kr")
    with pytest.warns(UserWarning) as caught:
        stopped = LeptonClassifier(storage=given)._terminated("the search", study, Budget(10))
    for said in (str(stopped), str(caught[0].message)):
        assert f"fit again with storage={shown!r} and study_name='kr' to continue" in said
        assert "s3cret" not in said
    line = _resume_line(study, "kr", given, get_metric("accuracy", "classification"))
    assert line.startswith(f"lepton search: resuming study 'kr' ({shown}): ")
    assert _storage_label(given) == "postgresql://***@" + given.split("@", 1)[1]


def test_ctrl_c_says_what_the_stop_leaves_a_search_or_a_worker(
        monkeypatch, capfd):
    """A worker's Ctrl-C said 'the final model comes from the finished ones': a worker
    builds no final model. It says what a worker keeps."""
    import threading
    from types import SimpleNamespace

    from lepton.search import Budget, _search

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread, where the signal handler is installed")

    def interrupted_trials(*args, **kwargs):  # a Ctrl-C while the trials train
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(_search, "_optimize", interrupted_trials)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # (a search that has finished no trial raises without a model: it says so, where
        # it promised a model from the finished trials; review helper-60)
        finished = {0: SimpleNamespace(complete=True), 1: SimpleNamespace(complete=False)}
        unfinished = {1: SimpleNamespace(complete=False)}
        for follow, models, says in [
                (None, finished, "the final model comes from the finished ones"),
                (None, unfinished, "stopping the search; no trial has finished yet, so once "
                                   "the running trials end after their current batch, fit "
                                   "raises KeyboardInterrupt without a model (Ctrl-C again "
                                   "to stop at once)"),
                (lambda: None, finished, "stopping this worker; its running trials end after "
                                         "their current batch and are queued to run again, "
                                         "and the trials it finished stay in the study "
                                         "(Ctrl-C again to stop at once)")]:
            ctx = SimpleNamespace(budget=Budget(10), interrupt=_search.StopRequest(),
                                  follow=follow, models=models, window_moved=None,
                                  start_s=0.0)
            with pytest.raises(KeyboardInterrupt):
                _search.run_trials(optuna.create_study(), None, ctx, n_trials=None, n_jobs=1)
            err = capfd.readouterr().err
            assert says in err, err
            assert models is finished or "final model" not in err
            assert follow is None or "final model" not in err
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_first_signal_sets_the_event_and_says_so_and_the_second_acts_at_once(capfd):
    """The handler behind them all: the first SIGINT is heard (event set, message on
    stderr) without raising; the second raises KeyboardInterrupt at once. SIGTERM likewise
    sets the event, as 'SIGTERM', which a later Ctrl-C does not undo, and hands SIGTERM
    back to its default (ending the process) at once. Default handling is back after the
    block; a caller's own handler is left alone. The signals are this process's own,
    raised on the main thread (where the handler is installed: it is not elsewhere)."""
    import threading

    from lepton.search._search import StopRequest, stop_signals_set

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        pytest.skip("needs the main thread and default SIGTERM handling (raising SIGTERM "
                    "here would end the test process)")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        event = StopRequest()
        with pytest.raises(KeyboardInterrupt):
            with stop_signals_set(event, "lepton: stopping"):
                signal.raise_signal(signal.SIGINT)
                assert event.is_set() and event.cause == "Ctrl-C" and not event.terminates
                assert "lepton: stopping" in capfd.readouterr().err
                signal.raise_signal(signal.SIGINT)
                pytest.fail("the second Ctrl-C did not raise")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        event = StopRequest()
        with stop_signals_set(event, "lepton: stopping", "lepton: terminating"):
            signal.raise_signal(signal.SIGTERM)
            assert event.terminates and event.cause == "SIGTERM"
            assert "lepton: terminating" in capfd.readouterr().err
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second one ends it
            signal.raise_signal(signal.SIGINT)  # heard, but SIGTERM's exit stands
            assert event.terminates
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        # a caller's own handlers are left alone
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with stop_signals_set(StopRequest()):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        mine = signal.signal(signal.SIGTERM, lambda *a: None)
        try:
            with stop_signals_set(StopRequest()):
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
                assert signal.getsignal(signal.SIGTERM).__name__ == "<lambda>"
        finally:
            signal.signal(signal.SIGTERM, mine)
    finally:
        signal.signal(signal.SIGINT, previous)
