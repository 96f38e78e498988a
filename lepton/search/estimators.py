"""LeptonClassifier and LeptonRegressor: scikit-learn estimators that search.

``fit`` runs the adaptive search (:mod:`lepton.search._search`) inside ``time_budget``
seconds, then builds the final model: a refit of the best configuration on all the
data, or a greedy ensemble of the top trials, whichever validates better.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from numbers import Integral, Real
from typing import Any

import numpy as np
import optuna
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import defaults
from .._warn import (DataWarning, SearchWarning, auto_tqdm, check_version, stamp_version,
                     warn_at_caller, warn_left_out)
from ..estimators import NeuralNetworkClassifier, NeuralNetworkRegressor
from ..estimators._base import (_class_args, _rows, accuracy_score_of, check_rows_weighted,
                                check_sample_weight, encode_target, kept_on_failure,
                                record_target_names,
                                split_validation, target_kind, target_scaler, validate_params)
from ..preprocessing import (TabularPreprocessor, check_features,
                             column_errors_on_all_rows, feature_ranking, image_channels,
                             kept_columns, warn_unseen_categories)
from ..training import (
    COMPLETED, DIVERGED, TIME_LIMIT, Task, TensorData, TrainingConfig, TrainingResult,
    _n_features, busy_cores, cpu_count, fit_model, free_memory, predict_outputs,
    resolve_devices, threads_per_trial, torch_threads, usable_device, warm_up_optimizers,
)
from ._search import (
    CUT_SCORE_ATTR, DEVICE_ATTR, DONE_STATES, ENDS_AT_ATTR, FAIL_REASON, INTERRUPTED_ATTR,
    PROCESS_ATTR, TRACKING_ATTR, UNSTARTED_ATTR, DevicePool,
    Fold, Objective, PruningReporter, SearchContext, StopRequest, Terminated, create_study,
    SignOfLife, enqueue_portfolio, is_storage_failure, make_storage, new_study_uid,
    outputs_to_prediction, run_trials, stop_signals_set, study_uid, trials_since_best,
)
from .budget import Budget
from .ensemble import greedy_ensemble_selection, rank_key
from . import _search
from .heartbeat import TrialHeartbeat, fail_stale_trials, uses_lepton_heartbeat
from .metrics import METRICS, balanced_decision, class_frequencies, get_metric, label_thresholds
from .priors import (apply_priors, choose_space, compute_meta_features, limit_embeddings,
                     narrowing_note, screen_feature_fraction)
from .spaces import SearchSpace, _yaml_flow
from ..tracking._base import SearchTracker

__all__ = ["LeptonClassifier", "LeptonRegressor", "LeptonEnsemble", "SearchError"]

log = logging.getLogger("lepton.search")

#: what the first Ctrl-C or SIGTERM prints during the end-of-search MLflow logging
CTRL_C_LOGGING = ("lepton: Ctrl-C: the model is fitted; stopping its MLflow logging once the "
                  "part being written is done (Ctrl-C again to stop at once)")
SIGTERM_LOGGING = ("lepton: SIGTERM: stopping the MLflow logging once the part being written "
                   "is done, then the process (SIGTERM again to exit at once)")
#: How long a process that joins a study another process is creating waits for that
#: process to record the seed (which decides the splits every process must share) and to
#: enqueue the warm-start portfolio: at most this, and at most WAIT_SHARE of time_budget.
SEED_WAIT_S = 30.0
WAIT_SHARE = 0.1
#: Study attribute: its trials report epoch values to the pruner in the study's direction.
ORIENTED_ATTR = "lepton.oriented_reports"
#: Study attribute: a regression's trials report losses in the units of their fold's own
#: targets (Fold.y_scaler, since stop 41), not those of every row's.
FOLD_UNITS_ATTR = "lepton.fold_unit_reports"
#: Study attribute: the space searched (family and parameters, after the priors), recorded
#: with its fingerprint ``lepton.space`` so that a resume with another space names changes.
SPACE_SPEC_ATTR = "lepton.space_spec"

#: cv='auto' uses AUTO_CV_FOLDS-fold cross-validation for data under AUTO_CV_MAX_ROWS rows
#: where time_budget holds AUTO_CV_MIN_EPOCHS epochs over all the folds.
AUTO_CV_FOLDS = 5
AUTO_CV_MAX_ROWS = 5000
#: 500 images of 3x64x64 (an epoch over 5 folds: ~12 s on 2 cores) finished no trial at
#: 10-15 s budgets with 5 folds, and fit in 11 s of 15 with one split; 1,200 of 3x16x16
#: (~1.8 s) finished 4-5 trials in 12 s with 5 folds (review helper-46).
AUTO_CV_MIN_EPOCHS = 10
#: Training speed in input values (rows x features) per second, by family: the first
#: portfolio entry, 3 epochs, median, on 2 shared CPU cores. The 32-64 channel CNN: 2.1 M/s
#: on 1,000 x 3x16x16, 1.8 M/s on 400 x 3x64x64 (0.46 M/s on 1,000 x 8x8, per-batch costs
#: first). The 2x256 MLP: 50 M/s on 4,000 x 1,000 (6.5 M/s on 4,000 x 100, per-batch costs
#: first); the ResNet's first layer, a linear one as wide, is taken to cost the same.
AUTO_CV_VALUES_PER_S = {"cnn": 2e6, "mlp": 50e6, "resnet": 50e6}
#: A refit short of time may run down to this fraction of the best trial's epochs (with
#: its schedule compressed to them); with less time the best trial's own networks are used.
MIN_REFIT_FRACTION = 0.75
#: The final refit trains up to this many seeds of the best configuration and averages
#: them (the budget reserves time for them, within Budget.MAX_RESERVE). On
#: california_synthetic (30 s searches, dev seeds 100-109, not the benchmark's), one refit's
#: test R^2 varied by up to 0.02 between seeds; three averaged beat the single refit on 6
#: of 9 splits.
FINAL_REFITS = 3
#: Seconds of the tracker's end-of-search logging per unit of load (runnable tasks per
#: core): that logging (a model pickled and saved, plots drawn) is CPU-bound and slows with
#: the load. Measured on a 2-core machine, tracked to SQLite: ~3 s idle, 5.6-5.8 s beside
#: three busy processes (~2 per core), 11.3-15.3 s beside six (~3.5 per core), where the
#: tracker's own idle figure (7 s) left fits 1-23% over budget
#: (benchmarks/results/budget_under_load_tracked.md).
TRACKING_S_PER_LOAD = 4.0


class SearchError(RuntimeError):
    """No trial of the search produced a usable model."""


class BudgetTooSmall(ValueError):
    """``time_budget`` cannot hold the preparation, a trial and the final model. ``cause``:
    what the time went to; ``floor``: seconds the budget must exceed before any trial can
    run (None where unknown); ``tracking_s``: of the reserve, the tracker's; the message
    names the estimator's parameters, :meth:`said_as` ``lepton run``'s options
    (it said 'time_budget' and 'pass cv=None' to a command that has neither: review
    helper-77)."""

    def __init__(self, time_budget: float, cause: str, *, n_folds: int = 1,
                 floor: float | None = None, tracking_s: float = 0.0):
        self.time_budget, self.cause, self.floor = time_budget, cause, floor
        self.n_folds, self.tracking_s = n_folds, tracking_s
        super().__init__(f"time_budget={time_budget:g}s is too small{cause}. Increase "
                         f"time_budget{_one_split_note(n_folds)}.")

    def __reduce__(self):
        # Prefect keeps a failed flow run's exception pickled: it did not load back
        # (__init__ takes more than the message; review helper-81)
        return (_budget_too_small, (self.time_budget, self.cause, self.n_folds, self.floor,
                                    self.tracking_s))

    def said_as(self, budget: str = "--time-budget", untracked: str = "--no-tracking") -> str:
        """The message in another interface's names (``lepton run``'s by default, which has
        no cv option)."""
        what = (f"a {budget} well above {self.floor:.1f}" if self.floor is not None
                else f"a larger {budget}")
        leave = (f", or {untracked} (its end-of-search logging needs {self.tracking_s:.1f}s "
                 "of the budget)" if self.tracking_s > 0 else "")
        return f"{budget} {self.time_budget:g} is too small{self.cause}. Give {what}{leave}."


def _budget_too_small(time_budget, cause, n_folds, floor, tracking_s) -> BudgetTooSmall:
    """A pickled :class:`BudgetTooSmall`, made again."""
    return BudgetTooSmall(time_budget, cause, n_folds=n_folds, floor=floor,
                          tracking_s=tracking_s)


class LeptonEnsemble:
    """Weighted average of trial networks (weights from greedy ensemble selection), or of
    several seeds of the final refit (equal weights, one preprocessor).

    Each member is a list of networks (one per cross-validation fold, averaged) with the
    fitted preprocessor each of them was trained behind (members with another
    ``input_scaling`` have other preprocessors).

    Attributes
    ----------
    trial_numbers : list of int
    weights : list of float
    validation_score : float
    """

    def __init__(self, *, preprocessors, members, weights, trial_numbers, task, y_scaler,
                 validation_score, device):
        self.preprocessors = preprocessors  # list over members of list over folds
        self.members = members              # list over members of list over folds of nn.Module
        self.weights = weights
        self.trial_numbers = trial_numbers
        self.task = task
        self.y_scaler = y_scaler
        self.validation_score = validation_score
        self.device = device

    def __getstate__(self):
        # networks on a GPU (moved there by a prediction) are saved from the CPU, so that a
        # machine without that GPU can load them (as the single estimators do)
        state = dict(self.__dict__)
        if any(p.device.type != "cpu" for modules in self.members for m in modules
               for p in m.parameters()):
            state["members"] = [[copy.deepcopy(m).cpu() for m in modules]
                                for modules in self.members]
        return state

    def __setstate__(self, state):
        # Ensembles pickled before per-member preprocessors shared one list over folds.
        pres = state.get("preprocessors") or []
        if pres and not isinstance(pres[0], list):
            state["preprocessors"] = [list(pres) for _ in state["members"]]
        self.__dict__.update(state)

    def predict_raw(self, X) -> np.ndarray:
        """Averaged probabilities (classification) or values (regression)."""
        # Networks grouped by preprocessor: X is transformed once per distinct one, and
        # only one transformed copy is held at a time.
        groups: dict[int, tuple[Any, list]] = {}
        for pres, modules, w in zip(self.preprocessors, self.members, self.weights):
            for pre, module in zip(pres, modules):
                groups.setdefault(id(pre), (pre, []))[1].append((module, w / len(modules)))
        # values none of them saw (a category seen only in fold 0's validation rows is known
        # to the networks of the other folds)
        warn_unseen_categories([pre for pres in self.preprocessors for pre in pres], X)
        total = None
        device = usable_device(self.device)  # trained on a GPU, loaded where there is none
        for pre, networks in groups.values():
            data = TensorData(pre.transform(X), device=device)
            for module, w in networks:
                pred = outputs_to_prediction(predict_outputs(module.to(device), data),
                                             self.task, self.y_scaler) * w
                total = pred if total is None else total + pred
        return total


class _BaseLepton(BaseEstimator):
    _parameter_constraints: dict = {
        "time_budget": [Interval(Real, 0, None, closed="neither")],
        "n_trials": [Interval(Integral, 1, None, closed="left"), None],
        "search_space": [str, dict, SearchSpace, os.PathLike],
        "metric": [str, None],  # get_metric names the task's metrics
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "cv": ["cv_object", StrOptions({"auto"})],
        "n_jobs": [Integral, None],
        "storage": [str, os.PathLike, optuna.storages.BaseStorage, None],
        "study_name": [str, None],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "input_shape": ["array-like", None],
        "random_state": ["random_state"],
        "device": [str, list, tuple, torch.device],
        "verbose": ["verbose"],
        "tracking_uri": [str, None],
        "experiment_name": [str, None],
        "registered_model_name": [str, None],
    }
    _task: str = "classification"
    _single_cls: type = NeuralNetworkClassifier

    def __init__(self, time_budget=60.0, *, n_trials=None, search_space="auto", metric=None,
                 validation_fraction=0.2, cv="auto", n_jobs=None, storage=None, study_name=None,
                 ensemble_size=8, patience=20, input_shape=None, random_state=None, device="auto",
                 verbose=0, tracking_uri=None, experiment_name=None,
                 registered_model_name=None):
        self.time_budget = time_budget
        self.n_trials = n_trials
        self.search_space = search_space
        self.metric = metric
        self.validation_fraction = validation_fraction
        self.cv = cv
        self.n_jobs = n_jobs
        self.storage = storage
        self.study_name = study_name
        self.ensemble_size = ensemble_size
        self.patience = patience
        self.input_shape = input_shape
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.registered_model_name = registered_model_name

    # -- fit -------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Search architectures and training settings for ``time_budget`` seconds.

        ``sample_weight``: a weight >= 0 per row. It scales the row's share of every
        trial's training loss, of the validation scores that rank the trials, prune them,
        select the ensemble and pick ``predict``'s decision, and of the final refit's
        loss. It is part of the data a persistent study was created for (its default
        name, and the check that refuses to resume it with other data). The
        preprocessing of X (imputation, scaling, target encoding) is not weighted; a
        regression target is standardised with the weights."""
        start = time.perf_counter()  # the clock starts now
        validate_params(self)  # before Budget reads time_budget: the error names it
        for param in ("study_name", "tracking_uri", "experiment_name", "registered_model_name"):
            value = getattr(self, param)
            if isinstance(value, str) and not value.strip():  # was taken as None, silently
                raise ValueError(f"{param}={value!r} is empty: give a name, or None for the "
                                 "default.")
        budget = Budget(self.time_budget, start=start, final_copies=FINAL_REFITS)
        with kept_on_failure(self), _callers_torch_streams():
            self._new_study = None  # (storage, name) of a persistent study this fit created
            try:
                return self._fit(X, y, sample_weight, budget)
            except BaseException as exc:
                # leave the storage as this fit found it (where it answers: a storage that
                # stopped answering mid-search holds the trials the next fit resumes)
                if self._new_study is not None and not is_storage_failure(exc):
                    _forget_unstarted_study(*self._new_study)
                raise
            finally:
                del self._new_study

    def _fit(self, X, y, sample_weight, budget: Budget):
        name = type(self).__name__
        for stale in ("tracker_", "tracking_run_id_", "fit_time_"):  # a previous fit's: the
            self.__dict__.pop(stale, None)  # model end_search logs must not carry them
        task = self._task
        metric = get_metric(self.metric, task)
        devices = resolve_devices(self.device)
        device = devices[0]  # the folds', the refit's and the final model's
        self.devices_ = [str(d) for d in devices]
        n_jobs = self._n_jobs(len(devices))

        # records input_shape_ and channels_last_ (channels-last images are moved first)
        X_given, X = X, check_features(self, X, input_shape=self.input_shape, reset=True)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"{name} got 1 sample (n_samples=1); at least 2 are needed to train.")
        y_enc, encoder, n_outputs = encode_target(y, task, n, estimator_name=name,
                                                  sample_weight=sample_weight, loss=metric.loss)
        record_target_names(self, y, encoder)
        kind = target_kind(task, encoder)  # 'multilabel': a 0/1 column per label
        if kind == "multilabel" and metric.prior_corrected:
            raise ValueError(
                f"metric={metric.name!r} scores one class per row; y is multilabel (a 0/1 "
                f"column per label, {n_outputs} labels): choose one of accuracy (every label "
                "of a row right), f1_macro, f1_micro, f1_samples, roc_auc or log_loss.")
        if n < 4:
            raise ValueError(
                f"{name} needs at least 4 samples to hold out validation data; got n_samples={n}.")
        # in float64: the float32 of the training targets is standardised, a target's own
        # values are not (1.7e9 in float32 steps by 128: every trial's R^2 was 0.0)
        y_val_source = y_enc if task == "classification" else encoder.inverse_transform(
            y_enc.astype(np.float64))
        w = check_sample_weight(sample_weight, n, **_class_args(task, y_enc, encoder))
        if task == "regression" and n_outputs > 1 and metric.name in ("rmse", "mae"):
            _warn_unequal_units(y_val_source, metric.name, name,
                                getattr(self, "target_names_", None))

        # what needs no study first: a bad search space or fold count is refused before a
        # storage is opened (a new SQLite or journal file was left behind; review helper-62)
        meta = compute_meta_features(X, y_enc, task, input_shape=self.input_shape_)
        self.meta_features_ = meta.as_dict()
        given_space = choose_space(self.search_space, meta)
        self._check_image_shape(given_space, meta)
        if isinstance(self.cv, Integral) and not isinstance(self.cv, bool) and self.cv > n:
            raise ValueError(f"cv={self.cv} folds need at least {self.cv} samples; got "
                             f"n_samples={n}. Use fewer folds, or cv='auto'.")
        t_storage = time.perf_counter()  # the study storage's calls, timed: said below
        storage = make_storage(self.storage)
        # In memory there is nothing to resume: a fixed name keeps Hyperband's brackets
        # (hashed from the study name) independent of how the data was passed.
        data_id = None if storage is None else _data_fingerprint(task, X, y_enc, w)
        study_name = self.study_name or (
            f"lepton-{task}" if data_id is None else f"lepton-{task}-{data_id[:12]}")
        seed, role = self._seed(storage, study_name, metric)
        if role == "created" and storage is not None:
            self._new_study = (storage, study_name)
        recorded = None  # the validation scheme of the study resumed, which cv='auto' keeps
        moved = getattr(self.cv, "positional", None)  # folds moved to whole times (time_cv)
        if role != "created" and (self.cv == "auto" or moved is not None):
            recorded = optuna.load_study(study_name=study_name, storage=storage).user_attrs.get(
                "lepton.validation")
        storage_s = time.perf_counter() - t_storage
        # the preparation's costly steps, named in a refusal (the storage's from here on)
        steps: dict[str, float] = {STORAGE_STEP: storage_s} if storage is not None else {}
        # a study created before the folds kept whole times (stop 38) keeps its folds by
        # position: resumed with the moved ones, it was refused for another validation
        self._cv_used = (moved if moved is not None and recorded is not None
                         and recorded == _scheme_of(moved) else self.cv)
        splits = self._make_splits(X, y_enc, kind, seed, family=given_space.family,
                                   recorded=recorded)
        for i, (tr, va) in enumerate(splits):
            where = f" of split {i}" if len(splits) > 1 else ""
            check_rows_weighted(w, tr, f"training rows{where}")
            check_rows_weighted(w, va, f"validation rows{where}")
        self._check_scorable(metric, y_val_source, w, splits, kind, n_outputs)
        # Forward splits (each trains on rows before those it validates on: time order):
        # the early folds' networks never saw the latest rows, so no ensemble of them; the
        # final model is the refit on every row.
        self._forward_splits = self._given_cv() and all(tr.max() < va.min() for tr, va in splits)
        n_train = max(len(tr) for tr, _ in splits)
        space = apply_priors(given_space, meta, n_train=n_train)
        # Preparation is checked against the budget after each costly step: refused only
        # at the search window's opening, a 2,000 x 3,000 table's 8 s budget was refused
        # after 11-16 s under load (the folds' feature ranking, then the feature screening;
        # review helper-65). The steps' seconds name the cost in the refusal.
        worker = getattr(self, "_follow", None) is not None  # its budget: the run's window
        t_step = time.perf_counter()
        try:
            with column_errors_on_all_rows(X):
                folds = self._make_folds(X, y_enc, w, kind, splits, space.scalings(), device,
                                         rank="feature_fraction" in space.parameters,
                                         loss=metric.loss)
        except MemoryError as exc:
            raise _out_of_memory(name, X, splits, space.scalings()) from exc
        steps["preprocessing the folds"] = time.perf_counter() - t_step
        if not worker:
            self._refuse_no_time(budget, steps, n_folds=len(folds))
        # the columns every fold's preprocessing leaves out (with the first fold's reason)
        left_out = set.intersection(*(set(f.preprocessor.dropped_columns_) for f in folds))
        warn_left_out(name, {col: why for col, why in folds[0].preprocessor.dropped_columns_
                             .items() if col in left_out})
        n_inputs = _n_features(folds[0].train)
        space = limit_embeddings(space, n_inputs)  # inputs, as encoded
        t_step = time.perf_counter()
        space = screen_feature_fraction(space, folds[0], kind,
                                        time_left=budget.search_remaining)
        steps["screening feature_fraction"] = time.perf_counter() - t_step
        if not worker:
            self._refuse_no_time(budget, steps, n_folds=len(folds))
        note = narrowing_note(given_space, space, meta, n_train=n_train,
                              n_inputs=max(n_inputs, meta.n_features))
        if note:  # the user's own bounds, narrowed: said once per fit
            warn_at_caller(note, SearchWarning)
        # torch's one-off cost, before trials are planned (training.py): said where it
        # leaves no time for a trial, as it is no cost of the data's
        warm_up_s = warm_up_optimizers()
        input_shape = self._model_input_shape(space, meta, folds)

        # seconds the MLflow tracking took to start (importing mlflow, opening its store, a
        # new store's schema: 3.5 s, and 9.2 s on a fresh SQLite file; review helper-60):
        # said where the budget leaves no time for a trial, as torch's import is
        tracker_s = 0.0
        follow = getattr(self, "_follow", None)  # a `lepton worker`: trials only
        if follow is not None:
            # its trials go under the run's MLflow search run where it could join it
            # (lepton.steps.join_search), else they are in the study only
            tracker = getattr(self, "_join_tracker", None) or SearchTracker()
            budget.release_final_reserve()  # no final model
        elif getattr(self, "_untracked", False):  # `--no-tracking`: MLFLOW_TRACKING_URI aside
            tracker = SearchTracker()
        else:
            from ..tracking import make_tracker  # light: the MLflow tracker imports mlflow lazily
            # lepton run --register and the flow decide the champion on their held-out rows
            # (lepton.steps.promote), after this fit
            t_tracker = time.perf_counter()
            tracker = make_tracker(tracking_uri=self.tracking_uri,
                                   experiment_name=self.experiment_name,
                                   registered_model_name=self.registered_model_name,
                                   defer_promotion=getattr(self, "_promote_on_held_out", False))
            budget.add_fixed_reserve(_tracking_reserve(tracker))
            if getattr(tracker, "enabled", False):
                tracker_s += time.perf_counter() - t_tracker
            # before the search run is started: a fresh store's 8 s start left no time, and
            # failing the run it had started took 2.6-4.6 s more (review helper-65)
            self._refuse_no_time(budget, steps, n_folds=len(folds), warm_up_s=warm_up_s,
                                 tracker_s=tracker_s)
        t_storage = time.perf_counter()
        with _quiet_optuna(self.verbose):
            study = create_study(storage=storage, study_name=study_name, metric=metric,
                                 space=space, seed=_sampler_seed(seed, role),
                                 n_startup_trials=8)
        validation = self._validation_label(splits)
        data = None if data_id is None else f"{'x'.join(map(str, X.shape))} {data_id[:12]}"
        space = _space_searched_before(study, space)
        _check_resumable(study, study_name, task=task, metric=_scoring(metric), space=space,
                         seed=seed, validation=validation, data=data,
                         joining=None if follow is None else getattr(follow, "dataset", ""))
        if storage is not None and follow is None:
            for key, value in getattr(self, "_study_attrs", {}).items():  # lepton.steps' recipe
                study.set_user_attr(key, value)
        # a journal: Optuna keeps no heartbeat there (RDB storages: _search._rdb)
        heartbeat = TrialHeartbeat(storage) if uses_lepton_heartbeat(storage) else None
        n_portfolio = enqueue_portfolio(study, space, size=4,
                                        wait_s=self._max_wait() if role == "joined" else 0.0)
        if storage is not None and not worker:
            # a slow storage's round trips (25 ms each way: 12 s of a 30 s budget before the
            # first trial) were said as the data's preparation (review helper-84); refused
            # here, not after the rest of the preparation
            steps[STORAGE_STEP] = storage_s + time.perf_counter() - t_storage
            self._refuse_no_time(budget, steps, n_folds=len(folds), warm_up_s=warm_up_s,
                                 tracker_s=tracker_s)
        if self.verbose and role == "resumed":
            _fail_stale_trials(study)  # what a killed process left running: counted so
            print(_resume_line(study, study_name, self.storage, metric,
                               joining=follow is not None), file=sys.stderr, flush=True)
        val_rows = np.concatenate([f.val_idx for f in folds])  # order of every val_pred
        if metric.prior_corrected and kind == "classification":  # predict's class_prior_
            metric = metric.with_prior(class_frequencies(y_enc, n_outputs, w))
        ctx = SearchContext(
            folds=folds, task=Task(kind, n_outputs, regression_loss=metric.loss), metric=metric,
            space=space, budget=budget,
            y_val=y_val_source[val_rows], y_scaler=None if task == "classification" else encoder,
            w_val=None if w is None else w[val_rows], w_all=w,
            seed=seed, n_all=n, input_shape=input_shape, tracker=tracker,
            keep_models=max(10, self.ensemble_size), heartbeat=heartbeat,
            prune=_may_prune(study, metric, regression=kind == "regression"), follow=follow,
            devices=DevicePool(devices) if len(devices) > 1 else None,
            started=None if follow is not None else _dt.datetime.now(),
            # the tracker's end costs more on a machine loaded since the start (workers
            # joining this run): 3-11 s over a 30 s budget with two workers on two cores
            reserve_floor=(lambda: _tracking_reserve(tracker))
            if getattr(tracker, "finalize_seconds", 0.0) > 0 and follow is None else None)
        if follow is None:
            ctx.resume_reserve(study)  # an earlier session's best: its refit's reserve
        settings = {"time_budget": self.time_budget, "n_trials": self.n_trials,
                    "metric": metric.name, "n_jobs": n_jobs,
                    "cv": (validation if self._given_cv()
                           else len(folds) if len(folds) > 1 else None),
                    "validation_fraction": (None if len(folds) > 1 or self._given_cv()
                                            else self.validation_fraction),
                    "storage": _storage_label(self.storage), "random_state": self.random_state,
                    "seed": seed, "task": task, "ensemble_size": self.ensemble_size,
                    "sample_weight": w is not None,
                    "patience": self.patience,
                    "device": ",".join(self.devices_), "portfolio_enqueued": n_portfolio}
        if follow is None:
            t_tracker = time.perf_counter()
            tracker.start_search(study_name=study_name, meta_features=meta.as_dict(),
                                 search_space=space.to_dict(), settings=settings,
                                 study_uid=None if storage is None else study_uid(study, role),
                                 study_created=role == "created")
            if storage is not None and getattr(tracker, "parent_run_id", None):
                from ..tracking._store import redact_uri

                study.set_user_attr(TRACKING_ATTR, {  # where a worker logs its trials
                    "uri": redact_uri(tracker.tracking_uri),
                    "experiment": tracker.experiment_name,
                    "parent_run_id": tracker.parent_run_id})
            if getattr(tracker, "enabled", False):
                tracker_s += time.perf_counter() - t_tracker
        window_end = None  # when this run told workers its search ends (time.time())
        moving = threading.Lock()  # trials' threads (n_jobs > 1) call it at once

        def window_moved() -> None:
            """The window follows the final model's reserve (Budget.update_reserve): its
            end, moved a second or more, is recorded again for the workers."""
            nonlocal window_end
            with moving:
                if (window_end is None
                        or abs(time.time() + budget.search_remaining() - window_end) < 1.0):
                    return
                try:
                    window_end = _publish_window_end(study, storage, follow, budget)
                except _search.StorageError as exc:  # workers end as recorded before
                    log.warning("could not record the search window's new end: %s", exc)

        ctx.window_moved = window_moved
        try:
            window = budget.open_search_window(
                None if self.n_trials is None else self.n_trials - _n_finished(study))
            if window <= 0 and follow is not None:
                raise ValueError(
                    f"the search this worker joined ends before its data was ready (preparing "
                    f"it took {budget.elapsed():.2f}s of the {self.time_budget:.1f}s left).")
            if window <= 0:
                self._refuse_no_time(budget, steps, n_folds=len(folds), warm_up_s=warm_up_s,
                                     tracker_s=tracker_s, now=True)
            window_end = _publish_window_end(study, storage, follow, budget)
            # a run's sign of life, for its workers (a run killed outright closes no window)
            alive = SignOfLife(study) if window_end is not None else contextlib.nullcontext()
            with _quiet_optuna(self.verbose), torch_threads(threads_per_trial(n_jobs)), \
                    heartbeat or contextlib.nullcontext(), alive, \
                    _progress(self.verbose, budget, study, metric,
                              final_model=follow is None) as progress:
                objective = Objective(ctx)
                interrupted = False
                try:
                    run_trials(study, objective, ctx, n_trials=self.n_trials, n_jobs=n_jobs,
                               progress=progress, patience=self.patience)
                    if follow is None and self._needs_no_refit(ctx, study, budget):
                        # The final model will be trained trials' networks (an ensemble, or
                        # the best trial's where its refit cannot fit in the time left):
                        # hand the time reserved for a refit back to the search, less
                        # the final selection's: on 500 classes it took 0.26-0.33 s, and
                        # fits ended 10.08-10.40 s into a 10 s budget (review helper-47)
                        budget.release_final_reserve(keep=1.5 * ctx.selection_s)
                        window_end = _publish_window_end(study, storage, follow, budget)
                        run_trials(study, objective, ctx, n_trials=self.n_trials,
                                   n_jobs=n_jobs, progress=progress, patience=self.patience)
                except KeyboardInterrupt:
                    # SIGTERM: the process is to end, now that the study is consistent
                    if ctx.interrupt.terminates:
                        raise self._terminated("the search", study, budget) from None
                    # Ctrl-C ends the search: the final model comes from the trials this
                    # fit finished (no refit), unless it finished none.
                    if not any(m.complete for m in ctx.models.values()):
                        raise
                    interrupted = True
            _close_window(study, window_end)
            if follow is not None:  # a worker: no final model; what the study holds now
                tracker.leave_search()
                self.study_ = study
                self.leaderboard_ = make_leaderboard(study, metric.name)
                self.n_trials_ = _n_finished(study)
                self.worker_trials_ = list(ctx.finished_here)
                self.search_interrupted_ = interrupted
                self.search_converged_ = (
                    self.patience is not None
                    and trials_since_best(study, ctx.started) >= self.patience)
                self.fit_time_ = budget.elapsed()
                return self
            if interrupted:
                best = self._best_trial(ctx, study)  # the one the final model is built on
                final = ("the final model comes from the trials finished so far, without a "
                         "refit." if best.number in ctx.models else
                         f"the study's best trial ({best.number}) is of an earlier "
                         "session, whose networks this process does not hold: the final model "
                         "refits it, unless an ensemble of this session's trials validates "
                         "better (Ctrl-C again stops the refit).")
                warn_at_caller(
                    f"{name}: search interrupted (Ctrl-C) after {_n_done(study)} finished trials "
                    f"and {budget.elapsed():.0f}s; {final}"
                    + (f" Fit again with storage={_storage_shown(self.storage)!r} and "
                       f"study_name={study_name!r} to continue the search."
                       if self.storage is not None else ""), SearchWarning)
            self._check_trials(study, warm_up_s, n_folds=len(folds))
            self.search_converged_ = (self.patience is not None
                                      and trials_since_best(study, ctx.started) >= self.patience)
            # The refit's threads, like the trials', leave the cores other processes use
            # alone: torch's default (every core) collapses on a busy machine, and the
            # refit then ran ~3x slower than its estimate from the trials' epoch times
            # (benchmarks/results/budget_under_load_tracked.md).
            with torch_threads(threads_per_trial(1)):
                self._finalize(X, y, y_enc, encoder, n_outputs, ctx, study, budget, device,
                               input_shape, interrupted=interrupted)
            refit = self.final_model_info_["refit"] or {}
            failed = refit.get("failed") or str(refit.get("status", "")).partition("failed: ")[2]
            happened = (["was interrupted (Ctrl-C)"] if refit.get("interrupted") else []) + (
                [f"failed ({failed})"] if failed else [])
            for what in happened:
                warn_at_caller(
                    f"{name}: the final refit {what}; the final model is "
                    + ("the best trial's own networks (trained on the search's split)."
                       if self.final_choice_ == "best_trial" else
                       f"the refit's {refit['seeds']} finished seed(s)."), SearchWarning)
            self.search_interrupted_ = bool(self.final_model_info_["interrupted"])
        except BaseException as exc:
            _close_window(study, window_end)
            tracker.fail_search(error=exc)
            raise
        self.search_time_ = budget.elapsed()
        holdout = (ctx.y_val if task == "regression" else
                   ctx.y_val.astype(encoder.dtype) if kind == "multilabel" else
                   encoder.classes_[ctx.y_val], self._holdout_prediction(ctx, encoder))
        # a DataFrame as given (a logged model's schema names its columns as users do);
        # channels-last images flattened as given, as predict reads flat rows of them
        sample = (X_given if isinstance(X_given, pd.DataFrame) else X if not self.channels_last_
                  else np.asarray(X_given[:5]).reshape(min(5, n), -1))
        self.tracker_ = tracker  # before end_search: the model it logs names its own run
        self.tracking_run_id_ = getattr(tracker, "parent_run_id", None)
        # A stop signal while the search's run is logged (seconds of a tracked fit's end;
        # where a scheduler's cancel often lands) lets the part being logged finish and
        # leaves the rest out, so the run is not left RUNNING nor its model PENDING. After a
        # Ctrl-C that stopped the search or the refit, another one stops fit at once.
        stop = StopRequest()
        signals = (stop_signals_set(stop, CTRL_C_LOGGING, SIGTERM_LOGGING)
                   if self.tracking_run_id_ and not self.search_interrupted_
                   else contextlib.nullcontext())
        try:
            with signals:
                tracker.end_search(
                    estimator=self, X_sample=_safe_indexing(sample, np.arange(min(5, n))),
                    study=study, leaderboard=self.leaderboard_,
                    final=dict(self.final_model_info_), holdout=holdout,
                    fit_rows=(X_given, y), time_left=budget.remaining(), stop=stop)
        except BaseException as exc:  # a second signal: the run ends KILLED, not RUNNING
            tracker.fail_search(error=exc)
            raise
        self.fit_time_ = budget.elapsed()
        if stop.is_set():
            self._stopped_logging(stop, tracker)
        _warn_overrun(name, budget, self.search_time_, stores=[
            what for what, used in (("study storage", storage is not None),
                                    ("tracking store", getattr(tracker, "enabled", False)))
            if used])
        if self.verbose and not getattr(self, "_caller_summarises", False):
            print(f"[{name}] {self.n_trials_} trials, best {metric.name}={self.best_score_:.4f}, "
                  f"final={self._final_text()}, {self.fit_time_:.1f}s of {self.time_budget:g}s"
                  + self._search_notes())
        return self

    def _final_text(self) -> str:
        """The final model in words: 'refit', or 'ensemble of trials 13, 1 (validation
        accuracy=0.9500)'."""
        info = self.final_model_info_
        if self.final_choice_ != "ensemble":
            return str(self.final_choice_)
        return (f"ensemble of trials {', '.join(map(str, info['ensemble_trials']))} "
                f"(validation {info['metric']}={info['validation_score']:.4f})")

    def _search_notes(self) -> str:
        """How the search ended, where it did not by its budget alone."""
        return ((f" (converged: no better trial in the last {self.patience})"
                 if self.search_converged_ else "")
                + (" (interrupted: Ctrl-C)" if self.search_interrupted_ else ""))

    def _n_jobs(self, n_devices: int = 1) -> int:
        """Trials at a time: ``n_jobs``; None: one per device (1 on the CPU); a negative
        number counts from the cores as joblib's does (scikit-learn users read -2 as 'all
        cores but one'): cores + 1 + n_jobs, at least 1."""
        n_jobs = n_devices if self.n_jobs is None else self.n_jobs
        if n_jobs == 0:
            raise ValueError(
                "n_jobs=0 is not valid; use a positive number of trials at a time, or a "
                "negative one counted from the cores as in joblib (-1: one per core, -2: all "
                "cores but one).")
        return max(1, cpu_count() + 1 + int(n_jobs)) if n_jobs < 0 else int(n_jobs)

    def _seed(self, storage, study_name: str, metric) -> tuple[int, str]:
        """The seed of the splits and the preprocessing, and this process's role in the
        study: 'created' (in memory, or this process created the persistent study),
        'joined' (another process created it and has not started a trial yet) or
        'resumed'. A persistent study keeps the seed it was created with, so a resumed
        search, or another process searching the same study, splits the data the same way.

        Several processes may start the same new study at once: only the one whose
        ``create_study`` creates it (the database's unique study name decides) records its
        seed; the others wait for that record and take it, whatever their own
        ``random_state``."""
        own = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        if storage is None:
            return own, "created"
        try:
            with warnings.catch_warnings(), _quiet_optuna(self.verbose):
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study = optuna.create_study(storage=storage, study_name=study_name,
                                            direction=metric.direction)
        except optuna.exceptions.DuplicatedStudyError:
            # Created by another process (maybe just now), or a study from before seeds
            # were recorded, or made outside Lepton: a study with no trials yet may be
            # waiting for its creator to record the seed.
            deadline = time.monotonic() + self._max_wait()
            while True:
                try:
                    existing = optuna.load_study(study_name=study_name, storage=storage)
                except KeyError:  # its creator's fit failed and removed it: start afresh
                    return self._seed(storage, study_name, metric)
                started = bool(existing.get_trials(deepcopy=False))
                if "lepton.seed" in existing.user_attrs:
                    return (int(existing.user_attrs["lepton.seed"]),
                            "resumed" if started else "joined")
                if started or time.monotonic() > deadline:
                    return own, "resumed"  # _check_resumable records the seed
                time.sleep(0.1)
        new_study_uid(study)  # before the seed, which the processes joining it wait for
        study.set_user_attr("lepton.metric", _scoring(metric))  # the direction is fixed now
        study.set_user_attr("lepton.seed", own)
        return own, "created"

    def _max_wait(self) -> float:
        return min(SEED_WAIT_S, WAIT_SHARE * float(self.time_budget))

    def _n_folds(self, n: int, n_values: int = 0, family: str = "mlp",
                 recorded: str | None = None) -> int | None:
        """``cv='auto'``: 5-fold cross-validation below 5,000 rows, where one held-out split
        is too small to rank configurations reliably, if the budget can train the folds:
        ``AUTO_CV_MIN_EPOCHS`` epochs over all five at the ``family``'s measured speed
        (``AUTO_CV_VALUES_PER_S``; ``n_values``: rows x features). One split otherwise.
        Measured on digits (1,347 training rows, 30 s, seeds 0-2): test accuracy 0.978 /
        0.973 / 0.982 with 5 folds against 0.964 / 0.969 / 0.973 with one 20% split. A
        study resumed keeps its scheme (``recorded``), whatever this fit's budget: another
        scheme would refuse to resume it."""
        if self.cv != "auto":
            return self.cv
        if recorded is not None and recorded.endswith("-fold cv"):
            return int(recorded.split("-", 1)[0])
        if recorded is not None and recorded.startswith("holdout"):
            return None
        rate = AUTO_CV_VALUES_PER_S.get(family, AUTO_CV_VALUES_PER_S["mlp"])
        epoch_s = (AUTO_CV_FOLDS - 1) * n_values / rate  # each row trains in 4 of 5 folds
        # the speeds are a CPU's: on a GPU (not measured) the folds are kept, as before
        on_cpu = str(getattr(self, "devices_", ["cpu"])[0]).startswith("cpu")
        fits = not on_cpu or AUTO_CV_MIN_EPOCHS * epoch_s <= float(self.time_budget)
        return AUTO_CV_FOLDS if n < AUTO_CV_MAX_ROWS and fits else None

    def _given_cv(self) -> bool:
        """``cv`` is a scikit-learn splitter or the splits themselves."""
        return not (self.cv is None or isinstance(self.cv, (str, Integral)))

    def _make_splits(self, X, y_enc, task: str, seed: int, *, family: str = "mlp",
                     recorded: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train rows, validation rows) of each fold, or of the one held-out split;
        stratified by class where ``task`` (the training's kind) is 'classification'.
        ``family`` and ``recorded``: what cv='auto' decides on (:meth:`_n_folds`)."""
        n = X.shape[0]
        if self._given_cv():
            return self._given_splits(n, y_enc, seed)
        n_folds = self._n_folds(n, n * X.shape[1], family, recorded)
        if n_folds:
            if task == "classification" and np.bincount(y_enc).min() >= n_folds:
                splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
            else:
                splitter = KFold(min(n_folds, n), shuffle=True, random_state=seed)
            return list(splitter.split(np.zeros(n), y_enc))
        train_idx, val_idx = split_validation(n, self.validation_fraction,
                                              y_enc if task == "classification" else None, seed)
        if val_idx is not None and len(val_idx) < FEW_VALIDATION_ROWS:
            # 1 row of 150 (validation_fraction=0.001): every trial scored 0 or 1, the best
            # 1.0, without a word (review helper-62)
            warn_at_caller(
                f"validation_fraction={self.validation_fraction:g} of {n} rows holds out "
                f"{len(val_idx)} validation row(s): every trial is scored on them alone, and "
                "the search ranks configurations by their luck. Hold out more rows, or "
                "cross-validate (cv=5).", DataWarning)
        return [(train_idx, val_idx)]

    def _given_splits(self, n: int, y_enc: np.ndarray,
                      seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The splits of a ``cv`` splitter (``TimeSeriesSplit(3)``: validate on later rows
        than those trained on) or given as (train rows, validation rows) pairs, checked. A
        splitter that shuffles with ``random_state=None`` shuffles with ``seed`` (the
        study's): a resumed study, and every process of one, keeps the same folds."""
        cv = getattr(self, "_cv_used", self.cv)
        if getattr(cv, "shuffle", False) and getattr(cv, "random_state", 0) is None:
            cv = copy.copy(cv)  # the user's splitter is left as given
            cv.random_state = seed
        try:
            splits = [(np.asarray(tr), np.asarray(va))
                      for tr, va in check_cv(cv).split(np.zeros((n, 1)), y_enc)]
        except ValueError as exc:
            if "groups" not in str(exc):
                raise
            raise ValueError(
                f"cv={self.cv!r} needs groups, which fit does not take; pass its splits "
                "instead: cv=list(splitter.split(X, y, groups)).") from None
        if not splits:
            raise ValueError(f"cv={self.cv!r} gave no split (an iterator used up by an earlier "
                             "fit?); pass a splitter or a list of (train, validation) pairs.")
        for i, (tr, va) in enumerate(splits):
            for name, rows in (("training", tr), ("validation", va)):
                # (a 0-d array, one row as a number, failed later: 'zero-dimensional arrays
                # cannot be concatenated': review helper-80)
                if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu" or \
                        rows.min() < 0 or rows.max() >= n:
                    shown = rows.ravel()
                    raise ValueError(
                        f"cv split {i}: its {name} rows must be a non-empty 1-D array of row "
                        f"positions in [0, {n}); got {shown[:5].tolist()}"
                        f"{' ...' if shown.size > 5 else ''} (dtype {rows.dtype}, "
                        f"{rows.ndim}-D).")
            if np.intersect1d(tr, va).size:
                raise ValueError(f"cv split {i} validates on rows it trains on "
                                 f"({np.intersect1d(tr, va)[:5].tolist()} ...).")
        return splits

    def _check_scorable(self, metric, y, w, splits, kind: str, n_outputs: int) -> None:
        """Refuse validation rows no trial could be scored on (R^2 of one row, ROC AUC of
        one class), before the budget goes on trials that would all fail: ``metric`` on
        a constant prediction (the classes' shares, the mean target), which it scores
        wherever it scores a network's, over every split's validation rows (the search's
        ``y_val``)."""
        rows = np.concatenate([va for _, va in splits])
        y_val = y[rows]
        if kind == "classification":
            pred = class_frequencies(y, n_outputs)
        else:  # regression's outputs, multilabel's labels: each column's mean
            pred = np.asarray(y, dtype=np.float64).mean(axis=0)
        try:
            with warnings.catch_warnings():  # scikit-learn's 'not well-defined': said below
                warnings.simplefilter("ignore")
                value = metric(y_val, np.repeat(np.atleast_2d(pred), len(rows), axis=0),
                               None if w is None else w[rows])
            why = f"{metric.name} is {value}"
        except ValueError as exc:
            value, why = math.nan, str(exc).rstrip(".")
        if math.isfinite(value):
            return
        held = (f"{len(rows)} validation row" + ("s" if len(rows) != 1 else "")
                + (f" of {len(np.unique(y_val))} of the {n_outputs} classes"
                   if kind == "classification" else ""))
        given = (f"cv={self.cv!r}" if self._given_cv() else f"cv={len(splits)}"
                 if len(splits) > 1 else f"validation_fraction={self.validation_fraction:g}")
        raise ValueError(
            f"metric={metric.name!r} cannot be scored on the validation rows ({held}, from "
            f"{given} of {len(y)} rows): {why}. Hold out more rows (a larger "
            "validation_fraction, or cv=5) or choose another metric.")

    def _validation_label(self, splits) -> str:
        """The validation scheme a study records (a resumed study must keep it)."""
        if self._given_cv():
            return _scheme_of(getattr(self, "_cv_used", self.cv), splits=splits)
        return (f"{len(splits)}-fold cv" if len(splits) > 1
                else f"holdout {self.validation_fraction:g}")

    def _make_folds(self, X, y_enc, w, task: str, splits, scalings: list[str],
                    device, *, rank: bool = False, loss: str = "squared_error") -> list[Fold]:
        """Each split preprocessed (fitted on its train rows) once per input scaling; the
        first scaling's copy is the fold, the others hang off ``Fold.scaled``. ``rank``:
        each copy's columns ranked on its train rows (``Fold.ranking``). A regression's
        targets are standardised again by each split's train rows (``Fold.y_scaler``, as
        ``loss`` scales them)."""
        from threadpoolctl import threadpool_limits

        y_dtype = torch.long if task == "classification" else torch.float32
        # the preprocessing's BLAS/OpenMP maths (a text column's TruncatedSVD) on as many
        # threads as a lone trial's torch gets: with the BLAS's default, one per core, a
        # fold's text took 1.0-2.7 s against 0.23-0.44 s on one thread on a busy 2-core
        # machine (review helper-54); a 15 s search of 2,000 reviews prepared its folds in
        # 0.94-1.52 s limited, 1.04-7.52 s not (7 runs each, the same shared machine)
        threads = threads_per_trial(1)
        folds = []
        for train_idx, val_idx in splits:
            X_train, X_valid = _safe_indexing(X, train_idx), _safe_indexing(X, val_idx)
            y_train, y_valid, y_scaler = y_enc[train_idx], y_enc[val_idx], None
            if task == "regression":
                y_scaler = _fold_target_scaler(y_train, _rows(w, train_idx), loss)
                y_train, y_valid = (y_scaler.transform(y.astype(np.float64)).astype(np.float32)
                                    for y in (y_train, y_valid))
            copies = []
            for scaling in scalings:
                if sp.issparse(X) and copies:  # sparse columns are max-abs scaled either way
                    copies.append(copies[0])
                    continue
                pre = TabularPreprocessor(max_onehot_cardinality=defaults.MAX_ONEHOT_CARDINALITY,
                                          onehot_cells=defaults.ONEHOT_CELLS,
                                          scaling=scaling,
                                          channels=image_channels(self.input_shape_))
                with threadpool_limits(limits=threads):
                    Xt = pre.fit_transform(X_train, y_enc[train_idx])
                    Xv = pre.transform(X_valid)
                ranking = (feature_ranking(Xt, y_enc[train_idx], classes=task != "regression")
                           if rank else None)
                copies.append(Fold(
                    train=TensorData(Xt, y_train, w=_rows(w, train_idx),
                                     device=device, y_dtype=y_dtype),
                    valid=TensorData(Xv, y_valid, w=_rows(w, val_idx), device=device,
                                     y_dtype=y_dtype),
                    val_idx=np.asarray(val_idx), preprocessor=pre, ranking=ranking,
                    y_scaler=y_scaler))
            copies[0].scaled = dict(zip(scalings[1:], copies[1:]))
            folds.append(copies[0])
        return folds

    def _refuse_no_time(self, budget: Budget, steps: dict[str, float], *, n_folds: int,
                        warm_up_s: float = 0.0, tracker_s: float = 0.0,
                        now: bool = False) -> None:
        """Raise the 'too small' error where the preparation has left the search no time
        (``now``: the search window did not open), naming what the time went to."""
        if not now and budget.search_remaining() > 0:
            return
        tracking = (f" ({budget.fixed_reserve:.1f}s of it for the tracker's "
                    "end-of-search logging: a fit without tracking does not need it)"
                    if budget.fixed_reserve > 0 else "")
        costly = [f"{what} {seconds:.2f}s" for what, seconds in steps.items() if seconds >= 0.5]
        slow = (" (a study storage this slow takes the budget's time: one nearer this "
                "machine leaves it to the search)"
                if steps.get(STORAGE_STEP, 0.0) >= 0.5 * budget.elapsed() else "")
        raise BudgetTooSmall(
            self.time_budget,
            f": preparing the data took {budget.elapsed():.2f}s"
            f"{_start_up_note(warm_up_s, tracker_s)}"
            + (f" ({', '.join(costly)})" if costly else "") + slow
            + f" and the final model needs a reserve of {budget.reserve:.2f}s{tracking}",
            n_folds=n_folds, floor=budget.elapsed() + budget.reserve,
            tracking_s=budget.fixed_reserve)

    @staticmethod
    def _check_image_shape(space, meta) -> None:
        """A cnn space needs an image's shape (checked before a storage is opened)."""
        shape = meta.input_shape
        if space.family == "cnn" and (shape is None or len(shape) not in (2, 3)):
            raise ValueError(
                f"search_space family 'cnn' needs image-shaped input: pass input_shape=(height, "
                f"width) or (channels, height, width), or X of shape (n, h, w), (n, c, h, w) "
                f"or (n, h, w, c); got {shape}.")

    def _model_input_shape(self, space, meta, folds):
        if space.family != "cnn":
            return None
        self._check_image_shape(space, meta)
        shape = meta.input_shape
        n_features = folds[0].train.X.shape[1] if folds[0].train.X is not None else -1
        if n_features != math.prod(shape):
            raise ValueError(
                f"search_space family 'cnn' needs all-numeric image input without missing values; "
                f"preprocessing produced {n_features} features for input_shape={list(shape)}.")
        return list(shape)

    def _stopped_logging(self, stop: StopRequest, tracker: Any) -> None:
        """Ctrl-C during the end-of-search logging: the model is fitted and returned, with
        a warning; SIGTERM: the process is to end (``Terminated``, whose ``model`` is the
        fitted estimator, for a caller that saves it: ``lepton run --save``)."""
        run = getattr(tracker, "parent_run_id", None)
        message = (f"{type(self).__name__}: {stop.cause} stopped the MLflow logging at the end "
                   f"of fit" + (f"; run {run} lacks what its tag lepton.stopped names"
                                if run else ""))
        if stop.terminates:
            message += "; the model was fitted, and is not returned: the process is to end."
            warn_at_caller(message, SearchWarning)
            terminated = Terminated(message)
            # fit undoes its changes to self as it raises (kept_on_failure): a copy keeps
            # them, its tracker included (copy.copy would pickle's: a disabled one)
            fitted = object.__new__(type(self))
            fitted.__dict__.update(self.__dict__)
            fitted.__dict__.pop("_new_study", None)
            terminated.model = fitted
            raise terminated
        warn_at_caller(message + "; the model is fitted.", SearchWarning)

    def _terminated(self, what: str, study: optuna.Study, budget: Budget) -> Terminated:
        """Warn what SIGTERM stopped and what is kept, and the exception that ends fit."""
        message = (f"{type(self).__name__}: SIGTERM stopped {what} after {_n_done(study)} "
                   f"finished trials and {budget.elapsed():.0f}s; ")
        if self.storage is None:
            message += ("the study was in memory (storage=None), so its trials are lost; "
                        "give a storage to keep a search that may be stopped.")
        else:
            # the refit runs no trial: only a search has interrupted trials to queue
            queued = (", and the trials it interrupted are queued to run again"
                      if what == "the search" else "")
            message += (f"the study keeps them{queued}: fit again with "
                        f"storage={_storage_shown(self.storage)!r} "
                        f"and study_name={study.study_name!r} to continue.")
        warn_at_caller(message, SearchWarning)
        return Terminated(message)

    def _check_trials(self, study: optuna.Study, warm_up_s: float = 0.0,
                      n_folds: int = 1) -> None:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if complete:
            return
        # finished trials only: portfolio entries still enqueued (WAITING) never ran
        trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,
                                                          *DONE_STATES))
        reasons = [f"trial {t.number}: {t.user_attrs.get(FAIL_REASON) or t.state.name.lower()}"
                   for t in trials]
        if not trials or all("time" in r or "pruned" in r for r in reasons):
            raise BudgetTooSmall(
                self.time_budget,
                f" to train even one configuration on this data "
                f"({'; '.join(reasons) or 'no trial could start'})"
                f"{_torch_import_note(warm_up_s, 'of the budget')}", n_folds=n_folds)
        raise SearchError("every trial of the search failed: " + "; ".join(reasons))

    # -- final model -----------------------------------------------------------------
    @staticmethod
    def _tiebreak(metric):
        """Log loss orders classification trials an accuracy-like metric ties (ensemble.py)."""
        if metric.task == "classification" and metric.name != "log_loss":
            return METRICS["log_loss"]
        return None

    def _key(self, ctx: SearchContext, prediction: np.ndarray) -> tuple[float, float]:
        return rank_key(ctx.metric, self._tiebreak(ctx.metric), ctx.y_val, prediction,
                        ctx.w_val)

    def _best_trial(self, ctx: SearchContext, study: optuna.Study):
        """The study's best trial; among kept trials tied on the metric, the one the
        tie-break metric prefers (the first of many 1.0-accuracy trials is not the best)."""
        best = study.best_trial
        tied = [m for m in ctx.models.values() if m.complete and m.value == best.value]
        if len(tied) < 2:
            return best
        choice = max(tied, key=lambda m: (self._key(ctx, m.val_pred), -m.number))
        return next(t for t in study.get_trials(deepcopy=False) if t.number == choice.number)

    def _select_ensemble(self, ctx: SearchContext):
        """Greedy selection over the kept trials: (candidates, weights, score) or None.

        Classifiers select on the metric (accuracy) with log loss as tie-break. Selecting
        on log loss alone was tried in stop 9: mildly better on dev splits, then 5-41-14
        against this rule on the benchmark's splits (worse at 30 s, better only on
        breast_cancer at 120 s); see benchmarks/results/search_benchmark.md, Notes."""
        cands = sorted(ctx.models.values(), key=lambda m: m.value,
                       reverse=ctx.metric.direction == "maximize")
        if self.ensemble_size <= 1 or len(cands) < 2 or self._forward_splits:
            return None
        # the same kept trials as the last selection (the search's end asks, then the final
        # model): its result, not a second run (0.03-0.3 s of the budget's end; helper-85)
        key = (self.ensemble_size, tuple((c.number, c.value) for c in cands))
        if ctx.last_selection is not None and ctx.last_selection[0] == key:
            return ctx.last_selection[1]
        started = time.perf_counter()
        weights, score = greedy_ensemble_selection(
            [c.val_pred for c in cands], ctx.y_val, ctx.metric, rounds=self.ensemble_size,
            tiebreak=self._tiebreak(ctx.metric), sample_weight=ctx.w_val)
        ctx.selection_s = time.perf_counter() - started
        ctx.last_selection = (key, (cands, weights, score))
        return ctx.last_selection[1]

    def _ensemble_beats(self, ctx: SearchContext, selected, best) -> bool:
        """Whether the selected ensemble validates better than the best single trial.

        Greedy selection starts from the kept trial with the best (metric, tie-break) key,
        which is ``best`` when ``best`` is kept, and adds a member only when that strictly
        improves the key: two or more members therefore beat it. A best trial of an earlier
        session (resume) is not kept; the ensemble must beat its metric."""
        if selected is None or len(selected[1]) < 2:
            return False
        return best.number in ctx.models or ctx.metric.better(selected[2], best.value)

    def _needs_no_refit(self, ctx: SearchContext, study: optuna.Study, budget: Budget) -> bool:
        """Whether the final model will be networks the trials trained: the ensemble
        validates better than the best trial, or the best trial's refit would be skipped
        for want of time (its cost over all rows can exceed the reserve, which is capped
        at ``Budget.MAX_RESERVE`` of the budget: 500,000 rows at 40 s left 13 s unused).
        A best trial that another process ran has no networks here: its refit is forced."""
        try:
            best = self._best_trial(ctx, study)
        except ValueError:  # no complete trial
            return False
        if best.number not in ctx.models:
            return False
        if self._ensemble_beats(ctx, self._select_ensemble(ctx), best):
            return True
        return not _refit_plan(best, ctx, budget)["fits"]

    def _finalize(self, X, y, y_enc, encoder, n_outputs, ctx: SearchContext, study, budget,
                  device, input_shape, *, interrupted: bool = False) -> None:
        task = self._task
        metric = ctx.metric
        best = self._best_trial(ctx, study)
        given = input_shape  # a CNN's images as X held them: how a refit reads them again
        if input_shape is not None and self.channels_last_:
            given = [*input_shape[1:], input_shape[0]]
        common = dict(task=task, encoder=encoder, n_outputs=n_outputs, device=device,
                      y_1d=_target_ndim(y) == 1, n_features_in=self.n_features_in_,
                      feature_names_in=getattr(self, "feature_names_in_", None),
                      random_state=ctx.seed, input_shape=given,
                      image=(self.input_shape_, self.channels_last_))
        if task == "regression":  # refitted (clone), best_estimator_ trains on the same loss
            common["loss"] = metric.loss

        # Ensemble candidates: finished trials of this process whose networks are kept.
        ensemble, ens_score = None, None
        selected = self._select_ensemble(ctx)
        if selected is not None:
            cands, weights, ens_score = selected
            if self._ensemble_beats(ctx, selected, best):
                members = sorted(weights, key=lambda i: -weights[i])
                ensemble = LeptonEnsemble(
                    preprocessors=[cands[i].preprocessors for i in members],
                    members=[cands[i].modules for i in members],
                    weights=[weights[i] for i in members],
                    trial_numbers=[cands[i].number for i in members],
                    task=ctx.task, y_scaler=ctx.y_scaler, validation_score=ens_score,
                    device=device)

        model_cfg = json.loads(best.user_attrs["model_config"])
        training = json.loads(best.user_attrs["training"])
        training["betas"] = tuple(training["betas"])
        best_tm = ctx.models.get(best.number)
        refit_report = None
        if ensemble is None:
            if interrupted and best_tm is not None:  # Ctrl-C: the trial's networks, now
                refit, refit_report = None, {"status": "skipped: search interrupted"}
            else:
                # Ctrl-C stops the refit after its current batch: the refit seeds finished
                # by then predict, or with none the best trial's own networks. SIGTERM
                # stops it likewise, and then the process.
                stop = StopRequest()
                try:
                    with stop_signals_set(
                            stop, "lepton: Ctrl-C: stopping the final refit; the model keeps "
                            "what is trained (Ctrl-C again to stop at once)",
                            "lepton: SIGTERM: stopping the final refit, then the process "
                            "(SIGTERM again to exit at once)"):
                        refit, refit_report = self._refit(
                            X, y_enc, model_cfg, training, best, ctx, budget, device,
                            input_shape, common, force=best_tm is None, interrupt=stop)
                except KeyboardInterrupt:  # a forced refit with nothing to keep
                    if not stop.terminates:
                        raise
                if stop.terminates:
                    raise self._terminated("the final refit", study, budget)
                interrupted = interrupted or bool(refit_report.get("interrupted"))
            if refit is None:
                # No time left to refit: predict with the best trial's own network(s)
                # (all its cross-validation folds, averaged), trained on the search split.
                choice = "best_trial"
                self.best_estimator_ = self._trial_estimator(best_tm, ctx, common)
                ensemble = LeptonEnsemble(
                    preprocessors=[best_tm.preprocessors], members=[best_tm.modules],
                    weights=[1.0], trial_numbers=[best_tm.number], task=ctx.task,
                    y_scaler=ctx.y_scaler, validation_score=best_tm.value, device=device)
            else:
                choice = "refit"
                self.best_estimator_, pre, modules = refit
                if len(modules) > 1:  # several seeds of the refit, averaged
                    ensemble = LeptonEnsemble(
                        preprocessors=[[pre] for _ in modules], members=[[m] for m in modules],
                        weights=[1.0 / len(modules)] * len(modules),
                        trial_numbers=[best.number] * len(modules), task=ctx.task,
                        y_scaler=ctx.y_scaler, validation_score=best.value, device=device)
        else:
            choice = "ensemble"
            # a resumed study's best trial may have no networks here: then the ensemble's
            # heaviest member stands in as the single best network
            self.best_estimator_ = self._trial_estimator(
                best_tm or ctx.models[ensemble.trial_numbers[0]], ctx, common)
        self.ensemble_ = ensemble
        self.final_choice_ = choice
        self.best_params_ = dict(best.params)
        self.best_score_ = float(best.value)
        self.best_trial_number_ = best.number
        self.best_model_config_ = model_cfg
        self.best_training_config_ = training
        self.study_ = study
        self.search_space_ = ctx.space
        self.leaderboard_ = make_leaderboard(
            study, metric.name, best=best.number,
            weights=(dict(zip(ensemble.trial_numbers, ensemble.weights))
                     if choice == "ensemble" else {best.number: 1.0}))
        self.n_trials_ = _n_finished(study)
        self.random_seed_ = ctx.seed
        self.final_model_info_ = {
            "choice": choice, "metric": metric.name, "best_trial": best.number,
            "validation_score": float(ens_score if choice == "ensemble" else best.value),
            "best_trial_score": float(best.value),
            # a selection of one trial's networks is no ensemble: its score read as one's
            # (a cut-short trial's could top the best's, the refit chosen)
            "ensemble_score": (None if ens_score is None or len(selected[1]) < 2
                               else float(ens_score)),
            "ensemble_trials": ensemble.trial_numbers if choice == "ensemble" else None,
            "ensemble_weights": ensemble.weights if choice == "ensemble" else None,
            "refit": refit_report,
            "interrupted": interrupted,
            "ensemble_off": ("forward validation splits: the early folds' networks never saw "
                             "the latest rows") if self._forward_splits else None,
        }
        if task == "classification":
            self.classes_ = encoder.classes_
            self.multilabel_ = ctx.task.kind == "multilabel"
            if self.multilabel_:  # each label's share of the rows; predict: p >= threshold
                self._label_dtype = encoder.dtype
                self.class_prior_ = np.average(y_enc, axis=0, weights=ctx.w_all)
                raw = self._validation_raw(ctx) if metric.name == "f1_macro" else None
                self.label_thresholds_ = (np.full(n_outputs, 0.5) if raw is None
                                          else label_thresholds(raw, ctx.y_val, ctx.w_val))
                self.decision_ = "threshold" if raw is None else "tuned thresholds"
                self.final_model_info_["label_thresholds"] = self.label_thresholds_.tolist()
            else:
                self.class_prior_ = class_frequencies(y_enc, len(self.classes_), ctx.w_all)
                self.decision_ = self._decision(ctx)
                for earlier in ("label_thresholds_", "_label_dtype"):  # a multilabel fit's
                    self.__dict__.pop(earlier, None)
            self.final_model_info_["decision"] = self.decision_
        self.n_outputs_ = n_outputs

    def _decision(self, ctx: SearchContext) -> str:
        """How ``predict`` decides: 'prior' (balanced_decision) where the metric allows it
        and it scores better than the most probable class on the final model's validation
        predictions, else 'argmax'. Dividing by a tiny prior can call a class of a few
        rows everywhere its probability is not quite zero (2 rows in 6,000: balanced
        accuracy 0.37 against 0.99 with the argmax); validation says when."""
        metric = ctx.metric
        if not metric.prior_corrected:
            return "argmax"
        raw = self._validation_raw(ctx)
        if raw is None:  # a resumed study's best trial: no predictions here
            return "prior"
        k = raw.shape[1]
        corrected = metric.of_predicted(ctx.y_val, balanced_decision(raw, self.class_prior_), k,
                                        ctx.w_val)
        plain = metric.of_predicted(ctx.y_val, raw.argmax(1), k, ctx.w_val)
        return "prior" if corrected > plain else "argmax"

    def _decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices as ``predict`` decides them (``decision_``); multilabel: each
        label's 0/1 (its probability at least its ``label_thresholds_``), as ``y`` was
        given."""
        if getattr(self, "multilabel_", False):
            return (proba >= self.label_thresholds_).astype(self._label_dtype)
        if getattr(self, "decision_", "argmax") == "prior":  # absent: pickled before
            return balanced_decision(proba, self.class_prior_)
        return proba.argmax(1)

    def _refit(self, X, y_enc, model_cfg, training, best, ctx, budget, device, input_shape,
               common, force: bool = False, interrupt: threading.Event | None = None):
        """Refit the best configuration on all the data for its best epoch count, with up
        to ``FINAL_REFITS`` seeds while the budget allows. Returns ``(refit, report)``:
        ``refit`` is (estimator of the first seed, the shared preprocessor, the networks of
        every seed kept), or ``None`` when there is no time: the caller then keeps the best
        trial's own, validated networks. ``report`` records what happened (planned and run
        epochs, status, seconds, seeds) for ``final_model_info_["refit"]``.

        When the estimated time exceeds what is left, the first refit runs fewer epochs
        (its learning-rate schedule compressed to them) down to ``MIN_REFIT_FRACTION`` of
        the best epoch count; below that it is skipped. A refit that the clock still cuts
        mid-schedule is discarded unless ``force`` (no trial networks to fall back on):
        a network stopped half-way through its schedule was never validated. Further seeds
        start only when the first one's measured time still fits, and one the clock cuts is
        left out. With several devices (``device='cuda'`` on a machine with GPUs), seeds
        train in rounds, one seed per device at once. ``interrupt`` set (Ctrl-C) stops the
        refit after its current batch: the seeds finished by then are kept
        (``report['interrupted']``); with none, the caller keeps the best trial's networks,
        or (``force``) KeyboardInterrupt propagates."""
        plan = _refit_plan(best, ctx, budget)
        epochs = plan["planned_epochs"]
        report = {k: plan[k] for k in ("planned_epochs", "best_epoch", "estimated_s",
                                       "available_s")}
        if not force and not plan["fits"]:
            report["status"] = "skipped: not enough time left"
            return None, report
        # trials of studies from before input_scaling was searched were all robust-scaled
        pre = TabularPreprocessor(max_onehot_cardinality=defaults.MAX_ONEHOT_CARDINALITY,
                                  onehot_cells=defaults.ONEHOT_CELLS,
                                  scaling=best.user_attrs.get("input_scaling", "robust"),
                                  channels=image_channels(self.input_shape_))
        from threadpoolctl import threadpool_limits

        # BLAS/OpenMP threads as torch's here (the caller's torch_threads), as in _make_folds
        try:
            with threadpool_limits(limits=torch.get_num_threads()):
                Xt = pre.fit_transform(X, y_enc)
            fraction = best.user_attrs.get("feature_fraction", 1.0)
            if fraction < 1.0:  # the share its trial kept, ranked on every training row
                columns = kept_columns(feature_ranking(
                    Xt, y_enc, classes=ctx.task.kind != "regression"), fraction)
                if columns is not None:
                    pre = pre.keeping(columns)
                    Xt = Xt[:, columns]
        except MemoryError as exc:
            # every row prepared at once, beside the search's folds: where the memory ran
            # out there, the fit ended in numpy's traceback without a model (review
            # helper-91: 500,000 x 50 under a 1.9 GB limit, after its search's trial)
            return _refit_failed(exc, report, force)
        y_dtype = torch.long if ctx.task.kind == "classification" else torch.float32
        try:
            data = TensorData(Xt, y_enc, w=ctx.w_all, device=device, y_dtype=y_dtype)
        except (torch.OutOfMemoryError, MemoryError) as exc:  # every row on the GPU
            free_memory(exc)
            return _refit_failed(exc, report, force)
        # several devices (GPUs): a round of seeds trains at once, one seed per device; on
        # one device, one seed per round, while the time allows
        devices = ctx.devices.devices[:FINAL_REFITS] if ctx.devices is not None else [device]
        first, modules, first_seconds = None, [], 0.0
        for k in range(0, FINAL_REFITS, len(devices)):
            available = budget.refit_remaining()
            if k > 0 and 1.1 * first_seconds > available:
                break
            seeds = list(range(k, min(FINAL_REFITS, k + len(devices))))
            config = TrainingConfig(**{**training, "epochs": max(1, epochs)},
                                    early_stopping=False, max_time=max(available, 1e-3))
            started = time.perf_counter()
            try:
                trained, stopped, failed = _refit_round(model_cfg, data, devices, seeds, ctx,
                                                        config, input_shape, interrupt)
            except KeyboardInterrupt as exc:  # a second Ctrl-C while seeds train at once
                trained, stopped, failed = [], exc, None
            cut = False
            for seed, module, result in trained:
                if first is None:  # seed 0, or the first of its round that Ctrl-C spared
                    first_seconds = time.perf_counter() - started
                    report.update(status=result.status, epochs=len(result.history),
                                  seconds=round(first_seconds, 3))
                    if result.status == DIVERGED:
                        if force:
                            raise SearchError(f"the final refit diverged: {result.message}")
                        return None, report
                    if result.status == TIME_LIMIT and not force:
                        return None, report
                    first = (module, config, result)
                elif result.status != COMPLETED:  # cut by the clock or diverged: left out
                    cut = True
                    continue
                modules.append(module)
            if failed is not None and stopped is None:
                if not modules:
                    return _refit_failed(failed, report, force)
                report["failed"] = _search._describe_failure(failed)  # the seeds kept predict
                break
            if stopped is not None:
                if force and not modules:  # no trial networks to fall back on
                    raise stopped
                report.update(interrupted=True, seeds=len(modules))
                if not modules:
                    report["status"] = "interrupted (Ctrl-C)"
                    return None, report
                break
            if cut:
                break
        report["seeds"] = len(modules)
        estimator = self._single_cls._from_trained(
            module=first[0], preprocessor=pre, model_config=model_cfg, training_config=first[1],
            result=first[2], **common)
        return (estimator, pre, modules), report

    def _trial_estimator(self, tm, ctx, common):
        config = TrainingConfig(**tm.training)
        return self._single_cls._from_trained(
            module=tm.modules[0], preprocessor=tm.preprocessors[0],
            model_config=tm.model_config, training_config=config,
            result=TrainingResult(best_epoch=tm.best_epoch), **common)

    def _validation_raw(self, ctx) -> np.ndarray | None:
        """The final choice's predictions on the validation rows (probabilities or
        values), from its trials' stored ones; None when its best trial has none here."""
        members = self.ensemble_.trial_numbers if self.ensemble_ is not None else [None]
        if all(n in ctx.models for n in members):
            # the members' stored validation predictions, weighted as in the ensemble (the
            # seeds of a refit have none: they stand for their trial's)
            return sum(w * ctx.models[number].val_pred
                       for number, w in zip(self.ensemble_.trial_numbers, self.ensemble_.weights))
        if self.best_trial_number_ in ctx.models:
            return ctx.models[self.best_trial_number_].val_pred
        return None

    def _holdout_prediction(self, ctx, encoder) -> np.ndarray:
        """The final choice's predictions on the validation rows (for tracking plots),
        classes decided as ``predict`` decides them."""
        raw = self._validation_raw(ctx)
        if raw is None:
            return np.array([])
        if self._task == "classification":
            decided = self._decide(raw)
            return decided if self.multilabel_ else encoder.classes_[decided]
        return raw.ravel() if raw.shape[1] == 1 else raw

    # -- predict ---------------------------------------------------------------------
    def _raw(self, X) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        if self.ensemble_ is None:
            if self._task == "classification":
                return self.best_estimator_.predict_proba(X)
            pred = self.best_estimator_.predict(X)
            return pred.reshape(len(pred), -1)
        X = check_features(self, X, input_shape=self.input_shape, reset=False)
        return self.ensemble_.predict_raw(X)

    def __getstate__(self):
        # The tracker holds live clients, a writer thread and locks: a pickled model keeps
        # only a record of where it was tracked.
        state = dict(super().__getstate__())
        # what a fit holds while it runs: a model logged to MLflow during the fit carried
        # the new study's storage (its URL and password), which reconnected when loaded
        state.pop("_new_study", None)
        tracker = state.get("tracker_")
        if tracker is not None and getattr(tracker, "enabled", False):
            state["tracker_"] = SearchTracker()
            state["tracking_run_id_"] = getattr(tracker, "parent_run_id", None)
        # A pickled model needs no database: a study in a persistent storage is pickled
        # as a copy in memory. Optuna's RDB storage reconnects when unpickled: a model
        # searched on a database loaded nowhere the database could not be reached (a
        # serving machine; the core install, without its driver; review helper-61). The
        # storage parameter stays as given: copies for other processes (joblib, Dask) join
        # the same study with it; the files Lepton writes hide its password (saved_form).
        if state.get("study_") is not None:
            state["study_"] = _detached_study(state["study_"], type(self).__name__)
            # an RDB storage object reconnects too: a fitted model keeps its URL, whole
            rdb = _rdb_storage(state.get("storage"))
            if rdb is not None:
                state["storage"] = rdb.url
        return stamp_version(state)

    def __setstate__(self, state):
        check_version(state)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        tags.non_deterministic = True  # a wall-clock budget decides how many trials run
        return tags


class LeptonClassifier(ClassifierMixin, _BaseLepton):
    """Neural-network classifier found by an adaptive Optuna search within a time budget.

    Parameters
    ----------
    time_budget : float, default=60
        Seconds for the whole ``fit`` (search and final model).
    n_trials : int, default=None
        Optional cap on finished trials (counted over the whole study when resuming).
    search_space : 'auto', 'mlp', 'resnet', 'cnn', path to a YAML file, dict or SearchSpace
        'auto' picks the family from the data (``cnn`` for image-shaped input, else ``mlp``).
        A dict ``{"base": "mlp", "parameters": {"n_layers": 2}}`` overrides one parameter.
    metric : str, default=None
        accuracy (default), balanced_accuracy, f1_macro, roc_auc or log_loss. A
        multilabel ``y`` (a 0/1 or False/True column per label) is searched in one network
        with an output per label: accuracy then counts rows with every label right,
        f1_macro and roc_auc average over the labels, f1_micro pools every label of every
        row and f1_samples averages each row's F1 (these two for multilabel ``y``),
        log_loss is each label's binary log loss, averaged; ``predict`` gives each
        label's 0/1: probability at least 1/2, or with f1_macro at least the label's threshold that scored best on the validation
        predictions (``label_thresholds_``: rare labels are called more often). With
        balanced_accuracy, ``predict`` may take the class with the highest probability
        divided by the class's share of the training rows (its prior): the decision that
        balanced accuracy rewards, where the most probable class favours the majority. It
        does when that scores better on the validation rows (``decision_``; each trial is
        scored with the better of the two); ``predict_proba`` is unchanged.
    validation_fraction : float, default=0.2
        Held-out share of the data scoring each trial (when not cross-validating).
    cv : int, 'auto', None, a scikit-learn splitter or a list of splits, default='auto'
        K-fold cross-validation per trial instead of one held-out split. 'auto' = 5 folds
        below 5,000 rows (one small split ranks configurations unreliably) where
        ``time_budget`` holds 10 epochs over the 5 folds at the family's measured speed in
        rows x features (measured on a 2-core CPU: 500 images of 3x32x32 take folds from
        ~31 s, 500 of 3x64x64 from ~123 s, tables of 4,999 rows x 1,000 columns from 4 s),
        else one split; a persistent study resumed keeps the scheme it was created with.
        A splitter such as ``TimeSeriesSplit(3)`` (rows in time order: each fold validates
        on rows later than those it trains on), or (train rows, validation rows) pairs,
        replace the shuffled folds; the final model still trains on every row.
    n_jobs : int, default=None
        Trials run in parallel (threads); torch threads per trial = cores // n_jobs.
        None: one trial per device (1 on the CPU; on a machine with 4 GPUs, 4). A negative
        number counts from the cores, as in joblib and scikit-learn: cores + 1 + n_jobs
        (at least 1), so -1 is one trial per core and -2 all cores but one. 0 is refused.
    storage : str, optuna storage or None, default=None
        None keeps the study in memory. A URL (``sqlite:///study.db``,
        ``postgresql://...``, ``redis://...``) or a ``.db`` / ``.log`` path persists it:
        calling ``fit`` again with the same ``study_name`` resumes the study, and several
        processes (on one machine or several) fitting with the same storage and
        ``study_name`` at once search it together: they share its seed (the same splits)
        and its trials, each ending with its own final model. A fitted model pickled
        keeps a copy of the study in memory: it loads where the storage cannot be reached;
        the files Lepton writes (``lepton run --save``, the MLflow model) keep this
        parameter without its password.
    study_name : str, default=None
        With a persistent ``storage``, defaults to a name derived from the task and a
        fingerprint of the data, so fitting the same data again resumes the study.
        Resuming a study with another task, metric, search space, validation scheme or
        dataset raises ValueError before any trial runs: its trials would not compare.
        A storage that cannot be opened raises :class:`~lepton.search.StorageError`.
    ensemble_size : int, default=8
        Rounds of greedy ensemble selection; 1 disables ensembling.
    patience : int or None, default=20
        Stop the search once this many finished trials in a row brought no better
        validation score than the best so far (``search_converged_`` is then True and
        ``fit`` ends before ``time_budget``). On small tables a longer search past that
        point mostly overfits the validation folds: at 120 s against 30 s, seed by seed,
        test accuracy fell on breast_cancer (1 better, 5 equal, 4 worse of 10 seeds) and
        wine (0-8-2) without it (benchmarks/results/search_benchmark.md). None searches
        until ``time_budget`` or ``n_trials`` ends.
    input_shape : sequence of int, default=None
        Per-sample shape of image-shaped input, e.g. (8, 8): (height, width) or (channels,
        height, width). None takes X's own: (n, h, w), (n, c, h, w), or channels last,
        (n, h, w, c), read so where its last axis is 1, 3 or 4 and smaller than both
        before it ((n, 16, 16, 3), (n, 28, 28, 1); a shape that reads either way, such as
        (n, 3, 32, 3), is channels first). Channels-last images are moved channels first
        at fit and at predict, which takes X of the shape given at fit or flattened to its
        number of values (a flat row then holds an image flattened channels last).
    random_state : int, RandomState or None, default=None
        Seeds the data splits, the preprocessing and the sampler. A persistent study keeps
        the seed of the fit that created it (``random_seed_``); a resumed or joining
        process samples with a fresh seed, so it does not propose the configurations the
        first one already tried. What repeats: with ``n_jobs=1`` and a search that ``n_trials``
        ends before ``time_budget`` does, the same data, seed and study name give the same
        trials and the same model (to float rounding where the torch threads per trial
        differ: they follow the machine's load), where the clock cut no trial (no
        ``time_limit`` in ``leaderboard_['status']``) and shortened no refit
        (``final_model_info_['refit']``); the study's name picks the trials Optuna's
        Hyperband pruner compares. A search the clock ends runs as many trials as the
        machine's speed allows, and parallel trials (``n_jobs`` > 1) share torch's
        process-wide random generator, so their networks' initial weights and dropout
        depend on thread timing: neither repeats exactly. ``fit`` leaves the caller's own
        random streams (numpy's, Python's, torch's on the CPU, and the GPUs' where CUDA was
        in use before ``fit``) as it found them, except that None draws the seed from
        numpy's global stream, as scikit-learn's estimators do.
    device : str or list of str, default='auto'
        Where trials train: 'auto' (every GPU this process sees, else Apple MPS, else the
        CPU), 'cpu', 'cuda' (every GPU), 'cuda:N' (that GPU), 'mps', or several GPUs as a
        list or 'cuda:0,cuda:2'. With several GPUs each trial takes the one running the
        fewest trials (``leaderboard_`` has a ``device`` column), and the final refit's
        seeds train at once, one per GPU; the final model predicts on the first.
    verbose : int, default=0
        1: a progress bar (trials, best score, time left), and for a resumed study a
        first line with what it starts from; 2: also Optuna's trial log.
    tracking_uri, experiment_name, registered_model_name : str, default=None
        MLflow tracking (see :mod:`lepton.tracking`); also enabled by MLFLOW_TRACKING_URI.

    Attributes
    ----------
    best_params_ : dict
        Optuna parameters of the best trial (for classification, trials tied on ``metric``
        are told apart by their validation log loss).
    best_score_ : float
        Its validation score in ``metric``.
    best_estimator_ : NeuralNetworkClassifier
        The best configuration (refitted on all data unless ``final_choice_`` says otherwise).
    ensemble_ : LeptonEnsemble or None
        The networks that predict when they are more than ``best_estimator_``: the
        selected ensemble ('ensemble'), the best trial's cross-validation networks
        ('best_trial'), or the seeds of the refit, averaged ('refit' with
        ``final_model_info_['refit']['seeds'] > 1``).
    final_choice_ : str
        'refit' (the best configuration retrained on all the data, up to three seeds
        averaged while the budget allows), 'ensemble' or 'best_trial' (no time left to
        refit, or the search was interrupted).
    final_model_info_ : dict
        How the final model was chosen: ``choice``, ``metric``, ``best_trial`` and
        ``best_trial_score``, ``validation_score`` (the chosen model's), ``ensemble_score``
        (the greedy selection's, where it kept two or more trials' networks; else None),
        ``ensemble_trials`` and ``ensemble_weights`` (an ensemble's), ``refit`` (its plan
        and outcome), ``interrupted``.
    study_ : optuna.Study
        The search's study, in ``storage``; in a model loaded from a file, a copy in
        memory as it was when the model was saved. For Optuna's own tools
        (``optuna.importance.get_param_importances``, ``optuna.visualization``,
        ``trials_dataframe``): its pruned trials' values and every trial's per-epoch
        values are what the pruner followed, for rmse, mae, roc_auc, balanced_accuracy
        and the f1 metrics a stand-in (the validation loss in the fold's target units, or
        accuracy), not the metric: filter on complete trials, or read ``leaderboard_``.
        Among trials tied on the metric, ``study_.best_trial`` is Optuna's first; the
        fit's best is ``best_trial_number_`` (the tie broken by log loss).
    leaderboard_ : pandas.DataFrame
        One row per trial (:func:`make_leaderboard`), the complete ones first, best first,
        with the columns ``trial`` (its number), ``state`` (complete, pruned, fail, ...),
        the metric under its own name (e.g. ``accuracy``: the validation score),
        ``epochs`` (summed over the folds; a pruned trial's: those it ran before the
        pruner stopped it), ``best_epoch`` (the epoch whose weights it kept, averaged over
        the folds), ``duration_s`` (seconds), ``status`` (how its training ended:
        completed, early_stopped, time_limit, diverged or stopped, one per fold where
        they differ, or pruned where Hyperband stopped it), ``reason`` (why a trial
        failed or was pruned: by Hyperband, or cut short by the end of the search
        window, with the validation score it had then) and
        a ``param_<name>`` column for each parameter the trials drew (``param_width_0``,
        ...); where several processes or devices ran trials, ``process`` and ``device``
        columns stand before ``status``; ``final_weight`` is the trial's share of the
        final model (an ensemble member's weight; 1.0 for the best trial where the final
        model is its refit or its own networks; 0.0 for the others; a worker's fit, which
        makes no final model, has no such column). A trial the end of
        the search window cut short has the score of the networks it trained (an ensemble
        may hold them); a trial Hyperband pruned has its last epoch's on the first fold
        where the pruner follows the metric itself (accuracy, R^2, log loss), and for the
        other metrics none (the reason gives the value that stood in for it: the
        validation loss, or accuracy).
    best_trial_number_ : int
        The trial the fit chose as best (``best_params_``, ``best_score_``).
    best_model_config_ : dict
        That trial's network (family, layers with width and activation, normalization,
        dropout, ...) as a model config (``lepton.models.ModelConfig.from_dict``).
    best_training_config_ : dict
        That trial's training settings (learning rate, schedule, batch size, weight
        decay, epochs, ...). To train its network again, clone ``best_estimator_``
        (``sklearn.base.clone``): its parameters are these two configs, except a column
        selection the search drew (``feature_fraction`` in ``best_params_``), which a clone
        does not repeat.
    search_space_ : SearchSpace
        The space searched, after the data-aware priors.
    meta_features_ : dict
    input_shape_ : tuple of int or None
        The per-sample shape of image input, channels first ((3, 16, 16) for X of shape
        (n, 16, 16, 3)); None for rows of features.
    channels_last_ : bool
        Whether X holds images channels last, (n, h, w, c): moved channels first at fit
        and at predict.
    classes_ : ndarray
    class_prior_ : ndarray
        Share of each class in the training rows.
    decision_ : {'argmax', 'prior'}
        How ``predict`` decides: the most probable class, or (balanced_accuracy, where it
        validated better) the highest probability over ``class_prior_``.
    n_features_in_, feature_names_in_ : as in scikit-learn
    fit_time_ : float
    devices_ : list of str
        ``device`` resolved: the devices trials and the refit's seeds share (the first:
        the final model's). With ``n_jobs=1`` trials train on the first only.
    search_converged_ : bool
        Whether the search stopped on ``patience`` rather than on the budget or ``n_trials``.
    search_interrupted_ : bool
        Whether Ctrl-C (KeyboardInterrupt) cut the fit short. During the search, ``fit``
        then returns with a final model from the trials it finished (the ensemble or the
        best trial's networks, no refit) and warns; with no finished trial the interrupt
        propagates. The trials it interrupted are failed and queued to run again, so
        fitting again with the same ``storage`` and ``study_name`` continues the search
        with them. During the final refit, the refit seeds finished by then predict, or
        else the best trial's networks (``final_model_info_['refit']``). A second Ctrl-C
        stops ``fit`` altogether. SIGTERM (a scheduler cancelling the run, ``docker stop``,
        a preempted machine) stops the search or the refit the same way, but then, rather
        than return a model, ``fit`` warns and raises ``lepton.search.Terminated`` (a
        ``SystemExit`` with status 143): the study keeps the finished trials and the
        interrupted ones queued, ready to resume. Ctrl-C and SIGTERM are handled so only
        where ``fit`` runs on the main thread and the signal has Python's default handling
        (a caller's own handler is left in charge).
    random_seed_ : int
        The seed of the data splits and the preprocessing: drawn from ``random_state``,
        except that a persistent study keeps the one it was created with (every process
        that searches or resumes it splits the data the same way).
    n_trials_ : int
        Trials of the study that ran to an end (complete, pruned or failed; with a resumed
        study, earlier sessions' too); warm-start entries the search never reached, and
        trials Ctrl-C or SIGTERM stopped (queued to run again), are not counted.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from lepton import LeptonClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LeptonClassifier(time_budget=10, n_trials=3, random_state=0).fit(X, y)
    >>> clf.predict(X[:2]).tolist()
    [0, 0]
    """

    _task = "classification"
    _single_cls = NeuralNetworkClassifier

    def predict_proba(self, X) -> np.ndarray:
        return self._raw(X)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        decided = self._decide(self.predict_proba(X))
        return decided if getattr(self, "multilabel_", False) else self.classes_[decided]

    score = accuracy_score_of  # ClassifierMixin.score, for a frame of 0/1 and bool labels too

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class LeptonRegressor(RegressorMixin, _BaseLepton):
    """Neural-network regressor found by an adaptive Optuna search within a time budget.

    Same parameters and attributes as :class:`LeptonClassifier`, with regression metrics
    (``r2`` default, ``rmse``, ``mae``) and a :class:`NeuralNetworkRegressor` as
    ``best_estimator_``. ``y`` may be 2-D (multi-output).
    """

    _task = "regression"
    _single_cls = NeuralNetworkRegressor

    def predict(self, X) -> np.ndarray:
        raw = self._raw(X)
        one_d = getattr(self.best_estimator_, "_y_1d", True)
        return raw.ravel() if one_d and raw.shape[1] == 1 else raw

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# -- helpers -------------------------------------------------------------------------------

def make_leaderboard(study: optuna.Study, metric_name: str, best: int | None = None,
                     weights: dict[int, float] | None = None) -> pd.DataFrame:
    """One row per trial, the complete ones first, best first: params, score, epochs,
    duration, state, reason (and the process and the device that ran it, where several
    did). ``best``: the number of the trial the fit chose as best, first among those tied
    with it (the tie-break metric chose it; by number, another tied trial came first).
    ``weights``: each trial's share of the final model (its ``final_weight`` column)."""
    rows = []
    trials = study.get_trials(deepcopy=False)
    # a trial whose process died is retried once (RDB storages: Optuna; journals: .heartbeat)
    # (and a trial Ctrl-C interrupted is queued to run again: WAITING until a fit resumes)
    retried_as = {t.system_attrs["retry_history"][-1]: t for t in trials
                  if t.system_attrs.get("retry_history") and not t.user_attrs.get(UNSTARTED_ATTR)}
    metric = METRICS.get(metric_name)
    for t in trials:
        # enqueued, never started; or asked for as the window closed (UNSTARTED_ATTR)
        if t.state == optuna.trial.TrialState.WAITING or t.user_attrs.get(UNSTARTED_ATTR):
            continue
        value = t.value
        if CUT_SCORE_ATTR in t.user_attrs:  # cut short by the window's end: its networks'
            value = t.user_attrs[CUT_SCORE_ATTR]  # score (an ensemble may hold them)
        elif t.state == optuna.trial.TrialState.PRUNED and metric and not metric.epoch_is_metric:
            # Optuna's value of a pruned trial is its last epoch report: a stand-in for the
            # metric (roc_auc: the loss, negated); the reason gives it as it was
            value = None
        row = {"trial": t.number, "state": t.state.name.lower(), metric_name: value,
               "epochs": t.user_attrs.get("epochs"), "best_epoch": t.user_attrs.get("best_epoch"),
               "duration_s": t.user_attrs.get("duration",
                                              t.duration.total_seconds() if t.duration else None),
               "status": t.user_attrs.get("status"),
               "reason": t.user_attrs.get(FAIL_REASON)}
        if weights is not None:
            row["final_weight"] = weights.get(t.number, 0.0)
        if t.state == optuna.trial.TrialState.PRUNED and not row["reason"]:
            row["reason"] = "pruned by Hyperband"
        if t.state == optuna.trial.TrialState.FAIL and not row["reason"]:
            row["reason"] = "its process stopped mid-trial (interrupted, killed or crashed)"
        if t.number in retried_as:
            retry = retried_as[t.number]
            row["reason"] = (f"{row['reason']}; " + (
                "queued to run again" if retry.state == optuna.trial.TrialState.WAITING
                else "retried") + f" as trial {retry.number}")
        row.update({f"param_{k}": v for k, v in t.params.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("epochs", "best_epoch"):  # whole numbers, a trial without any aside
        if column in frame:  # (as float, 149 read 149.0 beside a failed trial's NaN)
            frame[column] = frame[column].astype("Int64")
    # the process that ran each trial, where several did (a run and its workers, or several
    # runs), and the device, where trials trained on several (GPUs)
    for attr, column in ((PROCESS_ATTR, "process"), (DEVICE_ATTR, "device")):
        if len({t.user_attrs.get(attr) for t in trials} - {None}) > 1 and len(frame):
            by_number = {t.number: t.user_attrs.get(attr) for t in trials}
            frame.insert(frame.columns.get_loc("status"), column, frame["trial"].map(by_number))
    if len(frame):
        # complete trials first, best first: a pruned trial's score is that of the epoch it
        # was stopped at (an early epoch can score 1.0 on a few validation rows), and it
        # ranked above the best trial before
        ascending = study.direction == optuna.study.StudyDirection.MINIMIZE
        frame["_pruned"] = frame["state"] != "complete"
        frame["_not_best"] = frame["trial"] != best
        frame = frame.sort_values(["_pruned", metric_name, "_not_best", "trial"],
                                  ascending=[True, ascending, True, True],
                                  na_position="last").drop(columns=["_pruned", "_not_best"])
        frame = frame.reset_index(drop=True)
    # text as Python objects: pandas 3 stores it as pyarrow strings where pyarrow is
    # installed (MLflow brings it), and a saved model whose leaderboard held them could not
    # be loaded where pyarrow is not (Lepton's core install)
    text = [c for c, dtype in frame.dtypes.items() if isinstance(dtype, pd.StringDtype)]
    frame = frame.astype({c: object for c in text}) if text else frame
    frame.columns = frame.columns.astype(object)  # the column names likewise
    return frame


def _fold_target_scaler(y_train: np.ndarray, w: np.ndarray | None, loss: str):
    """The scaler of a fold's regression targets, fitted on its train rows' targets as the
    fit standardised them (``encode_target``): an affine map, so this is the fit's own
    scaling (mean and standard deviation, or median and interquartile range for ``loss``)
    of those rows alone (they hold weight: check_rows_weighted refused the split
    otherwise). A spread under a thousandth of every row's (a constant past before a step,
    on a forward split) keeps the fit's scale: the validation rows would be thousands of
    such units off."""
    scaler = target_scaler(y_train.astype(np.float64), w, loss)
    scaler.scale_ = np.where(scaler.scale_ < 1e-3, 1.0, scaler.scale_)
    return scaler


def _data_fingerprint(task: str, X, y_enc, w: np.ndarray | None = None) -> str:
    """A hash of the task, the shape, column names and values of ``X``, the target and the
    row weights (if any): the default study name (same data -> same name, so a persistent
    storage resumes by default) and what a resumed study checks it is searching."""
    h = hashlib.sha1()
    h.update(f"{task}:{X.shape}".encode())
    if isinstance(X, pd.DataFrame):
        h.update(",".join(map(str, X.columns)).encode())
        h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    elif sp.issparse(X):  # where the values sit too: a binary matrix's values are all 1
        X = X.tocsr()
        for part in (X.data, X.indices, X.indptr):
            h.update(_head_bytes(part, 1 << 22))
    else:
        h.update(_head_bytes(X, 1 << 24) if X.dtype.kind != "O"
                 else str(X[:100].tolist()).encode())
    h.update(_head_bytes(np.asarray(y_enc), 1 << 20))
    if w is not None:
        h.update(b"sample_weight" + _head_bytes(w, 1 << 20))
    return h.hexdigest()


def _head_bytes(a: np.ndarray, limit: int) -> bytes:
    """The first ``limit`` bytes of ``a`` in C order, without copying all of a large array."""
    flat = np.ascontiguousarray(a).reshape(-1)
    return flat[:max(1, limit // max(flat.itemsize, 1))].tobytes()


def _target_ndim(y) -> int:
    # np.asarray, not np.ndim: array-likes such as sklearn's _NotAnArray refuse
    # __array_function__ but convert fine.
    return np.asarray(y).ndim


def _space_text(space: SearchSpace) -> str:
    """The space searched (family and parameters) as JSON: what its fingerprint hashes
    and what the study records of it."""
    return json.dumps({"family": space.family, "parameters": space.parameters}, sort_keys=True,
                      default=str)


def _space_fingerprint(space: SearchSpace) -> str:
    return hashlib.sha1(_space_text(space).encode()).hexdigest()[:16]


def _space_record(space: SearchSpace) -> dict[str, Any]:
    """What ``_space_fingerprint`` hashes, as the study records it (``lepton.space_spec``,
    JSON): a resume with another space is refused naming what changed."""
    return json.loads(_space_text(space))


def _space_changes(recorded: Any, space: SearchSpace) -> str | None:
    """The parameters (and family) in which ``space`` differs from the space a study
    recorded, old -> new; None where the study recorded none (one created before the
    attribute) or nothing differs in it."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("parameters"), dict):
        return None
    now, old = _space_record(space), recorded["parameters"]
    changes = [] if recorded.get("family") == now["family"] else [
        f"family {recorded.get('family')!r} -> {now['family']!r}"]
    for name in sorted(set(old) | set(now["parameters"])):
        before, after = old.get(name), now["parameters"].get(name)
        if before != after:
            changes.append(f"{name} {_spec_text(before)} -> {_spec_text(after)}")
    return "; ".join(changes) or None


def _spec_text(spec: dict[str, Any] | None) -> str:
    """``spec`` as a space file writes it: ``{type: int, low: 16, high: 64}``."""
    if spec is None:
        return "(not in the space: its default)"
    order = ["type", "low", "high", "step", "log", "choices", "value"]
    spec = dict(sorted(spec.items(), key=lambda kv: (
        order.index(kv[0]) if kv[0] in order else len(order), kv[0])))
    return _yaml_flow(spec)


def _space_searched_before(study: optuna.Study, space: SearchSpace) -> SearchSpace:
    """``space`` without the ``feature_fraction`` the priors gave it where the study was
    created by a Lepton from before that rule (stop 33) with the space otherwise the same:
    resumed, it goes on as it was searched (it was refused as 'a different space', with
    no setting a user could give back)."""
    recorded = study.user_attrs.get("lepton.space")
    if (recorded is None or recorded == _space_fingerprint(space)
            or "feature_fraction" not in space.parameters
            or "feature_fraction" in space.user_given):
        return space
    before = replace(space, parameters={name: spec for name, spec in space.parameters.items()
                                        if name != "feature_fraction"}, _cache={})
    return before if _space_fingerprint(before) == recorded else space


def _callers_torch_streams():
    """Torch's process-wide random streams as ``fit`` found them, after it (the CPU's, and
    the GPUs' where CUDA is in use already: forking them would start CUDA): parallel
    trials seed the shared generator from several threads at once (``fit_model``'s own
    save-and-restore interleave), which left it changed by a fit with ``n_jobs`` > 1."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    return torch.random.fork_rng(devices=devices)


def _forget_unstarted_study(storage, study_name: str) -> None:
    """Delete a study a failed fit created, unless a trial of it has started (another
    process may be searching it by now): a bad argument must not leave an empty study
    behind that the next fit would take for one another process is starting."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
        if all(t.state == optuna.trial.TrialState.WAITING
               for t in study.get_trials(deepcopy=False)):
            optuna.delete_study(study_name=study_name, storage=storage)
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the fit's own error
        log.warning("could not remove the unstarted study %r: %s", study_name, exc)


def _sampler_seed(seed: int, role: str) -> int:
    """The sampler's seed. The process that created the study samples from the study's
    seed (a seeded in-memory search is reproducible); any other process, resuming or
    joining, draws a fresh one: from the study's seed it would propose the same
    random start-up configurations as the creator did."""
    if role == "created":
        return seed
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


def _scoring(metric) -> str:
    """How a study records its metric: balanced_accuracy studies from before the
    prior-corrected decision scored otherwise, and are not resumed by a search now."""
    return metric.name + (" (prior-corrected)" if metric.prior_corrected else "")


def _check_resumable(study: optuna.Study, study_name: str, *, task: str, metric: str,
                     space: SearchSpace, seed: int, validation: str,
                     data: str | None = None, joining: str | None = None) -> None:
    """Record what a study searches on its first fit; refuse to resume it with a different
    task, metric, search space, validation scheme or data (mixing them would corrupt the
    study's history: its scores would no longer be comparable, and its best trial could
    be one scored on other data). Studies created before the scheme was recorded are
    resumed without that check; those created before the data was recorded record it on
    their next fit.

    The data is checked first: the search space's data-aware priors, and so the space,
    differ wherever the data does, and the data is then what to fix. ``joining``: the fit
    is a ``lepton worker``'s, joining the search of a run that read this dataset (its
    path, as the run recorded it): the refusal says how to give the worker the run's
    rows, not to start another study."""
    attrs = study.user_attrs
    current = {"lepton.task": task, "lepton.metric": metric,
               "lepton.space": _space_fingerprint(space), "lepton.validation": validation}
    if data is not None:
        current = {"lepton.dataset": data, **current}
    if "lepton.seed" in attrs:  # a study from before the scheme was recorded has none
        for key, value in current.items():
            if key in attrs and attrs[key] != value:
                what = key.split(".", 1)[1]
                changes = (_space_changes(attrs.get(SPACE_SPEC_ATTR), space)
                           if key == "lepton.space" else None)
                said = (f": {changes}" if changes  # the parameters searched, as recorded
                        else f" ({attrs[key]!r}, now {value!r})")
                if joining is None:
                    fix = ((key == "lepton.space"
                            and _builtin_changed(attrs.get(SPACE_SPEC_ATTR), space))
                           or "resuming would mix incompatible trials. Use a new study_name, "
                              "or the original settings to resume.")
                elif what == "dataset":  # a worker: another study would join no run
                    fix = ("this worker cannot join its search (its trials would not compare "
                           "with the run's). Give the worker the run's own rows: --dataset "
                           "PATH, this machine's copy of the run's file"
                           + (f" ({joining})." if joining else "."))
                else:
                    fix = ("this worker cannot join its search (its trials would not compare "
                           "with the run's). A worker searches with the settings the run "
                           "recorded, on the run's rows: is Lepton here the run's version?")
                raise ValueError(
                    f"study_name={study_name!r} already exists in this storage with a "
                    f"different {what}{said}; {fix}")
    if data is not None and "lepton.dataset" not in attrs and joining is None:
        _warn_data_unrecorded(study, study_name, data)
    # the space itself, for that message; a study from before it keeps its fingerprint only
    for key, value in {**current, "lepton.seed": seed,
                       SPACE_SPEC_ATTR: _space_record(space)}.items():
        if key not in attrs:  # the first fit records them (its seed: see _seed)
            study.set_user_attr(key, value)


def _builtin_changed(recorded: Any, space: SearchSpace) -> str | None:
    """Where a built-in space's fixed settings changed since a study recorded it (a Lepton
    upgrade: the cnn space's ``input_scaling`` standard -> global in stop 37), how to
    resume it: the override of those settings that gives the recorded space back (the
    refusal asked for "the original settings", which the user never changed; review
    helper-55). None where other parameters changed too, or the space is a user's."""
    record = _space_record(space)
    if space.builtin is None or not isinstance(recorded, dict) \
            or recorded.get("family") != record["family"]:
        return None
    old, now = recorded.get("parameters") or {}, record["parameters"]
    changed = {name: old.get(name) for name in set(old) | set(now)
               if old.get(name) != now.get(name)}
    if not changed or not all(isinstance(spec, dict) and spec.get("type") == "fixed"
                              for spec in changed.values()):
        return None
    given = {name: spec["value"] for name, spec in sorted(changed.items())}
    return (f"the built-in {space.builtin!r} space fixes {', '.join(given)} otherwise since "
            f"this study was created (a Lepton upgrade). Resume it with the settings it "
            f"recorded: search_space={{'base': {space.builtin!r}, 'parameters': {given!r}}} "
            "(beside your own overrides; for `lepton run`, a YAML file of the same base and "
            "parameters, given as --search-space FILE), or start a new study_name.")


def _warn_data_unrecorded(study: optuna.Study, study_name: str, data: str) -> None:
    """A study created before Lepton recorded its data (82fe59a) is resumed on whatever
    data the fit is given, which it records from then on: on other rows its earlier
    trials' scores and its best trial no longer compare with the new ones (resumed on a
    copy of breast_cancer with 30% of its labels flipped, its best_score_ stayed the old
    0.984, the new trials scored 0.71; review helper-55). Said, where it has trials."""
    done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    if done:
        warn_at_caller(
            f"study_name={study_name!r} was created before Lepton recorded a study's data: "
            f"it is resumed on this data ({data}), recorded from now on. Its {done} earlier "
            "trial(s) compare with this fit's only if they were searched on the same rows; "
            "if not, use a new study_name.", SearchWarning)


def _publish_window_end(study: optuna.Study, storage, follow, budget: Budget) -> float | None:
    """A run on a persistent study records when (``time.time()``) its search window ends,
    for the ``lepton worker`` processes that join it to end their trials by then; again
    when the window grows (the final model's reserve handed to the search). Returns what
    it recorded (None for a worker, or a study in memory)."""
    if storage is None or follow is not None:
        return None
    ends_at = time.time() + max(0.0, budget.search_remaining())
    try:
        study.set_user_attr(ENDS_AT_ATTR, ends_at)
    except Exception as exc:  # between two rounds of trials: said as the search's own calls
        if _search.is_storage_failure(exc):  # are (review helper-84: a raw TimeoutError)
            raise _search._storage_stopped(exc) from exc
        raise
    return ends_at


def _close_window(study: optuna.Study, ends_at: float | None) -> None:
    """The run's search is over, whatever ended it (its window, patience, ``n_trials``,
    Ctrl-C, an error): its workers stop after their current trial. Left as it is where
    another run of the study has recorded a window of its own since."""
    if ends_at is None:
        return
    try:
        if study.user_attrs.get(ENDS_AT_ATTR) == ends_at:
            study.set_user_attr(ENDS_AT_ATTR, min(ends_at, time.time()))
    except Exception as exc:  # noqa: BLE001 - never mask what ended the search
        log.warning("could not record the end of the search for its workers: %s", exc)


def _may_prune(study: optuna.Study, metric, *, regression: bool = False) -> bool:
    """Whether this session's trials report their epochs to the pruner. Since stop 22 a
    metric to maximise that is tracked by a loss (roc_auc) reports it negated
    (PruningReporter.orientation); since stop 41 a regression's losses (rmse, mae) are in
    the units of each fold's own targets. A study whose trials reported the other way
    would have the pruner rank the two kinds of report against each other (new trials of
    a trending target's forward folds reported losses ten times the old ones' and were
    stopped at their rungs, review helper-71). Such a study is searched on without
    pruning; every other study records how its trials report (ORIENTED_ATTR,
    FOLD_UNITS_ATTR) and prunes."""
    attrs = study.user_attrs
    new_units = regression and metric.epoch_field == "val_loss"  # R^2 has no units
    if ((ORIENTED_ATTR not in attrs and PruningReporter.orientation(metric) < 0)
            or (new_units and FOLD_UNITS_ATTR not in attrs)):
        if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            return False
    for attr, applies in ((ORIENTED_ATTR, True), (FOLD_UNITS_ATTR, regression)):
        if applies and attr not in attrs:
            study.set_user_attr(attr, True)
    return True


def _torch_import_note(seconds: float, of: str) -> str:
    """Where a budget is too small: the share torch's one-off optimizer import took, which
    a process's first fit pays and a later one does not (1.7 s of a 1.5 s fit's budget)."""
    if seconds < 0.1:
        return ""
    return (f" ({seconds:.2f}s {of} torch loading its optimizers' code, once per process: "
            "a later fit does not pay it)")


#: a single validation split of fewer rows warns (:meth:`_BaseLepton._make_splits`)
FEW_VALIDATION_ROWS = 10


def _start_up_note(warm_up_s: float, tracker_s: float) -> str:
    """What of a fit's preparation was no cost of the data's: torch's one-off optimizer
    import, and the MLflow tracking's start (a fit without tracking does not pay it)."""
    if tracker_s < 0.1:
        return _torch_import_note(warm_up_s, "of it")
    torch_note = _torch_import_note(warm_up_s, "of it").strip()[1:-1]
    return (f" ({torch_note + '; ' if torch_note else ''}{tracker_s:.2f}s of it starting the "
            "MLflow tracking: importing mlflow and opening its store, more on a new store)")


def _one_split_note(n_folds: int) -> str:
    """Where the search cross-validated: the other way out of a budget too small."""
    if n_folds < 2:
        return ""
    return (f", or pass cv=None: one validation split, each trial trained once instead of "
            f"on each of the {n_folds} folds")


def _out_of_memory(name: str, X: Any, splits, scalings: list[str]) -> MemoryError:
    """The memory ran out preparing the search's folds: said with the data's size and the
    ways out (it was numpy's traceback from inside the preprocessing: review helper-91,
    500,000 x 50 under a 1.75 GB limit). A MemoryError still, for callers that catch it."""
    n_rows, n_cols = (X.shape[0], X.shape[1]) if len(getattr(X, "shape", ())) >= 2 else \
        (len(X), 1)
    size = (X.memory_usage(deep=True).sum() if isinstance(X, pd.DataFrame)
            else X.data.nbytes if sp.issparse(X) else getattr(X, "nbytes", 0))
    folds = (f"{len(splits)} folds, each" if len(splits) > 1 else "its validation split,")
    fewer = (f"a smaller cv (now {len(splits)} folds) or cv=None, " if len(splits) > 1 else "")
    scaled = (f" once per input scaling searched ({', '.join(scalings)})"
              if len(scalings) > 1 else "")
    return MemoryError(
        f"{name}: not enough memory to prepare the data for the search ({n_rows:,} rows x "
        f"{n_cols:,} columns, {size / 1e6:,.0f} MB as given). The search holds {folds} "
        f"preprocessed to float32{scaled}, beside the data: at its peak a fit took 4-10 "
        f"times the data's size (measured on 50-500 column tables). Fit on fewer rows (a "
        f"sample), {fewer}or free memory on this machine.")


def _refit_plan(best, ctx: SearchContext, budget: Budget) -> dict[str, Any]:
    """The refit of trial ``best`` on all rows as the time left allows: its best epoch
    count, or fewer epochs where they do not fit (``planned_epochs``), at the per-epoch
    time the trial measured scaled to all rows; ``fits``: at least ``MIN_REFIT_FRACTION``
    of the best epoch count fits (else the refit is skipped, unless forced)."""
    best_epoch = max(1, int(best.user_attrs.get("best_epoch")
                            or json.loads(best.user_attrs["training"])["epochs"]))
    per_epoch = (float(best.user_attrs.get("epoch_time") or 0.0)
                 * ctx.n_all / max(1.0, ctx.train_rows))
    available = budget.refit_remaining()
    epochs = best_epoch
    if per_epoch > 0 and per_epoch * best_epoch > available:
        epochs = max(0, int(available / per_epoch))
    return {"planned_epochs": epochs, "best_epoch": best_epoch,
            "estimated_s": round(per_epoch * epochs, 3), "available_s": round(available, 3),
            "fits": available > 0 and epochs >= math.ceil(MIN_REFIT_FRACTION * best_epoch)}


def _refit_round(model_cfg, data: TensorData, devices, seeds: list[int], ctx: SearchContext,
                 config: TrainingConfig, input_shape, interrupt):
    """One round of the refit: seed i of ``seeds`` on ``devices[i]`` (a copy of ``data``
    there), all at once where there are several. Returns ``(trained, stopped, failed)``:
    ``(seed, network, result)`` of each seed that finished, in seed order, the
    KeyboardInterrupt that stopped the others (``interrupt`` set: Ctrl-C or SIGTERM), or
    None, and the first out-of-memory error a seed raised, or None (any other error is
    raised). A seed that finished before the interrupt or beside the error is kept."""
    def fit(i: int, seed: int):
        on = data if devices[i] == data.device else data.to(devices[i])
        return fit_model(model_cfg, on, None, ctx.task, config, seed=ctx.seed + seed,
                         input_shape=input_shape, interrupt=interrupt)

    if len(seeds) == 1:  # one device: the seed trains on this thread
        outcomes = [lambda: fit(0, seeds[0])]
    else:
        with ThreadPoolExecutor(len(seeds), thread_name_prefix="lepton-refit") as pool:
            outcomes = [pool.submit(fit, i, seed).result for i, seed in enumerate(seeds)]
    trained, stopped, failed = [], None, None
    for seed, outcome in zip(seeds, outcomes):
        try:
            trained.append((seed, *outcome()))
        except KeyboardInterrupt as exc:
            stopped = exc
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not isinstance(exc, torch.OutOfMemoryError) \
                    and "out of memory" not in str(exc).lower():
                raise  # a fault of the code, not of the machine: not hidden as a fallback
            failed = failed or exc
            free_memory(exc)
    return trained, stopped, failed


#: targets whose spreads differ more than this many times: rmse and mae over them score
#: the widest one alone
UNEQUAL_UNITS = 100.0


def _warn_unequal_units(y: np.ndarray, metric: str, name: str, names) -> None:
    """rmse and mae average several targets in their own units (as scikit-learn's
    ``multioutput='uniform_average'``): a price in millions beside a rate in thousandths
    scored the search's trials by the price alone (a perfect rate and the rate's mean
    differed by 2e-8 of the rmse; review helper-53). Said, with r2 (each target's own
    scale) as the way out; the networks train on standardised targets either way."""
    spread = np.nanstd(np.asarray(y, dtype=np.float64), axis=0)
    varying = np.flatnonzero(spread > 0)
    if len(varying) < 2:
        return
    wide, narrow = varying[np.argmax(spread[varying])], varying[np.argmin(spread[varying])]
    ratio = spread[wide] / spread[narrow]
    if ratio <= UNEQUAL_UNITS:
        return
    label = (lambda i: repr(str(names[i]))) if names else (lambda i: f"output {i}")
    warn_at_caller(
        f"{name}: metric={metric!r} averages the targets in their own units: {label(wide)} "
        f"(standard deviation {spread[wide]:.3g}) weighs {ratio:.3g} times as much as "
        f"{label(narrow)} ({spread[narrow]:.3g}) in the search's scores; metric='r2' weighs "
        "each target on its own scale.", DataWarning)


def _scheme_of(cv, *, splits=None) -> str:
    """A given ``cv``'s validation scheme as a study records it: a splitter by its repr,
    splits by their count and rows' digest (``splits``: those of ``cv``, else listed)."""
    if hasattr(cv, "split") and hasattr(cv, "get_n_splits"):
        return f"cv {cv!r}"
    if splits is None:
        splits = list(cv)
    digest = hashlib.sha1(b"".join(np.asarray(rows, dtype=np.int64).tobytes()
                                   for split in splits for rows in split)).hexdigest()
    return f"{len(splits)} given splits {digest[:12]}"


def _refit_failed(exc: Exception, report: dict, force: bool):
    """The refit raised before any seed finished (out of memory on the GPU, where every
    row and the search's folds are held): the best trial's networks predict, as where no
    time is left (its report says why); where there are none (``force``), the error, said
    to come from the refit. It used to end the fit after its whole budget."""
    reason = _search._describe_failure(exc)
    if force:
        raise SearchError(f"the final refit failed ({reason}) and no trial's networks are "
                          "here to fall back on.") from exc
    report["status"] = f"failed: {reason}"
    return None, report


def _tracking_reserve(tracker) -> float:
    """Seconds held back for the tracker's end-of-search logging: its own figure for an
    idle machine, more on a busy one (``TRACKING_S_PER_LOAD``)."""
    idle = getattr(tracker, "finalize_seconds", 0.0)
    if idle <= 0:
        return 0.0
    return max(idle, TRACKING_S_PER_LOAD * busy_cores() / cpu_count())


def _storage_label(storage: Any) -> str | None:
    """The storage as the search's settings record it (MLflow tag ``lepton.storage``, which
    a resumed search matches its search run by: not to be changed), user and password
    hidden. Messages to the user name it with :func:`_storage_shown`."""
    if storage is None:
        return None
    if isinstance(storage, optuna.storages.BaseStorage):
        return type(storage).__name__
    from ..tracking._store import redact_uri, user_part

    text = os.fspath(storage)
    parts = user_part(text)
    if parts is not None:  # user and password hidden (a password may hold '@', '/', '?')
        text = f"{parts[0]}***@{parts[2]}"
    return redact_uri(text)  # and a password= in the query (libpq's, Redis')


def _detached_study(study: optuna.Study | None, name: str) -> optuna.Study | None:
    """``study`` as a saved model keeps it: itself in memory, else a copy in memory of
    its trials, attributes and directions, with its sampler and pruner. A storage that
    cannot be read now leaves no study in the model, with a warning."""
    if study is None or isinstance(study._storage, optuna.storages.InMemoryStorage):
        return study
    try:
        trials = study.get_trials(deepcopy=False)
        system_attrs = study._storage.get_study_system_attrs(study._study_id)
        user_attrs = study.user_attrs
        memory = optuna.storages.InMemoryStorage()
        with _quiet_optuna(0):  # its "A new study created" line on every save
            copy = optuna.create_study(storage=memory, study_name=study.study_name,
                                       directions=study.directions, sampler=study.sampler,
                                       pruner=study.pruner)
    except Exception as exc:  # the storage went away since the fit
        warn_at_caller(f"{name}: saving the model without its study_: its storage could not "
                       f"be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                       "the study itself is unchanged in its storage.")
        return None
    for key, value in user_attrs.items():
        copy.set_user_attr(key, value)
    for key, value in system_attrs.items():
        memory.set_study_system_attr(copy._study_id, key, value)
    copy.add_trials(trials)
    return copy


def saved_form(model: Any) -> Any:
    """``model`` as the files Lepton writes keep it (``lepton run --save``, the MLflow
    model): a search estimator's ``storage`` without its password, as text (an RDB storage
    object would reconnect when loaded; a Redis journal's URL held the password too), and
    its ``tracking_uri`` without one; the model itself is left as it is. Fitting the
    loaded model again needs the passwords given again (``set_params(storage=...,
    tracking_uri=...)``)."""
    if not isinstance(model, _BaseLepton):
        return model
    from ..tracking._store import redact_uri

    stored = _storage_to_save(model.storage)
    tracked = model.tracking_uri
    if isinstance(tracked, str) and redact_uri(tracked) != tracked:  # review helper-75
        tracked = redact_uri(tracked)
    if stored is model.storage and tracked is model.tracking_uri:
        return model
    shown = object.__new__(type(model))  # shallow: the fitted attributes are shared
    shown.__dict__.update(model.__dict__)
    shown.storage, shown.tracking_uri = stored, tracked
    return shown


def _rdb_storage(storage: Any) -> optuna.storages.RDBStorage | None:
    """The RDB storage ``storage`` is, or wraps in Optuna's cache; None for others."""
    if isinstance(storage, optuna.storages._CachedStorage):
        storage = storage._backend
    return storage if isinstance(storage, optuna.storages.RDBStorage) else None


def _storage_to_save(storage: Any) -> Any:
    """:func:`saved_form`'s ``storage``: a URL or path without its password, an RDB
    storage or a Redis journal as such a URL; other storages (a journal file, in memory)
    as they are."""
    from optuna.storages.journal import JournalRedisBackend

    from ..tracking._store import redact_uri

    rdb = _rdb_storage(storage)
    if rdb is not None:
        return redact_uri(rdb.url)
    backend = getattr(storage, "_backend", None)
    if isinstance(storage, optuna.storages.JournalStorage) and isinstance(
            backend, JournalRedisBackend):
        url = redact_uri(backend._url)
        return f"{url}{'&' if '?' in url else '?'}prefix={backend._prefix}"
    if isinstance(storage, (str, os.PathLike)):
        text = os.fspath(storage)
        return storage if redact_uri(text) == text else redact_uri(text)
    return storage


def _storage_shown(storage: Any) -> str | None:
    """The storage as messages to the user name it: its password hidden, and nothing else
    (the user, host and database stay, so that the URL can be given again)."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return _storage_label(storage)
    from ..tracking._store import redact_uri

    return redact_uri(os.fspath(storage))


OVERRUN_SAID = 0.05  # a fit ending past its budget by more than this share is said
STORAGE_STEP = "reading and writing the study storage"  # a step of the preparation


def _warn_overrun(name: str, budget: Budget, search_end: float, *,
                  stores: list[str] = ()) -> None:
    """Say a fit that ended over 5% past its budget, and where its time went: the budget's
    promise is the user's to rely on, and a slow or stalled study storage or tracking
    store took it without a word ('32.7s of 30s', '67.6s of 40s': review helper-84).
    ``stores``: those the fit used ('study storage', 'tracking store'), the only ones
    named (an in-memory, untracked fit was told of both: review helper-86)."""
    took = budget.elapsed()
    if took <= budget.time_budget * (1 + OVERRUN_SAID) + 0.5:
        return
    opened = budget._window_start
    prepared = (budget.start if opened is None else opened) - budget.start
    named = " and ".join(f"the {store}" for store in stores)
    warn_at_caller(
        f"{name}: fit took {took:.1f}s, {100 * (took / budget.time_budget - 1):.0f}% over "
        f"its {budget.time_budget:g}s budget: preparing {prepared:.1f}s (the data"
        + "".join(f", the {store}" for store in stores) + "), the search and the final "
        f"model {search_end - prepared:.1f}s"
        + (f", the end-of-search logging {took - search_end:.1f}s" if took - search_end >= 0.1
           else "") + ". "
        + (f"Calls to {named}, where slow or stalled, are not planned for: one near this "
           "machine keeps a fit within its budget." if stores else
           "A machine busy with other work slows the trials and the final model beyond "
           "what the search planned from the first ones."), SearchWarning)


class _OptunaVerbosity:
    """Optuna's logging level while fits run: its INFO lines (a line per trial) for a fit
    of ``verbose >= 2``, errors only otherwise; the user's level back when the last fit
    ends. The level is the process's: each fit saving and restoring it, two fits in
    threads left it at ERROR for good and printed Optuna's trial lines at verbose=0
    (review helper-83). Fits at once get the most talkative level any of them asked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: list[int] = []
        self._user_level = optuna.logging.INFO

    @contextmanager
    def __call__(self, verbose: int):
        wanted = optuna.logging.INFO if verbose >= 2 else optuna.logging.ERROR
        with self._lock:
            if not self._wanted:
                self._user_level = optuna.logging.get_verbosity()
            self._wanted.append(wanted)
            optuna.logging.set_verbosity(min(self._wanted))
        try:
            yield
        finally:
            with self._lock:
                self._wanted.remove(wanted)
                optuna.logging.set_verbosity(min(self._wanted) if self._wanted
                                             else self._user_level)


_quiet_optuna = _OptunaVerbosity()


def _n_done(study: optuna.Study) -> int:
    """Trials that completed or were pruned (scored, in the study's sense)."""
    return len(study.get_trials(deepcopy=False, states=DONE_STATES))


def _resume_line(study: optuna.Study, study_name: str, storage: Any, metric, *,
                 joining: bool = False) -> str:
    """What a resumed search starts from (``joining``: the search a ``lepton worker``
    joins): trials by state, the best score, the queue (warm-start entries not reached yet,
    and trials an interrupt or a crash left to run again), and the trials still running.
    Said after :func:`_fail_stale_trials`: the trials a killed process left running are
    then failed and queued to run again (at once where that process ran on this machine:
    :func:`._search.process_gone`); those still running are live processes' (or, on
    another machine, a process's that stopped within the grace period)."""
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    n = {state: sum(t.state == state for t in trials) for state in states}
    again = sum(t.state == states.WAITING and bool(t.system_attrs.get("retry_history"))
                for t in trials)
    try:
        best = f", best {metric.name}={study.best_value:.4f}"
    except ValueError:  # no complete trial yet
        best = ""
    running = n[states.RUNNING]
    return (f"lepton search: {'joining' if joining else 'resuming'} study {study_name!r} "
            f"({_storage_shown(storage)}): "
            f"{n[states.COMPLETE]} complete, {n[states.PRUNED]} pruned, {n[states.FAIL]} "
            f"failed{best}; {n[states.WAITING]} queued, {again} of them to run again"
            + (f"; {running} running in other processes (one whose process stopped on "
               f"another machine runs again once it has gone {_search.HEARTBEAT_GRACE_S:g}s "
               "without a heartbeat)" if running else ""))


def _fail_stale_trials(study: optuna.Study) -> None:
    """Fail, and queue to run again, the trials a stopped process left running (their
    heartbeat older than the grace period), as the first trial's start would: on a
    journal, Lepton's heartbeat (:func:`.heartbeat.fail_stale_trials`); on a database,
    Optuna's."""
    try:
        if uses_lepton_heartbeat(study._storage):
            fail_stale_trials(study)
        else:
            with warnings.catch_warnings():  # experimental in Optuna, and used by it so
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
    except Exception as exc:  # noqa: BLE001 - the first trial's start checks again
        log.debug("stale trials not checked: %s", exc)


def _n_finished(study: optuna.Study) -> int:
    """Trials that ran to an end (complete, pruned or failed): not the warm-start entries
    still waiting in the queue, nor trials running in other workers, nor the trials Ctrl-C
    or SIGTERM stopped (queued to run again: counted when they do)."""
    return sum(t.state.is_finished() and not t.user_attrs.get(UNSTARTED_ATTR)
               and not t.user_attrs.get(INTERRUPTED_ATTR)
               for t in study.get_trials(deepcopy=False))


#: Without a terminal (a log file, CI, a Prefect worker), the progress goes out as plain
#: lines, at most one per this many seconds (and one for the last trial).
PLAIN_PROGRESS_INTERVAL_S = 5.0


def _interactive(stream: Any) -> bool:
    """Whether ``stream`` redraws a bar in place: a terminal, or a notebook's widget."""
    notebook_or_text = auto_tqdm()

    try:
        from tqdm.notebook import tqdm as notebook_tqdm
        if issubclass(notebook_or_text, notebook_tqdm):
            return True
    except ImportError:  # pragma: no cover - tqdm without its notebook module
        pass
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return False
    # A terminal of no width (a pty nobody sized: `script` or `ssh -t` run without a
    # terminal, some CI runners) got tqdm's bar as nothing but carriage returns: plain lines
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return True  # a terminal-like object without a descriptor: trust isatty


@contextmanager
def _progress(verbose: int, budget: Budget, study: optuna.Study, metric, *, file: Any = None,
              final_model: bool = True):
    """Progress over the time budget: trials, best score, time left. A bar redrawn in place
    on a terminal or in a notebook; elsewhere plain lines, so a log holds readable lines
    rather than a run of carriage returns. Where the search ends and ``final_model`` (not a
    worker's search) follows, the last line or redraw says so: the bar stops short of the
    budget, whose rest is the final model's."""
    if not verbose:
        yield None
        return
    stream = file if file is not None else sys.stderr
    next_up = False  # the search ended (no exception) and the final model comes next

    def status(study: optuna.Study) -> str:
        try:
            best = f"{study.best_value:.4f}"
        except ValueError:
            best = "-"
        return (f"trials={_n_finished(study)} best {metric.name}={best} "
                f"left={max(0.0, budget.remaining()):.0f}s"
                + (": the final model next" if next_up else ""))

    if not _interactive(stream):
        lock = threading.Lock()
        last, held = -math.inf, False  # when a line was last printed; trials since unreported

        def emit() -> None:
            # a worker's budget is what was left of its run's window (15.5526s): shown to
            # a tenth of a second
            print(f"lepton search: {budget.elapsed():.0f}/{round(budget.time_budget, 1):g}s "
                  + status(study), file=stream, flush=True)

        def plain(_study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            nonlocal last, held
            with lock:
                now = time.monotonic()
                held = now - last < PLAIN_PROGRESS_INTERVAL_S
                if not held:
                    last = now
                    emit()

        try:
            yield plain
        except BaseException:
            if held:  # the last trials went unreported: say where the search ended
                emit()
            raise
        next_up = final_model
        if held or next_up:  # say where the search ended, and what comes next
            emit()
        return

    from tqdm.contrib.logging import logging_redirect_tqdm
    tqdm = auto_tqdm()
    bar = tqdm(total=round(budget.time_budget, 1), unit="s", desc="lepton search", file=stream,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}s{postfix}")

    def update(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.n = min(bar.total, round(budget.elapsed(), 1))
        bar.set_postfix_str(status(study), refresh=False)
        bar.refresh()  # one redraw per finished trial

    optuna_log = logging.getLogger("optuna")
    # verbose=2: Optuna's trial log is written above the bar (tqdm.write), where on a
    # terminal each of its lines followed a stale copy of the bar; only where it goes to
    # the console (tqdm adds a console handler: a user who had removed Optuna's, to log to
    # a file or the root logger, got its lines on stderr too; review helper-66)
    console = any(type(h) is not logging.FileHandler and isinstance(h, logging.StreamHandler)
                  and h.stream in (sys.stdout, sys.stderr) for h in optuna_log.handlers)
    redirect = (logging_redirect_tqdm([optuna_log], tqdm_class=type(bar)) if console
                else contextlib.nullcontext())
    try:
        with redirect:
            yield update
        next_up = final_model
        update(study, None)
        # The search ended as it should: the bar is full. A notebook's widget paints a
        # bar closed short of its total red, as for an error, and the search ends short of
        # the budget by design (the final model's reserve, n_trials, convergence); the
        # seconds shown stay the search's own.
        elapsed = f"{bar.n:.0f}"
        bar.bar_format = ("{desc}: {percentage:3.0f}%|{bar}| " + elapsed
                          + "/{total:.0f}s{postfix}")
        bar.n = bar.total
        bar.refresh()
    finally:
        bar.close()
