"""verbose=1: the search's progress (trials, best score, time left), on a terminal and in
a log."""

from __future__ import annotations

import io

import optuna
from sklearn.datasets import load_iris

from lepton import LeptonClassifier
from lepton.search import estimators as search_estimators
from lepton.search.budget import Budget
from lepton.search.metrics import get_metric

from .conftest import TINY_SPACE


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _study_with(values):
    study = optuna.create_study(direction="maximize")
    for v in values:
        trial = study.ask()
        study.tell(trial, v)
    return study


def test_log_gets_plain_lines_at_most_one_per_interval_plus_the_last(monkeypatch):
    monkeypatch.setattr(search_estimators, "PLAIN_PROGRESS_INTERVAL_S", 3600.0)
    out, budget = io.StringIO(), Budget(30)
    study = _study_with([0.5])
    with search_estimators._progress(1, budget, study, get_metric("accuracy", "classification"),
                                     file=out) as progress:
        progress(study, study.trials[-1])
        for v in (0.7, 0.6):
            study.tell(study.ask(), v)
            progress(study, study.trials[-1])
        assert out.getvalue().count("\n") == 1  # the first trial; the others within 1 h
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2  # ... and the last one, when the search ends
    assert lines[0].startswith("lepton search: ") and "trials=1 best accuracy=0.5000" in lines[0]
    assert "trials=3 best accuracy=0.7000" in lines[1] and "left=" in lines[1]


def test_terminal_bar_redraws_once_per_trial():
    out, budget = _Terminal(), Budget(30)
    study = _study_with([0.5])
    metric = get_metric("accuracy", "classification")
    with search_estimators._progress(1, budget, study, metric, file=out) as progress:
        before = out.getvalue().count("\r")
        for v in (0.6, 0.7, 0.65):
            study.tell(study.ask(), v)
            progress(study, study.trials[-1])
        redraws = out.getvalue().count("\r") - before
    assert redraws == 3  # was 6: setting the postfix redrew the bar, then refresh() again
    # tqdm puts ", " before the postfix: it read "0/30s , trials=4 ..." after a space of ours
    assert "/30s, trials=4 best accuracy=0.7000" in out.getvalue(), out.getvalue()


def test_verbose_fit_writes_progress_lines_to_a_log(capfd):
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=20, n_trials=3, search_space=TINY_SPACE, cv=None,
                           random_state=0, verbose=1).fit(X, y)
    # the fourth warm-start entry never ran: it is neither a trial nor counted as one
    waiting = clf.study_.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and clf.n_trials_ == len(clf.leaderboard_) == 3
    captured = capfd.readouterr()  # not a terminal: plain lines
    progress = [line for line in captured.err.splitlines() if line.startswith("lepton search:")]
    assert progress and "\r" not in captured.err
    assert "trials=3 best accuracy=" in progress[-1]
    assert "[LeptonClassifier] 3 trials, best accuracy=" in captured.out
