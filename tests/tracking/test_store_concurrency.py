"""Two processes opening one new SQLite tracking store at once (two scheduled `lepton run`
jobs on a fresh machine, or workers of one study): both used to run MLflow's schema
migrations and one or both failed ('duplicate column name: step', 'table
_alembic_tmp_tags already exists'), in 3 of 3 tries."""

from __future__ import annotations

import textwrap

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


def test_processes_creating_one_sqlite_store_together_both_open_it(tmp_path,
                                                                   release_together):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
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
