"""Several processes starting the same new study at once on a shared storage (the
README's 'searched by several processes at once'): real subprocesses released together
against a fresh SQLite file, a fresh PostgreSQL database and a fresh Redis journal."""

from __future__ import annotations

import json
import os
import textwrap
from collections import Counter

import optuna
import pytest

from .conftest import TINY_SPACE

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from sklearn.datasets import load_breast_cancer
    from lepton import LeptonClassifier
    storage, go, random_state, space = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    X, y = load_breast_cancer(return_X_y=True)
    open(go + f".ready{random_state}", "w").close()
    while not os.path.exists(go):  # released together: both open the new storage at once
        time.sleep(0.005)
    clf = LeptonClassifier(time_budget=30, n_trials=12, storage=storage, study_name="together",
                           search_space=json.loads(space), random_state=random_state,
                           patience=None).fit(X, y)
    print(json.dumps({"seed": clf.random_seed_, "trials": clf.n_trials_}))
""")


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def fresh_storage(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        return f"{redis_url}?prefix={redis_url.prefix}together"  # keys the fixture cleans up
    return request.getfixturevalue("fresh_postgres_url")  # no Optuna schema: they create it


def test_processes_starting_one_new_study_together_share_it(fresh_storage, tmp_path,
                                                             release_together):
    go = str(tmp_path / "go")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = release_together([[WORKER, fresh_storage, go, str(rs), json.dumps(TINY_SPACE)]
                             for rs in (0, 1)], go, env=env)
    outputs = [out for _, out in runs]
    # both fits succeed: neither dies creating the schema the other is creating
    assert [rc for rc, _ in runs] == [0, 0], [o[-3000:] for o in outputs]
    results = [json.loads(o.strip().splitlines()[-1]) for o in outputs]

    from lepton.search._search import make_storage

    study = optuna.load_study(study_name="together", storage=make_storage(fresh_storage))
    # one seed, the study's, whatever each process's random_state: the same splits
    assert results[0]["seed"] == results[1]["seed"] == study.user_attrs["lepton.seed"]
    trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    ran = [t for t in trials if t.state != optuna.trial.TrialState.WAITING]
    assert len(ran) >= 4
    # no configuration ran twice: the portfolio went in once, and the two samplers did
    # not propose the same random start-up configurations
    counts = Counter(json.dumps(t.params, sort_keys=True) for t in ran)
    assert max(counts.values()) == 1, [k for k, c in counts.items() if c > 1]
    assert sum("fixed_params" in t.system_attrs for t in trials) <= 4
