"""The ``lepton`` command."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import warnings

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    """Load -> split -> search (or a fixed network) -> held-out evaluation -> tracking."""
    from . import steps

    started = time.perf_counter()

    if args.fixed:
        _refuse_search_options(args)
    steps.check_run_options(  # what is wrong is said before the data loads
        task=args.task, test_size=args.test_size, time_budget=args.time_budget,
        n_jobs=args.n_jobs, metric=args.metric, search_space=args.search_space,
        device=args.device, storage=args.storage)
    steps.check_keep_searches(args.keep_searches, what="--keep-searches",
                              delete_versions=args.delete_versions,
                              versions_what="--delete-versions")
    steps.check_untracked(not args.no_tracking, **{
        "--register": args.register, "--experiment": args.experiment,
        "--tracking-uri": args.tracking_uri, "--keep-searches": args.keep_searches})
    split = steps.load_split(args.dataset, target=_target(args), task=args.task,
                             test_size=args.test_size, seed=args.seed,
                             time_column=args.time_column, weight_column=args.weight_column,
                             input_shape=args.input_shape)
    _check_images(args, split)
    print(f"dataset={split.name} task={split.task} rows={split.rows} "
          f"train={len(split.y_train)} test={len(split.y_test)}")
    imbalance = [] if args.fixed else steps.imbalance_note(split, args.metric)
    for note in split.notes(search=not args.fixed) + imbalance:
        print(note)
    t0 = time.perf_counter()
    if args.fixed:
        from .estimators import NeuralNetworkClassifier, NeuralNetworkRegressor

        cls = NeuralNetworkClassifier if split.task == "classification" else NeuralNetworkRegressor
        if args.save:
            steps.check_writable(args.save)
        # the pixels as one array of numbers (typed column by column, 13 of 64 were taken
        # as codes and target-encoded; review helper-52), for the default MLP
        # its epoch lines are progress, on stderr as a search's is (they were 31 of 33
        # lines of stdout: review helper-77); stdout keeps the results
        with contextlib.redirect_stdout(sys.stderr):
            model = steps.search(cls(random_state=args.seed, verbose=args.verbose,
                                     device=args.device,
                                     input_shape=split.input_shape if args.images else None),
                                 split)
        print(f"trained {model.n_epochs_} epochs in {time.perf_counter() - t0:.1f}s "
              f"({model.training_status_})")
        score = model.score(split.X_test, split.y_test, sample_weight=split.w_test)
        print(f"held-out {split.default_metric}: {score:.4f}")
        if args.importance:
            _print_importances(model, split, args)
        if args.save:  # --save was ignored with --fixed before
            try:
                steps.save(model, args.save)
            except steps.SaveError as exc:
                print(_save_failed(exc), file=sys.stderr)
                return 1
            print(f"saved the fitted model to {args.save} (joblib.load it to predict)")
        return 0

    model = steps.build_estimator(
        split, time_budget=args.time_budget, n_jobs=args.n_jobs, device=args.device,
        metric=args.metric,
        search_space=args.search_space, storage=args.storage, study_name=args.study_name,
        seed=args.seed, images=args.images, tracking=not args.no_tracking,
        experiment=args.experiment, tracking_uri=args.tracking_uri, register=args.register,
        verbose=args.verbose)
    if args.save:
        steps.check_writable(args.save)  # before the search, not after its budget is spent
    if args.storage:
        from .tracking._store import redact_uri

        shown = redact_uri(args.storage)  # not a password in a terminal's scrollback or a log
        print("other processes or machines can add trials to this search: lepton worker "
              f"--storage {shown}"
              + (f" --study-name {args.study_name}" if args.study_name else "")
              + (" (with the storage's password, hidden here)" if shown != args.storage
                 else ""))
    # The model exists once the search ends: a stop signal from then on (or one that cut
    # the end-of-fit logging short, in fit) keeps it: saved first, the rest left out.
    from .search._search import StopRequest, Terminated, stop_signals_set

    stop = StopRequest()
    # the run's summary is the line below: the estimator's own said the same (helper-77)
    model._caller_summarises = True
    try:
        steps.search(model, split)
    except Terminated as exc:  # SIGTERM during the end-of-fit logging: the model is whole
        if getattr(exc, "model", None) is None or not args.save:
            raise
        model = exc.model
        stop.set_by("SIGTERM")
    elapsed = time.perf_counter() - t0
    searched = model.final_model_info_["metric"]
    print(f"searched {model.n_trials_} trials (space={model.search_space_.name}, on "
          f"{','.join(model.devices_)}) in "
          f"{elapsed:.1f}s of a {args.time_budget:g}s budget; "
          f"best validation {searched}={model.best_score_:.4f}; "
          f"final model: {model._final_text()}{model._search_notes()}")
    if getattr(getattr(model, "tracker_", None), "stopped", None):
        stop.set_by(model.tracker_.stopped)
    tracked = getattr(model, "tracking_run_id_", None) is not None
    # what is still to do, in order; what a stop signal leaves out is said
    left_out = (["held-out scores"] + (["column importances"] if args.importance else [])
                + (["MLflow record"] if tracked else [])
                + (["promotion"] if steps.registration(model) else []))
    # a signal already heard (in fit's logging): the next one acts at once, as it said
    signals = (contextlib.nullcontext() if stop.is_set() else
               stop_signals_set(stop, AFTER_SEARCH_STOP.format(signal="Ctrl-C"),
                                AFTER_SEARCH_STOP.format(signal="SIGTERM")))
    # A step that fails after the search (a full disk: review helper-87) is said in a line
    # at the end, and the rest goes on: the held-out scores are printed (they were lost
    # with the search's result in a traceback), and the exit status is 1. A version
    # registered then stays "pending", as the flow leaves it when a task fails.
    save_error = record_error = None
    with signals:
        if args.save:
            try:
                steps.save(model, args.save)
            except steps.SaveError as exc:  # the file there before, if any, is unchanged
                save_error = exc
            else:
                print(f"saved the fitted model to {args.save} (joblib.load it to predict)")
        if not stop.is_set():
            scores = steps.evaluate(model, split)
            for name, score in scores.items():
                print(f"held-out {name}: {score:.4f}")
            left_out.remove("held-out scores")
        tables, importance_s = {}, 0.0
        if args.importance and not stop.is_set():
            t_importance = time.perf_counter()
            tables["column_importance.csv"] = _print_importances(model, split, args)
            importance_s = time.perf_counter() - t_importance
            left_out.remove("column importances")
        run_id = None
        if not stop.is_set():
            try:
                run_id = steps.record(model, scores, tables=tables, dataset=split.name)
            except Exception as exc:  # a store that failed: said at the end, in a line
                record_error = exc
            left_out[:] = [step for step in left_out if step != "MLflow record"]
        failed_before = save_error is not None or (record_error is not None
                                                   and bool(args.register))
        if not stop.is_set() and not failed_before:
            steps.promote(model, split)
            left_out[:] = [step for step in left_out if step != "promotion"]
        pruned = None
        if args.keep_searches and run_id is not None and not stop.is_set():
            try:
                pruned = steps.prune_searches(model, args.keep_searches,
                                              delete_versions=args.delete_versions)
            except Exception as exc:  # housekeeping: the run's model is saved and tracked
                pruned = exc
    if stop.is_set():
        return _stopped_after_search(stop, model, args, left_out, save_error)
    if run_id is not None:
        print(f"tracked in MLflow experiment {model.tracker_.experiment_name!r} "
              f"(run {run_id}); compare the trials with: lepton ui")
    registered = steps.registration(model)
    if registered:
        print(f"registered as {registered['name']!r} version {registered['version']}: "
              f"{registered['promotion']}")
    if isinstance(pruned, Exception):
        print(f"lepton: warning: --keep-searches: could not delete the experiment's older "
              f"searches ({type(pruned).__name__}: {pruned})", file=sys.stderr)
    elif pruned is not None:
        print(steps.pruned_text(args.keep_searches, model.tracker_.experiment_name, *pruned))
    # what a scheduled run's wall time holds besides the budget (reading a large file, the
    # held-out scores, importances, saving: seconds on 200,000 rows)
    total = time.perf_counter() - started
    importances = (f"column importances {importance_s:.1f}s (after the fit, outside its "
                   "budget), " if importance_s else "")
    print(f"done in {total:.1f}s: the search {elapsed:.1f}s of its {args.time_budget:g}s "
          f"budget, {importances}"
          f"reading the data, held-out scores, saving and tracking "
          f"{max(total - elapsed - importance_s, 0.0):.1f}s")
    failed = [_save_failed(save_error)] if save_error is not None else []
    if record_error is not None:
        text = steps.record_failed(model, record_error)
        if args.register:  # a registered model's run lacks its held-out scores
            failed.append(f"lepton: error: {text}")
        else:  # tracking errors are warnings (README), as during the search
            print(f"lepton: warning: {text}", file=sys.stderr)
    missed = steps.registration_missed(model)
    if missed:  # asked for and not done: not a success, for cron or a scheduler
        failed.append(f"lepton: error: --register {args.register}: could not register the "
                      f"model in {steps.registry_shown(model)}: {missed}; the champion is "
                      "unchanged")
    elif registered and failed_before:  # its promotion was left out above
        failed.append(f"lepton: error: --register {args.register}: version "
                      f"{registered['version']} stays 'pending', the champion unchanged: "
                      "the run failed after registering it (said above)")
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


def _save_failed(exc: Exception) -> str:
    """``--save`` could not write the model: the path, the cause, what to do, in a line."""
    import errno

    fix = ("free some space on that disk, or --save to another one, and run again"
           if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) else
           "fix that and run again")
    return f"lepton: error: {exc}; {fix}"


#: what a Ctrl-C or SIGTERM prints once the search's model exists (lepton run)
AFTER_SEARCH_STOP = ("lepton: {signal}: the model is fitted; saving it (--save) if asked, "
                     "then stopping once the step under way is done ({signal} again to stop "
                     "at once)")


def _stopped_after_search(stop, model, args: argparse.Namespace, left_out: list[str],
                          save_error: Exception | None = None) -> int:
    """What a stop signal after the search left out, and the shell's exit status."""
    from . import steps

    registered = steps.registration(model)
    if registered and "promotion" in left_out:
        left_out[left_out.index("promotion")] = (
            f"promotion (version {registered['version']} of {registered['name']!r} stays "
            "'pending': the champion alias did not move)")
    kept = (f"the model could not be saved ({save_error})" if save_error is not None else
            f"the model is saved to {args.save}" if args.save else
            "the model was not saved (no --save)")
    print(f"lepton: {'terminated' if stop.terminates else 'interrupted'} ({stop.cause}) after "
          f"the search: {kept}; left out: {', '.join(left_out) or 'nothing'}", file=sys.stderr)
    return 143 if stop.terminates else 130


def _print_importances(model, split, args: argparse.Namespace):
    """``--importance N``: the N columns the model relies on most, printed; the table."""
    from . import steps
    from .inspection import format_importances

    table = steps.importances(model, split, seed=args.seed, time_budget=args.time_budget)
    for line in format_importances(table, args.importance, split.default_metric):
        print(line)  # (their time, outside the budget, is on the line 'done in ...')
    return table


def _cmd_schedule(args: argparse.Namespace) -> int:
    """Serve the search flow on a schedule (lepton.pipelines.flows.serve_schedule)."""
    from .datasets import table_name

    try:
        from .pipelines.flows import (FLOW_NAME, deployment_parameters, make_schedule,
                                      serve_schedule)
        from .pipelines.server import PrefectServerError, prefect_api
    except ModuleNotFoundError as exc:
        if exc.name != "prefect":
            raise
        print(f"lepton schedule: error: {exc}", file=sys.stderr)
        return 2

    name = args.name or table_name(args.dataset)
    parameters = {
        "dataset": args.dataset, "target": _target(args), "task": args.task,
        "test_size": args.test_size, "seed": args.seed, "time_column": args.time_column,
        "weight_column": args.weight_column, "input_shape": args.input_shape,
        "time_budget": args.time_budget,
        "n_jobs": args.n_jobs, "device": args.device, "metric": args.metric,
        "search_space": args.search_space,
        "storage": args.storage, "study_name": args.study_name, "images": args.images,
        "tracking": not args.no_tracking, "experiment": args.experiment,
        "tracking_uri": args.tracking_uri, "registered_model_name": args.register,
        "save": args.save, "verbose": args.verbose, "importance": args.importance,
        "retries": args.retries,
        "retry_delay_seconds": args.retry_delay, "keep_searches": args.keep_searches,
        "delete_versions": args.delete_versions or None,
    }
    parameters = {k: v for k, v in parameters.items() if v is not None}
    make_schedule(cron=args.cron, interval=args.interval, timezone=args.timezone)  # checks
    parameters = deployment_parameters(**parameters)  # checks before announcing
    when = (f"cron {args.cron!r} {args.timezone or 'UTC'}" if args.cron
            else f"every {args.interval:g}s")
    try:
        with prefect_api() as (api, started):
            note = " (a Prefect server started for this command; it stops with it)" \
                if started else ""
            print(f"serving deployment {FLOW_NAME}/{name} ({when}) on {api}{note}; the "
                  f"Prefect UI: {api.removesuffix('/api')}; run it now with: "
                  f"PREFECT_API_URL={api} prefect deployment run '{FLOW_NAME}/{name}'; "
                  "stop with Ctrl-C", flush=True)
            serve_schedule(name, cron=args.cron, interval=args.interval,
                           timezone=args.timezone, parameters=parameters, checked=True)
    except PrefectServerError as exc:
        hint = "" if "PREFECT_API_URL" in str(exc) else \
            " (or set PREFECT_API_URL to a running Prefect server)"
        print(f"lepton schedule: error: {exc}{hint}", file=sys.stderr)
        return 2
    return 0


def _target(args: argparse.Namespace) -> str | list[str] | None:
    """``--target``: one column's name, or the list of several."""
    if args.target is not None and len(set(args.target)) < len(args.target):
        twice = sorted({t for t in args.target if args.target.count(t) > 1})
        raise ValueError(f"--target names {', '.join(map(repr, twice))} more than once: "
                         "name each target column once.")
    if args.target is None or len(args.target) > 1:
        return args.target
    return args.target[0]


def _no_predictions(model):
    """What ``model.predict`` gives for no rows, in the dtype it gives for rows
    (:func:`~lepton.estimators._base.empty_prediction`), text classes as pandas' text: a
    Parquet file of a day without rows had float64 predictions (int, bool or text for
    rows), and a folder of daily files then failed to read as one dataset (an empty object
    column is Parquet's null type)."""
    import pandas as pd

    from .estimators._base import empty_prediction

    empty = empty_prediction(model)
    if empty.ndim == 1 and empty.dtype == object and all(
            isinstance(c, str) for c in model.classes_):
        return pd.Series(empty).astype(_text_dtype()).array
    return empty


def _text_dtype():
    """The dtype pandas reads text with (pandas 3's str), or its string dtype where that is
    object (pandas 2): a column of no rows must say it holds text."""
    import pandas as pd

    text = pd.Series([""]).dtype
    return pd.StringDtype() if text == object else text


#: a number written with leading zeros (an identifier 00123), which as a number loses them
_LEADING_ZEROS = r"\s*[-+]?0\d"


def _kept_columns(frame, keep: list[str], data: str, out: str | None):
    """The ``--keep`` columns of ``frame`` (read from the file ``data``) as the output file
    ``out`` (None: standard output, CSV) gets them: as the file wrote them, an identifier
    00123 as 00123 (it came back 123, and a join back to the database failed).

    A text file's into a text file as the text in their cells (1.50 stays 1.50; with a
    decimal comma, into a TSV with the decimal point its numbers have, see below); into a
    typed file (Parquet, Excel) typed, but a column of numbers some of which are written
    with leading zeros as that text; an Excel workbook's as its cells are typed (a text
    cell 00123 came back as the number 1); a Parquet file's as they are. The file is read
    once more for them, those columns only. Without rows, a column without a type (a
    header-only text file's) is text, as an identifier's is: Parquet's null type failed a
    folder of daily outputs to read as one dataset."""
    from .datasets import read_table, table_format

    kept = frame[keep].copy()
    if not keep:
        return kept
    if len(frame) == 0:
        return kept.astype({c: _text_dtype() for c in keep if kept[c].dtype == object})
    source = table_format(data, what="data file")
    if source == "parquet":
        return kept
    written = read_table(data, what="data file", as_written=keep)
    if len(written) != len(kept):  # rows read otherwise than the first time
        return kept
    written = written[keep].set_axis(kept.index)
    if source == "excel":
        return written
    into = "csv" if out is None else table_format(out, what="--out")
    if into == "tsv" and (frame.attrs.get("lepton.dialect") or {}).get("decimal") == ",":
        # a TSV is written with the decimal point (read_table reads a .tsv so, as pandas
        # and R do): kept numbers too, their digits as written (0,640 -> 0.640, 1.234,50 ->
        # 1234.50); they came as written, beside probabilities with the point
        for c in keep:
            if kept[c].dtype.kind in "iuf":
                written[c] = (written[c].str.strip()
                              .str.replace(r"[.\s\u00a0\u202f]", "", regex=True)
                              .str.replace(",", ".", regex=False))
    if into in ("csv", "tsv"):
        return written
    padded = [c for c in keep if kept[c].dtype.kind in "iuf"
              and written[c].str.match(_LEADING_ZEROS).fillna(False).any()]
    kept[padded] = written[padded]
    return kept


def _cmd_predict(args: argparse.Namespace) -> int:
    """A model saved by ``lepton run --save`` predicts the rows of a table file."""
    import os

    import numpy as np

    from .datasets import read_table, table_format, write_table
    from .estimators._base import left_out_columns, proba_labels, target_columns

    if args.out is not None:  # a bad suffix or folder fails before any work
        from .steps import check_writable

        table_format(args.out, what="--out")
        check_writable(args.out, what="--out")
    model = _load_model(args.model)
    if args.proba and not hasattr(model, "predict_proba"):
        raise ValueError("--proba needs a classifier; this model is a regressor.")
    frame = read_table(args.data, what="data file")
    missing = [c for c in args.keep or () if c not in frame.columns]
    if missing:
        raise ValueError(f"--keep {missing}: not columns of {os.path.basename(args.data)}; "
                         f"columns are {list(frame.columns)}.")
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        left_out = left_out_columns(model)  # they need not be there: the model ignores them
        absent = [c for c in names if c not in frame.columns and c not in left_out]
        if absent:
            needed = [c for c in names if c not in left_out]
            raise ValueError(
                f"{os.path.basename(args.data)} lacks the column(s) {absent} the model was "
                f"trained on; it needs {needed} (other columns are ignored).")
        X = frame.reindex(columns=list(names))  # a left-out column it lacks: empty
    else:  # trained on an array: every column, in order, except those only kept
        X = frame.drop(columns=list(args.keep or ()))
        if X.shape[1] != model.n_features_in_:
            raise ValueError(
                f"{os.path.basename(args.data)} has {X.shape[1]} feature columns (besides "
                f"--keep); the model was trained on {model.n_features_in_} unnamed columns "
                "(an array, or a built-in dataset): give the file those columns alone, in "
                "their order (the target dropped; others copied out with --keep).")
        X = X.to_numpy()
    out = _kept_columns(frame, list(dict.fromkeys(args.keep or ())), args.data, args.out)
    names = getattr(model, "target_names_", None)
    if len(frame) == 0:  # a batch with no new rows: the columns' names, no rows
        pred = _no_predictions(model)
    else:
        pred = np.asarray(model.predict(X))
    # several targets (labels, or a regression's outputs): a column each, named as in the
    # training file (prediction_<k> for a model trained on an array)
    predicted = {}
    if pred.ndim == 2:
        names = names or [f"prediction_{k}" for k in range(pred.shape[1])]
        predicted.update(target_columns(model, pred, names))
    else:
        predicted["prediction"] = pred
    if args.proba:
        proba = model.predict_proba(X) if len(frame) else np.empty((0, len(model.classes_)))
        predicted.update((f"proba_{label}", proba[:, k])
                         for k, label in enumerate(proba_labels(model)))
    clash = [c for c in args.keep or () if c in predicted]
    if clash:
        raise ValueError(f"--keep {clash}: the output's own column(s) have these names "
                         f"({', '.join(predicted)}); rename the file's column(s) first.")
    for name, values in predicted.items():
        out[name] = values
    dialect = dict(frame.attrs.get("lepton.dialect") or {})  # the input file's
    if args.out is None:
        dialect.pop("encoding", None)  # standard output has its own
        out.to_csv(sys.stdout, index=False, **dialect)
        sys.stdout.flush()  # a closed pipe is said here (main), not at the interpreter's exit
        return 0
    write_table(out, args.out, dialect=dialect or None)
    print(f"wrote {len(out)} predictions to {args.out}", file=sys.stderr)
    return 0


def _load_model(path: str):
    import os

    import joblib

    if not os.path.isfile(path):
        raise ValueError(f"model file {path!r} does not exist (write one with lepton run --save).")
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a usage error here
        raise ValueError(f"model file {path!r} could not be loaded with joblib: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not hasattr(model, "predict") or not hasattr(model, "n_features_in_"):
        raise ValueError(f"model file {path!r} holds a {type(model).__name__}, not a fitted "
                         "Lepton estimator (write one with lepton run --save).")
    return model


def _cmd_worker(args: argparse.Namespace) -> int:
    """Join a running search as a worker: trials only, until its search window ends."""
    from . import steps
    from .training import resolve_devices

    resolve_devices(args.device)  # a device that is not here: said before waiting for a run
    try:
        model = steps.join_search(args.storage, args.study_name, n_jobs=args.n_jobs,
                                  device=args.device,
                                  time_budget=args.time_budget, wait=args.wait,
                                  verbose=args.verbose, dataset=args.dataset,
                                  tracking=not args.no_tracking,
                                  tracking_uri=args.tracking_uri)
    except steps.NoSearchToJoin as exc:
        print(f"lepton worker: {exc}")
        return 0 if exc.ended else 2
    board = model.leaderboard_
    ran = board[board["trial"].isin(model.worker_trials_)]
    states = ", ".join(f"{n} {state}" for state, n in ran["state"].value_counts().items())
    done = board[board["state"] == "complete"]  # best first
    metric = board.columns[2]
    print(f"ran {len(ran)} trials ({states or 'none'}) in {model.fit_time_:.1f}s; the study "
          f"has {model.n_trials_} finished trials"
          + (f", best {metric}={done[metric].iloc[0]:.4f} (trial {done['trial'].iloc[0]})"
             if len(done) else "")
          + (f"; converged: no better trial in the study's last {model.patience}"
             if model.search_converged_ else ""))
    gone = getattr(getattr(model, "_follow", None), "run_gone", None)
    if gone is not None:  # the run was killed outright: no final model comes of its search
        print(f"lepton worker: the run whose search this worker joined gave no sign of life "
              f"for {gone:.0f}s (killed, or its machine lost), so the worker stopped; the "
              "trials are in the study: a run fitting it again resumes them",
              file=sys.stderr)
    if model.search_interrupted_:
        print("lepton worker: interrupted (Ctrl-C); the running trials were queued to run "
              "again", file=sys.stderr)
        return 130
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from .tracking import INSTALL_TRACKING, TrackingError, mlflow_installed
    from .tracking.ui import run_ui

    if not mlflow_installed():
        print(f"lepton ui: error: the MLflow UI needs MLflow, which is not installed: "
              f"{INSTALL_TRACKING}", file=sys.stderr)
        return 2

    try:
        return run_ui(tracking_uri=args.tracking_uri, host=args.host, port=args.port)
    except TrackingError as exc:
        print(f"lepton ui: error: {exc}", file=sys.stderr)
        return 2


def _cmd_prune(args: argparse.Namespace) -> int:
    """Delete old searches from the tracking store, after saying what goes and what stays."""
    from .tracking import INSTALL_TRACKING, mlflow_installed
    from .tracking.prune import _n, plan_prune

    if not mlflow_installed():
        print(f"lepton prune: error: pruning a tracking store needs MLflow, which is not "
              f"installed: {INSTALL_TRACKING}", file=sys.stderr)
        return 2
    if args.keep is None and args.older_than is None:
        print("lepton prune: error: say which searches to keep: --keep N (the newest N of "
              "each experiment) and/or --older-than AGE (delete only those last active "
              "longer ago, such as 90d)", file=sys.stderr)
        return 2
    plan = plan_prune(args.tracking_uri, experiment=args.experiment, keep=args.keep,
                      older_than=args.older_than, delete_versions=args.delete_versions,
                      registry_uri=args.registry_uri)
    print(plan.describe())
    if plan.empty:
        print("nothing to delete")
        return 0
    versions = sum(len(s.versions) for s in plan.delete)
    what = (f"{_n(plan.runs, 'run')} ({plan.files(plan.file_bytes).strip()}"
            + (f", and {_n(versions, 'registered version')}" if versions else "") + ")")
    if args.dry_run:
        print(f"would delete {what}; nothing deleted (--dry-run)")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"lepton prune: error: deleting {what} cannot be undone once their files "
                  "are freed: pass --yes to delete, or --dry-run to only list",
                  file=sys.stderr)
            return 2
        answer = input(f"delete {what}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted")
            return 1
    result = plan.execute()
    print(result.describe())
    # stopped by an error before it did all it planned: not a success, for cron
    return 130 if result.interrupted else 1 if result.stopped else 0


def _age(text: str) -> float:
    from .tracking.prune import parse_age

    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("older_than=", "")) from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


#: ``lepton run``'s options that only a search uses (``--fixed`` trains one network,
#: untracked)
SEARCH_ONLY = ("time_budget", "n_jobs", "metric", "search_space", "storage", "study_name",
               "experiment", "tracking_uri", "register", "keep_searches", "delete_versions")


def _check_images(args: argparse.Namespace, split) -> None:
    """A cnn search space needs images: a built-in image dataset without --flat, or a file
    with --input-shape (before, both said to pass input_shape=(height, width) in Python,
    which lepton run had no way to)."""
    from .search.spaces import load_search_space

    space = args.search_space
    if args.fixed or (isinstance(space, str) and space == "auto") or \
            load_search_space(space).family != "cnn":
        return
    if not args.images:
        raise ValueError(f"--search-space {space} searches networks for images: drop --flat.")
    if split.input_shape is None:
        raise ValueError(f"--search-space {space} searches networks for images, and "
                         f"the rows of {split.name} are not images: for a file whose feature "
                         "columns are pixels, give their shape with --input-shape HEIGHT WIDTH (or "
                         "CHANNELS HEIGHT WIDTH).")


def _refuse_search_options(args: argparse.Namespace) -> None:
    defaults = vars(build_parser().parse_args(["run"]))
    given = [f"--{key.replace('_', '-')}" for key in SEARCH_ONLY
             if getattr(args, key) != defaults[key]]
    if given:
        raise ValueError(
            f"--fixed trains one network with its default settings, untracked: "
            f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} to a search only; "
            "drop --fixed to search, or drop them.")


def _add_search_arguments(run: argparse.ArgumentParser) -> None:
    """The options of a search run, shared by ``lepton run`` and ``lepton schedule``."""
    from . import defaults

    run.add_argument("dataset", nargs="?", default="digits",
                     help="built-in dataset name or CSV/TSV/Parquet/Excel (.xlsx) path; a CSV "
                          "or TSV may be compressed (.csv.gz, .csv.zip, ...) (default: "
                          "digits)")
    run.add_argument("--target", nargs="+", metavar="COLUMN",
                     help="target column of a table file; several: 0/1 or True/False columns "
                          "are one multilabel target (any number of labels a row), columns of "
                          "numbers a regression's outputs")
    run.add_argument("--task", choices=("auto", "classification", "regression"),
                     default="auto",
                     help="what the target is (default: auto: text, booleans and up to "
                          f"{defaults.MAX_CLASSES_AUTO} distinct whole numbers are classes, "
                          "other numbers regression)")
    run.add_argument("--test-size", type=float, default=0.25,
                     help="fraction of the rows held out to score the final model, never "
                          "seen by the search (default: 0.25)")
    run.add_argument("--time-column", metavar="COLUMN",
                     help="a date (or time-step) column: hold out the latest rows by it and "
                          "validate the search forward in time (TimeSeriesSplit) instead of "
                          "on shuffled rows")
    run.add_argument("--weight-column", metavar="COLUMN",
                     help="a column of row weights (numbers >= 0), not a feature: each row "
                          "counts by its weight in training, validation and the held-out "
                          "scores (scikit-learn's sample_weight)")
    run.add_argument("--seed", type=_seed, default=0,
                     help="seed of the held-out split, the search and the networks "
                          "(default: 0)")
    run.add_argument("--time-budget", type=_seconds, default=30.0, metavar="SECONDS",
                     help="seconds for the whole search and final model (default: 30)")
    run.add_argument("--n-jobs", type=_n_jobs, help="parallel trials; negative counts from the "
                                                    "cores as in joblib: -1 one per core, -2 "
                                                    "all but one (default: one per device: 1 "
                                                    "on the CPU, one per GPU)")
    run.add_argument("--device", default="auto", help=DEVICE_HELP)
    run.add_argument("--metric", help="validation metric the search optimises (classification: "
                                      "accuracy, balanced_accuracy, f1_macro, roc_auc, "
                                      "log_loss, and for several 0/1 targets f1_micro, "
                                      "f1_samples; regression: r2, rmse, mae; default: accuracy "
                                      "or r2); reported on the held-out rows too")
    run.add_argument("--search-space", default="auto",
                     help="'auto', a built-in space (mlp, resnet, cnn) or a YAML file "
                          "(default: auto)")
    run.add_argument("--save", metavar="PATH",
                     help="write the fitted model to PATH with joblib (load it with "
                          "joblib.load and call predict)")
    run.add_argument("--storage", help="Optuna storage (URL or .db/.log path) to persist and "
                                        "resume the study")
    run.add_argument("--study-name", type=_name,
                     help="the study's name in --storage (default: one derived from the data, "
                          "so the same data resumes the same study)")
    shape = run.add_mutually_exclusive_group()
    shape.add_argument("--images", dest="images", action="store_true", default=True,
                       help="give a built-in image dataset (digits) to the search as images "
                            "(8x8: the cnn space); the default")
    shape.add_argument("--flat", dest="images", action="store_false",
                       help="give a built-in image dataset as flat pixel columns (mlp space)")
    shape.add_argument("--input-shape", type=_positive_int, nargs="+", metavar="N",
                       help="the file's feature columns are the pixels of images of this "
                            "shape, row by row: HEIGHT WIDTH, or CHANNELS HEIGHT WIDTH (a "
                            "CSV of MNIST: 28 28); the search then has the cnn space")
    run.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    run.add_argument("--experiment", type=_name,
                     help="MLflow experiment (default: lepton-<dataset>)")
    run.add_argument("--tracking-uri", type=_name,
                     help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the embedded "
                          "store under $LEPTON_HOME/mlflow)")
    run.add_argument("--register", metavar="MODEL_NAME", type=_name,
                     help="register the final model; alias 'champion' moves if it is better "
                          "on this run's held-out rows (the champion is loaded to score it: "
                          "a registry's models run code when loaded, as model files do, so "
                          "register only where whoever can register is trusted); a run "
                          "that could not register exits with status 1")
    run.add_argument("--keep-searches", type=_count, metavar="N",
                     help="after the run, delete its experiment's searches past the N most "
                          "recently active, this one included, with their trials, models and "
                          "files (as lepton prune --keep N: running ones stay, and older "
                          "registered ones keep their run and models, losing their trials)")
    run.add_argument("--delete-versions", action="store_true",
                     help="with --keep-searches: the older searches whose registered versions "
                          "hold no alias (champion, ...) go whole, those versions with them "
                          "(a run that registers every time otherwise keeps every search's "
                          "run and models)")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0: the summary only; 1: a progress bar (trials, best score, "
                          "time left; the default), or a line every few seconds where the "
                          "output is not a terminal (--fixed: a line per epoch); 2: also "
                          "Optuna's trial log")
    run.add_argument("--importance", type=_positive_int, nargs="?", const=10, default=None,
                     metavar="N",
                     help="after the fit, print the N columns (default 10) whose shuffling "
                          "worsens the held-out score most, in --metric (accuracy or R^2 by "
                          "default; permutation importance on up to "
                          "2,000 held-out rows, 5 shuffles each, fewer where that would "
                          "take longer than a quarter of --time-budget or 10 s, whichever is "
                          "longer) and, when "
                          "tracked, log every column's as column_importance.csv with the "
                          "run")


DEVICE_HELP = ("where trials train: auto (every GPU, else Apple MPS, else the CPU), cpu, cuda "
               "(every GPU), cuda:N, mps, or GPUs as cuda:0,cuda:2 (default: auto)")


def _seconds(text: str, *, zero: bool = False) -> float:
    """A finite number of seconds > 0 (>= 0 with ``zero``), else argparse's usage error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 <= value if zero else 0 < value) or not value < math.inf:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds {'>=' if zero else '>'} 0")
    return value


def _port(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _seed(text: str) -> int:
    """``--seed``: a whole number in 0 .. 2**32 - 1, as numpy seeds take (-1 was refused
    after the data loaded, in train_test_split's words; review helper-62)."""
    value = int(text) if text.strip().isdigit() else -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to "
                                         f"{2**32 - 1}")
    return value


def _name(text: str) -> str:
    """A name that is not empty (``--experiment ''`` took the default experiment)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is empty: give a name, or leave the "
                                         "option out for the default")
    return text


def _n_jobs(text: str) -> int:
    """``--n-jobs``: a whole number of trials at a time; a negative one counts from the
    cores as in joblib (cores + 1 + n: -1 one per core, -2 all cores but one)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number >= 1, nor a negative one counted from the cores "
            "(-1: one trial per core, -2: all cores but one)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lepton", description="AutoML for neural networks: search a network for a "
                                   "dataset within a time budget, predict with it, track and "
                                   "schedule the searches.")
    from . import __version__  # no heavy import: lepton's own __init__ is lazy

    parser.add_argument("--version", action="version", version=f"lepton {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="search a network for a dataset within a time budget and "
                                     "report the held-out score")
    _add_search_arguments(run)
    run.add_argument("--fixed", action="store_true",
                     help="train one fixed-architecture network with its default settings "
                          "instead of searching (untracked; the search's options do not "
                          "apply)")
    run.set_defaults(func=_cmd_run)
    schedule = sub.add_parser(
        "schedule", help="serve the run as a Prefect deployment on a cron or interval "
                         "schedule (until stopped)",
        description="Serve `lepton run`'s search as the Prefect deployment lepton-search/NAME "
                    "with a schedule, until Ctrl-C or SIGTERM. The schedule lives in the "
                    "Prefect API of PREFECT_API_URL (start one with: prefect server start); "
                    "without it, in a Prefect server this command starts and stops.")
    _add_search_arguments(schedule)
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="cron expression, e.g. '0 3 * * *' (every day at 03:00)")
    when.add_argument("--interval", type=float, metavar="SECONDS",
                      help="seconds between runs")
    schedule.add_argument("--timezone", help="IANA time zone of --cron (default: UTC)")
    schedule.add_argument("--name", type=_name,
                          help="deployment name (default: the dataset's name)")
    schedule.add_argument("--retries", type=int, default=2,
                          help="attempts after a transient error (a tracking store or study "
                               "storage that did not answer, an I/O error; default: 2)")
    schedule.add_argument("--retry-delay", type=float, default=60.0, metavar="SECONDS",
                          help="seconds between attempts (default: 60)")
    schedule.set_defaults(func=_cmd_schedule)
    worker = sub.add_parser(
        "worker", help="run trials of a search that `lepton run --storage` is running "
                       "(on this machine or another), until its search ends",
        description="Join the search a `lepton run` (or a scheduled run) is running on a "
                    "persistent study: load the dataset it recorded (a file at the same "
                    "path), search the same splits with a sampler seed of its own, and add "
                    "trials to the study until the run's search window ends (or "
                    "--time-budget). The run's final model can use them. No final model "
                    "here; trials are logged under the run's MLflow search run where the run "
                    "tracks.")
    worker.add_argument("--storage", required=True,
                        help="the run's Optuna storage (a postgresql://, mysql://, redis:// "
                             "URL, or a .db/.log path on a shared disk)")
    worker.add_argument("--study-name", type=_name,
                        help="the run's study (default: the one study of the storage whose "
                             "search is running)")
    worker.add_argument("--dataset", metavar="PATH",
                        help="the run's table file at another path on this machine (default: "
                             "the path the run recorded; the study refuses other rows)")
    worker.add_argument("--n-jobs", type=_n_jobs,
                        help="parallel trials in this process; negative counts from the cores "
                             "as in joblib: -1 one per core, -2 all but one (default: one per "
                             "device: 1 on the CPU, one per GPU)")
    worker.add_argument("--device", default="auto", help=DEVICE_HELP)
    worker.add_argument("--time-budget", type=_seconds, metavar="SECONDS",
                        help="stop sooner than the run's search (default: when it ends)")
    worker.add_argument("--wait", type=lambda text: _seconds(text, zero=True), default=60.0,
                        metavar="SECONDS",
                        help="how long to wait for the run to start its search (default: 60)")
    worker.add_argument("--no-tracking", action="store_true",
                        help="do not log this worker's trials to the run's MLflow search run")
    worker.add_argument("--tracking-uri", type=_name,
                        help="the run's MLflow store as this machine reaches it (default: the "
                             "URI the run recorded, unless it held a password)")
    worker.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="0: the summary only; 1: a progress bar (the default); 2: also "
                             "Optuna's trial log")
    worker.set_defaults(func=_cmd_worker)
    pred = sub.add_parser("predict", help="predict the rows of a table file with a model "
                                          "saved by lepton run --save")
    pred.add_argument("model", help="the model file (joblib, from lepton run --save); load only "
                                    "files you trust: unpickling runs code")
    pred.add_argument("data", help="CSV/TSV/Parquet/Excel file with the model's feature columns "
                                   "(others, such as the target, are ignored; a model trained "
                                   "on unnamed columns, such as a built-in dataset's, takes "
                                   "them alone, in order)")
    pred.add_argument("--out", help="write the predictions here (.csv, .tsv, .parquet or .xlsx; "
                                    ".csv.gz and the like compress; default: CSV on "
                                    "standard output)")
    pred.add_argument("--proba", action="store_true",
                      help="add one proba_<class> column per class (classifiers)")
    pred.add_argument("--keep", nargs="+", metavar="COLUMN",
                      help="copy these columns (an id, say) into the output beside the "
                           "predictions")
    pred.set_defaults(func=_cmd_predict)
    ui = sub.add_parser(
        "ui", help="serve the MLflow UI on Lepton's tracking store and print its address",
        description="Serve the MLflow UI on Lepton's tracking store (runs, trials, models) "
                    "and print its address to open in a browser, until Ctrl-C.")
    ui.add_argument("--tracking-uri", type=_name,
                    help="SQL store URI (default: $MLFLOW_TRACKING_URI, else "
                         "$LEPTON_HOME/mlflow/mlflow.db)")
    ui.add_argument("--host", default="127.0.0.1",
                    help="address to serve on (default: 127.0.0.1, this machine only; "
                         "the UI has no sign-in: another address lets whoever reaches it "
                         "read and change every run and model)")
    ui.add_argument("--port", type=_port, default=None,
                    help="port to serve on (default: a free one)")
    ui.set_defaults(func=_cmd_ui)
    prune = sub.add_parser(
        "prune", help="delete old searches (runs, trial runs, logged models, their files) "
                      "from the tracking store, keeping running ones and what registered "
                      "versions need",
        description="Delete the searches of each experiment past the --keep newest and/or "
                    "last active before --older-than, with their trial runs and logged "
                    "models; free their files and compact a SQLite store. A search that a "
                    "registered model version comes from loses its trial runs only (see "
                    "--delete-versions). Never deleted: a running search, runs that are not "
                    "Lepton's, runs deleted by hand, Optuna studies. Lists what goes and "
                    "what stays first, and asks (or takes --yes).")
    prune.add_argument("--keep", type=_count, metavar="N",
                       help="searches each experiment keeps whole, the most recently active")
    prune.add_argument("--older-than", type=_age, metavar="AGE",
                       help="delete only searches last active longer ago than this: 90d, "
                            "12h, 30m")
    prune.add_argument("--experiment", type=_name,
                       help="this experiment only (default: every experiment of the store)")
    prune.add_argument("--tracking-uri", type=_name,
                       help="the store (default: $MLFLOW_TRACKING_URI, else "
                            "$LEPTON_HOME/mlflow/mlflow.db)")
    prune.add_argument("--registry-uri", type=_name,
                       help="the model registry, where it is not the tracking store "
                            "(default: $MLFLOW_REGISTRY_URI, else the tracking store): the "
                            "searches its versions come from are kept")
    prune.add_argument("--delete-versions", action="store_true",
                       help="also delete the older searches that registered model versions "
                            "come from, with those versions, where none holds an alias "
                            "(champion, ...); without it their runs and models stay for "
                            "their versions, and only their trial runs go")
    prune.add_argument("--dry-run", action="store_true",
                       help="list what would be deleted; delete nothing")
    prune.add_argument("--yes", action="store_true",
                       help="delete without asking (for cron jobs and scripts)")
    prune.set_defaults(func=_cmd_prune)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line for the shell, not Python's file:line and source echo. One of a
    library's own category (SQLAlchemy's, through MLflow, where PYTHONWARNINGS shows it)
    keeps Python's form, which names where it comes from: as 'lepton: warning:' it read as
    Lepton's (review helper-77)."""
    if category.__module__ not in ("builtins", "warnings") and \
            not category.__module__.startswith("lepton"):
        print(warnings.formatwarning(message, category, filename, lineno, line),
              file=file or sys.stderr, end="")
        return
    from ._warn import LeptonWarning

    # Lepton's own (lepton.LeptonWarning and its kinds) read as 'lepton: warning: ...'
    kind = "" if issubclass(category, LeptonWarning) or category is UserWarning \
        else f"{category.__name__}: "
    print(f"lepton: warning: {kind}{message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import os

    args = build_parser().parse_args(argv)
    from .search import BudgetTooSmall, SearchError, StorageError, Terminated
    from .tracking import TrackingError

    show, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return args.func(args)
    except BudgetTooSmall as exc:  # in the command's options, not the estimator's
        print(f"lepton: error: {exc.said_as()}", file=sys.stderr)
        return 2
    # bad input or settings, or a store that cannot be opened: a usage error
    except (ValueError, TypeError, TrackingError, StorageError) as exc:
        print(f"lepton: error: {exc}", file=sys.stderr)
        return 2
    except SearchError as exc:  # the search ran but produced no model
        print(f"lepton: search failed: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `lepton predict ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141  # the shell's code for a command stopped by SIGPIPE
    except KeyboardInterrupt:  # a search interrupted once it has trials still reports
        print("lepton: interrupted (Ctrl-C)", file=sys.stderr)
        return 130  # the shell's code for a command stopped by SIGINT
    except Terminated as exc:  # SIGTERM: what was kept is in the warning before this
        print("lepton: terminated (SIGTERM)", file=sys.stderr)
        return exc.code  # 143, the shell's code for a command stopped by SIGTERM
    finally:
        warnings.showwarning = show


if __name__ == "__main__":
    raise SystemExit(main())
