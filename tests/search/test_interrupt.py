"""Ctrl-C during a search: a real SIGINT to a search subprocess. ``fit`` returns with a
model from the trials it finished; the trials the signal interrupted are failed with
their reason and queued to run again, so fitting again with the same storage and study
name continues with them. Parallel trials (worker threads, which never see the signal)
are stopped too, instead of running on to their end. The signal is sent while a trial
trains (it has reported an epoch), which is where a search spends its time. (How an
interrupted trial shows in MLflow: tests/tracking/test_search_tracking.py.)"""

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
from sklearn.datasets import make_classification

from lepton import LeptonClassifier

# 15 epochs of 60 batches: trials of a few seconds, so the one that has reported an
# epoch when the signal is sent is still training when it arrives
SPACE = {"base": "mlp", "parameters": {
    "n_layers": {"type": "int", "low": 1, "high": 2},
    "width": {"type": "int", "low": 8, "high": 32, "per_layer": True},
    "epochs": 15,
    "batch_size": 16,
    "numeric_embedding": "none",
}}
DATA = dict(n_samples=1200, n_features=10, n_informative=5, random_state=0)

# A shell or test runner may start its children with SIGINT ignored; a terminal does not.
SEARCH_SCRIPT = textwrap.dedent("""
    import json, signal, sys, warnings
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from sklearn.datasets import make_classification
    from lepton import LeptonClassifier
    storage, space, n_jobs, data = sys.argv[1:5]
    X, y = make_classification(**json.loads(data))
    clf = LeptonClassifier(time_budget=600, n_trials=500, storage=storage, study_name="ctrl-c",
                           search_space=json.loads(space), cv=None, n_jobs=int(n_jobs),
                           random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    print(json.dumps({
        "interrupted": clf.search_interrupted_, "choice": clf.final_choice_,
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


def _start(storage_url: str, n_jobs: int, space=SPACE) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SEARCH_SCRIPT, storage_url, json.dumps(space),
                             str(n_jobs), json.dumps(DATA)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _training(storage) -> bool:
    """A trial is running and has reported an epoch (it is in its training loop)."""
    return any(t.intermediate_values for t in _trials(storage, (STATES.RUNNING,)))


def _interrupt_when(proc: subprocess.Popen, ready, what: str) -> tuple[str, str]:
    deadline = time.monotonic() + 180
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the search ended before {what}:\n{proc.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within 180 s")
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the search did not end within 120 s of Ctrl-C")
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
    # 2,000 epochs: the first trial cannot finish before the signal
    space = {**SPACE, "parameters": {**SPACE["parameters"], "epochs": 2000}}
    proc = _start(url, 1, space=space)
    out, err = _interrupt_when(proc, lambda: _training(storage), "a training trial")
    assert proc.returncode == 1, err[-2000:]
    assert err.rstrip().splitlines()[-1].startswith("KeyboardInterrupt"), err[-2000:]
    trials = _trials(storage)
    assert not [t for t in trials if t.state in (STATES.RUNNING, STATES.COMPLETE)]
    failed = [t for t in trials if t.state == STATES.FAIL]
    assert [t.user_attrs["fail_reason"][:23] for t in failed] == ["interrupted (Ctrl-C) af"]
    assert any(t.system_attrs.get("retry_history") == [failed[0].number] for t in trials)


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
    with pytest.warns(UserWarning, match=r"the final refit was interrupted \(Ctrl-C\)"):
        clf = LeptonClassifier(time_budget=120, n_trials=3, ensemble_size=1, cv=None,
                               search_space=TINY_SPACE, random_state=0).fit(X, y)
    assert len(refits) == at_seed + 1 and clf.search_interrupted_
    report = clf.final_model_info_["refit"]
    assert report["interrupted"] and report["seeds"] == at_seed
    if at_seed == 0:
        assert clf.final_choice_ == "best_trial" and report["status"] == "interrupted (Ctrl-C)"
    else:
        assert clf.final_choice_ == "refit" and clf.ensemble_ is None  # one seed: no average
    assert (clf.predict(X) == y).mean() > 0.7


def test_the_first_ctrl_c_sets_the_event_and_says_so_and_the_second_raises(capfd):
    """The handler behind both: the first SIGINT is heard (event set, message on stderr)
    without raising; the second raises KeyboardInterrupt at once; the default handling is
    back after the block. The signal is this process's own, raised on the main thread."""
    import threading

    from lepton.search._search import first_ctrl_c_sets

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        event = threading.Event()
        with pytest.raises(KeyboardInterrupt):
            with first_ctrl_c_sets(event, "lepton: stopping"):
                signal.raise_signal(signal.SIGINT)
                assert event.is_set()
                assert "lepton: stopping" in capfd.readouterr().err
                signal.raise_signal(signal.SIGINT)
                pytest.fail("the second Ctrl-C did not raise")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # a caller's own handler is left alone
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with first_ctrl_c_sets(event):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
