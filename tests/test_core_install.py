"""Lepton's core install (`pip install lepton-automl`: no MLflow, no Prefect, and so no
pyarrow, which MLflow brings): what works without them, and what says how to install
them. The suite's environment has them all; each check runs in a subprocess whose
packages are this environment's but for those three (a folder of links to every other
entry of site-packages, added with ``site.addsitedir`` by a Python started with ``-S``):
to the subprocess they are not installed, as on a core install."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import pytest

MISSING = ("mlflow", "prefect", "pyarrow")
CORE = textwrap.dedent("""
    import site, sys
    site.addsitedir(sys.argv[1])
    from lepton.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.fixture(scope="module")
def core_site(tmp_path_factory) -> Path:
    """site-packages without MLflow, Prefect and pyarrow (their modules and metadata)."""
    farm = tmp_path_factory.mktemp("core-site-packages")
    packages = Path(site.getsitepackages()[0])
    for entry in packages.iterdir():
        if not entry.name.lower().replace("-", "_").startswith(MISSING):
            (farm / entry.name).symlink_to(entry)
    return farm


def _core(core_site: Path, *args: str, cwd, tracking_uri: str | None = None
          ) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.run([sys.executable, "-S", "-c", CORE, str(core_site), *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_the_core_site_lacks_exactly_mlflow_prefect_and_pyarrow(core_site, tmp_path):
    code = ("import importlib.util as u, site, sys; site.addsitedir(sys.argv[1]); "
            "print([m for m in ('mlflow', 'prefect', 'pyarrow', 'optuna', 'torch', 'lepton')"
            " if u.find_spec(m) is None])")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(core_site)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "['mlflow', 'prefect', 'pyarrow']", out.stderr


@pytest.mark.slow
def test_lepton_run_works_untracked_and_says_how_to_track(core_site, tmp_path):
    out = _core(core_site, "run", "iris", "--time-budget", "6", "--save", "iris.joblib",
                cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "held-out accuracy" in out.stdout and "tracked in MLflow" not in out.stdout
    assert ("MLflow is not installed, so this run is not tracked (pip install "
            "'lepton-automl[tracking]'") in out.stderr
    assert (tmp_path / "iris.joblib").exists()


def test_what_needs_mlflow_or_prefect_says_what_to_install(core_site, tmp_path):
    ui = _core(core_site, "ui", cwd=tmp_path)
    assert ui.returncode == 2
    assert "the MLflow UI needs MLflow, which is not installed: pip install " \
           "'lepton-automl[tracking]'" in ui.stderr
    prune = _core(core_site, "prune", "--keep", "3", cwd=tmp_path)
    assert prune.returncode == 2
    assert "pruning a tracking store needs MLflow, which is not installed: pip install " \
           "'lepton-automl[tracking]'" in prune.stderr
    schedule = _core(core_site, "schedule", "iris", "--cron", "0 3 * * *", cwd=tmp_path)
    assert schedule.returncode == 2
    assert "need Prefect, which is not installed: pip install 'lepton-automl[pipelines]'" \
        in schedule.stderr
    asked = _core(core_site, "run", "iris", "--time-budget", "6", "--experiment", "mine",
                  cwd=tmp_path)
    assert asked.returncode == 2  # tracking asked for: an error, not a silent untracked run
    assert "tracking was asked for, but MLflow is not installed" in asked.stderr
    assert "on the command line no --tracking-uri, --experiment or --register" in asked.stderr
    # a team's MLFLOW_TRACKING_URI in the environment: the way out is named, and works
    team = "http://127.0.0.1:9"
    env_set = _core(core_site, "run", "iris", "--time-budget", "6", cwd=tmp_path,
                    tracking_uri=team)
    assert env_set.returncode == 2
    assert ("MLFLOW_TRACKING_URI is set ('http://127.0.0.1:9'), but MLflow is not installed: "
            "pip install 'lepton-automl[tracking]' (or leave tracking off: unset "
            "MLFLOW_TRACKING_URI; on the command line, --no-tracking)") in env_set.stderr
    untracked = _core(core_site, "run", "iris", "--time-budget", "6", "--no-tracking",
                      cwd=tmp_path, tracking_uri=team)
    assert untracked.returncode == 0, untracked.stderr[-3000:]


@pytest.mark.slow
def test_a_model_saved_where_mlflow_tracked_it_predicts_in_the_core_install(core_site,
                                                                             tmp_path):
    """Trained and tracked on a full install (pyarrow present: pandas 3 then stores text
    as pyarrow strings), served on the core install: the saved model loads and predicts."""
    from sklearn.datasets import load_iris

    from lepton import LeptonClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LeptonClassifier(time_budget=15, random_state=0,
                           tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").fit(X, y)
    assert clf.tracking_run_id_ is not None
    joblib.dump(clf, tmp_path / "model.joblib")
    X.to_csv(tmp_path / "rows.csv", index=False)
    out = _core(core_site, "predict", "model.joblib", "rows.csv", "--out", "pred.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "pred.csv").read_text().count("\n") == len(X) + 1
