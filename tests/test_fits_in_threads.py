"""Fits in threads of one process share process-wide settings: Optuna's logging level,
MLflow's fluent tracking URI, MLflow's logger levels. Each fit saving and restoring them,
two fits at once left Optuna at ERROR for good, logged each model into the other's store
(one lost from each) and left a logger muted (review helper-83). Each is now held while
any fit needs it and given back when the last one ends."""

from __future__ import annotations

import logging
import threading

import optuna
import pytest


def test_optunas_level_is_the_users_again_once_the_last_of_overlapping_fits_ends():
    from lepton.search.estimators import _quiet_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the user's
    quiet, talkative = _quiet_optuna(0), _quiet_optuna(2)
    try:
        quiet.__enter__()
        assert optuna.logging.get_verbosity() == optuna.logging.ERROR
        talkative.__enter__()  # verbose=2 asks for a line per trial
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        quiet.__exit__(None, None, None)
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # the other still runs
        talkative.__exit__(None, None, None)
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)


def test_a_logger_muted_by_overlapping_blocks_gets_its_level_back():
    pytest.importorskip("mlflow")
    from lepton.tracking._mlflow import _muted_loggers

    logger = logging.getLogger("lepton-test-muted")
    logger.setLevel(logging.INFO)
    first, second = _muted_loggers(logger.name), _muted_loggers(logger.name)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert logger.level == logging.ERROR  # the second block still mutes it
    second.__exit__(None, None, None)
    assert logger.level == logging.INFO


def test_a_fits_store_is_mlflows_fluent_uri_for_the_whole_of_its_block(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from lepton.tracking._mlflow import _fluent_tracking_uri

    before = mlflow.get_tracking_uri()
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    inside, seen = threading.Event(), []

    def log_a():
        with _fluent_tracking_uri(a):
            inside.set()
            for _ in range(20):  # Model.log resolves the store through it, more than once
                seen.append(mlflow.get_tracking_uri())
                threading.Event().wait(0.01)

    def log_b():
        inside.wait(5)
        with _fluent_tracking_uri(b):
            seen.append(("b", mlflow.get_tracking_uri()))

    threads = [threading.Thread(target=log_a), threading.Thread(target=log_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen[:20] == [a] * 20 and seen[20:] == [("b", b)]
    assert mlflow.get_tracking_uri() == before
