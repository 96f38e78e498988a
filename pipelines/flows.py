"""Lepton's run as a Prefect flow, and its deployment on a schedule.

``search_flow`` calls the steps of :mod:`lepton.steps` (the same functions ``lepton run``
calls), one coarse task per step: load and split, search, evaluate on the held-out rows,
record the test metrics in MLflow, decide on those rows whether a registered model
becomes champion, save the model. ``serve_schedule`` serves it as a
deployment with a cron or interval schedule (``lepton schedule`` on the command line).

Prefect is imported here and nowhere in ``import lepton``. Importing this module turns
Prefect's analytics off (``PREFECT_SERVER_ANALYTICS_ENABLED=false``, ``DO_NOT_TRACK``)
unless the caller set them.
"""

# No `from __future__ import annotations` here: Prefect builds the flow's parameter model
# from its annotations in the flow run's own process, where string annotations such as
# "Literal[...]" did not resolve ("Search_FlowModel is not fully defined").
import contextlib
import math
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any, Literal

from lepton._servers import loopback_without_proxy
from lepton._warn import LeptonWarning


def quiet_prefect_env() -> dict[str, str]:
    """Environment for Prefect in what Lepton starts: no analytics or telemetry."""
    return {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}


for _key, _value in quiet_prefect_env().items():
    os.environ.setdefault(_key, _value)
loopback_without_proxy()  # Prefect's client, to the server a flow run starts on 127.0.0.1

try:
    from prefect import flow, get_run_logger, task  # noqa: E402
    from prefect.cache_policies import NO_CACHE  # noqa: E402
except ModuleNotFoundError as _exc:  # the `pipelines` extra, not a requirement
    if _exc.name is None or _exc.name.split(".")[0] != "prefect":
        raise
    raise ModuleNotFoundError(
        "Lepton's scheduled runs (lepton schedule, lepton.pipelines) need Prefect, which is "
        "not installed: pip install 'lepton-automl[pipelines]'", name="prefect") from _exc

from lepton import steps  # noqa: E402
from lepton.search import BudgetTooSmall, StorageError, Terminated  # noqa: E402

__all__ = ["FLOW_NAME", "search_flow", "serve_schedule", "make_schedule",
           "deployment_parameters", "is_transient", "quiet_prefect_env", "RegistrationMissed"]

#: The flow's name: a deployment ``NAME`` of it runs as ``lepton-search/NAME``.
FLOW_NAME = "lepton-search"


def is_transient(exc: BaseException | None) -> bool:
    """Errors worth another attempt a little later: an MLflow tracking store or an Optuna
    storage that did not answer (both fail before any training time is spent), or the
    operating system's I/O errors (a network share), also where reading a table file met
    one (``read_table`` says what could not be read as a ValueError from it) and where the
    file is not there yet (tonight's export, late: ``load_dataset``'s ValueError comes from
    a FileNotFoundError). Bad input (a
    file that is not the table it claims to be), a search in which no trial worked, and a
    stop by signal are not retried."""
    from lepton.tracking import TrackingError

    if isinstance(exc, ValueError) and isinstance(exc.__cause__, OSError):
        # the OS's own errors carry an errno; a corrupt gzip stream's or Parquet file's none
        return exc.__cause__.errno is not None
    return isinstance(exc, (TrackingError, StorageError, OSError))


def _retry_if_transient(task_: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - the failed attempt's own exception
        return is_transient(exc)
    return False


_options = {"cache_policy": NO_CACHE, "retry_condition_fn": _retry_if_transient}
load_task = task(steps.load_split, name="load", **_options)
evaluate_task = task(steps.evaluate, name="evaluate", cache_policy=NO_CACHE)
promote_task = task(steps.promote, name="promote", cache_policy=NO_CACHE)
importance_task = task(steps.importances, name="importance", cache_policy=NO_CACHE)
record_task = task(steps.record, name="record", **_options)
save_task = task(steps.save, name="save", **_options)
prune_task = task(steps.prune_searches, name="prune", **_options)


@task(name="search", **_options)
def search_task(split: steps.Split, options: dict[str, Any]):
    """Build the estimator and fit it (the whole ``time_budget`` is spent here)."""
    model = steps.build_estimator(split, **options)
    model._caller_summarises = True  # the flow logs the summary (with log_prints, twice)
    try:
        with _search_handles_sigterm():
            return steps.search(model, split)
    except BudgetTooSmall as exc:  # in the flow's names (and lepton schedule's): no cv here
        raise ValueError(exc.said_as("time_budget (lepton schedule: --time-budget)",
                                     "tracking=False (--no-tracking)")) from exc


@contextlib.contextmanager
def _search_handles_sigterm():
    """Cancelling a flow run (Prefect's UI, ``prefect flow-run cancel``, the runner shutting
    down) sends its process SIGTERM, which Prefect's own handler turns into an exception
    raised wherever the search happens to be: the running trial stayed RUNNING in the
    study and its MLflow parent run ended FAILED. For the search, SIGTERM gets its default
    handling back, which the search replaces with its own (the running trials stop after
    their batch, are recorded as interrupted and queued to run again, the MLflow runs end
    KILLED: ``lepton.search.Terminated``); then Prefect's handler gets the signal, as if
    it had just arrived, and ends the flow run its way (Cancelled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    prefects = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    except Terminated:
        if callable(prefects):  # it raises Prefect's own exception in place of this one
            prefects(signal.SIGTERM, None)
        raise
    finally:
        signal.signal(signal.SIGTERM, prefects)


def _run_name() -> str:
    """A flow run's name: the dataset (a file by its name, not its absolute path, which
    filled the Prefect UI's run list) and the budget, e.g. 'sales.csv-30.0s'."""
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    dataset = Path(str(parameters.get("dataset", "digits"))).name
    return f"{dataset}-{float(parameters.get('time_budget', 30.0))}s"


@flow(name=FLOW_NAME, flow_run_name=_run_name, persist_result=True,
      log_prints=True, validate_parameters=True)
def search_flow(dataset: str = "digits", target: str | list[str] | None = None,
                task: Literal["auto", "classification", "regression"] = "auto",
                test_size: float = 0.25, seed: int = 0, time_column: str | None = None,
                weight_column: str | None = None, input_shape: list[int] | None = None,
                time_budget: float = 30.0,
                n_jobs: int | None = None, device: str = "auto", metric: str | None = None,
                search_space: str | dict[str, Any] = "auto",
                storage: str | None = None, study_name: str | None = None,
                images: bool = True, tracking: bool = True, experiment: str | None = None,
                tracking_uri: str | None = None, registered_model_name: str | None = None,
                save: str | None = None, verbose: int = 1, retries: int = 2,
                retry_delay_seconds: float = 60.0,
                importance: int | None = None,
                keep_searches: int | None = None,
                delete_versions: bool = False) -> dict[str, Any]:
    """Search a network for ``dataset`` within ``time_budget`` seconds, score it on the
    held-out rows, log those scores to the search's MLflow run and (``save``) write the
    model with joblib. The arguments are ``lepton run``'s options.

    Load, search, record and save are retried ``retries`` times, ``retry_delay_seconds``
    apart, after a transient error (``is_transient``: a tracking store or study storage
    that did not answer, an I/O error). With a persistent ``storage`` and no
    ``study_name``, the study is named after the flow run (``lepton-search-<dataset>-<flow
    run id>``): each scheduled run searches its own data in a study of its own, and a
    retried search, or the flow run retried from Prefect's UI after its process died,
    resumes that study. ``importance`` (a number of columns): the columns' permutation
    importances on the held-out rows (``lepton run --importance``), the top ones logged
    and in the summary, every one with the MLflow run as ``column_importance.csv``.
    ``keep_searches`` (a number): after the run, its experiment's searches past that many
    most recently active are deleted (``lepton prune``: running ones stay, registered ones
    lose their trial runs only; with ``delete_versions``, those whose versions hold no
    alias go whole, versions included); where that fails, the run says so and still
    succeeds.
    Returns a summary (JSON-serialisable; Prefect persists it as the flow run's result).
    """
    logger = get_run_logger()
    retry = {"retries": retries, "retry_delay_seconds": retry_delay_seconds}
    if importance is not None and importance < 1:  # before the search spends its budget
        raise ValueError(f"importance={importance}: give the number of columns to show "
                         "(1 or more), or None for no importances.")
    steps.check_keep_searches(keep_searches, delete_versions=delete_versions)
    steps.check_untracked(tracking, registered_model_name=registered_model_name,
                          experiment=experiment, tracking_uri=tracking_uri,
                          keep_searches=keep_searches)
    if save is not None:
        steps.check_writable(save, what="save")  # before the search spends its budget
    split = load_task.with_options(**retry)(dataset, target=target, task=task,
                                            test_size=test_size, seed=seed,
                                            time_column=time_column,
                                            weight_column=weight_column,
                                            input_shape=input_shape)
    logger.info("dataset=%s task=%s rows=%d train=%d test=%d", split.name, split.task,
                split.rows, len(split.y_train), len(split.y_test))
    notes = split.notes()
    for note in notes:
        logger.info(note)
    if storage is not None and study_name is None:
        from prefect.runtime import flow_run

        study_name = f"{FLOW_NAME}-{split.name}-{flow_run.id}"
    options = dict(time_budget=time_budget, n_jobs=n_jobs, device=device, metric=metric,
                   search_space=search_space, storage=storage, study_name=study_name, seed=seed,
                   images=images, tracking=tracking, experiment=experiment,
                   tracking_uri=tracking_uri, register=registered_model_name,
                   verbose=verbose)
    model = search_task.with_options(**retry)(split, options)
    if save is not None:  # first: a run cancelled after its search keeps its model
        save_task.with_options(**retry)(model, save)
    scores = evaluate_task(model, split)
    tables, top = {}, None
    if importance is not None:
        from lepton.inspection import format_importances

        table = importance_task(model, split, seed=seed, time_budget=time_budget)
        for line in format_importances(table, importance, split.default_metric):
            logger.info(line)
        tables["column_importance.csv"] = table
        top = {row.feature: round(float(row.importance), 6)
               for row in table.head(importance).itertuples()}
    run_id = record_task.with_options(**retry)(model, scores, _prefect_tags(), tables,
                                               dataset=split.name)
    if registered_model_name is not None:
        promote_task(model, split)
    info = model.final_model_info_
    summary = {
        "dataset": split.name, "task": split.task, "rows": split.rows,
        "train_rows": len(split.y_train), "test_rows": len(split.y_test),
        "time_budget": time_budget, "fit_seconds": round(float(model.fit_time_), 3),
        "n_trials": int(model.n_trials_), "search_space": model.search_space_.name,
        "devices": list(model.devices_),
        "study_name": model.study_.study_name, "final_choice": model.final_choice_,
        "validation": {info["metric"]: float(model.best_score_)},
        "held_out": scores, "mlflow_run_id": run_id, "model_path": save, "notes": notes,
    }
    if top is not None:
        summary["column_importance"] = top
    registered = steps.registration(model)
    if registered:
        summary["registered_model"] = registered
        logger.info("registered as %r version %s: %s", registered["name"],
                    registered["version"], registered["promotion"])
    if keep_searches is not None:
        try:
            pruned = prune_task.with_options(**retry)(model, keep_searches,
                                                      delete_versions=delete_versions)
        except Exception as exc:  # housekeeping: the run's model is saved and registered
            logger.warning("could not delete the experiment's older searches: %s: %s",
                           type(exc).__name__, exc)
            summary["pruned"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            result = pruned[1] if pruned else None
            summary["pruned"] = {key: getattr(result, attr, 0) for key, attr in (
                ("runs", "runs"), ("logged_models", "models"), ("versions", "versions"),
                ("file_bytes", "file_bytes"))}
            if pruned:
                logger.info(steps.pruned_text(keep_searches, model.tracker_.experiment_name,
                                              *pruned))
    logger.info("searched %d trials on %s in %.1fs of %gs; final model: %s%s; held-out %s",
                summary["n_trials"], ",".join(summary["devices"]), summary["fit_seconds"],
                time_budget, model._final_text(), model._search_notes(),
                ", ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    missed = steps.registration_missed(model)
    if missed:  # the flow run fails: a retraining that registered nothing is no success
        raise RegistrationMissed(f"registered_model_name={registered_model_name!r}: {missed}")
    return summary


class RegistrationMissed(RuntimeError):
    """The search ran and its model is saved where asked, but no version was registered."""


def _prefect_tags() -> dict[str, str]:
    """MLflow tags naming the flow run (and its deployment) that ran the search, so a run
    compared in the MLflow UI leads back to its Prefect run."""
    from prefect.runtime import deployment, flow_run

    tags = {"lepton.prefect.flow_run_id": str(flow_run.id),
            "lepton.prefect.flow_run_name": str(flow_run.name)}
    if deployment.name:
        tags["lepton.prefect.deployment"] = f"{FLOW_NAME}/{deployment.name}"
    from prefect.settings import PREFECT_UI_URL

    if PREFECT_UI_URL.value():  # else Prefect writes 'None/flow-runs/...' (no UI to link)
        tags["lepton.prefect.flow_run_url"] = str(flow_run.ui_url)
    return tags


def deployment_parameters(**parameters: Any) -> dict[str, Any]:
    """``search_flow``'s parameters for a deployment: checked now rather than at the first
    scheduled run (a dataset that is neither built in nor a table file, an unknown
    parameter), and with relative paths made absolute (the runs start elsewhere)."""
    from lepton.datasets import BUILTIN_DATASETS, check_builtin_target, table_format

    known = set(search_flow.parameters.properties)
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"{unknown} are not parameters of the {FLOW_NAME} flow; it takes "
                         f"{sorted(known)}.")
    converted = _as_a_run_takes_them(parameters)  # test_size='0.2' as a run takes it
    steps.check_run_options(**{key: converted[key] for key in (
        "task", "test_size", "time_budget", "n_jobs", "metric", "search_space", "device",
        "storage") if key in parameters})  # (a storage 'notaurl' was served: helper-80)
    if parameters.get("input_shape") is not None:
        from lepton.preprocessing import check_input_shape

        check_input_shape(parameters["input_shape"])
    if str(parameters.get("tracking_uri") or "").strip():  # ('' is said below)
        from lepton.tracking._store import check_tracking_uri_form

        check_tracking_uri_form(parameters["tracking_uri"])
    _check_run_values(converted)
    if parameters.get("save"):  # each scheduled run would fail at its end, after its search
        steps.check_writable(parameters["save"], what="save")
    dataset = parameters.get("dataset", "digits")
    check_builtin_target(dataset, parameters.get("target"))
    if dataset in BUILTIN_DATASETS and parameters.get("metric") is not None:
        # its task is known: `lepton schedule iris --metric r2` was served, each run failing
        _check_table(dataset, parameters)
    if dataset not in BUILTIN_DATASETS:
        table_format(dataset, what=f"dataset (not a built-in one: {', '.join(BUILTIN_DATASETS)})")
        if os.path.exists(dataset):  # (a file another job writes later is checked by its runs)
            _check_table(dataset, parameters)
        parameters["dataset"] = steps.absolute_dataset(dataset)
        if parameters.get("study_name") and parameters.get("storage"):
            # a search refuses to resume a study on other data: a schedule retraining on a
            # file that grows would fail from its second run on, every run
            warnings.warn(
                f"study_name={parameters['study_name']!r} names one study for every scheduled "
                f"run: once {os.path.basename(dataset)} changes (rows added), each run is "
                "refused, as the study holds another dataset's trials. Leave study_name out "
                "to give each version of the data its own study (the same data resumes "
                "its own).", LeptonWarning, stacklevel=2)
    _warn_passwords(parameters)
    for key in ("save", "storage", "search_space"):
        value = parameters.get(key)
        if key == "search_space" and not (isinstance(value, str)
                                          and value.endswith((".yaml", ".yml"))):
            continue  # a built-in space's name, or a dict
        if value and "://" not in value:
            parameters[key] = str(Path(value).resolve())
    return parameters


def _warn_passwords(parameters: dict[str, Any]) -> None:
    """A password in a deployment's storage or tracking URI is kept in Prefect's database
    as written, and every run's parameters show it in the Prefect UI and API (security
    review helper-75): said, with the ways the runs can get it instead."""
    from lepton.tracking._store import redact_uri

    given = [key for key in ("storage", "tracking_uri")
             if isinstance(parameters.get(key), str)
             and redact_uri(parameters[key]) != parameters[key]]
    if given:
        warnings.warn(
            f"{' and '.join(given)} hold(s) a password, which the deployment keeps in "
            "Prefect's database as written, shown with every run's parameters. Leave it out "
            "of the URL and give it to the runs' environment instead: PostgreSQL reads "
            "PGPASSWORD or ~/.pgpass, an MLflow server MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD.", LeptonWarning, stacklevel=3)


def _as_a_run_takes_them(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` as each run of the flow receives them: Prefect checks their types and
    converts them (``seed='3'`` is 3, ``verbose=True`` 1) before the flow starts, and
    refuses the rest (``retries=1.5``, ``images=2``: every scheduled run failed there)."""
    import logging

    from prefect.exceptions import ParameterTypeError

    log = logging.getLogger("prefect.flows")  # its ERROR line repeats the message below
    was_disabled, log.disabled = log.disabled, True
    try:
        return search_flow.validate_parameters(parameters)
    except ParameterTypeError as exc:
        raise ValueError(str(exc)) from None
    finally:
        log.disabled = was_disabled


#: a tracked scheduled run's budget below this is warned of when the deployment is made
SMALL_TRACKED_BUDGET_S = 20.0


def _seconds_of(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.inf  # refused elsewhere, in its own words


def _check_run_values(parameters: dict[str, Any]) -> None:
    """The values each scheduled run would refuse after Prefect's conversions (after
    loading its data, or at the fit), refused when the deployment is made: a seed numpy
    does not take, a negative verbosity, an empty name (``experiment=''`` logged to
    MLflow's default experiment), a number of importances below 1, negative retries."""
    for key in ("retries", "retry_delay_seconds"):
        if not 0 <= parameters[key] < math.inf:  # (nan was taken: review helper-80)
            raise ValueError(f"{key}={parameters[key]!r}: give a number >= 0.")
    seed, verbose = parameters["seed"], parameters["verbose"]
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed!r}: give a whole number from 0 to {2**32 - 1}.")
    if verbose not in (0, 1, 2):  # (7 was taken: review helper-80)
        raise ValueError(f"verbose={verbose!r}: give 0 (the summary only), 1 (progress) "
                         "or 2 (also a line per trial).")
    steps.check_keep_searches(parameters.get("keep_searches"),
                              delete_versions=bool(parameters.get("delete_versions")))
    if parameters.get("tracking", True) and _seconds_of(parameters.get("time_budget", 30.0)) \
            < SMALL_TRACKED_BUDGET_S:
        warnings.warn(
            f"time_budget={_seconds_of(parameters.get('time_budget')):g}: a tracked run "
            "holds back 7 s or more "
            "of its budget for its end-of-search logging, and each scheduled run starts a new "
            "process (2-3 s of preparation): runs may refuse the budget as too small (review "
            f"helper-81: 10 s was). Give {SMALL_TRACKED_BUDGET_S:g} s or more, or "
            "tracking=False (--no-tracking).", LeptonWarning, stacklevel=2)
    steps.check_untracked(parameters.get("tracking", True), **{
        key: parameters.get(key) for key in ("registered_model_name", "experiment",
                                             "tracking_uri", "keep_searches")})
    importance = parameters.get("importance")
    if importance is not None and importance < 1:
        raise ValueError(f"importance={importance!r}: give the number of columns to show "
                         "(1 or more), or None for no importances.")
    for key in ("study_name", "experiment", "tracking_uri", "registered_model_name"):
        value = parameters.get(key)
        if value is not None and not value.strip():  # (Prefect gave a str or None)
            raise ValueError(f"{key}={value!r}: give a name that is not empty, or None "
                             "for the default.")


def _check_table(path: str, parameters: dict[str, Any]) -> None:
    """The data as a scheduled run will read it (a file, or a built-in dataset): its
    target, time and weight columns (and pixels, with ``input_shape``), and the metric
    against the task its target gives, so that a misspelt column fails the deployment now,
    not every run from the first on (the file is read once, here)."""
    from lepton.search.metrics import get_metric

    split = steps.load_split(path, **{key: parameters[key] for key in (
        "target", "task", "test_size", "seed", "time_column", "weight_column", "input_shape")
        if key in parameters})
    if parameters.get("metric") is not None:
        get_metric(parameters["metric"], split.task)


def make_schedule(*, cron: str | None = None, interval: float | None = None,
                  timezone: str | None = None):
    """A Prefect schedule from a cron expression or an interval in seconds, checked."""
    from prefect.client.schemas.schedules import construct_schedule

    if (cron is None) == (interval is None):
        raise ValueError("give exactly one of cron (a cron expression such as '0 3 * * *') "
                         "and interval (seconds between runs).")
    if interval is not None and not interval > 0:
        raise ValueError(f"interval={interval!r}: give the seconds between runs, above 0.")
    try:
        schedule = construct_schedule(cron=cron, interval=interval, timezone=timezone)
    except Exception as exc:  # noqa: BLE001 - pydantic's and croniter's errors alike
        what = f"cron={cron!r}" if cron is not None else f"interval={interval!r}"
        errors = getattr(exc, "errors", None)  # pydantic's ValidationError
        reason = errors()[0]["msg"] if callable(errors) and errors() else str(exc)
        reason = reason.removeprefix("Value error, ")
        raise ValueError(f"{what}, timezone={timezone!r}: not a schedule Prefect accepts: "
                         f"{reason}") from exc
    return schedule


def serve_schedule(name: str, *, cron: str | None = None, interval: float | None = None,
                   timezone: str | None = None, parameters: dict[str, Any] | None = None,
                   limit: int | None = 1, checked: bool = False) -> None:
    """Serve ``search_flow`` as the deployment ``lepton-search/<name>`` with a cron or
    interval schedule until this process is stopped (SIGTERM or Ctrl-C). The Prefect API
    it registers with is ``PREFECT_API_URL`` (a ``prefect server start`` or Prefect
    Cloud); without one, a temporary server lives as long as this process. ``limit``
    caps the runs at once (default 1: a run that outlasts its interval delays the next).
    ``checked``: ``parameters`` are :func:`deployment_parameters`' answer already (not
    checked again: that reads the table file)."""
    schedule = make_schedule(cron=cron, interval=interval, timezone=timezone)
    params = dict(parameters or {}) if checked else deployment_parameters(**(parameters or {}))
    from prefect.types.entrypoint import EntrypointType

    # print_starting_message: Prefect's banner told to run `prefect deployment run ...`
    # without the API's address: run so, it started a second temporary server on the same
    # database (review helper-77); `lepton schedule` prints the command with it
    search_flow.serve(name=name, schedules=[schedule], parameters=params, limit=limit,
                      description=f"Lepton search of {params.get('dataset', 'digits')}",
                      entrypoint_type=EntrypointType.MODULE_PATH, print_starting_message=False)
