"""``lepton prune``: delete old searches from a tracking store, keeping what is in use.

A store only grows: a nightly ``lepton run --register`` added 2-5 MB (review helper-74,
stop 42). :func:`plan_prune` picks, in each experiment, the Lepton searches to delete:
those past the ``keep`` most recently active (besides those below), or last active more
than ``older_than`` seconds ago (both given: a search must be past both), never

- one that is running, or has a trial running (a run left RUNNING by a process of this
  machine that has ended is not running),
- one that a registered model version comes from: the version's model files and its
  training rows' hashes (the champion comparison's) are that run's.

:meth:`PrunePlan.execute` deletes each such search's run, then its trial runs, then the
logged models it made, and then, where the store allows, frees them for good: their files
and database rows (MLflow's garbage collection, for these ids only: runs and experiments
that someone deleted by hand, and may restore, are left as they are), and compacts a
SQLite database (``VACUUM``). Runs that are not Lepton's (no ``lepton.role`` tag) are never
touched, nor Optuna studies (a persistent study resumed later starts a new search run).
A tracking server (``http://``) only marks runs deleted: its files are freed by ``mlflow
gc`` on the server's machine.

mlflow is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ._base import TrackingError
from ._store import (
    _scheme, _sqlite_file, check_tracking_uri, default_tracking_uri, mlflow_env, process_gone,
    redact_text, redact_uri,
)

__all__ = ["plan_prune", "PrunePlan", "PruneResult", "parse_age"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm])\s*$")
_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0}


def parse_age(text: str) -> float:
    """Seconds of an age written ``90d``, ``12h`` or ``30m``."""
    match = _AGE.match(text)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"older_than={text!r} is not an age: a number above 0 and a unit, "
                         "d (days), h (hours) or m (minutes), such as 90d or 12h")
    return float(match[1]) * _UNIT[match[2]]


@dataclass
class _Search:
    run_id: str
    experiment: str
    name: str
    last_active: float  # seconds since the epoch: its end, or its start while it runs
    trial_ids: list[str] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)
    file_bytes: int = 0  # of its run's, its trials' and its logged models' artifact files


@dataclass
class PrunePlan:
    """What :func:`plan_prune` chose: ``delete`` (the searches), ``kept`` (per experiment,
    a count per reason), ``orphans`` (trial runs whose search run is gone)."""

    tracking_uri: str
    delete: list[_Search]
    kept: dict[str, Counter]
    searches: dict[str, int]  # per experiment, the Lepton searches it holds
    orphans: dict[str, list[str]]  # per experiment, trial runs whose search run is gone
    orphan_bytes: int = 0
    _registered_runs: frozenset = frozenset()

    @property
    def runs(self) -> int:
        """Runs it deletes: searches, their trials, and orphaned trials."""
        return (sum(1 + len(s.trial_ids) for s in self.delete)
                + sum(len(ids) for ids in self.orphans.values()))

    @property
    def file_bytes(self) -> int:
        return sum(s.file_bytes for s in self.delete) + self.orphan_bytes

    def describe(self) -> str:
        """One line per experiment: what goes, what stays and why."""
        lines = [f"tracking store {redact_uri(self.tracking_uri)}"]
        for experiment in sorted(self.searches):
            gone = [s for s in self.delete if s.experiment == experiment]
            trials = sum(len(s.trial_ids) for s in gone)
            models = sum(len(s.model_ids) for s in gone)
            orphans = len(self.orphans.get(experiment, ()))
            kept = self.kept.get(experiment, Counter())
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(kept.items()))
            line = (f"  {experiment}: {_n(self.searches[experiment], 'search')}; delete "
                    f"{len(gone)} ({_n(trials, 'trial run')}, {_n(models, 'logged model')}, "
                    f"{_size(sum(s.file_bytes for s in gone))} of files)")
            if orphans:
                line += f" and {_n(orphans, 'trial run')} whose search run is gone"
            line += f"; keep {sum(kept.values())}" + (f" ({why})" if why else "")
            lines.append(line)
        if len(lines) == 1:
            lines.append("  no experiment holds a Lepton search")
        return "\n".join(lines)

    def execute(self) -> PruneResult:
        """Delete what the plan chose (see the module's docstring)."""
        with mlflow_env():
            return _execute(self)


@dataclass
class PruneResult:
    runs: int  # runs deleted
    models: int  # logged models deleted
    skipped: list[str]  # searches found running or registered since the plan: kept
    freed: bool  # files and rows removed for good (False: only marked deleted)
    file_bytes: int  # of the artifact files removed
    database_before: int | None = None  # SQLite file's bytes, before and after
    database_after: int | None = None
    notes: list[str] = field(default_factory=list)  # what could not be done, and why

    def describe(self) -> str:
        text = (f"deleted {_n(self.runs, 'run')} and {_n(self.models, 'logged model')}"
                + (f"; freed {_size(self.file_bytes)} of files" if self.freed else
                   "; marked deleted only (restorable): `mlflow gc` on the tracking "
                   "server's machine frees their files"))
        if self.database_before is not None and self.database_after is not None:
            text += (f"; database {_size(self.database_before)} -> "
                     f"{_size(self.database_after)}")
        if self.skipped:
            text += (f"; kept {_n(len(self.skipped), 'search')} that started again or "
                     "were registered meanwhile")
        return "\n".join([text, *self.notes])


def plan_prune(tracking_uri: str | None = None, *, experiment: str | None = None,
               keep: int | None = None, older_than: float | None = None) -> PrunePlan:
    """Choose the searches to delete (nothing is deleted here).

    ``keep``: the most recently active searches each experiment keeps; ``older_than``:
    seconds since a search was last active before it may go. At least one is needed;
    given both, a search goes only when it is past both. ``experiment``: this one only
    (default: every experiment of the store)."""
    import os

    if keep is None and older_than is None:
        raise ValueError("say which searches to keep: keep= (the newest N of each "
                         "experiment) and/or older_than= (seconds since a search was "
                         "last active)")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
        raise ValueError(f"keep={keep!r} is not a whole number >= 0 (searches kept per "
                         "experiment)")
    if older_than is not None and not older_than > 0:
        raise ValueError(f"older_than={older_than!r} is not a number of seconds above 0")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    db = _sqlite_file(uri)
    if _scheme(uri) == "sqlite" and db and not Path(db).is_file():
        raise TrackingError(f"tracking_uri={redact_uri(uri)!r}: no store there ({db} does "
                            "not exist), so nothing to prune.")
    check_tracking_uri(uri)
    with mlflow_env():
        return _plan(uri, experiment, keep, older_than)


def _plan(uri: str, only: str | None, keep: int | None, older_than: float | None) -> PrunePlan:
    from mlflow.tracking import MlflowClient

    from ._mlflow import TAG_PROCESS, TAG_PROCESS_START
    from ._writer import TAG_ROLE

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = _all(lambda token: client.search_experiments(page_token=token))
    if only is not None:
        named = [e for e in experiments if e.name == only]
        if not named:
            names = ", ".join(repr(e.name) for e in experiments[:20]) or "none"
            raise ValueError(f"experiment={only!r} is not in {redact_uri(uri)!r} "
                             f"(its experiments: {names})")
        experiments = named
    registered = _registered(client)
    now = time.time()
    plan = PrunePlan(uri, [], {}, {}, {}, _registered_runs=frozenset(registered))
    for exp in experiments:
        runs = _all(lambda token: client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{TAG_ROLE}` != ''",
            max_results=1000, page_token=token))
        searches = [r for r in runs if r.data.tags.get(TAG_ROLE) == "search"]
        if not searches:
            continue
        plan.searches[exp.name] = len(searches)
        kept = plan.kept.setdefault(exp.name, Counter())

        def running(run) -> bool:
            tags = run.data.tags
            return run.info.status == "RUNNING" and not process_gone(
                tags.get(TAG_PROCESS), tags.get(TAG_PROCESS_START))

        def active(run) -> float:
            return (run.info.end_time or run.info.start_time or 0) / 1000

        searches.sort(key=active, reverse=True)
        # a search with a trial running (a worker's, say) is running
        busy = {r.data.tags.get("mlflow.parentRunId") for r in runs
                if r.data.tags.get(TAG_ROLE) == "trial" and running(r)}
        chosen: dict[str, _Search] = {}
        rank = 0  # among the searches neither running nor registered: keep= counts these
        for run in searches:
            run_id = run.info.run_id
            if running(run) or run_id in busy:
                kept["running"] += 1
                continue
            if run_id in registered:
                kept[f"registered: {', '.join(sorted(registered[run_id]))}"] += 1
                continue
            rank += 1
            if keep is not None and rank <= keep:
                kept["newest"] += 1
            elif older_than is not None and now - active(run) <= older_than:
                kept["recent"] += 1
            else:
                chosen[run_id] = _Search(run_id, exp.name, run.info.run_name or run_id,
                                         active(run), file_bytes=_bytes(run.info.artifact_uri))
        live = {r.info.run_id for r in searches}
        orphans = []
        for run in runs:
            if run.data.tags.get(TAG_ROLE) != "trial" or running(run):
                continue
            parent = run.data.tags.get("mlflow.parentRunId")
            size = _bytes(run.info.artifact_uri)
            if parent in chosen:
                chosen[parent].trial_ids.append(run.info.run_id)
                chosen[parent].file_bytes += size
            elif parent not in live and run.info.run_id not in registered:
                orphans.append(run.info.run_id)
                plan.orphan_bytes += size
        if orphans:
            plan.orphans[exp.name] = orphans
        if chosen:
            for model in _all(lambda token: client.search_logged_models(
                    experiment_ids=[exp.experiment_id], max_results=1000, page_token=token)):
                search = chosen.get(model.source_run_id)
                if search is not None and model.model_id not in registered:
                    search.model_ids.append(model.model_id)
                    search.file_bytes += _bytes(model.artifact_location)
        plan.delete.extend(chosen.values())
    return plan


def _registered(client) -> dict[str, set[str]]:
    """Run ids and logged model ids that registered model versions come from, each to the
    versions ('name vN')."""
    found: dict[str, set[str]] = {}
    for version in _all(lambda token: client.search_model_versions(
            max_results=10_000, page_token=token)):
        label = f"{version.name} v{version.version}"
        for key in (version.run_id, getattr(version, "model_id", None)):
            if key:
                found.setdefault(key, set()).add(label)
    return found


def _all(page) -> list:
    """Every item of a paged MLflow search: ``page(token)`` returns one page."""
    items, token = [], None
    while True:
        result = page(token)
        items.extend(result)
        token = getattr(result, "token", None)
        if not token:
            return items


def _local(uri: str | None) -> Path | None:
    """The folder of a ``file:`` artifact URI (or a plain path); None for remote stores."""
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(uri) if not parts.scheme else None


def _bytes(uri: str | None) -> int:
    folder = _local(uri)
    if folder is None or not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "es" if word.endswith("h") else "s")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def _execute(plan: PrunePlan) -> PruneResult:
    from mlflow.entities import LifecycleStage
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ._mlflow import TAG_PROCESS, TAG_PROCESS_START

    uri = plan.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    registered = _registered(client)  # again: a version made since the plan keeps its run
    result = PruneResult(0, 0, [], False, 0)
    runs, models = [], []
    for search in plan.delete:
        try:
            run = client.get_run(search.run_id)
        except MlflowException:  # deleted meanwhile (by hand, or another prune)
            continue
        tags = run.data.tags
        if (run.info.lifecycle_stage == LifecycleStage.DELETED or search.run_id in registered
                or (run.info.status == "RUNNING" and not process_gone(
                    tags.get(TAG_PROCESS), tags.get(TAG_PROCESS_START)))
                or (run.info.end_time or run.info.start_time or 0) / 1000
                > search.last_active + 1):
            if run.info.lifecycle_stage != LifecycleStage.DELETED:
                result.skipped.append(search.run_id)
            continue
        # the search's run first: an interrupted prune leaves trial runs without their
        # search, which the next prune finds as orphans, never a search missing trials
        for run_id in [search.run_id, *search.trial_ids]:
            client.delete_run(run_id)
            runs.append(run_id)
        for model_id in search.model_ids:
            if model_id not in registered:
                client.delete_logged_model(model_id)
                models.append(model_id)
    for run_id in (i for ids in plan.orphans.values() for i in ids):
        with contextlib.suppress(MlflowException):  # gone meanwhile
            client.delete_run(run_id)
            runs.append(run_id)
    result.runs, result.models = len(runs), len(models)
    if runs or models:
        result.freed = _hard_delete(uri, runs, models, result)
    db = _sqlite_file(uri)
    if db and result.freed:
        result.database_before = Path(db).stat().st_size
        _vacuum(db, result.notes)
        result.database_after = Path(db).stat().st_size
    return result


def _hard_delete(uri: str, runs: list[str], models: list[str], result: PruneResult) -> bool:
    """Remove the runs' and models' files and rows for good, as ``mlflow gc --run-ids ...
    --logged-model-ids ...`` does (its loop, here for these ids alone: ``mlflow gc``
    without ids also purges every experiment deleted by hand). False where the store
    keeps them (a tracking server's REST store)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.tracking import MlflowClient, _get_store

    store = _get_store(uri)
    if not (hasattr(store, "_hard_delete_run") and hasattr(store, "_hard_delete_logged_model")):
        return False  # a tracking server's REST store: describe() says what to run
    client = MlflowClient(tracking_uri=uri)

    def remove(location: str) -> None:
        size = _bytes(location)
        with contextlib.redirect_stdout(io.StringIO()):  # a line per file, on some stores
            get_artifact_repository(location).delete_artifacts()
        result.file_bytes += size - _bytes(location)
        _remove_empty(_local(location))

    try:
        for run_id in runs:
            remove(client.get_run(run_id).info.artifact_uri)
            store._hard_delete_run(run_id)
        for model_id in models:
            remove(store.get_logged_model(model_id, allow_deleted=True).artifact_location)
            store._hard_delete_logged_model(model_id)
    except Exception as exc:  # the rest stay marked deleted: restorable, or for mlflow gc
        result.notes.append(f"freeing the deleted runs' files stopped ({type(exc).__name__}: "
                     f"{redact_text(str(exc))}); those left are marked deleted: `mlflow gc "
                     f"--backend-store-uri {redact_uri(uri)}` frees them")
    return True


def _remove_empty(folder: Path | None) -> None:
    """A run's ``<run id>/artifacts`` folder, and the run's folder, once emptied."""
    for path in (folder, folder.parent if folder else None):
        with contextlib.suppress(OSError):
            if path is not None and path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _vacuum(db: str, notes: list[str]) -> None:
    """Give a SQLite database's freed pages back to the disk (``VACUUM`` rewrites the file:
    it waits up to 30 s for other writers, and is skipped while a search writes on)."""
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        notes.append(f"the database was not compacted ({exc}): its freed pages are reused by "
                     f"later runs; `sqlite3 {db} VACUUM` when no search runs compacts it")
