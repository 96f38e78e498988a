"""Processes sharing one SQLite or PostgreSQL tracking store at once: creating it (two
scheduled `lepton run` jobs on a fresh machine, or workers of one study: both used to run
MLflow's schema migrations and one or both failed, 'duplicate column name: step', 'table
_alembic_tmp_tags already exists', in 3 of 3 tries on SQLite), and registering models
under one name."""

from __future__ import annotations

import textwrap

import pytest

OPEN_STORE = textwrap.dedent("""
    import os, sys, time
    from lepton.tracking import make_tracker
    uri, go, me = sys.argv[1], sys.argv[2], sys.argv[3]
    open(f"{go}.ready{me}", "w").close()
    while not os.path.exists(go):  # released together: both find no store
        time.sleep(0.005)
    tracker = make_tracker(tracking_uri=uri, experiment_name="shared")
    print(tracker.experiment_id)
""")


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_uri(request, tmp_path):
    """The URI of a tracking store that does not exist yet: a SQLite file, or an empty
    PostgreSQL database of this test alone."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("pg_store_uri")


def test_processes_creating_one_store_together_both_open_it(tmp_path, new_store_uri,
                                                            release_together):
    uri = new_store_uri
    go = str(tmp_path / "go")
    results = release_together([[OPEN_STORE, uri, go, str(k)] for k in range(2)], go)
    outputs = [out for _, out in results]
    assert [rc for rc, _ in results] == [0, 0], [o[-2000:] for o in outputs]
    ids = {o.strip().splitlines()[-1] for o in outputs}
    assert len(ids) == 1  # one experiment, found by both

    from mlflow.tracking import MlflowClient

    experiments = [e for e in MlflowClient(tracking_uri=uri).search_experiments()
                   if e.name == "shared"]
    assert [e.experiment_id for e in experiments] == list(ids)


REGISTER = textwrap.dedent("""
    import os, sys, time
    uri, go, me, score, nap, here = sys.argv[1:7]
    sys.path.insert(0, here)
    from _drive import drive_search, finish
    from mlflow.tracking import MlflowClient
    from lepton.tracking import MLflowTracker

    open(f"{go}.ready{me}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    tracker = MLflowTracker(tracking_uri=uri, experiment_name="race",
                            registered_model_name="race-nn", strict=True)
    study, best, X, y = drive_search(tracker, study_name=f"race{me}", n_trials=1, epochs=2)

    # Both searches reach their registration at the same moment, and each takes `nap`
    # seconds between reading the champion and what follows (a slow registry).
    register, read = MLflowTracker._register, MlflowClient.get_model_version_by_alias
    def together(self, *args, **kwargs):
        open(f"{go}.at{me}", "w").close()
        deadline = time.monotonic() + 120
        while not all(os.path.exists(f"{go}.at{k}") for k in "01"):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        return register(self, *args, **kwargs)
    def slow_read(self, *args, **kwargs):
        try:
            return read(self, *args, **kwargs)
        finally:
            time.sleep(float(nap))
    MLflowTracker._register, MlflowClient.get_model_version_by_alias = together, slow_read
    finish(tracker, study, best, X, y, score=float(score))
    print(tracker.registered_version)
""")


def test_two_searches_registering_at_once_leave_the_better_one_champion(tmp_path,
                                                                        new_store_uri,
                                                                        release_together):
    """Both reach their registration together, before there is a champion; the better
    search (0.95) is quicker to move the alias, the worse one (0.90) slower. Without the
    lock around check-and-move both read 'no champion' and the worse model ended
    champion."""
    from pathlib import Path

    uri = new_store_uri
    go = str(tmp_path / "go")
    here = str(Path(__file__).parent)
    results = release_together([[REGISTER, uri, go, "0", "0.95", "0.2", here],
                                [REGISTER, uri, go, "1", "0.90", "1.5", here]], go)
    outputs = [out for _, out in results]
    assert [rc for rc, _ in results] == [0, 0], [o[-2000:] for o in outputs]
    better, worse = (o.strip().splitlines()[-1] for o in outputs)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    assert str(client.get_model_version_by_alias("race-nn", "champion").version) == better
    promotions = {str(v.version): v.tags["lepton.promotion"]
                  for v in client.search_model_versions("name='race-nn'")}
    # whichever registered first was the first champion; the other was compared with it
    assert sum(p.startswith("first champion") for p in promotions.values()) == 1
    assert (promotions[better].startswith("promoted: accuracy=0.95")
            or promotions[worse].startswith("not promoted: accuracy=0.9 "))
