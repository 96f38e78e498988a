"""``lepton prune``: delete old searches from a tracking store, keeping what is in use.

A store only grows: a nightly ``lepton run --register`` added 2-5 MB (review helper-74,
stop 42). :func:`plan_prune` picks, in each experiment, the Lepton searches past the
``keep`` most recently active (or last active more than ``older_than`` seconds ago; given
both, a search must be past both). Such a search is deleted whole (its run, its trial
runs, the logged models it made) unless

- it is running, or has a trial running (a run left RUNNING by a process of this machine
  that has ended is not running): it stays;
- a registered model version comes from it (a scheduled ``--register`` run registers a
  version every night, promoted or not): its run and models stay, as the version needs
  them (its model files, its training rows' hashes), and its trial runs go. With
  ``delete_versions``, a search whose versions hold no alias (``champion`` or any other)
  goes whole, its versions with it.

:meth:`PrunePlan.execute` deletes, then, where the store allows, frees what it deleted for
good: files and database rows (MLflow's garbage collection, for these ids only: runs and
experiments that someone deleted by hand, and may restore, are left as they are), and
compacts a SQLite database (``VACUUM``). Runs that are not Lepton's (no ``lepton.role``
tag) are never touched, nor Optuna studies (a persistent study resumed later starts a new
search run). A tracking server (``http://``) only marks runs deleted: its files are freed
by ``mlflow gc`` on the server's machine.

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
    _scheme, _sqlite_file, check_tracking_uri, disk_full, driver_url, mlflow_env, one_line,
    open_client, process_gone, redact_uri, resolve_tracking_uri, store_errors_unlogged,
)
from ._writer import mlflow_client

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
    last_active: float  # seconds since the epoch: its end, or its start while it runs
    #: deleted whole (its run, trials, models, ``versions``); False: its trial runs only
    whole: bool = True
    trial_ids: list[str] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)  # (name, version)
    file_bytes: int = 0  # of what of it is deleted: artifact files


@dataclass
class PrunePlan:
    """What :func:`plan_prune` chose: ``delete`` (the searches deleted whole, and the
    registered ones whose trial runs go), ``kept`` (per experiment, a count per reason),
    ``orphans`` (per experiment, trial runs whose search run is gone for good)."""

    tracking_uri: str
    delete: list[_Search]  # searches deleted whole, and registered ones' trial runs
    kept: dict[str, Counter]
    searches: dict[str, int]  # per experiment holding Lepton runs, the searches it holds
    orphans: dict[str, list[str]]  # per experiment, trial runs whose search run is gone
    orphan_bytes: int = 0
    delete_versions: bool = False
    registry_uri: str | None = None  # where the versions are (None: the tracking store)
    #: some files are in a remote artifact store (a tracking server's, S3...): not measured
    remote_files: bool = False

    @property
    def runs(self) -> int:
        """Runs it deletes: searches, their trials, and orphaned trials."""
        return (sum(int(s.whole) + len(s.trial_ids) for s in self.delete)
                + sum(len(ids) for ids in self.orphans.values()))

    @property
    def empty(self) -> bool:
        return not self.runs

    @property
    def file_bytes(self) -> int:
        return sum(s.file_bytes for s in self.delete) + self.orphan_bytes

    def files(self, n: int) -> str:
        """``n`` bytes of files, said as known: a remote store's are not measured from here
        (a tracking server's plan said '0 bytes of files')."""
        if not self.remote_files:
            return f"{_size(n)} of files"
        return (f"{_size(n)} of local files, and" if n else "") + " files in a remote " \
            "artifact store, not measured from here"

    def describe(self) -> str:
        """One line per experiment: what goes, what stays and why."""
        lines = [f"tracking store {redact_uri(self.tracking_uri)}"]
        for experiment in sorted(self.searches):
            mine = [s for s in self.delete if s.experiment == experiment]
            gone = [s for s in mine if s.whole]
            thinned = [s for s in mine if not s.whole]
            count = Counter()
            for s in gone:
                count["trial run"] += len(s.trial_ids)
                count["logged model"] += len(s.model_ids)
                count["registered version"] += len(s.versions)
            parts = [_n(count[k], k) for k in ("trial run", "logged model",
                                               "registered version") if count[k]]
            parts.append(self.files(sum(s.file_bytes for s in gone)).strip())
            line = f"  {experiment}: {_n(self.searches[experiment], 'search')}; delete " \
                   f"{len(gone)} ({', '.join(parts)})"
            if thinned:
                line += (f"; of {_n(len(thinned), 'older registered search')}, delete the "
                         f"{_n(sum(len(s.trial_ids) for s in thinned), 'trial run')} "
                         f"({self.files(sum(s.file_bytes for s in thinned)).strip()})")
            orphans = len(self.orphans.get(experiment, ()))
            if orphans:
                line += f"; delete {_n(orphans, 'trial run')} whose search run is gone"
            kept = self.kept.get(experiment, Counter())
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(kept.items()))
            line += f"; keep {sum(kept.values())}" + (f" ({why})" if why else "")
            lines.append(line)
        if len(lines) == 1:
            lines.append("  no experiment holds a Lepton search")
        elif any(not s.whole for s in self.delete) and not self.delete_versions:
            lines.append("  (a registered version keeps its search's run and models; "
                         "--delete-versions deletes the older searches whose versions hold "
                         "no alias, versions included)")
        return "\n".join(lines)

    def execute(self) -> PruneResult:
        """Delete what the plan chose (see the module's docstring)."""
        with mlflow_env(), store_errors_unlogged():
            return _execute(self)


@dataclass
class PruneResult:
    runs: int  # runs deleted
    models: int  # logged models deleted
    skipped: list[str]  # searches found running or registered since the plan: kept
    freed: bool  # files and rows removed for good (False: only marked deleted)
    file_bytes: int  # of the artifact files removed
    versions: int = 0  # registered versions deleted (delete_versions)
    interrupted: bool = False  # a Ctrl-C stopped it: what it deleted is gone, the rest stays
    # an error stopped it before it did all it planned (the note says which): `lepton
    # prune` exits 1 (it printed "stopped by" and exited 0 on a full disk: a cron job saw
    # a success; review helper-87)
    stopped: bool = False
    database_before: int | None = None  # SQLite file's bytes, before and after
    database_after: int | None = None
    notes: list[str] = field(default_factory=list)  # what could not be done, and why

    def describe(self) -> str:
        text = (f"deleted {_n(self.runs, 'run')}, {_n(self.models, 'logged model')}"
                + (f", {_n(self.versions, 'registered version')}" if self.versions else "")
                + (f"; freed {_size(self.file_bytes)} of files" if self.freed else
                   "; the runs are marked deleted (restorable until `mlflow gc` on the "
                   "tracking server's machine frees their files)"))
        if self.database_before is not None and self.database_after is not None:
            text += (f"; database {_size(self.database_before)} -> "
                     f"{_size(self.database_after)}")
        if self.skipped:
            text += (f"; kept {_n(len(self.skipped), 'search')} that started again, or "
                     "whose registered versions changed, meanwhile")
        return "\n".join([text, *self.notes])


def plan_prune(tracking_uri: str | None = None, *, experiment: str | None = None,
               keep: int | None = None, older_than: float | None = None,
               delete_versions: bool = False, registry_uri: str | None = None) -> PrunePlan:
    """Choose what to delete (nothing is deleted here; see the module's docstring).

    ``keep``: the most recently active searches each experiment keeps whole (registered
    and running ones count among them); ``older_than``: seconds since a search was last
    active before it may go. At least one is needed; given both, a search goes only when
    it is past both. ``experiment``: this one only (default: every experiment of the
    store). ``delete_versions``: an older search whose registered versions hold no alias
    goes whole, its versions with it (else its run and models stay, for its versions).
    ``registry_uri``: the model registry, where it is not the tracking store (default:
    ``MLFLOW_REGISTRY_URI``, else the tracking store): the versions kept are its."""
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
    uri = resolve_tracking_uri(tracking_uri)
    db = _sqlite_file(uri)
    if _scheme(uri) == "sqlite" and db and not Path(db).is_file():
        raise TrackingError(f"tracking_uri={redact_uri(uri)!r}: no store there ({db} does "
                            "not exist), so nothing to prune.")
    registry = driver_url(registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or uri)
    check_tracking_uri(uri)
    if registry != uri:
        check_tracking_uri(registry)
    with mlflow_env():
        return _plan(uri, registry, experiment, keep, older_than, delete_versions)


def _running(run) -> bool:
    from ._mlflow import TAG_PROCESS, TAG_PROCESS_START

    tags = run.data.tags
    return run.info.status == "RUNNING" and not process_gone(
        tags.get(TAG_PROCESS), tags.get(TAG_PROCESS_START))


def _active(run) -> float:
    """When a run was last active (seconds since the epoch): its end, or its start."""
    return (run.info.end_time or run.info.start_time or 0) / 1000


def _plan(uri: str, registry: str, only: str | None, keep: int | None,
          older_than: float | None, delete_versions: bool) -> PrunePlan:
    from mlflow.entities import ViewType
    from ._writer import TAG_ROLE

    client = open_client(uri, registry)  # locked, and mended where a full disk cut it
    experiments = _all(lambda token: client.search_experiments(page_token=token))
    if only is not None:
        named = [e for e in experiments if e.name == only]
        if not named:
            names = ", ".join(repr(e.name) for e in experiments[:20]) or "none"
            raise ValueError(f"experiment={only!r} is not in {redact_uri(uri)!r} "
                             f"(its experiments: {names})")
        experiments = named
    registered, pinned = _registered(client)
    now = time.time()
    plan = PrunePlan(uri, [], {}, {}, {}, delete_versions=delete_versions,
                     registry_uri=registry)

    def measure(uri: str | None) -> int:
        if uri and _local(uri) is None:
            plan.remote_files = True
        return _bytes(uri)

    for exp in experiments:
        runs = _all(lambda token: client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{TAG_ROLE}` != ''",
            max_results=1000, page_token=token))
        if not runs:
            continue
        # (an experiment whose last search run is gone may still hold its trial runs:
        # orphans of an interrupted prune)
        searches = [r for r in runs if r.data.tags.get(TAG_ROLE) == "search"]
        plan.searches[exp.name] = len(searches)
        kept = plan.kept.setdefault(exp.name, Counter())
        searches.sort(key=_active, reverse=True)
        # a search with a trial running (a worker's, say) is running
        busy = {r.data.tags.get("mlflow.parentRunId") for r in runs
                if r.data.tags.get(TAG_ROLE) == "trial" and _running(r)}
        chosen: dict[str, _Search] = {}
        for rank, run in enumerate(searches, start=1):
            run_id = run.info.run_id
            if keep is not None and rank <= keep:
                kept["newest"] += 1
            elif older_than is not None and now - _active(run) <= older_than:
                kept["recent"] += 1
            elif _running(run) or run_id in busy:
                kept["running"] += 1
            else:
                versions = registered.get(run_id, [])
                whole = not versions or (delete_versions and not any(
                    v in pinned for v in versions))
                if not whole:
                    kept["registered"] += 1
                chosen[run_id] = _Search(
                    run_id, exp.name, _active(run), whole=whole,
                    versions=list(versions) if whole else [],
                    file_bytes=measure(run.info.artifact_uri) if whole else 0)
        # searches deleted by hand are restorable: their trials are not orphans
        known = {r.info.run_id for r in _all(lambda token: client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{TAG_ROLE}` = 'search'",
            run_view_type=ViewType.ALL, max_results=1000, page_token=token))}
        orphans = []
        for run in runs:
            if run.data.tags.get(TAG_ROLE) != "trial" or _running(run) or \
                    run.info.run_id in registered:  # a version registered from a trial
                continue
            parent = run.data.tags.get("mlflow.parentRunId")
            size = measure(run.info.artifact_uri)
            if parent in chosen:
                chosen[parent].trial_ids.append(run.info.run_id)
                chosen[parent].file_bytes += size
            elif parent not in known and (
                    older_than is None or now - _active(run) > older_than):
                orphans.append(run.info.run_id)
                plan.orphan_bytes += size
        if orphans:
            plan.orphans[exp.name] = orphans
        if any(s.whole for s in chosen.values()):
            models = _all(lambda token: client.search_logged_models(
                experiment_ids=[exp.experiment_id], max_results=1000, page_token=token))
            for model in models:
                search = chosen.get(model.source_run_id)
                if search is not None and search.whole and (
                        model.model_id not in registered
                        or set(registered[model.model_id]) <= set(search.versions)):
                    search.model_ids.append(model.model_id)
                    search.file_bytes += measure(model.artifact_location)
        plan.delete.extend(s for s in chosen.values() if s.whole or s.trial_ids)
    return plan


def _registered(client) -> tuple[dict[str, list[tuple[str, str]]], set[tuple[str, str]]]:
    """The registered model versions: by the run and the logged model each comes from
    (``(name, version)`` lists), and those that hold an alias (``champion``...)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for version in _all(lambda token: client.search_model_versions(
            max_results=10_000, page_token=token)):
        key = (version.name, str(version.version))
        for source in (version.run_id, getattr(version, "model_id", None)):
            if source:
                found.setdefault(source, []).append(key)
    pinned = set()
    for name in {name for keys in found.values() for name, _ in keys}:
        aliases = getattr(client.get_registered_model(name), "aliases", None) or {}
        pinned.update((name, str(version)) for version in aliases.values())
    return found, pinned


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

    uri = plan.tracking_uri
    client = mlflow_client(uri, plan.registry_uri or uri)
    # again: a version registered, or an alias moved, since the plan keeps what it needs
    registered, pinned = _registered(client)
    result = PruneResult(0, 0, [], False, 0)
    remover = _Remover(uri, client, result)
    result.freed = remover.frees
    done = 0
    try:
        for search in plan.delete:
            try:
                run = client.get_run(search.run_id)
            except MlflowException:  # deleted meanwhile (by hand, or another prune)
                continue
            if run.info.lifecycle_stage == LifecycleStage.DELETED:
                continue
            versions = registered.get(search.run_id, [])
            if _running(run) or _active(run) > search.last_active + 1 or (search.whole and (
                    set(versions) != set(search.versions)
                    or any(v in pinned for v in versions))):
                result.skipped.append(search.run_id)
                continue
            for name, version in search.versions:  # --delete-versions: none holds an alias
                client.delete_model_version(name, version)
                result.versions += 1
            # each run and model is freed as it is deleted: an interrupted prune leaves at
            # most one marked deleted. The search's run first: trial runs left without it
            # are orphans, which the next prune finds, never a search missing trials
            for run_id in [search.run_id] * search.whole + search.trial_ids:
                remover.run(run_id)
            for model_id in search.model_ids:
                remover.model(model_id)
            done += 1
        for run_id in (i for ids in plan.orphans.values() for i in ids):
            try:
                remover.run(run_id)
            except MlflowException as exc:  # gone meanwhile; a full disk is no such case
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
    except KeyboardInterrupt:
        result.interrupted = True
        result.notes.append(f"interrupted (Ctrl-C) after {_n(done, 'search')} of "
                            f"{len(plan.delete)}: run the prune again for the rest")
        return result
    except Exception as exc:  # the rest stay as they were; what was deleted is gone
        result.stopped = True
        text = one_line(str(exc))
        hint = ("run the prune again for the rest" if not disk_full(text) else
                f"the disk of {_sqlite_file(uri) or 'the store'} is full, and SQLite needs "
                "free space on it even to delete rows (it journals each change): free some "
                "space on that disk first, then run the prune again for the rest")
        result.notes.append(f"stopped by {type(exc).__name__}: {text}; {hint}")
    db = _sqlite_file(uri)
    if db and result.freed and (result.runs or result.models):
        result.database_before = Path(db).stat().st_size
        _vacuum(db, result.notes)
        result.database_after = Path(db).stat().st_size
    return result


class _Remover:
    """Deletes a run or a logged model and, where the store allows, frees it for good at
    once: its artifact files and its rows, as ``mlflow gc --run-ids ... --logged-model-ids
    ...`` does (its calls, for these ids alone: ``mlflow gc`` without ids also purges every
    experiment deleted by hand). A tracking server's REST store only marks them deleted
    (``frees`` False; ``PruneResult.describe`` says what to run)."""

    def __init__(self, uri: str, client, result: PruneResult):
        from mlflow.tracking import _get_store

        self.client, self.result = client, result
        self.store = _get_store(uri)
        self.frees = hasattr(self.store, "_hard_delete_run") and \
            hasattr(self.store, "_hard_delete_logged_model")

    def run(self, run_id: str) -> None:
        location = self.client.get_run(run_id).info.artifact_uri
        self.client.delete_run(run_id)
        self.result.runs += 1
        if self.frees:
            self._free(location)
            self.store._hard_delete_run(run_id)

    def model(self, model_id: str) -> None:
        location = self.client.get_logged_model(model_id).artifact_location
        self.client.delete_logged_model(model_id)
        self.result.models += 1
        if self.frees:
            self._free(location)
            self.store._hard_delete_logged_model(model_id)

    def _free(self, location: str) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        size = _bytes(location)
        with contextlib.redirect_stdout(io.StringIO()):  # a line per file, on some stores
            get_artifact_repository(location).delete_artifacts()
        self.result.file_bytes += size - _bytes(location)
        _remove_empty(_local(location))


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
