"""Trials that diverge, run out of memory or raise are recorded and the search goes on."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch
from sklearn.datasets import load_iris

import lepton.search._search as search_mod
from lepton import LeptonClassifier
from lepton.search import SearchError

from .conftest import TINY_SPACE


def _space(**overrides):
    return {"base": TINY_SPACE["base"], "parameters": {**TINY_SPACE["parameters"], **overrides}}


def test_diverging_trials_are_failed_with_their_reason_and_the_search_goes_on():
    X, y = load_iris(return_X_y=True)
    # lr=10 with decoupled weight decay 0.5 multiplies every weight by -4 per step: the
    # network overflows to inf/NaN within a few epochs. lr=1e-2 trains fine.
    space = _space(learning_rate={"type": "categorical", "choices": [10.0, 1e-2]},
                   weight_decay=0.5,
                   gradient_clip={"type": "fixed", "value": None}, normalization="none",
                   lr_schedule="constant")
    clf = LeptonClassifier(time_budget=40, n_trials=8, search_space=space, cv=None,
                           random_state=0).fit(X, y)
    board = clf.leaderboard_
    failed = board[board.state == "fail"]
    assert len(failed) >= 1
    assert failed.reason.str.contains("diverged: loss became").all()
    assert (board.state == "complete").any()
    assert clf.best_params_["learning_rate"] == 1e-2
    assert clf.score(X, y) > 0.8


def test_every_trial_failing_raises_with_the_reasons():
    X, y = load_iris(return_X_y=True)
    space = _space(learning_rate=10.0, weight_decay=0.5, lr_schedule="constant",
                   gradient_clip={"type": "fixed", "value": None}, normalization="none")
    with pytest.raises(SearchError, match=r"every trial of the search failed: trial 0: diverged"):
        LeptonClassifier(time_budget=20, n_trials=3, search_space=space, cv=None,
                         random_state=0).fit(X, y)


def test_out_of_memory_and_exceptions_are_recorded(monkeypatch):
    X, y = load_iris(return_X_y=True)
    real_fit = search_mod.fit_model
    calls = {"n": 0}

    def flaky_fit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if calls["n"] == 2:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(search_mod, "fit_model", flaky_fit)
    clf = LeptonClassifier(time_budget=30, n_trials=4, search_space=TINY_SPACE, cv=None,
                           random_state=0).fit(X, y)
    reasons = dict(zip(clf.leaderboard_.trial, clf.leaderboard_.reason))
    assert reasons[0].startswith("out of memory: CUDA out of memory")
    assert reasons[1] == "RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    assert (clf.leaderboard_.state != "fail").sum() >= 2  # the search went on


def test_budget_too_small_for_one_trial_is_a_clear_error():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"time_budget=0\.001s is too small"):
        LeptonClassifier(time_budget=0.001, search_space=TINY_SPACE, cv=None).fit(X, y)


def test_a_budget_torchs_first_import_used_up_says_so(monkeypatch):
    """A process's first fit pays torch's one-off optimizer import (1.4-2.3 s): a 1.5 s
    budget was refused as 'preparing the data took 1.42s', blaming the data."""
    import time

    import lepton.search.estimators as estimators

    def slow_first_import():
        time.sleep(1.6)
        return 1.6

    monkeypatch.setattr(estimators, "warm_up_optimizers", slow_first_import)
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"time_budget=1\.5s is too small: preparing the data "
                                         r"took [0-9.]+s \(1\.60s of it torch loading its "
                                         r"optimizers' code, once per process: a later fit "
                                         r"does not pay it\)"):
        LeptonClassifier(time_budget=1.5, search_space=TINY_SPACE, cv=None).fit(X, y)


def test_a_budget_the_tracking_start_used_up_says_so(monkeypatch, tmp_path):
    """Starting the MLflow tracking (import, store, a new store's schema) took 3.5-9 s of
    a fit's budget, and a budget it used up was refused as the data's preparation."""
    import lepton.search.estimators as estimators

    monkeypatch.setattr(estimators, "warm_up_optimizers", lambda: 0.0)
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"time_budget=1\.5s is too small: preparing the data "
                                         r"took [0-9.]+s \([0-9.]+s of it starting the MLflow "
                                         r"tracking: importing mlflow and opening its store, "
                                         r"more on a new store\) and the final model needs a "
                                         r"reserve of [0-9.]+s \([0-9.]+s of it for the "
                                         r"tracker's end-of-search logging"):
        LeptonClassifier(time_budget=1.5, search_space=TINY_SPACE, cv=None,
                         tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                         experiment_name="tiny").fit(X, y)


def test_validation_rows_no_trial_could_be_scored_on_are_refused_before_the_search():
    """R^2 of one validation row, ROC AUC of rows of one class: every trial would fail
    after its training (the whole budget spent); the fit says so before the first."""
    from sklearn.model_selection import TimeSeriesSplit

    from lepton import LeptonRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    with pytest.raises(ValueError, match=r"metric='r2' cannot be scored on the validation rows "
                                         r"\(1 validation row, from validation_fraction=0\.02 "
                                         r"of 40 rows\): r2 is nan\. Hold out more rows"):
        LeptonRegressor(time_budget=30, cv=None, validation_fraction=0.02).fit(X, X[:, 0])
    y = np.r_[np.arange(30) % 2, np.zeros(10, dtype=int)]  # the last rows are all class 0
    with pytest.raises(ValueError, match=r"metric='roc_auc' cannot be scored on the validation "
                                         r"rows \(10 validation rows of 1 of the 2 classes, from "
                                         r"cv=TimeSeriesSplit\(.*\) of 40 rows\)"):
        LeptonClassifier(time_budget=30, cv=TimeSeriesSplit(2, test_size=5),
                         metric="roc_auc").fit(X, y)
    # the same rows with a metric that scores them: the search runs
    clf = LeptonClassifier(time_budget=30, n_trials=1, cv=TimeSeriesSplit(2, test_size=5),
                           search_space=TINY_SPACE, random_state=0).fit(X, y)
    assert clf.n_trials_ == 1


def test_study_is_untouched_by_a_failed_fit(tmp_path):
    """A fit that fails never corrupts a persistent study: the finished trials stay."""
    X, y = load_iris(return_X_y=True)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    LeptonClassifier(time_budget=20, n_trials=2, search_space=TINY_SPACE, cv=None,
                     storage=storage, study_name="s", random_state=0).fit(X, y)
    before = optuna.load_study(study_name="s", storage=storage).trials
    # resuming with another search space is refused before any trial runs ...
    with pytest.raises(ValueError, match=r"study_name='s' already exists in this storage with "
                                         r"a different space"):
        LeptonClassifier(time_budget=20, n_trials=4, storage=storage, study_name="s", cv=None,
                         search_space=_space(learning_rate=10.0), random_state=0).fit(X, y)
    # ... as is resuming with another validation scheme: its scores would not compare
    with pytest.raises(ValueError, match=r"a different validation \('holdout 0\.2', now "
                                         r"'3-fold cv'\)"):
        LeptonClassifier(time_budget=20, n_trials=4, storage=storage, study_name="s", cv=3,
                         search_space=TINY_SPACE, random_state=0).fit(X, y)
    # ... as is resuming on other data: the study's best trial could be one scored on the
    # old data (one changed value is other data)
    X_other = X.copy()
    X_other[0, 0] += 1.0
    with pytest.raises(ValueError, match=r"a different dataset \('150x4 [0-9a-f]{12}', now "
                                         r"'150x4 [0-9a-f]{12}'\)"):
        LeptonClassifier(time_budget=20, n_trials=4, storage=storage, study_name="s", cv=None,
                         search_space=TINY_SPACE, random_state=0).fit(X_other, y)
    # ... as is resuming a balanced-accuracy study scored before predictions were
    # prior-corrected (as Lepton recorded it then)
    old = optuna.create_study(storage=storage, study_name="b", direction="maximize")
    old.set_user_attr("lepton.metric", "balanced_accuracy")
    old.set_user_attr("lepton.seed", 0)
    with pytest.raises(ValueError, match=r"a different metric \('balanced_accuracy', now "
                                         r"'balanced_accuracy \(prior-corrected\)'\)"):
        LeptonClassifier(time_budget=20, n_trials=4, storage=storage, study_name="b", cv=None,
                         metric="balanced_accuracy", search_space=TINY_SPACE,
                         random_state=0).fit(X, y)
    # while a new balanced-accuracy study is created, searched and resumed (it refused
    # its own first fit: its metric was recorded without the decision it is scored with)
    for n_trials in (2, 3):
        clf = LeptonClassifier(time_budget=20, n_trials=n_trials, storage=storage,
                               study_name="b-new", cv=None, metric="balanced_accuracy",
                               search_space=TINY_SPACE, random_state=0).fit(X, y)
        assert clf.n_trials_ == n_trials
    # ... and a fit whose every new trial fails leaves the earlier trials as they were
    with pytest.raises(SearchError):
        LeptonClassifier(time_budget=20, n_trials=3, search_space=_space(
            learning_rate=10.0, weight_decay=0.5, lr_schedule="constant",
            gradient_clip={"type": "fixed", "value": None}), cv=None,
            storage=storage, study_name="t", random_state=0).fit(X, y)
    after = optuna.load_study(study_name="s", storage=storage).trials
    assert [(t.number, t.state, t.value, t.params) for t in after] == \
        [(t.number, t.state, t.value, t.params) for t in before]


def test_the_data_fingerprint_sees_where_sparse_values_sit_and_not_how_dense_data_is_laid_out():
    """A resumed study compares it: two binary bag-of-words matrices of one shape and one
    count of words hold the same values (all 1) at other places, and are other data."""
    import scipy.sparse as sp

    from lepton.search.estimators import _data_fingerprint

    y = np.array([0, 1, 0, 1])
    a = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float))
    b = sp.csr_matrix(np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float))
    assert _data_fingerprint("classification", a, y) != _data_fingerprint("classification", b, y)
    assert _data_fingerprint("classification", a, y) == \
        _data_fingerprint("classification", a.tocsc(), y)
    dense = np.arange(12.0).reshape(4, 3)
    assert _data_fingerprint("classification", dense, y) == \
        _data_fingerprint("classification", np.asfortranarray(dense), y)


def test_all_trials_out_of_time_is_the_budget_error_even_with_entries_still_enqueued():
    """Portfolio entries that never ran (WAITING) are not failures: the error is the clear
    "time_budget too small" one, listing the trials that ran (once listed as 'waiting',
    they turned it into "every trial of the search failed")."""
    from lepton.search._search import FAIL_REASON

    study = optuna.create_study(direction="maximize")
    for _ in range(2):
        trial = study.ask()
        trial.set_user_attr(FAIL_REASON, "time limit: 10% of one epoch fitted in 4.70s of "
                                         "trial time (a trial needs 25%)")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial({"x": 1.0})
    with pytest.raises(ValueError, match=r"time_budget=20s is too small .*trial 1: time limit") \
            as info:
        LeptonClassifier(time_budget=20)._check_trials(study)
    assert "waiting" not in str(info.value) and "trial 2" not in str(info.value)


def test_torch_optimizer_import_is_paid_before_the_trials_are_planned():
    """torch imports torch._dynamo (1-2 s) when it builds its first optimizer: a search
    pays that while it prepares the data, not inside its first trial's share of time."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sklearn.datasets import load_iris\n"
        "import lepton.search.budget as budget\n"
        "from lepton import LeptonClassifier\n"
        "seen = []\n"
        "real = budget.Budget.open_search_window\n"
        "def spy(self, *args):\n"
        "    seen.append('torch._dynamo' in sys.modules)\n"
        "    return real(self, *args)\n"
        "budget.Budget.open_search_window = spy\n"
        "before = 'torch._dynamo' in sys.modules\n"
        "X, y = load_iris(return_X_y=True)\n"
        "LeptonClassifier(time_budget=20, n_trials=1, cv=None).fit(X, y)\n"
        "print(before, seen)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "False [True]"


class _PruneAfterTheFirstTrial(optuna.pruners.BasePruner):
    """Prunes every trial but the first at its second epoch."""

    def prune(self, study, trial):
        return trial.number >= 1 and (trial.last_step or 0) >= 2


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_pruned_trials_show_their_epoch_and_reason_in_the_leaderboard(monkeypatch, metric):
    import lepton.search.estimators as estimators_mod

    def create_study(**kwargs):
        study = search_mod.create_study(**kwargs)
        study.pruner = _PruneAfterTheFirstTrial()
        return study

    monkeypatch.setattr(estimators_mod, "create_study", create_study)
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=30, n_trials=3, search_space=TINY_SPACE, cv=None,
                           metric=metric, random_state=0).fit(X, y)
    board = clf.leaderboard_.set_index("trial")
    assert list(board.state.sort_index()) == ["complete", "pruned", "pruned"]
    pruned = board[board.state == "pruned"]
    assert (pruned.epochs == 2).all()  # was empty: only complete trials recorded epochs
    assert (pruned.status == "pruned").all()  # was empty too
    if metric == "accuracy":  # its epoch reports are accuracies
        assert pruned.reason.str.match(r"pruned at epoch 2 \(val_score=0\.\d+\)").all()
        assert pruned.accuracy.between(0, 1).all()
    else:  # roc_auc: the loss stands in (the pruner saw it negated); no roc_auc to show
        assert pruned.reason.str.match(r"pruned at epoch 2 \(val_loss=\d").all()
        assert pruned.roc_auc.isna().all() and board.loc[0, "roc_auc"] > 0.5
    assert board.loc[0, "epochs"] > 2 and board.loc[0, "reason"] != board.loc[0, "reason"]  # NaN


def test_a_storage_failing_under_a_trial_queues_it_again_and_one_gone_stops_the_search_clearly(
        tmp_path, monkeypatch):
    """A dropped database connection under a trial was recorded as the configuration's
    failure (two warm-start entries lost for good, on PostgreSQL with its connections
    terminated); a storage gone for good ended the fit in 600 lines of Optuna's and
    SQLAlchemy's tracebacks, from wherever it landed. Now the trial is queued to run again
    and the search goes on, and a storage that stops answering stops the search with a
    StorageError that says how to resume; the rerun does."""
    from lepton.search import StorageError

    X, y = load_iris(return_X_y=True)
    storage = str(tmp_path / "s.log")
    journal = optuna.storages.JournalStorage
    real = journal.set_trial_user_attr
    failed = []

    def blip(self, trial_id, key, value):
        if key == "model_config" and not failed:  # once, under the first trial
            failed.append(trial_id)
            raise optuna.exceptions.StorageInternalError("the connection was closed")
        return real(self, trial_id, key, value)

    monkeypatch.setattr(journal, "set_trial_user_attr", blip)
    clf = LeptonClassifier(time_budget=30, n_trials=6, search_space=TINY_SPACE, cv=None,
                           storage=storage, study_name="blip", random_state=0).fit(X, y)
    first = clf.study_.trials[0]
    assert first.state == optuna.trial.TrialState.FAIL and failed == [first._trial_id]
    assert first.user_attrs["fail_reason"] == (
        "the study's storage failed under it (StorageInternalError)")
    assert first.user_attrs["lepton.interrupted"] is True  # not counted as a finished trial
    again = [t for t in clf.study_.trials if t.system_attrs.get("retry_history") == [0]]
    assert len(again) == 1 and again[0].params == first.params
    assert again[0].state.is_finished() and again[0].state.name != "FAIL"
    monkeypatch.setattr(journal, "set_trial_user_attr", real)

    # gone for good after a trial has started: the search stops, clearly
    states = journal.set_trial_state_values
    calls = []

    def gone(self, *args, **kwargs):  # the first trial starts and ends; the next ask fails
        calls.append(1)
        if len(calls) > 2:
            raise optuna.exceptions.StorageInternalError("server closed the connection")
        return states(self, *args, **kwargs)

    monkeypatch.setattr(journal, "set_trial_state_values", gone)
    with pytest.raises(StorageError, match=r"^the study's storage stopped answering mid-search "
                                           r"\(StorageInternalError: server closed the "
                                           r"connection\)\. The trials finished so far are in "
                                           r"the study: fit again"):
        LeptonClassifier(time_budget=30, n_trials=4, search_space=TINY_SPACE, cv=None,
                         storage=storage, study_name="gone", random_state=0).fit(X, y)
    monkeypatch.setattr(journal, "set_trial_state_values", states)
    study = optuna.load_study(study_name="gone", storage=search_mod.make_storage(storage))
    finished = [t.number for t in study.trials if t.state.is_finished()]
    waiting = [t.number for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    # kept (not removed as an unstarted study): the first trial done, the rest still queued
    assert len(finished) == 1 and waiting
    resumed = LeptonClassifier(time_budget=30, n_trials=4, search_space=TINY_SPACE, cv=None,
                               storage=storage, study_name="gone", random_state=0).fit(X, y)
    trials = resumed.study_.trials
    assert trials[finished[0]].state.is_finished()  # not run again
    # the rerun ran the queued entries the failure left waiting
    assert all(trials[n].state.is_finished() for n in waiting[:3])
    assert resumed.n_trials_ == 4


@pytest.mark.parametrize("store", ["study.db", "study.log"])
@pytest.mark.parametrize("bad, says", [
    (dict(search_space="nonexistent"), "search_space='nonexistent' is neither a built-in"),
    (dict(cv=1000), r"cv=1000 folds need at least 1000 samples; got n_samples=150"),
    (dict(search_space="cnn"), "search_space family 'cnn' needs image-shaped input"),
])
def test_arguments_refused_without_a_study_open_no_storage(tmp_path, store, bad, says):
    # review helper-62: each was refused after the storage was opened, leaving a new
    # SQLite file (Optuna's tables, no study) or a journal and its lock file behind
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=says):
        LeptonClassifier(time_budget=30, n_trials=2, storage=str(tmp_path / store),
                         **bad).fit(X, y)
    assert list(tmp_path.iterdir()) == []


def test_a_validation_split_of_a_few_rows_warns():
    # review helper-62: 1 validation row of 150 scored every trial 0 or 1, without a word
    X, y = load_iris(return_X_y=True)
    with pytest.warns(UserWarning, match=r"validation_fraction=0\.001 of 150 rows holds out 1 "
                                         r"validation row\(s\): every trial is scored on them "
                                         r"alone"):
        LeptonClassifier(time_budget=30, n_trials=1, search_space=TINY_SPACE, cv=None,
                         validation_fraction=0.001, random_state=0).fit(X, y)
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LeptonClassifier(time_budget=30, n_trials=1, search_space=TINY_SPACE, cv=None,
                         random_state=0).fit(X, y)  # 30 validation rows
    assert not [w for w in caught if "validation row(s)" in str(w.message)]


@pytest.mark.parametrize("param", ["study_name", "tracking_uri", "experiment_name",
                                   "registered_model_name"])
def test_an_empty_name_is_refused_not_taken_for_the_default(param):
    # review helper-62: '' left a fit untracked, or named the study after the data, silently
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=rf"{param}='' is empty: give a name, or None for "
                                         r"the default\."):
        LeptonClassifier(time_budget=30, n_trials=1, **{param: ""}).fit(X, y)


def test_a_budget_the_preparation_used_up_is_refused_at_the_step_that_used_it(monkeypatch):
    """The refusal came only where the search window was to open: a 2,000 x 3,000 table's
    8 s budget was refused after 11-16 s, the feature screening having run on regardless
    (review helper-65). Each costly step is checked now; what follows it is not run."""
    import time

    import lepton.search.estimators as estimators

    def slow_screening(space, fold, task, **kwargs):
        time.sleep(1.6)
        return space

    later = []
    monkeypatch.setattr(estimators, "screen_feature_fraction", slow_screening)
    monkeypatch.setattr(estimators, "warm_up_optimizers", lambda: later.append(1) or 0.0)
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"time_budget=1\.5s is too small: preparing the data "
                                         r"took [0-9.]+s \(.*screening feature_fraction "
                                         r"1\.[6-9][0-9]s\) and the final model needs"):
        LeptonClassifier(time_budget=1.5, search_space=TINY_SPACE, cv=None).fit(X, y)
    assert later == []  # refused after the screening, before the next step


def test_a_tracked_fit_the_tracking_start_left_no_time_starts_no_run(tmp_path):
    """A fresh store's start (8 s under load) left no time: the fit started its search run,
    then spent 2.6-4.6 s failing it, past the budget (review helper-65). It is refused
    before the run starts."""
    import mlflow

    X, y = load_iris(return_X_y=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ValueError, match=r"of it starting the MLflow tracking"):
        LeptonClassifier(time_budget=1.5, search_space=TINY_SPACE, cv=None, tracking_uri=uri,
                         experiment_name="short").fit(X, y)
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("short")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []
