"""Resume after a real crash: a search subprocess is SIGKILLed mid-search, then ``fit``
is called again with the same storage and study name. No finished trial may be lost or
repeated. The same test body runs against every persistent storage."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import optuna
import pytest
from sklearn.datasets import load_iris

from lepton import LeptonClassifier

SPACE = {"base": "mlp", "parameters": {
    "n_layers": {"type": "int", "low": 1, "high": 2},
    "width": {"type": "int", "low": 8, "high": 32, "per_layer": True},
    "epochs": {"type": "int", "low": 20, "high": 40},
    "batch_size": 16,
}}

SEARCH_SCRIPT = textwrap.dedent("""
    import json, sys
    from sklearn.datasets import load_iris
    from lepton import LeptonClassifier
    X, y = load_iris(return_X_y=True)
    LeptonClassifier(time_budget=600, n_trials=500, storage=sys.argv[1], study_name="resume",
                     search_space=json.loads(sys.argv[2]), cv=None, random_state=0).fit(X, y)
""")

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING = optuna.trial.TrialState.RUNNING


@pytest.fixture(params=["sqlite", "journal_file", "postgresql", "redis"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if request.param == "journal_file":
        return str(tmp_path / "study.log")
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    redis_url = request.getfixturevalue("redis_url")
    return f"{redis_url}?prefix={redis_url.prefix}resume"  # keys the fixture cleans up


def _trials(storage, states) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(study_name="resume", storage=storage)
    except KeyError:
        return []
    return [t for t in study.get_trials(deepcopy=False) if t.state in states]


def _finished(storage) -> list[optuna.trial.FrozenTrial]:
    return _trials(storage, FINISHED)


def test_killed_search_resumes_without_losing_or_repeating_trials(storage_url, tmp_path,
                                                                  monkeypatch):
    """...and the trial that was running at the kill is failed with its reason and run
    again with its parameters (RDB storages: Optuna's heartbeat; journal file and Redis,
    which Optuna gives none: Lepton's, lepton/search/heartbeat.py)."""
    import json

    import socket

    import lepton.search._search as search_mod
    from lepton.search._search import make_storage
    from lepton.search.heartbeat import uses_lepton_heartbeat

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SEARCH_SCRIPT, storage_url, json.dumps(SPACE)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    storage = make_storage(storage_url)
    try:
        deadline = time.monotonic() + 180
        while len(_finished(storage)) < 4 or not _trials(storage, [RUNNING]):
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the search subprocess finished no trials"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: no cleanup, no atexit
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = {t.number: t.params for t in _trials(storage, [RUNNING])}
    assert killed  # the kill came mid-trial
    # stale after 5 s instead of 30 s; the resumed fit beats every 0.5 s instead of 5 s, so
    # a loaded machine must delay one of its beats by 4.5 s to fail a live trial
    monkeypatch.setattr(search_mod, "HEARTBEAT_INTERVAL_S", 0.5)
    monkeypatch.setattr(search_mod, "HEARTBEAT_GRACE_S", 5)
    time.sleep(5.5)

    before = {t.number: (t.state, t.value, t.params) for t in _finished(storage)}
    target = len(before) + 3
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=120, n_trials=target, storage=storage_url,
                           study_name="resume", search_space=SPACE, cv=None,
                           random_state=0).fit(X, y)

    finished = _finished(make_storage(storage_url))
    after = {t.number: (t.state, t.value, t.params) for t in finished}
    # nothing lost: every trial finished before the kill is there, unchanged
    assert {n: after[n] for n in before} == before
    # nothing repeated: exactly n_trials finished trials, the new ones numbered after
    assert len(finished) == target
    assert min(n for n in after if n not in before) > max(before)
    # the resumed fit saw the whole study, including the trials from before the crash
    assert len(clf.study_.trials) >= target
    best_before = max((v[1] for v in before.values() if v[0] == optuna.trial.TrialState.COMPLETE),
                      default=float("-inf"))
    assert clf.best_score_ >= best_before
    # the trial running at the kill: failed, with why, and run again with its parameters.
    # Its process ran on this machine and is gone: known at once, and named. (Killed
    # before the trial named it, just after it was asked for: its heartbeat went stale.)
    reasons = dict(zip(clf.leaderboard_.trial, clf.leaderboard_.reason))
    by_number = {t.number: t for t in clf.study_.trials}
    silent = (r"no heartbeat for \d+s" if uses_lepton_heartbeat(make_storage(storage_url))
              else r"no heartbeat for over 5s")  # Optuna's RDB heartbeat
    why = (rf"( \({re.escape(socket.gethostname())}:{proc.pid}\))? stopped mid-trial "
           rf"\(killed or crashed\)(?(1)|: {silent})")
    for number, params in killed.items():
        assert by_number[number].state == optuna.trial.TrialState.FAIL
        match = re.fullmatch(rf"its process{why}; retried as trial (?P<retry>\d+)",
                             reasons[number])
        assert match, reasons[number]
        retry = by_number[int(match.group("retry"))]
        # (a kill while the trial drew its parameters leaves the rest to the retry)
        assert params.items() <= retry.params.items() and retry.state in FINISHED
    still = _trials(make_storage(storage_url), [RUNNING])
    assert not still, [(t.number, t.system_attrs, t.user_attrs.get("fail_reason")) for t in still]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_running_trial_that_never_beat_is_stale_after_the_grace_period(database, tmp_path,
                                                                         request):
    """A process killed between creating a trial and its first heartbeat: Optuna never
    fails that trial (it has no heartbeat), so it stayed RUNNING for good."""
    from datetime import datetime, timedelta

    from lepton.search._search import HEARTBEAT_GRACE_S, make_storage

    url = (f"sqlite:///{tmp_path / 'study.db'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    storage = make_storage(url)
    study = optuna.create_study(storage=storage, study_name=f"never-beat-{tmp_path.name}")
    x = optuna.distributions.FloatDistribution(0, 2)
    long_ago = datetime.now() - timedelta(seconds=HEARTBEAT_GRACE_S + 5)
    numbers = {}
    for name, started, beats in [("never beat", long_ago, False), ("just started",
                                 datetime.now(), False), ("beating", long_ago, True)]:
        trial = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                          params={"x": 1.0}, distributions={"x": x})
        trial.datetime_start = started
        study.add_trial(trial)
        numbers[name] = study.trials[-1].number
        if beats:
            storage.record_heartbeat(study.trials[-1]._trial_id)
    with warnings.catch_warnings():  # "fail_stale_trials is experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # what each trial does as it starts
    states = {name: study.trials[n].state for name, n in numbers.items()}
    assert states == {"never beat": optuna.trial.TrialState.FAIL,
                      "just started": optuna.trial.TrialState.RUNNING,
                      "beating": optuna.trial.TrialState.RUNNING}
    retries = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(retries) == 1 and retries[0].params == {"x": 1.0}  # run again, once


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_the_resume_line_counts_the_trials_a_stopped_process_left_running(kind, tmp_path,
                                                                          capsys):
    """The verbose resume line ('0 failed ...; 0 queued, 0 of them to run again') was
    printed before the trials a killed process left RUNNING were found stale, failed and
    queued again (at the first trial's start): it left them out. They are counted now,
    and trials still running (another process's) are said."""
    from datetime import datetime, timedelta

    from lepton.search._search import HEARTBEAT_GRACE_S, make_storage

    from .conftest import TINY_SPACE

    url = str(tmp_path / "study.log") if kind == "journal" else f"sqlite:///{tmp_path}/s.db"
    X, y = load_iris(return_X_y=True)
    fit = dict(time_budget=60, storage=url, study_name="left", search_space=TINY_SPACE,
               cv=None, random_state=0)
    LeptonClassifier(n_trials=1, **fit).fit(X, y)
    study = optuna.load_study(study_name="left", storage=make_storage(url))
    done = study.trials[0]
    for started in (datetime.now() - timedelta(seconds=HEARTBEAT_GRACE_S + 60),  # killed
                    datetime.now()):  # another process's, running now
        trial = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                          params=done.params, distributions=done.distributions)
        trial.datetime_start = started
        study.add_trial(trial)
    capsys.readouterr()
    LeptonClassifier(n_trials=2, verbose=1, **fit).fit(X, y)
    line = next(line for line in capsys.readouterr().err.splitlines() if "resuming" in line)
    assert line.startswith(f"lepton search: resuming study 'left' ({url}): "), line
    assert re.search(r" 1 failed, best accuracy=[\d.]+; \d+ queued, 1 of them to run again; "
                     r"1 running in other processes \(one whose process stopped on another "
                     rf"machine runs again once it has gone {HEARTBEAT_GRACE_S}s without a "
                     r"heartbeat\)$", line), line


def test_a_resumed_search_does_not_rerun_earlier_configurations(tmp_path, monkeypatch):
    """The start-up trials are random samples; a sampler seeded again from the study's seed
    proposed the first session's random configurations once more (trials 6 and 7 repeated
    4 and 5 exactly). The budget is told how many trials are left to run (n_trials counts
    the study's finished trials), which sizes each trial's share of the search window."""
    import json

    from lepton.search.budget import Budget

    from .conftest import TINY_SPACE

    planned = []
    real = Budget.open_search_window

    def spy(self, trials=None):
        planned.append(trials)
        return real(self, trials)

    monkeypatch.setattr(Budget, "open_search_window", spy)
    X, y = load_iris(return_X_y=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    for n_trials in (6, 9):
        LeptonClassifier(time_budget=120, n_trials=n_trials, storage=url, study_name="again",
                         search_space=TINY_SPACE, cv=None, random_state=0).fit(X, y)
    trials = optuna.load_study(study_name="again", storage=url).get_trials(deepcopy=False)
    assert len(trials) == 9
    assert planned == [6, 3]
    params = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(params)) == 9, [t.number for t in trials if params.count(params[t.number]) > 1]


def test_a_roc_auc_study_whose_trials_reported_raw_losses_resumes_without_pruning(
        tmp_path, monkeypatch):
    """Before stop 22 roc_auc trials reported their validation loss to the pruner as it
    was; trials now report it negated. Mixing the two in one study would have the pruner
    rank a new trial's negative reports below every old one and stop it at its first
    rung, so such a study goes on without pruning; a new one prunes."""
    import lepton.search.estimators as est
    from lepton.search._search import PruningReporter

    from .conftest import TINY_SPACE

    X, y = load_iris(return_X_y=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"

    def fit(study_name, n_trials):
        LeptonClassifier(time_budget=120, n_trials=n_trials, storage=url, study_name=study_name,
                         metric="roc_auc", search_space=TINY_SPACE, cv=None,
                         random_state=0).fit(X, y)
        return optuna.load_study(study_name=study_name, storage=url)

    with monkeypatch.context() as m:  # the code before stop 22
        m.setattr(PruningReporter, "orientation", staticmethod(lambda metric: 1.0))
        m.setattr(est, "ORIENTED_ATTR", "lepton.not_yet")
        m.setattr(optuna.Study, "set_user_attr", _skip_attr("lepton.not_yet"))
        old = fit("older", 3)
    assert "lepton.oriented_reports" not in old.user_attrs
    reports = [v for t in old.trials for v in t.intermediate_values.values()]
    assert reports and all(v > 0 for v in reports)  # raw losses
    resumed = fit("older", 6)
    new = [t for t in resumed.trials if t.number >= 3]
    assert len(new) == 3 and not any(t.intermediate_values for t in new)
    assert "lepton.oriented_reports" not in resumed.user_attrs

    fresh = fit("newer", 3)
    assert fresh.user_attrs["lepton.oriented_reports"] is True
    reports = [v for t in fresh.trials for v in t.intermediate_values.values()]
    assert reports and all(v < 0 for v in reports)  # negated losses


def test_a_regression_study_whose_trials_reported_the_fits_units_resumes_without_pruning(
        tmp_path, monkeypatch):
    """Before stop 41 a regression's trials reported losses in the units of every row's
    targets; each fold's own are used now. Mixing the two in one study would have the
    pruner rank the new trials against the old ones in other units (on a trending
    target's forward folds, new losses ten times the old ones': review helper-71), so such
    a study goes on without pruning; a new one records its units and prunes."""
    from sklearn.datasets import load_diabetes

    import lepton.search.estimators as est
    from lepton import LeptonRegressor

    from .conftest import TINY_SPACE

    X, y = load_diabetes(return_X_y=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"

    def fit(study_name, n_trials, metric="rmse"):
        LeptonRegressor(time_budget=120, n_trials=n_trials, storage=url, study_name=study_name,
                        metric=metric, search_space=TINY_SPACE, cv=None,
                        random_state=0).fit(X, y)
        return optuna.load_study(study_name=study_name, storage=url)

    with monkeypatch.context() as m:  # a study of the code before stop 41
        m.setattr(est, "FOLD_UNITS_ATTR", "lepton.not_yet")
        m.setattr(optuna.Study, "set_user_attr", _skip_attr("lepton.not_yet"))
        old = fit("older", 3)
        fit("older_r2", 3, "r2")
    assert "lepton.fold_unit_reports" not in old.user_attrs
    assert any(t.intermediate_values for t in old.trials)
    resumed = fit("older", 6)
    new = [t for t in resumed.trials if t.number >= 3]
    assert len(new) == 3 and not any(t.intermediate_values for t in new)
    assert "lepton.fold_unit_reports" not in resumed.user_attrs

    # R^2 has no units: its old study prunes on
    ran = [t for t in fit("older_r2", 6, "r2").trials if t.state.is_finished()]
    assert len(ran) == 6 and all(t.intermediate_values for t in ran)
    fresh = fit("newer", 3)
    assert fresh.user_attrs["lepton.fold_unit_reports"] is True
    ran = [t for t in fresh.trials if t.state.is_finished()]
    assert len(ran) == 3 and all(t.intermediate_values for t in ran)


def _skip_attr(name):
    original = optuna.Study.set_user_attr

    def set_user_attr(self, key, value):
        if key != name:
            original(self, key, value)
    return set_user_attr


def test_a_fit_that_fails_before_its_first_trial_leaves_no_study_behind(tmp_path, tiny_space):
    """The study is created before the data are split (its seed decides the splits); a
    fit that then fails on a bad argument removes it again, so the next fit creates it
    anew instead of waiting for another process to start it."""
    X, y = load_iris(return_X_y=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    bad = {"base": "mlp", "parameters": {"width": {"type": "int", "low": 64, "high": 8}}}
    with pytest.raises(ValueError, match="width"):
        LeptonClassifier(time_budget=30, storage=url, study_name="typo", search_space=bad,
                         random_state=0).fit(X, y)
    assert "typo" not in optuna.get_all_study_names(url)
    clf = LeptonClassifier(time_budget=30, n_trials=2, storage=url, study_name="typo",
                           search_space=tiny_space, cv=None, random_state=0).fit(X, y)
    study = optuna.load_study(study_name="typo", storage=url)
    assert study.user_attrs["lepton.seed"] == clf.random_seed_
    assert study.user_attrs["lepton.portfolio_enqueued"] is True


def test_resuming_with_an_edited_space_names_the_parameters_that_differ(tmp_path):
    """The refusal gave two hashes ('53efbd365c5c05bf', now 'f2fd9f7561ca14ef'); the study
    now records the space it searched, and the refusal names what changed."""
    from lepton.search import load_search_space
    from lepton.search.estimators import _check_resumable, _space_fingerprint

    url = f"sqlite:///{tmp_path / 'study.db'}"
    v1 = load_search_space({"parameters": {"n_layers": {"type": "int", "low": 1, "high": 2},
                                           "width": {"type": "int", "low": 16, "high": 64},
                                           "dropout": 0.1}})
    v2 = load_search_space({"parameters": {"n_layers": {"type": "int", "low": 1, "high": 2},
                                           "width": {"type": "int", "low": 16, "high": 32},
                                           "epochs": 5}})
    check = {"task": "classification", "metric": "accuracy", "seed": 0,
             "validation": "holdout 0.2"}
    study = optuna.create_study(storage=url, study_name="edited")
    _check_resumable(study, "edited", space=v1, **check)
    study = optuna.load_study(study_name="edited", storage=url)  # as stored (JSON)
    assert study.user_attrs["lepton.space_spec"]["parameters"]["width"] == {
        "type": "int", "low": 16, "high": 64}
    _check_resumable(study, "edited", space=v1, **check)  # the same space resumes
    with pytest.raises(ValueError, match=re.escape(
            "study_name='edited' already exists in this storage with a different space: "
            "dropout {type: fixed, value: 0.1} -> (not in the space: its default); "
            "epochs (not in the space: its default) -> {type: fixed, value: 5}; "
            "width {type: int, low: 16, high: 64} -> {type: int, low: 16, high: 32}; "
            "resuming would mix incompatible trials.")):
        _check_resumable(study, "edited", space=v2, **check)
    cnn = load_search_space({"family": "cnn", "parameters": {"n_conv_blocks": 1}})
    with pytest.raises(ValueError, match=r"different space: family 'mlp' -> 'cnn'; "
                                         r"dropout .*; n_conv_blocks \(not in the space: its "
                                         r"default\) -> \{type: fixed, value: 1\}; n_layers"):
        _check_resumable(study, "edited", space=cnn, **check)

    # a study from before the space was recorded: its fingerprint is checked as it was,
    # and the refusal gives the fingerprints
    old = optuna.create_study(storage=url, study_name="older")
    for key, value in {"lepton.task": "classification", "lepton.metric": "accuracy",
                       "lepton.space": _space_fingerprint(v1), "lepton.validation":
                       "holdout 0.2", "lepton.seed": 0}.items():
        old.set_user_attr(key, value)
    with pytest.raises(ValueError, match=rf"older' already exists in this storage with a "
                                         rf"different space \('{_space_fingerprint(v1)}', now "
                                         rf"'{_space_fingerprint(v2)}'\); resuming would mix"):
        _check_resumable(old, "older", space=v2, **check)
    _check_resumable(old, "older", space=v1, **check)  # resumed; it records the space now
    assert optuna.load_study(study_name="older", storage=url).user_attrs[
        "lepton.space_spec"]["parameters"]["dropout"] == {"type": "fixed", "value": 0.1}


def test_a_study_resumed_on_other_data_is_refused_for_the_data_not_the_space(tmp_path):
    """`lepton worker --dataset bc.csv` joining a run on wine.csv was refused for 'a
    different space: weight_decay ...' (the data-aware priors differ with the data) and
    told to use a new study_name: the data is checked first now, and a worker is told to
    give the run's own rows."""
    from lepton.search import load_search_space
    from lepton.search.estimators import _check_resumable

    url = f"sqlite:///{tmp_path / 'study.db'}"
    run_space = load_search_space({"parameters": {"weight_decay": 1e-4}})
    other_space = load_search_space({"parameters": {"weight_decay": 1e-3}})  # other priors
    check = {"task": "classification", "metric": "accuracy", "seed": 0,
             "validation": "holdout 0.2"}
    study = optuna.create_study(storage=url, study_name="dm")
    _check_resumable(study, "dm", space=run_space, data="178x13 aaaaaaaaaaaa", **check)
    study = optuna.load_study(study_name="dm", storage=url)
    said = ("study_name='dm' already exists in this storage with a different dataset "
            "('178x13 aaaaaaaaaaaa', now '569x30 bbbbbbbbbbbb'); ")
    with pytest.raises(ValueError, match=re.escape(
            said + "resuming would mix incompatible trials. Use a new study_name, or the "
            "original settings to resume.")):
        _check_resumable(study, "dm", space=other_space, data="569x30 bbbbbbbbbbbb", **check)
    with pytest.raises(ValueError, match=re.escape(
            said + "this worker cannot join its search (its trials would not compare with "
            "the run's). Give the worker the run's own rows: --dataset PATH, this machine's "
            "copy of the run's file (/data/wine.csv).")) as caught:
        _check_resumable(study, "dm", space=other_space, data="569x30 bbbbbbbbbbbb",
                         joining="/data/wine.csv", **check)
    assert "new study_name" not in str(caught.value)


def test_upgrades_that_changed_a_study_s_space_or_left_its_data_unrecorded_say_so(tmp_path):
    """Review helper-55, with studies of older commits: a cnn study from before stop 37 was
    refused for input_scaling standard -> global and told to use 'the original settings',
    which the user never changed (the built-in space did); a study from before the data
    was recorded resumed on other data (30% of its labels flipped) without a word, kept
    its old best score and recorded the new data as its own."""
    from lepton.search import load_search_space
    from lepton.search.estimators import _check_resumable, _space_fingerprint, _space_record

    url = f"sqlite:///{tmp_path / 'study.db'}"
    check = {"task": "classification", "metric": "accuracy", "seed": 0,
             "validation": "holdout 0.2", "data": "300x64 aaaaaaaaaaaa"}
    old = load_search_space({"base": "cnn", "parameters": {"input_scaling": "standard"}})
    study = optuna.create_study(storage=url, study_name="cnn")
    _check_resumable(study, "cnn", space=old, **check)  # as the older built-in space was
    study = optuna.load_study(study_name="cnn", storage=url)
    assert study.user_attrs["lepton.space_spec"] == _space_record(old)
    with pytest.raises(ValueError, match=re.escape(
            "different space: input_scaling {type: fixed, value: standard} -> {type: fixed, "
            "value: global}; the built-in 'cnn' space fixes input_scaling otherwise since this "
            "study was created (a Lepton upgrade). Resume it with the settings it recorded: "
            "search_space={'base': 'cnn', 'parameters': {'input_scaling': 'standard'}}")):
        _check_resumable(study, "cnn", space=load_search_space("cnn"), **check)
    _check_resumable(study, "cnn", space=old, **check)  # resumed as said

    # a study without a recorded dataset, and trials: resumed, and said
    space = load_search_space({"parameters": {"weight_decay": 1e-4}})
    older = optuna.create_study(storage=url, study_name="older")
    older.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE,
                                              value=0.98))
    for key, value in {"lepton.task": "classification", "lepton.metric": "accuracy",
                       "lepton.space": _space_fingerprint(space),
                       "lepton.validation": "holdout 0.2", "lepton.seed": 0}.items():
        older.set_user_attr(key, value)
    with pytest.warns(UserWarning, match=re.escape(
            "study_name='older' was created before Lepton recorded a study's data: it is "
            "resumed on this data (300x64 aaaaaaaaaaaa), recorded from now on. Its 1 earlier "
            "trial(s) compare with this fit's only if")):
        _check_resumable(older, "older", space=space, **check)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_resumable(optuna.load_study(study_name="older", storage=url), "older",
                         space=space, **check)  # recorded now: nothing more to say


def test_a_time_ordered_study_from_before_whole_time_folds_resumes_with_its_own(tmp_path,
                                                                              tiny_space):
    """Folds moved to whole times (stop 38) are given as pairs, which a study records as
    '5 given splits ...': a study of the same run from before had recorded 'cv
    TimeSeriesSplit(...)' and was refused (review helper-59). It keeps its folds by
    position; a new study takes the moved ones."""
    from lepton import LeptonRegressor
    from lepton.steps import time_cv

    times = np.repeat(np.arange(20), 7)  # 140 rows, 7 a time
    X = np.random.default_rng(0).normal(size=(140, 3))
    y = X[:, 0] + 0.1 * times
    folds = time_cv(140, times=times)
    assert folds.positional.n_splits == 5 and [v[0] for _, v in folds] != [
        v[0] for _, v in folds.positional.split(X)]
    url = f"sqlite:///{tmp_path / 'study.db'}"
    common = dict(time_budget=20, storage=url, search_space=tiny_space, random_state=0)
    LeptonRegressor(cv=folds.positional, study_name="before", n_trials=1, **common).fit(X, y)
    resumed = LeptonRegressor(cv=folds, study_name="before", n_trials=2, **common).fit(X, y)
    study = optuna.load_study(study_name="before", storage=url)
    assert study.user_attrs["lepton.validation"].startswith("cv TimeSeriesSplit(")
    assert sum(t.state.is_finished() for t in study.trials) == 2  # resumed, not refused
    assert resumed._cv_used is folds.positional
    LeptonRegressor(cv=folds, study_name="after", n_trials=1, **common).fit(X, y)
    assert optuna.load_study(study_name="after", storage=url).user_attrs[
        "lepton.validation"].startswith("5 given splits ")


def test_a_fit_resuming_an_edited_space_names_what_changed(tmp_path, tiny_space):
    X, y = load_iris(return_X_y=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    LeptonClassifier(time_budget=30, n_trials=1, storage=url, study_name="rev",
                     search_space=tiny_space, cv=None, random_state=0).fit(X, y)
    before = len(optuna.load_study(study_name="rev", storage=url).trials)
    edited = {**tiny_space, "parameters": {**tiny_space["parameters"],
                                           "width": {"type": "int", "low": 8, "high": 16}}}
    with pytest.raises(ValueError, match=r"study_name='rev' already exists in this storage with "
                                         r"a different space: width \{type: int, low: 8, high: "
                                         r"32, log: true, per_layer: true\} -> \{type: int, "
                                         r"low: 8, high: 16\}; resuming would mix"):
        LeptonClassifier(time_budget=30, n_trials=2, storage=url, study_name="rev",
                         search_space=edited, cv=None, random_state=0).fit(X, y)
    assert len(optuna.load_study(study_name="rev", storage=url).trials) == before


# The search's first trial hangs as it draws its configuration (sampling can take a while,
# and a process killed there left a trial that named no process): the kill lands there
KILLED_SAMPLING_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from sklearn.datasets import load_iris
    from lepton import LeptonClassifier
    from lepton.search.spaces import SearchSpace

    def sample(self, trial, **kwargs):
        open(sys.argv[3], "w").close()
        time.sleep(600)

    SearchSpace.sample = sample
    X, y = load_iris(return_X_y=True)
    LeptonClassifier(time_budget=600, n_trials=5, storage=sys.argv[1], study_name="resume",
                     search_space=json.loads(sys.argv[2]), cv=None, random_state=0).fit(X, y)
""")


@pytest.mark.parametrize("kind", ["sqlite", "journal_file"])
def test_a_search_started_again_at_once_reruns_the_trial_of_its_killed_process(
        kind, tmp_path, capsys):
    """A search SIGKILLed mid-trial and started again at once (the usual reaction to a
    crash): its trial stayed RUNNING for the heartbeat's grace period (30 s), the new
    search said it was 'running in other processes' and never ran it again (often a
    warm-start entry), and its leaderboard showed it running. The trial names its process
    now from its start, and a process of this machine that is gone is known at once: the
    trial fails, with its process named, and is queued to run again."""
    import json
    import socket

    from lepton.search._search import make_storage

    from .conftest import TINY_SPACE

    url = (f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite"
           else str(tmp_path / "study.log"))
    marker = tmp_path / "sampling"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAMPLING_SCRIPT, url,
                             json.dumps(TINY_SPACE), str(marker)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the search subprocess started no trial"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    [killed] = _trials(make_storage(url), [RUNNING])

    capsys.readouterr()
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=60, n_trials=2, storage=url, study_name="resume",
                           search_space=TINY_SPACE, cv=None, random_state=0,
                           verbose=1).fit(X, y)
    line = next(line for line in capsys.readouterr().err.splitlines() if "resuming" in line)
    assert re.search(r": 0 complete, 0 pruned, 1 failed; \d+ queued, 1 of them to run "
                     r"again$", line), line  # not 'running in other processes'
    assert "running" not in set(clf.leaderboard_.state)
    reasons = dict(zip(clf.leaderboard_.trial, clf.leaderboard_.reason))
    label = re.escape(f"{socket.gethostname()}:{proc.pid}")
    assert re.fullmatch(rf"its process \({label}\) stopped mid-trial \(killed or crashed\); "
                        r"(retried|queued to run again) as trial \d+",
                        reasons[killed.number]), reasons[killed.number]
    assert not _trials(make_storage(url), [RUNNING])
    # the retry is the configuration again, not its failure: it carries no fail reason
    [retry] = [t for t in clf.study_.trials
               if t.system_attrs.get("retry_history") == [killed.number]]
    assert retry.params == killed.params and "fail_reason" not in retry.user_attrs


def _running_trial(study: optuna.Study, pid: int | None = None, number_offset: int = 0,
                   ticks: str | None = None, machine: str | None = None,
                   host: str | None = None) -> optuna.trial.FrozenTrial:
    """A RUNNING trial of ``study`` whose process record names process ``pid`` (this one
    by default) as recorded by that process, or with the start time (``ticks``), pid
    namespace and boot (``machine``) or ``host`` given; for the trial numbered
    ``number_offset`` after it (a copied record)."""
    import socket

    from lepton.search._search import PROCESS_ID_ATTR
    from lepton.tracking._store import process_instance

    pid = os.getpid() if pid is None else pid
    own_ticks, _, own_machine = process_instance().partition("/")
    recorded = process_instance(pid).partition("/")[0]
    instance = f"{ticks or recorded or '1'}/{machine or own_machine}"
    x = optuna.distributions.FloatDistribution(0, 1)
    number = len(study.trials)
    record = {"trial": number + number_offset, "instance": instance,
              "label": f"{host or socket.gethostname()}:{pid}"}
    study.add_trial(optuna.trial.create_trial(
        state=RUNNING, params={"x": 0.5}, distributions={"x": x},
        user_attrs={PROCESS_ID_ATTR: record}))
    return study.trials[number]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_trial_is_known_stale_at_once_only_where_its_process_is_surely_gone():
    """What :func:`process_gone` takes for a stopped process, and what it leaves to the
    heartbeat's grace period: a live process, one of another machine (host, boot) or
    container (pid namespace), and a record a retry copied from the trial it runs again."""
    import socket

    from lepton.search._search import process_gone
    from lepton.tracking._store import process_instance

    study = optuna.create_study()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process
    dead_label = f"{socket.gethostname()}:{dead.pid}"
    try:
        live_ticks = process_instance(live.pid).partition("/")[0]
        boot = process_instance().partition("@")[2]
        assert process_gone(_running_trial(study)) is None  # this process
        assert process_gone(_running_trial(study, pid=live.pid)) is None
        assert process_gone(_running_trial(study, pid=dead.pid)) == dead_label
        # the pid taken by a process started later: the trial's process is gone
        assert process_gone(_running_trial(study, pid=live.pid,
                                           ticks=str(int(live_ticks) - 1))) \
            == f"{socket.gethostname()}:{live.pid}"
        for elsewhere in ({"machine": "1@another-boot"}, {"machine": f"1@{boot}"},
                          {"host": "another-host"}):
            assert process_gone(_running_trial(study, pid=dead.pid, **elsewhere)) is None
        assert process_gone(_running_trial(study, number_offset=-1, pid=dead.pid)) is None
        live.kill()  # SIGKILL, not reaped yet: a zombie is gone too
        deadline = time.monotonic() + 10
        while process_instance(live.pid):  # '' once it is a zombie
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert process_gone(_running_trial(study, pid=live.pid, ticks=live_ticks)) \
            == f"{socket.gethostname()}:{live.pid}"
    finally:
        live.kill()
        live.wait()


JOURNAL_LOCK_SCRIPT = textwrap.dedent("""
    import sys, time
    from lepton.search._search import make_storage
    make_storage(sys.argv[1])._backend._lock.acquire()  # as while appending to the journal
    open(sys.argv[2], "w").close()
    time.sleep(600)
""")


def _skip_unless_local(folder) -> None:
    """Journals in ``folder`` are flocked only on a file system known to be local."""
    import lepton.search._search as search_mod

    with open("/proc/self/mountinfo") as f:
        here = search_mod._mount_type(os.path.realpath(folder), f.read())
    if here not in search_mod._LOCAL_FS:
        pytest.skip(f"the test's folder is on {here!r}, not a file system known to be local: "
                    "its journals keep Optuna's symlink lock")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="flock on a local file system, read from /proc")
def test_a_journal_writer_killed_holding_its_lock_does_not_hold_up_the_next(tmp_path):
    """A process SIGKILLed while appending to a journal file left Optuna's symlink lock
    behind, and every process after waited its 30 s grace period inside its fit's time
    budget. The lock is a flock now, which the kernel releases when its holder dies; while
    the holder lives, the next writer waits."""
    import threading

    _skip_unless_local(tmp_path)

    from lepton.search._search import make_storage

    journal, marker = str(tmp_path / "study.log"), tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", JOURNAL_LOCK_SCRIPT, journal, str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        lock = make_storage(journal)._backend._lock
        taken = threading.Event()

        def take() -> None:
            lock.acquire()
            taken.set()
            lock.release()

        threading.Thread(target=take, daemon=True).start()
        assert not taken.wait(0.5)  # the holder lives: the next writer waits
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert taken.wait(10)  # the kernel released it (Optuna's symlink lock: after 30 s)


def test_a_lock_symlink_an_older_lepton_left_beside_a_journal_is_ignored(tmp_path):
    """Optuna's symlink lock (``study.log.lock``), left by a writer killed mid-append of an
    older Lepton or plain Optuna: a search on that journal stalled 30 s on it, then refused
    ('time_budget=20s is too small: preparing the data took 31.06s'). Lepton's lock is
    another file: the symlink is ignored, and kept (a live old writer may hold it)."""
    from .conftest import TINY_SPACE

    journal = tmp_path / "study.log"
    journal.touch()
    os.symlink(journal, tmp_path / "study.log.lock")
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=20, n_trials=1, storage=str(journal), study_name="old",
                           search_space=TINY_SPACE, cv=None, random_state=0).fit(X, y)
    assert clf.n_trials_ == 1
    assert os.path.islink(tmp_path / "study.log.lock")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="flock on a local file system, read from /proc")
def test_journal_locks_fall_back_on_optunas_where_flock_is_missing_or_refused(tmp_path,
                                                                              monkeypatch):
    """No fcntl (Windows): Optuna's own lock. A file system that refuses flock (NFS mounted
    nolock): Optuna's symlink lock, after a warning. A journal storage still pickles."""
    import errno
    import fcntl
    import pickle

    import lepton.search._search as search_mod
    from lepton.search._search import JournalFileFlock, make_storage

    storage = make_storage(str(tmp_path / "a.log"))
    assert isinstance(storage._backend._lock, JournalFileFlock)
    pickle.loads(pickle.dumps(storage)).create_new_study([], "pickled")
    assert optuna.get_all_study_names(storage) == ["pickled"]

    def refused(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refused)
    storage.create_new_study([], "nolock")  # appended under the symlink lock
    symlink_lock = optuna.storages.journal.JournalFileSymlinkLock
    assert isinstance(storage._backend._lock._fallback, symlink_lock)
    assert not os.path.lexists(tmp_path / "a.log.lock")  # released
    monkeypatch.setattr(search_mod, "fcntl", None)
    assert isinstance(make_storage(str(tmp_path / "b.log"))._backend._lock, symlink_lock)


# /proc/self/mountinfo (proc(5)): the type follows " - "; a space in a mount point is \040
MOUNTINFO = textwrap.dedent(r"""
    22 27 0:21 / /proc rw,relatime - proc proc rw
    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
    40 27 0:40 / /share rw,relatime shared:5 - nfs4 srv:/export rw,vers=4.2,local_lock=flock
    41 40 0:41 / /share/scratch rw,relatime - tmpfs tmpfs rw
    42 27 0:42 / /mnt/my\040disk rw,nosuid - fuse.sshfs me@host:/ rw,user_id=0
    43 27 0:43 / /shares rw,relatime - xfs /dev/sdb rw
""")


def test_the_mount_of_a_journal_is_the_longest_mount_point_above_it():
    from lepton.search._search import _mount_type

    assert _mount_type("/share/study.log", MOUNTINFO) == "nfs4"
    assert _mount_type("/share", MOUNTINFO) == "nfs4"
    assert _mount_type("/share/scratch/study.log", MOUNTINFO) == "tmpfs"
    assert _mount_type("/shares/study.log", MOUNTINFO) == "xfs"  # not inside /share
    assert _mount_type("/mnt/my disk/study.log", MOUNTINFO) == "fuse.sshfs"
    assert _mount_type("/home/me/study.log", MOUNTINFO) == "ext4"
    over = MOUNTINFO + "44 27 0:44 / /share rw - ext4 /dev/sdc rw\n"  # hides the NFS mount
    assert _mount_type("/share/study.log", over) == "ext4"
    assert _mount_type("/home/me/study.log", "") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_journals_are_flocked_only_on_local_file_systems(tmp_path, monkeypatch):
    """On NFS mounted nolock or local_lock=flock (and FUSE file systems that keep flocks
    locally) flock is not refused but excludes only the processes of one client: two
    machines appending to a shared journal both held it. Such journals, and those on any
    file system not known to be local, keep Optuna's symlink lock."""
    import lepton.search._search as search_mod
    from lepton.search._search import JournalFileFlock, make_storage

    _skip_unless_local(tmp_path)
    assert isinstance(make_storage(str(tmp_path / "local.log"))._backend._lock, JournalFileFlock)
    symlink_lock = optuna.storages.journal.JournalFileSymlinkLock
    for kind in ("nfs4", "nfs", "fuse.sshfs", "cifs", "9p", None):
        monkeypatch.setattr(search_mod, "_mount_type", lambda path, text, kind=kind: kind)
        storage = make_storage(str(tmp_path / "shared.log"))
        assert isinstance(storage._backend._lock, symlink_lock), kind
    storage.create_new_study([], "shared")
    assert optuna.get_all_study_names(storage) == ["shared"]


def test_lepton_imports_where_optuna_moved_its_journal_lock_base(tmp_path):
    """``BaseJournalFileLock`` lives in a private module of Optuna's: were it moved,
    ``import lepton.search`` must still work, with Optuna's own journal lock."""
    code = textwrap.dedent("""
        import sys
        import optuna.storages.journal._file as private
        del private.BaseJournalFileLock
        from lepton.search._search import _journal_lock, make_storage
        assert _journal_lock(sys.argv[1]) is None
        storage = make_storage(sys.argv[1])
        storage.create_new_study([], "moved")
        print(type(storage._backend._lock).__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "study.log")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "JournalFileSymlinkLock"


def test_a_model_searched_on_a_database_loads_where_the_database_is_gone(tmp_path):
    """A model pickled with its study in PostgreSQL reconnected when loaded: it loaded
    nowhere the database could not be reached (a serving machine, the core install
    without the driver), and the model file held the database's password (review
    helper-61). It keeps a copy of the study in memory now, the password hidden."""
    import pickle
    from urllib.parse import urlsplit, urlunsplit

    import joblib
    from conftest import postgres_database

    from lepton import steps

    from .conftest import TINY_SPACE

    X, y = load_iris(return_X_y=True)
    with postgres_database() as url:
        parts = urlsplit(url)  # trust authentication: the password is not checked
        with_password = urlunsplit(parts._replace(
            netloc=f"{parts.username}:s3cret-pw@{parts.hostname}:{parts.port}"))
        clf = LeptonClassifier(time_budget=60, n_trials=2, search_space=TINY_SPACE, cv=None,
                               random_state=0, storage=with_password,
                               study_name="saved").fit(X, y)
        path = tmp_path / "model.joblib"
        steps.save(clf, str(path))  # as `lepton run --save` writes it
        trials = [(t.number, t.state, t.value, t.params) for t in clf.study_.trials]
        attrs = clf.study_.user_attrs
        # a copy for another process (joblib, Dask) joins the same study: the password stays
        copied = pickle.loads(pickle.dumps(clf))
        assert copied.get_params()["storage"] == with_password
    # the database is dropped
    assert b"s3cret-pw" not in path.read_bytes()
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert [(t.number, t.state, t.value, t.params) for t in loaded.study_.trials] == trials
    assert loaded.study_.user_attrs == attrs and loaded.study_.study_name == "saved"
    assert isinstance(loaded.study_._storage, optuna.storages.InMemoryStorage)
    assert loaded.get_params()["storage"] == with_password.replace("s3cret-pw", "***")
    # the fitted estimator itself still holds its study in the database's storage, and its
    # password
    assert not isinstance(clf.study_._storage, optuna.storages.InMemoryStorage)
    assert clf.get_params()["storage"] == with_password


def test_a_model_searched_on_a_sqlite_file_loads_without_it_and_makes_none(tmp_path, capfd):
    import pickle

    from lepton.search._search import make_storage

    from .conftest import TINY_SPACE

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "study.db"
    storage = make_storage(f"sqlite:///{path}")  # an Optuna storage object, as given
    clf = LeptonClassifier(time_budget=60, n_trials=2, search_space=TINY_SPACE, cv=None,
                           random_state=0, storage=storage, study_name="saved").fit(X, y)
    capfd.readouterr()
    blob = pickle.dumps(clf)
    assert capfd.readouterr().err == ""  # saving says nothing (Optuna's study-created log)
    path.unlink()
    loaded = pickle.loads(blob)
    assert not path.exists()  # loading opened (and so created) the file before
    # a fitted model's copy keeps its storage object's URL (the object reconnected when
    # loaded), password and all, for another process to join the study with
    assert loaded.get_params()["storage"] == f"sqlite:///{path}"
    assert [(t.number, t.state, t.value) for t in loaded.study_.trials] == [
        (t.number, t.state, t.value) for t in clf.study_.trials]
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert sum(t.state in done for t in loaded.study_.trials) == 2
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    from lepton.search.estimators import saved_form  # as the files Lepton writes keep it
    assert saved_form(clf).get_params()["storage"] == f"sqlite:///{path}"
    assert saved_form(clf).study_ is clf.study_ and clf.storage is storage


def test_fitting_a_study_that_already_has_n_trials_runs_no_new_trial(tmp_path):
    """The trial callback hid a cap counted without the study's finished trials until a
    study held all of them (mutation review helper-82: 2 more trials ran)."""
    from .conftest import TINY_SPACE

    X, y = load_iris(return_X_y=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    for _ in range(2):
        LeptonClassifier(time_budget=60, n_trials=2, storage=url, study_name="done",
                         search_space=TINY_SPACE, cv=None, random_state=0).fit(X, y)
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)
    trials = optuna.load_study(study_name="done", storage=url).get_trials(
        deepcopy=False, states=done)
    assert len(trials) == 2, [(t.number, t.state.name) for t in trials]
