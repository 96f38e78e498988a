"""Parallel trials: n_jobs > 1 runs trials concurrently without oversubscribing cores."""

from __future__ import annotations

import os
import threading

import torch
from sklearn.datasets import load_iris

import lepton.estimators._base as estimator_mod
import lepton.search._search as search_mod
import lepton.training as training_mod
from lepton import LeptonClassifier, NeuralNetworkClassifier

from .conftest import TINY_SPACE


def test_trials_run_concurrently_with_one_thread_each(monkeypatch):
    X, y = load_iris(return_X_y=True)
    seen_threads, active, peak = [], [0], [0]
    lock = threading.Lock()
    real_fit = search_mod.fit_model

    def watched_fit(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            seen_threads.append(torch.get_num_threads())
        try:
            return real_fit(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(search_mod, "fit_model", watched_fit)
    monkeypatch.setattr(training_mod, "cpu_count", lambda: 2)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _run_and_check(X, y, peak, seen_threads)
    finally:
        torch.set_num_threads(threads_before)


def _run_and_check(X, y, peak, seen_threads):
    space = {**TINY_SPACE, "parameters": {**TINY_SPACE["parameters"],
                                          "epochs": {"type": "int", "low": 30, "high": 40}}}
    clf = LeptonClassifier(time_budget=60, n_trials=8, n_jobs=2, search_space=space, cv=None,
                           random_state=0).fit(X, y)
    assert peak[0] == 2  # two trials trained at the same time
    assert set(seen_threads) == {1}  # 2 cores / 2 jobs: one torch thread per trial
    assert torch.get_num_threads() == 2  # restored after fit
    finished = [t for t in clf.study_.trials if t.state.is_finished()]
    assert len(finished) >= 8
    assert clf.score(X, y) > 0.8


def test_threads_per_trial_leaves_busy_cores_alone(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        monkeypatch.setattr(training_mod, "cpu_count", lambda: 8)
        monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
        assert training_mod.threads_per_trial(1) == 8   # idle: all cores
        assert training_mod.threads_per_trial(4) == 2   # split between parallel trials
        monkeypatch.setattr(os, "getloadavg", lambda: (6.8, 6.0, 5.0))
        assert training_mod.threads_per_trial(1) == 1   # 7 of 8 cores busy elsewhere
        monkeypatch.setattr(os, "getloadavg", lambda: (20.0, 20.0, 20.0))
        assert training_mod.threads_per_trial(1) == 1   # never below one
    finally:
        torch.set_num_threads(before)


def test_fixed_estimator_trains_on_the_cores_left_free(monkeypatch):
    seen = []
    real_fit = estimator_mod.fit_model

    def watched_fit(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(estimator_mod, "fit_model", watched_fit)
    monkeypatch.setattr(training_mod, "cpu_count", lambda: 4)
    X, y = load_iris(return_X_y=True)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
        NeuralNetworkClassifier(epochs=2).fit(X, y)
        monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))  # 3 of 4 cores busy
        NeuralNetworkClassifier(epochs=2).fit(X, y)
        assert seen == [4, 1]
        assert torch.get_num_threads() == 4  # restored after each fit
    finally:
        torch.set_num_threads(before)
