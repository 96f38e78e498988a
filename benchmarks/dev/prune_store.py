"""Dev measurement: `lepton prune` on a store of many searches, the way a year of nightly
runs leaves one (review helper-74, stop 42: 2-5 MB a night).

    python benchmarks/dev/prune_store.py SEARCHES TRIALS KEEP [FOLDER]
    python benchmarks/dev/prune_store.py 365 10 30

Builds an embedded SQLite store under FOLDER (default: a temporary folder) of SEARCHES
searches in one experiment, written with the tags Lepton's tracker writes: a search run
with a 200 KB artifact and two logged models of 500 KB of files each, and TRIALS trial
runs under it, each with 30 epochs of four metrics. Registers the oldest search's first
model. Then plans and runs the prune (keep KEEP) and prints the time each took, the
database's and the artifact folder's sizes before and after, and what was kept.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

from lepton.tracking._store import quiet_mlflow_env


def build(uri: str, root: Path, searches: int, trials: int) -> None:
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    folder = root / "artifacts" / "nightly"
    folder.mkdir(parents=True)
    exp = client.create_experiment("nightly", artifact_location=folder.as_uri())
    blob = os.urandom(200_000)
    for s in range(searches):
        parent = client.create_run(exp, run_name=f"night-{s}",
                                   tags={"lepton.role": "search",
                                         "lepton.study_name": "nightly"})
        pid = parent.info.run_id
        client.log_text(pid, blob.hex()[:200_000], "leaderboard.txt")
        for t in range(trials):
            trial = client.create_run(exp, tags={"lepton.role": "trial",
                                                 "mlflow.parentRunId": pid,
                                                 "lepton.trial_number": str(t)})
            now = int(time.time() * 1000)
            client.log_batch(trial.info.run_id, metrics=[
                Metric(name, 0.5 + e / 100, now, e)
                for e in range(30) for name in ("loss", "val_loss", "val_score", "lr")],
                tags=[RunTag("lepton.state", "complete")])
            client.set_terminated(trial.info.run_id)
        for _ in range(2):
            model = client.create_logged_model(exp, source_run_id=pid, name="model")
            where = Path(model.artifact_location[len("file://"):])
            where.mkdir(parents=True, exist_ok=True)
            (where / "model.pkl").write_bytes(os.urandom(500_000))
            if s == 0 and _ == 0:
                client.create_registered_model("nightly-nn")
                client.create_model_version("nightly-nn", source=model.artifact_location,
                                            run_id=pid, model_id=model.model_id)
        client.set_terminated(pid)


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def main() -> None:
    searches, trials, keep = (int(a) for a in sys.argv[1:4])
    root = Path(sys.argv[4]) if len(sys.argv) > 4 else Path(tempfile.mkdtemp())
    os.environ.update(quiet_mlflow_env())
    uri = f"sqlite:///{root / 'mlflow.db'}"
    t0 = time.perf_counter()
    build(uri, root, searches, trials)
    print(f"built {searches} searches x {trials} trials in {time.perf_counter() - t0:.0f} s")
    from lepton.tracking.prune import plan_prune

    db, artifacts = root / "mlflow.db", root / "artifacts"
    before = size(db), size(artifacts)
    t0 = time.perf_counter()
    plan = plan_prune(uri, keep=keep)
    planned = time.perf_counter() - t0
    print(plan.describe())
    t0 = time.perf_counter()
    result = plan.execute()
    ran = time.perf_counter() - t0
    print(result.describe())
    print(f"plan {planned:.1f} s, execute {ran:.1f} s; database {before[0] / 1e6:.1f} -> "
          f"{size(db) / 1e6:.1f} MB, artifacts {before[1] / 1e6:.1f} -> "
          f"{size(artifacts) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
