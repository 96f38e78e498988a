"""The one training loop.

Every caller (the fixed-architecture estimators, the search objective, the final refit,
the Prefect tasks) trains through :func:`train`, which reads top to bottom::

    train -> run_epoch -> train_step
          -> evaluate (validation loss and score, once per epoch)
          -> callbacks.on_epoch_end(record)   (pruning, tracking, progress)

Data lives on the device as tensors and is batched by slicing a shuffled index, which
avoids DataLoader overhead for in-memory data (see LIBRARY-NOTES). Sparse input (TF-IDF)
stays a scipy CSR matrix and is densified one batch at a time.

The single structured record of training is ``TrainingResult.history``: one dict per
epoch with ``epoch, train_loss, val_loss, val_score, lr, elapsed, epoch_time``.
"""

from __future__ import annotations

import copy
import gc
import math
import os
import threading
import time
import traceback
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "TrainingConfig", "TensorData", "TrainingResult", "Callback", "ProgressPrinter",
    "Task", "TASK_KINDS", "LabelsLoss", "WeightedLoss", "train", "run_epoch", "train_step",
    "evaluate", "predict_outputs",
    "resolve_device", "resolve_devices", "SCHEDULES", "fit_model", "DivergedError",
    "make_optimizer",
    "clip_grad_norm", "cpu_count", "busy_cores", "threads_per_trial", "torch_threads",
    "usable_device",
    "warm_up_optimizers",
]

SCHEDULES = ("constant", "cosine", "onecycle", "plateau")

#: Final states of a training run (``TrainingResult.status``).
COMPLETED, EARLY_STOPPED, TIME_LIMIT, DIVERGED, STOPPED = (
    "completed", "early_stopped", "time_limit", "diverged", "stopped")


def usable_device(device: str | torch.device) -> torch.device:
    """Where a fitted model predicts: the device it was fitted on, or the CPU where that
    one is not here (a model trained on a GPU machine, loaded on a machine without one)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not (torch.cuda.is_available()
                                   and (dev.index or 0) < torch.cuda.device_count()):
        return torch.device("cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        return torch.device("cpu")
    return dev


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; anything else as given, once it is
    checked to exist here (a clear error instead of a failure on the first tensor)."""
    if isinstance(device, torch.device):  # checked as its name is: torch.device('cuda', 3)
        device = str(device)              # was taken on a machine of one GPU
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda', "
                         "'cuda:N' (N a GPU index) or 'mps'.") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but CUDA is not available here; use 'auto' or 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but this machine has "
                             f"{torch.cuda.device_count()} GPU(s): indices 0 to "
                             f"{torch.cuda.device_count() - 1}.")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"device={device!r} but Apple MPS is not available here; use 'auto' "
                         "or 'cpu'.")
    return dev


def resolve_devices(device: Any = "auto") -> list[torch.device]:
    """The devices a search spreads its trials over, each checked as :func:`resolve_device`
    checks one. 'auto' and 'cuda' (no index): every GPU this process sees (CUDA_VISIBLE_DEVICES
    picks them), else as :func:`resolve_device`; a list (or a comma-separated string such
    as 'cuda:0,cuda:2'): those devices, each once, all of one type (a CPU trial among GPU
    trials would only slow the search's picture of a configuration's cost)."""
    if isinstance(device, str) and "," in device:
        entries: list[Any] = [part.strip() for part in device.split(",")]
    elif isinstance(device, (list, tuple)):
        entries = list(device)
    else:
        entries = [device]
    if not entries or any(e in ("", None) for e in entries):
        raise ValueError(f"device={device!r} names no device; use 'auto', 'cpu', 'cuda', "
                         "'cuda:N', 'mps', or several GPUs as 'cuda:0,cuda:1'.")
    devices: list[torch.device] = []
    for entry in entries:
        if not isinstance(entry, (str, torch.device)):
            raise ValueError(f"device={device!r}: {entry!r} is not a device name; use "
                             "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.")
        dev = resolve_device(entry)
        if dev.type == "cuda" and dev.index is None:  # 'auto' or 'cuda': every GPU
            devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        else:
            devices.append(dev)
    seen = set()
    for dev in devices:
        if str(dev) in seen:
            raise ValueError(f"device={device!r} names {str(dev)!r} twice; name each device "
                             "once (n_jobs sets how many trials run at a time).")
        seen.add(str(dev))
    types = sorted({dev.type for dev in devices})
    if len(types) > 1:
        raise ValueError(f"device={device!r} mixes device types ({', '.join(types)}); "
                         "give devices of one type.")
    return devices


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


@dataclass(kw_only=True)
class TrainingConfig:
    """Settings of one training run. Defaults and their provenance: :mod:`lepton.defaults`."""

    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"       # constant | cosine (linear warmup) | onecycle | plateau
    warmup_fraction: float = 0.05     # of all steps, for 'cosine'
    gradient_clip: float | None = 1.0  # max global grad norm; None disables
    early_stopping: bool = True
    patience: int = 10                # epochs without val-loss improvement
    label_smoothing: float = 0.0      # classification only
    max_time: float | None = None     # seconds; checked after every batch
    amp: bool | str = "auto"          # mixed precision; 'auto' = on for CUDA
    betas: tuple[float, float] = (0.9, 0.999)


class WeightedLoss(nn.Module):
    """A per-row loss (``reduction='none'``) averaged with row weights: the mean over the
    batch of ``w * loss``, with ``w`` scaled to a mean of 1 over all training rows
    (:class:`TensorData` does that), so that a batch's loss estimates the weighted mean
    loss of the data without bias and keeps the scale an unweighted loss has (the same
    learning rates suit both)."""

    def __init__(self, per_row: nn.Module):
        super().__init__()
        self.per_row = per_row

    def forward(self, out: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (_row_losses(self.per_row(out, y), len(y)) * w).mean()


def _row_losses(loss: torch.Tensor, n: int) -> torch.Tensor:
    return loss.reshape(n, -1).mean(1)  # several regression outputs: their mean per row


class LabelsLoss(nn.Module):
    """Binary cross-entropy of each label's logit (a multilabel target: a 0/1 column per
    label), targets smoothed towards 1/2 by ``label_smoothing`` (``y (1 - s) + s / 2``,
    what smoothing does to two classes); ``reduction`` as torch's losses take it."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(out, target, reduction=self.reduction)


TASK_KINDS = ("classification", "multilabel", "regression")

#: a regression's training loss, by scikit-learn's names: squared errors (the mean), or
#: absolute errors (the median: what metric='mae' scores)
REGRESSION_LOSSES = {"squared_error": nn.MSELoss, "absolute_error": nn.L1Loss}


class Task:
    """Loss and score of a supervised task: ``classification`` (one class per row: class
    indices, softmax cross-entropy), ``multilabel`` (several labels per row: a 0/1 column
    each, a sigmoid and binary cross-entropy per label) or ``regression``. ``score`` is
    higher-is-better: accuracy (of a multilabel row: every label right, scikit-learn's
    subset accuracy) or R^2. Each takes optional row weights (``sample_weight``):
    weighted means of the loss, of the correct predictions, and of the squared errors and
    deviations in R^2 (scikit-learn's weighted ``r2_score``)."""

    def __init__(self, kind: str, n_outputs: int, *, label_smoothing: float = 0.0,
                 regression_loss: str = "squared_error"):
        if kind not in TASK_KINDS:
            raise ValueError(f"task kind={kind!r} is not one of {', '.join(TASK_KINDS)}.")
        if regression_loss not in REGRESSION_LOSSES:
            raise ValueError(f"regression_loss={regression_loss!r} is not one of "
                             f"{', '.join(REGRESSION_LOSSES)}.")
        self.kind = kind
        self.n_outputs = n_outputs
        if kind == "classification":
            self.loss_fn: nn.Module = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
            self.weighted_loss_fn = WeightedLoss(
                nn.CrossEntropyLoss(label_smoothing=label_smoothing, reduction="none"))
            self._eval_loss: nn.Module = nn.CrossEntropyLoss(reduction="none")
        elif kind == "multilabel":
            self.loss_fn = LabelsLoss(label_smoothing)
            self.weighted_loss_fn = WeightedLoss(LabelsLoss(label_smoothing, reduction="none"))
            self._eval_loss = LabelsLoss(reduction="none")
        else:
            loss = REGRESSION_LOSSES[regression_loss]
            self.loss_fn = loss()
            self.weighted_loss_fn = WeightedLoss(loss(reduction="none"))
            self._eval_loss = loss(reduction="none")

    def eval_loss(self, out: torch.Tensor, y: torch.Tensor,
                  w: torch.Tensor | None = None) -> torch.Tensor:
        rows = _row_losses(self._eval_loss(out, y), len(y))
        return rows.mean() if w is None else (rows * w).sum() / w.sum()

    def score(self, out: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> float:
        """Accuracy (classification) or R^2 averaged over outputs (regression,
        :func:`_r2_score`)."""
        if self.kind != "regression":
            hits = ((out.argmax(1) == y) if self.kind == "classification"
                    else ((out > 0) == (y > 0.5)).all(1)).float()
            return float(hits.mean() if w is None else (hits * w).sum() / w.sum())
        return _r2_score(out, y, w)


def constant_loss(task: Task, y: torch.Tensor, w: torch.Tensor | None = None) -> float:
    """The loss of a constant prediction of ``y``: the class (or label) frequencies, or 0 for
    a regression target (centred when it was scaled). A trained network's loss far above it
    did not converge (:func:`lepton.estimators._base.warn_unstable`)."""
    n = len(y)
    if task.kind == "regression":
        out = torch.zeros_like(y, dtype=torch.float32)
    else:
        weights = (torch.ones(n, device=y.device) if w is None else w).float()
        if task.kind == "classification":
            hits = F.one_hot(y.long(), task.n_outputs).float()
        else:
            hits = y.reshape(n, -1).float()
        freq = ((hits * weights[:, None]).sum(0) / weights.sum()).clamp(1e-6, 1 - 1e-6)
        out = (freq.log() if task.kind == "classification"
               else freq.log() - (1 - freq).log()).expand(n, -1)
    with torch.no_grad():
        return float(task.eval_loss(out, y, w))


def _r2_score(out: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> float:
    """R^2 of each output, averaged: scikit-learn's ``r2_score`` (its ``force_finite``
    default), weighted by ``w`` where given. An output that never varies (over the rows of
    weight above 0) has no R^2 (0/0): 1.0 where every row is predicted exactly, else 0.0,
    as scikit-learn scores it. Dividing by at least 1e-12 instead, a second output always
    3.0 (0.0 standardised) scored about -1e12 each epoch (300 rows,
    tests/estimators/test_multi_output_targets.py), and the epoch scores prune the
    search's trials. Such an output is found by comparing its values, not by its spread:
    the float32 mean of n equal values is often not that value (257 of 400 draws of 20-2000
    rows, weighted or not, left a spread of up to 2e-11, which the floor of 1e-12 kept)."""
    y = y.reshape(len(y), -1)  # (rows, outputs)
    out = out.reshape(len(out), -1)
    if w is None:
        weighs = torch.ones(len(y), dtype=torch.bool, device=y.device)
        ss_res = ((y - out) ** 2).sum(0)
        ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    else:
        weighs = w > 0
        w = w.reshape(-1, 1)
        ss_res = (w * (y - out) ** 2).sum(0)
        mean = (w * y).sum(0) / w.sum()
        ss_tot = (w * (y - mean) ** 2).sum(0)
    inf = torch.tensor(math.inf, dtype=y.dtype, device=y.device)
    highest = torch.where(weighs[:, None], y, -inf).amax(0)  # (outputs,) over the rows
    constant = highest == torch.where(weighs[:, None], y, inf).amin(0)  # that weigh
    ss_tot = torch.where(constant, torch.zeros_like(ss_tot), ss_tot)
    ratio = ss_res / torch.where(ss_tot == 0, torch.ones_like(ss_tot), ss_tot)
    scores = torch.where(ss_res == 0, torch.ones_like(ss_res),
                         torch.where(ss_tot == 0, torch.zeros_like(ss_res), 1 - ratio))
    return float(scores.mean())


class TensorData:
    """Features (and targets, and row weights) held on ``device``; dense tensors or a CSR
    matrix. Row weights ``w`` (``sample_weight``; None: every row counts the same) are
    kept scaled to a mean of 1 (see :class:`WeightedLoss`)."""

    def __init__(self, X: Any, y: Any = None, *, w: Any = None,
                 device: torch.device | str = "cpu", y_dtype: torch.dtype | None = None):
        self.device = torch.device(device)
        self.sparse: sp.csr_matrix | None = None
        if sp.issparse(X):
            self.sparse = sp.csr_matrix(X, dtype=np.float32)
            self.X: torch.Tensor | None = None
            self.n = self.sparse.shape[0]
        else:
            self.X = torch.as_tensor(np.asarray(X, dtype=np.float32)).to(self.device)
            self.n = self.X.shape[0]
        self.y = None if y is None else torch.as_tensor(y, dtype=y_dtype).to(self.device)
        self.w: torch.Tensor | None = None
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            self.w = torch.as_tensor(w / w.mean(), dtype=torch.float32).to(self.device)

    def __len__(self) -> int:
        return self.n

    def to(self, device: torch.device | str) -> TensorData:
        """A copy held on ``device`` (a search's trials on another GPU)."""
        out = copy.copy(self)  # a CSR matrix stays where it is: batches move one at a time
        out.device = torch.device(device)
        out.X = None if self.X is None else self.X.to(out.device)
        out.y = None if self.y is None else self.y.to(out.device)
        out.w = None if self.w is None else self.w.to(out.device)
        return out

    def columns(self, columns: np.ndarray) -> TensorData:
        """A copy with only ``columns`` of the features (positions), on the same device."""
        out = copy.copy(self)
        if self.X is not None:
            out.X = self.X[:, torch.as_tensor(columns, device=self.X.device)].contiguous()
        else:
            out.sparse = self.sparse[:, columns].tocsr()
        return out

    def features(self, idx: torch.Tensor | slice) -> torch.Tensor:
        if self.X is not None:
            return self.X[idx]
        rows = np.arange(self.n)[idx] if isinstance(idx, slice) else idx.cpu().numpy()
        return torch.from_numpy(self.sparse[rows].toarray()).to(self.device)


@dataclass
class TrainingResult:
    history: list[dict[str, float]] = field(default_factory=list)
    status: str = COMPLETED
    best_epoch: int | None = None
    message: str = ""
    complete_epochs: int = 0  # epochs that saw every training sample (max_time can cut one)
    epochs_done: float = 0.0  # complete epochs plus the share of rows a cut epoch saw
    #: the validation rows' raw outputs of the weights training ended with (the best
    #: epoch's where early stopping restored them): the caller need not predict them again
    val_outputs: torch.Tensor | None = field(default=None, repr=False)

    @property
    def best_record(self) -> dict[str, float] | None:
        if self.best_epoch is None:
            return self.history[-1] if self.history else None
        return self.history[self.best_epoch - 1]


class Callback:
    """No-op base for training hooks. Methods take ``**kwargs`` so hooks stay compatible
    when the loop passes more context later. ``on_epoch_end`` returning True stops training
    (status 'stopped'); raising (e.g. ``optuna.TrialPruned``) propagates to the caller."""

    def on_train_begin(self, **kwargs: Any) -> None:
        pass

    def on_epoch_end(self, record: dict[str, float], **kwargs: Any) -> bool | None:
        return None

    def on_train_end(self, result: TrainingResult, **kwargs: Any) -> None:
        pass


class ProgressPrinter(Callback):
    """Prints one line per epoch (``verbose=1`` on the estimators)."""

    def __init__(self, every: int = 1, prefix: str = ""):
        self.every = every
        self.prefix = prefix

    def on_epoch_end(self, record: dict[str, float], **kwargs: Any) -> None:
        if record["epoch"] % self.every == 0:
            parts = [f"epoch {record['epoch']:>4}", f"train_loss {record['train_loss']:.4f}"]
            if not math.isnan(record["val_loss"]):
                parts += [f"val_loss {record['val_loss']:.4f}", f"val_score {record['val_score']:.4f}"]
            parts += [f"lr {record['lr']:.2e}", f"{record['elapsed']:.1f}s"]
            print(self.prefix + "  ".join(parts), flush=True)


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Batch (start, stop) pairs; a trailing batch of one sample joins the previous one
    (BatchNorm cannot train on a single sample)."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2] = (bounds[-2][0], n)
        bounds.pop()
    return bounds


def _amp_context(device: torch.device, amp: bool | str):
    """Mixed precision on a CUDA device: bfloat16 where the GPU computes in it (compute
    capability 8.0 on, Ampere), float16 with a gradient scaler before. Not
    ``torch.cuda.is_bf16_supported()``: it holds on a T4 or a V100 too, where bfloat16 is
    emulated (PyTorch's notes and issues: slow, no cuDNN convolutions in it; not measured
    here, no GPU), and asks the current device, not ``device`` (a trial on cuda:1 from a
    thread)."""
    enabled = device.type == "cuda" if amp == "auto" else bool(amp) and device.type == "cuda"
    if not enabled:
        return nullcontext, None
    ampere = torch.cuda.get_device_capability(device) >= (8, 0)
    dtype = torch.bfloat16 if ampere else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def make_optimizer(params: Any, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW over ``params``; the fused kernel where every parameter is a CPU float tensor.

    On CPU the default (single-tensor) AdamW issues ~10 small ops per parameter tensor per
    step; the fused kernel does one pass per tensor and made small-MLP training ~10-15%
    faster (benchmarks/core_throughput.py). Same update rule; results may differ from the
    unfused kernel in the last bits and stay deterministic for a given seed. Other devices
    keep torch's default (foreach on CUDA).
    """
    params = list(params)
    kwargs: dict[str, Any] = {"lr": config.learning_rate, "weight_decay": config.weight_decay,
                              "betas": config.betas}
    tensors = [t for g in params for t in (g.get("params", ()) if isinstance(g, dict) else [g])]
    if tensors and all(t.device.type == "cpu" and t.is_floating_point() for t in tensors):
        try:
            return torch.optim.AdamW(params, fused=True, **kwargs)
        except (RuntimeError, ValueError):  # e.g. a dtype the fused CPU kernel lacks
            pass
    return torch.optim.AdamW(params, **kwargs)


def warm_up_optimizers() -> float:
    """Pay, once per process, what torch charges the first optimizer it builds.

    ``torch.optim`` imports ``torch._dynamo`` when the first optimizer is constructed:
    1.4-2.3 s on the 2-core machines the benchmarks ran on. :func:`train` builds its
    optimizer before its ``max_time`` clock starts, so in a search that import ran outside
    every clock that cuts a trial and the first trial overran its share by it (300,000 rows
    at 20 s: first trials took 7.4-7.7 s; with the import paid beforehand, 4.9-5.2 s, their
    share then being smaller by a third of the import; benchmarks/dev/first_trial.py). A
    search calls this while it prepares the data, before it plans its trials. Later calls
    build one tiny optimizer (microseconds). Returns the seconds it took.
    """
    t0 = time.perf_counter()
    make_optimizer([torch.zeros(1, requires_grad=True)], TrainingConfig())
    return time.perf_counter() - t0


_SINGLE_OR_DOUBLE = (torch.float32, torch.float64)


def clip_grad_norm(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """``nn.utils.clip_grad_norm_(params, max_norm)`` (L2 norm, non-finite norms allowed)
    with the same ops, hence the same result, minus that function's per-call grouping
    overhead when all gradients share one device and dtype (the usual case).

    On a GPU there is no host sync. On the CPU, where reading the norm costs no sync
    (0.2 us), the scaling is skipped where the norm is clearly under ``max_norm``: there
    torch's coefficient clamps to exactly 1.0 and the multiplication leaves every gradient
    as it was, so skipping it is exact. "Clearly": by 1e-5 relative, while the coefficient's
    four float32 roundings move it by at most 2.4e-7 (bit-identical to torch on 20,000
    draws around the threshold, tests/test_batch_schedule.py); nearer, the ops run. Iris in
    batches of 16 rarely reaches the norm of 1.0 (1 batch in 180; wine, and 5,000 rows in
    batches of 256, never), and skipping the four ops took clipping in its loop from 78 to
    45 us a batch, 20% to 12% of an epoch (one thread; benchmarks/dev/per_batch_cost.py).
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    first = grads[0]
    if any(g.device != first.device or g.dtype != first.dtype or g.is_sparse for g in grads):
        nn.utils.clip_grad_norm_(params, max_norm)
        return
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        # NaN or inf norms fail the comparison and are scaled as torch scales them; half
        # precisions round by up to 4e-3, so they are always scaled
        if (first.is_cpu and first.dtype in _SINGLE_OR_DOUBLE
                and max_norm >= (1.0 + 1e-5) * (float(total) + 1e-6)):
            return
        torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def train_step(module: nn.Module, xb: torch.Tensor, yb: torch.Tensor,
               optimizer: torch.optim.Optimizer, loss_fn: nn.Module, *,
               gradient_clip: float | None = None, autocast=nullcontext,
               scaler: torch.amp.GradScaler | None = None,
               params: Sequence[torch.Tensor] | None = None,
               wb: torch.Tensor | None = None) -> torch.Tensor:
    """One optimisation step on one batch; returns the (detached) batch loss.

    ``params`` (default ``module.parameters()``) are the tensors whose gradients are
    clipped; :func:`run_epoch` passes a list made once per epoch. ``wb``: the batch's row
    weights, for a ``loss_fn`` that takes them (:class:`WeightedLoss`).
    """
    with autocast():
        loss = loss_fn(module(xb), yb) if wb is None else loss_fn(module(xb), yb, wb)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if gradient_clip:
            scaler.unscale_(optimizer)
            clip_grad_norm(list(module.parameters()) if params is None else params,
                           gradient_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if gradient_clip:
            clip_grad_norm(list(module.parameters()) if params is None else params,
                           gradient_clip)
        optimizer.step()
    return loss.detach()


def run_epoch(module: nn.Module, data: TensorData, optimizer: torch.optim.Optimizer,
              loss_fn: nn.Module, *, batch_size: int, generator: torch.Generator,
              scheduler: Any = None, gradient_clip: float | None = None,
              autocast=nullcontext, scaler: torch.amp.GradScaler | None = None,
              stop_at: float | None = None,
              interrupt: threading.Event | None = None) -> tuple[float, float]:
    """One pass over ``data`` in shuffled batches (``loss_fn`` takes ``data.w``'s row
    weights where it has them: :attr:`Task.weighted_loss_fn`).

    Returns ``(mean training loss, share of the rows seen)``; the share is below 1 when
    ``stop_at`` (a ``time.perf_counter()`` value) passed mid-epoch and the pass was cut
    short, which keeps a time budget from being overrun by up to a whole epoch.
    ``interrupt`` set (the first Ctrl-C or SIGTERM of a search or of its final refit,
    which also reaches worker threads that never see the signal) raises
    KeyboardInterrupt after the current batch.
    """
    module.train()
    n = len(data)
    perm = torch.randperm(n, generator=generator).to(data.device)
    total = torch.zeros((), device=data.device)
    seen = 0
    params = list(module.parameters()) if gradient_clip else None
    for start, stop in _batch_bounds(n, batch_size):
        idx = perm[start:stop]
        loss = train_step(module, data.features(idx), data.y[idx], optimizer, loss_fn,
                          gradient_clip=gradient_clip, autocast=autocast, scaler=scaler,
                          params=params, wb=None if data.w is None else data.w[idx])
        total += loss * (stop - start)  # on device: no host sync per batch
        seen = stop
        if scheduler is not None:
            scheduler.step()
        if interrupt is not None and interrupt.is_set():
            raise KeyboardInterrupt(f"interrupted ({getattr(interrupt, 'cause', 'Ctrl-C')})")
        if stop_at is not None and stop < n and time.perf_counter() > stop_at:
            break
    return float(total) / seen, seen / n


#: input values a prediction pass takes at once: 8,192 rows of 256 features. Images hold
#: thousands of values a row, and a convolution's activations many times more: 8,192
#: rows of 3x64x64 grew a predict_proba of 2,000 such images by 1,837 MiB (16 MiB in
#: batches of 256 rows, and faster: 9.0 s against 16.5 s)
PREDICT_VALUES = 8192 * 256


def predict_rows(data: TensorData) -> int:
    """Rows per prediction pass: ``PREDICT_VALUES`` input values, 64 to 8,192 rows."""
    width = (data.X if data.X is not None else data.sparse).shape[1]
    return max(64, min(8192, PREDICT_VALUES // max(1, width)))


@torch.no_grad()
def predict_outputs(module: nn.Module, data: TensorData, *, batch_size: int | None = None,
                    autocast=nullcontext) -> torch.Tensor:
    """Raw network outputs for all rows of ``data``, float32 on the data's device, in
    passes of ``batch_size`` rows (None: :func:`predict_rows`)."""
    module.eval()
    outs = []
    batch_size = batch_size or predict_rows(data)
    for start in range(0, len(data), batch_size):
        with autocast():
            outs.append(module(data.features(slice(start, start + batch_size))).float())
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(module: nn.Module, data: TensorData, task: Task, *, batch_size: int | None = None,
             autocast=nullcontext) -> tuple[float, float]:
    """(loss, score) of ``module`` on ``data``, weighted by ``data.w`` where it has them."""
    out = predict_outputs(module, data, batch_size=batch_size, autocast=autocast)
    return _loss_and_score(out, data, task)


def _loss_and_score(out: torch.Tensor, data: TensorData, task: Task) -> tuple[float, float]:
    return float(task.eval_loss(out, data.y, data.w)), task.score(out, data.y, data.w)


#: validation sets of more rows than this have their pass timed before the first epoch
#: (:func:`train`); a cnn's pass over 360 digits took 11 ms, one over 40,000 table rows of
#: 3,680 inputs 2.3 s
PRE_TIMED_VALIDATION_ROWS = 4096


@torch.no_grad()
def _forward_seconds(module: nn.Module, data: TensorData, autocast=nullcontext) -> float:
    """About how long a forward pass over every row of ``data`` takes: one batch of
    :func:`predict_outputs`'s size, timed, scaled to the rest (no state changes: eval mode,
    no gradients). A smaller batch underestimated wide networks' batches, which are bound
    by memory traffic: 1.1 s short of 40,000 rows' 2.3 s."""
    n = min(len(data), predict_rows(data))
    module.eval()
    if data.device.type != "cpu":  # a GPU's first pass loads its kernels (0.5-2 s): untimed
        with autocast():
            module(data.features(slice(0, min(n, 64))))
        _synchronize(data.device)
    t0 = time.perf_counter()
    with autocast():
        module(data.features(slice(0, n)))
    _synchronize(data.device)  # the kernels ran, not only their launch
    return (time.perf_counter() - t0) * len(data) / max(n, 1)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class _BatchLR:
    """A per-batch learning-rate schedule that sets ``param_group['lr']`` (and, for
    'onecycle', beta1) straight from its formula: what torch's ``LambdaLR`` and
    ``OneCycleLR`` set at every step, to the bit (tests/test_batch_schedule.py), without
    their bookkeeping (warnings checks, context managers, a wrapper around
    ``optimizer.step``, copies of every group's lr). Those cost 10-20 us a batch in the
    loop, 3-5% of an iris epoch (135 rows in batches of 16, a 32-32 MLP, one thread:
    benchmarks/dev/per_batch_cost.py); this step costs about 1 us.

    ``at(group, step)`` sets one group's values for ``step`` (0 at construction, as
    torch's schedulers take their first step when they are made)."""

    def __init__(self, optimizer: torch.optim.Optimizer, at):
        self.groups = optimizer.param_groups
        self.at = at
        self.last_epoch = 0  # torch's name: steps taken since construction
        for group in self.groups:
            at(group, 0)

    def step(self) -> None:
        self.last_epoch += 1
        for group in self.groups:
            self.at(group, self.last_epoch)


def _cosine_lr(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> _BatchLR:
    """Linear warmup over ``warmup`` steps, then a half cosine to 0 at ``total``: the
    ``LambdaLR(optimizer, factor)`` this replaces, with its ``initial_lr`` key."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def at(group: dict, step: int) -> None:
        group["lr"] = group["initial_lr"] * factor(step)

    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return _BatchLR(optimizer, at)


def _onecycle_lr(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int) -> _BatchLR:
    """torch's ``OneCycleLR(optimizer, max_lr, total_steps)`` with its defaults (two cosine
    phases, 30% rising from max_lr / 25 to max_lr, then falling to max_lr / 25e4; beta1
    cycled inversely between 0.95 and 0.85), the same float operations in the same order,
    and the same keys left in each param group."""
    rise_end = float(0.3 * total_steps) - 1  # torch's phase ends
    fall_end = total_steps - 1

    def anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    def at(group: dict, step: int) -> None:
        if step <= rise_end:
            pct = (step - 0.0) / (rise_end - 0.0)
            lr = anneal(group["initial_lr"], group["max_lr"], pct)
            beta1 = anneal(group["max_momentum"], group["base_momentum"], pct)
        else:
            pct = (step - rise_end) / (fall_end - rise_end)
            lr = anneal(group["max_lr"], group["min_lr"], pct)
            beta1 = anneal(group["base_momentum"], group["max_momentum"], pct)
        group["lr"] = lr
        group["betas"] = (beta1, *group["betas"][1:])

    for group in optimizer.param_groups:
        group["initial_lr"] = max_lr / 25.0
        group["max_lr"] = max_lr
        group["min_lr"] = group["initial_lr"] / 1e4
        group["betas"] = (0.95, *group["betas"][1:])
        group["max_momentum"] = 0.95
        group["base_momentum"] = 0.85
    return _BatchLR(optimizer, at)


def _make_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig, steps: int):
    """Returns (scheduler, stepped_per_batch): something with a ``step()`` method, called
    after every batch (``stepped_per_batch``) or with the monitored loss after every epoch
    ('plateau'), or None ('constant')."""
    total = max(1, steps * config.epochs)
    if config.lr_schedule == "constant":
        return None, False
    if config.lr_schedule == "cosine":
        return _cosine_lr(optimizer, int(config.warmup_fraction * total), total), True
    if config.lr_schedule == "onecycle":
        return _onecycle_lr(optimizer, config.learning_rate, total + 1), True
    if config.lr_schedule == "plateau":
        patience = max(1, config.patience // 3) if config.early_stopping else 5
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.3,
                                                          patience=patience), False
    raise ValueError(f"lr_schedule={config.lr_schedule!r} is not one of {', '.join(SCHEDULES)}.")


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train(module: nn.Module, train_data: TensorData, valid_data: TensorData | None, task: Task,
          config: TrainingConfig, *, callbacks: Sequence[Callback] = (),
          generator: torch.Generator | None = None,
          interrupt: threading.Event | None = None) -> TrainingResult:
    """Train ``module`` in place; returns the per-epoch history and how training ended.

    - Early stopping watches the validation loss (``patience`` epochs) and restores the
      best epoch's weights.
    - ``max_time`` is checked after every batch; the run ends with status 'time_limit'
      (the cut epoch is still validated, so the result is usable). The batches stop early
      enough for that validation to end within ``max_time`` too: by the time the last one
      took (before the first, on many rows, one batch of them timed and scaled). A trial
      on 40,000 validation rows of 3,680 inputs had run 4.7 s past its 7.9 s (the
      validation, and the search predicting the same rows again: ``val_outputs`` now).
    - A non-finite training or validation loss ends the run with status 'diverged'
      instead of raising from torch. With early stopping the best finite epoch's weights
      are restored; without it no snapshots are kept (they would cost a copy per epoch)
      and ``best_epoch`` is None: the caller must not use the weights.
    - Randomness (init aside) comes from ``generator`` (batch order) and torch's global
      RNG (dropout); callers seed both for reproducible runs.
    - ``interrupt``: see :func:`run_epoch`.
    """
    device = train_data.device
    module.to(device)
    if generator is None:
        generator = torch.Generator()
    optimizer = make_optimizer(module.parameters(), config)
    batch_size = max(1, min(config.batch_size, len(train_data)))
    steps = len(_batch_bounds(len(train_data), batch_size))
    scheduler, per_batch = _make_scheduler(optimizer, config, steps)
    autocast, scaler = _amp_context(device, config.amp)
    loss_fn = (task.loss_fn if train_data.w is None else task.weighted_loss_fn).to(device)

    result = TrainingResult()
    best_loss, best_state, bad_epochs = math.inf, None, 0
    best_out = last_out = None
    t0 = time.perf_counter()
    stop_at = None if config.max_time is None else t0 + config.max_time
    # seconds the end-of-epoch validation takes, left to it by the time limit: timed on
    # a batch before the first epoch only where the rows are many (a search's small folds
    # validate in milliseconds, and timing them cost as much again: 11 ms a fold and trial
    # on digits' 360 rows), then the last pass's own time
    eval_s = (_forward_seconds(module, valid_data, autocast)
              if stop_at is not None and valid_data is not None
              and len(valid_data) > PRE_TIMED_VALIDATION_ROWS else 0.0)
    for cb in callbacks:
        cb.on_train_begin(module=module, config=config)
    for epoch in range(1, config.epochs + 1):
        te = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, share = run_epoch(
            module, train_data, optimizer, loss_fn, batch_size=batch_size, generator=generator,
            scheduler=scheduler if per_batch else None, gradient_clip=config.gradient_clip,
            autocast=autocast, scaler=scaler,
            stop_at=None if stop_at is None else stop_at - eval_s, interrupt=interrupt)
        complete = share >= 1.0
        result.complete_epochs += complete
        result.epochs_done += share
        val_loss = val_score = math.nan
        if valid_data is not None and math.isfinite(train_loss):
            tv = time.perf_counter()
            last_out = predict_outputs(module, valid_data, autocast=autocast)
            val_loss, val_score = _loss_and_score(last_out, valid_data, task)
            eval_s = time.perf_counter() - tv
        now = time.perf_counter()
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                  "val_score": val_score, "lr": lr, "elapsed": now - t0, "epoch_time": now - te}
        result.history.append(record)

        if not math.isfinite(train_loss) or (valid_data is not None and not math.isfinite(val_loss)):
            result.status = DIVERGED
            result.message = (f"loss became {train_loss if not math.isfinite(train_loss) else val_loss}"
                              f" at epoch {epoch} (learning_rate={config.learning_rate:g}); "
                              "a lower learning rate or gradient clipping usually fixes this")
            break
        monitored = val_loss if valid_data is not None else train_loss
        improved = not math.isfinite(best_loss) or monitored < best_loss - 1e-4 * abs(best_loss)
        if improved:
            best_loss, bad_epochs, result.best_epoch = monitored, 0, epoch
            if config.early_stopping:
                best_state, best_out = _snapshot(module), last_out
        else:
            bad_epochs += 1
        if scheduler is not None and not per_batch:
            scheduler.step(monitored)

        stop = False
        for cb in callbacks:
            stop = bool(cb.on_epoch_end(record, module=module, history=result.history,
                                        epoch=epoch)) or stop
        if stop:
            result.status, result.message = STOPPED, f"stopped by a callback after epoch {epoch}"
            break
        if config.early_stopping and valid_data is not None and bad_epochs >= config.patience:
            result.status = EARLY_STOPPED
            result.message = f"no validation improvement for {config.patience} epochs"
            break
        if stop_at is not None and (now >= stop_at or not complete) and epoch < config.epochs:
            result.status = TIME_LIMIT
            result.message = f"max_time={config.max_time:g}s reached after epoch {epoch}"
            break

    if result.status == DIVERGED:
        if best_state is not None:
            module.load_state_dict(best_state)
        else:
            result.best_epoch = None  # weights are not finite; the caller must not use them
    elif config.early_stopping and best_state is not None:
        module.load_state_dict(best_state)
        result.val_outputs = best_out
    else:
        result.best_epoch = len(result.history)
        result.val_outputs = last_out
    for cb in callbacks:
        cb.on_train_end(result, module=module)
    return result


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss before any usable epoch."""


def fit_model(model_config: Any, train_data: TensorData, valid_data: TensorData | None,
              task: Task, config: TrainingConfig, *, seed: int,
              input_shape: Sequence[int] | None = None,
              callbacks: Sequence[Callback] = (),
              interrupt: threading.Event | None = None) -> tuple[nn.Module, TrainingResult]:
    """Build the network ``model_config`` describes and train it, reproducibly from ``seed``.

    Torch's global RNG (weight init, dropout) is forked, so callers' RNG state is left as
    it was. Batch order comes from a generator seeded with ``seed``.
    """
    from .models import build_model  # local: models import nothing from here

    device = train_data.device
    index = None
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
    with torch.random.fork_rng(devices=[] if index is None else [index]):
        with _SEEDING:
            # the CPU's generator (weights are drawn on the CPU), then the device's own
            # (dropout there): torch.manual_seed seeds every GPU, so the refit's seeds, one
            # on each GPU in threads, re-seeded each other's dropout (review helper-56, by
            # reading; not run on GPUs). Two CPU names standing in for GPUs still differ
            # run to run with dropout (19 outcomes of 20): the CPU has one generator.
            torch.random.default_generator.manual_seed(seed)
            if index is not None:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            elif device.type == "mps":
                torch.mps.manual_seed(seed)
            module = build_model(model_config, _n_features(train_data), task.n_outputs,
                                 input_shape=input_shape)
        generator = torch.Generator().manual_seed(seed)
        result = train(module, train_data, valid_data, task, config, callbacks=callbacks,
                       generator=generator, interrupt=interrupt)
    return module, result


def free_memory(exc: BaseException | None = None) -> None:
    """After an out-of-memory error ``exc``: what its finished frames held (a network, its
    optimizer, activations) let go, and the GPU's cached blocks handed back, so that the
    next trial, or what a failed refit falls back on, finds the memory. Emptying the cache
    from inside the ``except`` alone freed little: the traceback kept those frames."""
    if exc is not None and exc.__traceback__ is not None:
        traceback.clear_frames(exc.__traceback__)  # frames still running are left as they are
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _mps_available():
        torch.mps.empty_cache()


#: held while a fit seeds torch's generators and draws its network's weights (threads)
_SEEDING = threading.Lock()


def _n_features(data: TensorData) -> int:
    return data.sparse.shape[1] if data.sparse is not None else int(data.X.shape[1])


# -- CPU threads -------------------------------------------------------------------------
def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_trial(n_jobs: int = 1) -> int:
    """Torch intra-op threads for each of ``n_jobs`` parallel trainings (search trials;
    1 for a single fit).

    The cores are split evenly between trials, never more than the process already allows
    (OMP_NUM_THREADS, a caller's ``torch.set_num_threads``) and never more than the cores
    other processes leave free (1-minute load average). Oversubscribed multi-threaded CPU
    training collapses: on a 2-core machine with one core busy elsewhere, 2 threads trained
    12-22 epochs/min against ~1,000 with 1 thread (benchmarks/results/
    parallel_trials_run1_shared.md), while on an idle machine 2 threads gained only 1.2x.
    """
    cores = cpu_count()
    free = max(1, int(cores - busy_cores() + 0.5))
    return max(1, min(torch.get_num_threads(), cores // max(1, n_jobs), free))


def busy_cores() -> float:
    """Runnable processes and threads, machine-wide (1-minute load average; this
    process's own included); 0 where the platform has no load average."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return 0.0


@contextmanager
def torch_threads(n: int):
    """Temporarily set torch's intra-op threads (parallel trials must not oversubscribe)."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
