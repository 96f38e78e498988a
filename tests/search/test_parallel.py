"""Parallel trials: n_jobs > 1 runs trials concurrently without oversubscribing cores."""

from __future__ import annotations

import os
import threading

import pytest
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


def test_device_pool_gives_each_trial_the_least_busy_device():
    cpu, cpu0 = torch.device("cpu"), torch.device("cpu", 0)
    pool = search_mod.DevicePool([cpu, cpu0])
    with pool.take() as a, pool.take() as b:
        assert (a, b) == (cpu, cpu0)  # two trials: one on each
        with pool.take() as c:
            assert c == cpu  # a third shares the first of the least busy
            assert pool.running == [2, 1]
    assert pool.running == [0, 0]  # each trial gave its device back
    with pool.take() as a:
        assert a == cpu


def test_trials_spread_over_several_devices(monkeypatch):
    """Trials of one search train on every device given (GPUs; here two names of the CPU,
    which hold their own copy of the data like two GPUs would), one trial per device by
    default, and each trial's networks see the data on the device it records."""
    import lepton.search.estimators as est

    devices = [torch.device("cpu"), torch.device("cpu", 0)]
    monkeypatch.setattr(est, "resolve_devices", lambda device: devices)
    seen, active, together = [], [], []
    lock = threading.Lock()
    real_fit = search_mod.fit_model

    def watched_fit(model_cfg, train, valid, *args, **kwargs):
        with lock:
            seen.append(train.device)
            active.append(train.device)
            if len(active) > 1:
                together.append(tuple(active))
            assert valid.device == train.device
        try:
            return real_fit(model_cfg, train, valid, *args, **kwargs)
        finally:
            with lock:
                active.remove(train.device)

    monkeypatch.setattr(search_mod, "fit_model", watched_fit)
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=60, n_trials=8, search_space=TINY_SPACE, cv=None,
                           random_state=0).fit(X, y)  # n_jobs=None: one trial per device
    assert set(seen) == set(devices)
    assert clf.devices_ == ["cpu", "cpu:0"]
    assert together and all(len(set(pair)) == len(pair) for pair in together)
    recorded = {t.number: t.user_attrs["lepton.device"] for t in clf.study_.trials
                if t.state.is_finished()}
    assert set(recorded.values()) == {"cpu", "cpu:0"}
    board = clf.leaderboard_.set_index("trial")
    assert board["device"].to_dict() == {n: recorded[n] for n in board.index}
    assert clf.score(X, y) > 0.8


def test_one_device_adds_no_device_column():
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=30, n_trials=2, search_space=TINY_SPACE, cv=None,
                           device="cpu", random_state=0).fit(X, y)
    assert {t.user_attrs["lepton.device"] for t in clf.study_.trials
            if t.state.is_finished()} == {"cpu"}
    assert "device" not in clf.leaderboard_.columns
    assert clf.devices_ == ["cpu"]


def test_refit_seeds_train_at_once_on_several_devices(monkeypatch):
    """The final refit's seeds train in rounds of one seed per device, at the same time
    (here two names of the CPU stand in for two GPUs)."""
    import lepton.search.estimators as est

    devices = [torch.device("cpu"), torch.device("cpu", 0)]
    monkeypatch.setattr(est, "resolve_devices", lambda device: devices)
    calls, active, peak = [], [0], [0]
    lock = threading.Lock()
    real_fit = est.fit_model

    def watched_fit(model_cfg, data, valid, *args, **kwargs):
        with lock:
            calls.append((kwargs["seed"], data.device))
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real_fit(model_cfg, data, valid, *args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(est, "fit_model", watched_fit)  # the refit's (trials: _search's)
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=60, n_trials=4, ensemble_size=1, search_space=TINY_SPACE,
                           cv=None, random_state=0).fit(X, y)
    assert clf.final_choice_ == "refit" and clf.final_model_info_["refit"]["seeds"] == 3
    # seeds 0 and 1 at once, one per device, then seed 2 on the first
    assert [device for _, device in sorted(calls)] == [devices[0], devices[1], devices[0]]
    assert peak[0] == 2
    assert len(clf.ensemble_.members) == 3  # the three seeds, averaged
    assert clf.score(X, y) > 0.8


def test_ctrl_c_in_a_round_of_refit_seeds_keeps_the_seed_that_finished(monkeypatch):
    """Ctrl-C while two refit seeds train at once (two devices): the seed that had already
    finished is kept as the final model, not dropped with the one the interrupt stopped."""
    import lepton.search.estimators as est

    devices = [torch.device("cpu"), torch.device("cpu", 0)]
    monkeypatch.setattr(est, "resolve_devices", lambda device: devices)
    second_done = threading.Event()
    real_fit = est.fit_model

    def fit_model(model_cfg, data, valid, *args, interrupt=None, **kwargs):
        if data.device == devices[1]:  # seed 1 finishes, then Ctrl-C stops seed 0
            try:
                return real_fit(model_cfg, data, valid, *args, interrupt=interrupt, **kwargs)
            finally:
                second_done.set()
        assert second_done.wait(60)
        interrupt.set()
        return real_fit(model_cfg, data, valid, *args, interrupt=interrupt, **kwargs)

    monkeypatch.setattr(est, "fit_model", fit_model)  # the refit's (trials: _search's)
    X, y = load_iris(return_X_y=True)
    with pytest.warns(UserWarning, match=r"the final refit was interrupted \(Ctrl-C\)"):
        clf = LeptonClassifier(time_budget=60, n_trials=4, ensemble_size=1, cv=None,
                               search_space=TINY_SPACE, random_state=0).fit(X, y)
    report = clf.final_model_info_["refit"]
    assert report["interrupted"] and report["seeds"] == 1
    assert report["status"] == "completed"
    assert clf.final_choice_ == "refit" and clf.search_interrupted_
    assert clf.score(X, y) > 0.8


@pytest.mark.parametrize("fails", ["every seed", "the second device's seed"])
def test_a_refit_out_of_memory_falls_back_and_keeps_the_seeds_that_finished(fails,
                                                                          monkeypatch):
    """A GPU out of memory in the final refit (every row on the device, beside the
    search's folds) ended the fit with the error after its whole budget, the trials'
    networks thrown away (review helper-56). Where no seed finished, the best trial's
    networks predict and the refit's report says why; a seed that finished beside the
    failed one is kept (two names of the CPU stand in for two GPUs)."""
    import lepton.search.estimators as est

    devices = [torch.device("cpu"), torch.device("cpu", 0)]
    monkeypatch.setattr(est, "resolve_devices", lambda device: devices)
    real_fit = est.fit_model

    def fit_model(model_cfg, data, valid, *args, **kwargs):
        if fails == "every seed" or data.device == devices[1]:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_fit(model_cfg, data, valid, *args, **kwargs)

    monkeypatch.setattr(est, "fit_model", fit_model)  # the refit's (trials: _search's)
    X, y = load_iris(return_X_y=True)
    with pytest.warns(UserWarning, match=r"the final refit failed \(out of memory: CUDA out "
                                         r"of memory. Tried to allocate 2.00 GiB\); the final "
                                         r"model is the (best trial's own networks|refit's 1 "
                                         r"finished seed)"):
        clf = LeptonClassifier(time_budget=60, n_trials=4, ensemble_size=1, cv=None,
                               search_space=TINY_SPACE, random_state=0).fit(X, y)
    report = clf.final_model_info_["refit"]
    if fails == "every seed":
        assert clf.final_choice_ == "best_trial"
        assert report["status"] == ("failed: out of memory: CUDA out of memory. Tried to "
                                    "allocate 2.00 GiB")
    else:
        assert clf.final_choice_ == "refit" and report["seeds"] == 1
        assert report["failed"].startswith("out of memory")
    assert clf.score(X, y) > 0.8


def test_a_refit_that_fails_for_another_reason_raises():
    """Only running out of memory falls back: a fault of the code in the refit (a
    TypeError) was turned into a warning and the best trial's networks, hiding it
    (review helper-59)."""
    import lepton.search.estimators as est

    X, y = load_iris(return_X_y=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(est, "fit_model", lambda *args, **kwargs: 1 + "1")
        with pytest.raises(TypeError):
            LeptonClassifier(time_budget=60, n_trials=2, ensemble_size=1, cv=None,
                             search_space=TINY_SPACE, random_state=0).fit(X, y)
