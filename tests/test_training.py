"""The one training loop: early stopping, schedules, clipping, limits, divergence,
callbacks, reproducibility and the sparse data path."""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from lepton.training import (
    Callback,
    Task,
    TensorData,
    TrainingConfig,
    evaluate,
    fit_model,
    predict_outputs,
    predict_rows,
    train_step,
)

MLP = {"layers": [{"width": 16}]}
RECORD_KEYS = {"epoch", "train_loss", "val_loss", "val_score", "lr", "elapsed", "epoch_time"}


def _classification(n=120, d=6, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    if noise:
        flip = rng.random(n) < noise
        y[flip] = 1 - y[flip]
    return X, y


def _data(X, y, dtype=torch.long):
    return TensorData(X, y, y_dtype=dtype)


def _split(X, y, n_val=40, dtype=torch.long):
    return _data(X[n_val:], y[n_val:], dtype), _data(X[:n_val], y[:n_val], dtype)


class Recorder(Callback):
    """Keeps the records and a copy of the weights after every epoch."""

    def __init__(self, stop_at_epoch: int | None = None):
        self.records, self.states, self.began, self.ended = [], [], {}, None
        self.stop_at_epoch = stop_at_epoch

    def on_train_begin(self, **kwargs):
        self.began = kwargs

    def on_epoch_end(self, record, **kwargs):
        self.records.append(dict(record))
        self.states.append({k: v.clone() for k, v in kwargs["module"].state_dict().items()})
        return record["epoch"] == self.stop_at_epoch

    def on_train_end(self, result, **kwargs):
        self.ended = result


def _fit(train_data, valid_data, *, task=None, seed=0, model=MLP, callbacks=(), **config):
    task = task or Task("classification", 2)
    return fit_model(model, train_data, valid_data, task, TrainingConfig(**config), seed=seed,
                     callbacks=callbacks)


# -- early stopping ------------------------------------------------------------------------
def test_early_stopping_restores_the_best_epoch():
    # Noisy labels and a wide net: the validation loss turns up after a few epochs.
    X, y = _classification(n=160, d=20, noise=0.3)
    train_data, valid_data = _split(X, y)
    rec = Recorder()
    module, result = _fit(train_data, valid_data, model={"layers": [{"width": 128}]},
                          callbacks=[rec], epochs=200, batch_size=16, learning_rate=1e-2,
                          lr_schedule="constant", patience=4)
    assert result.status == "early_stopped"
    assert "no validation improvement for 4 epochs" in result.message
    assert len(result.history) == result.best_epoch + 4 < 200
    val_losses = [r["val_loss"] for r in result.history]
    assert result.best_record["val_loss"] == pytest.approx(min(val_losses), rel=1e-3)
    assert result.best_record["val_loss"] < val_losses[-1]
    # the module holds the best epoch's weights, not the last ones
    best_state = rec.states[result.best_epoch - 1]
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, best_state[k], rtol=0, atol=0)
    assert evaluate(module, valid_data, Task("classification", 2))[0] == pytest.approx(
        result.best_record["val_loss"], rel=1e-5)


def test_without_early_stopping_all_epochs_run_and_last_weights_are_kept():
    X, y = _classification(noise=0.3)
    train_data, valid_data = _split(X, y)
    rec = Recorder()
    module, result = _fit(train_data, valid_data, callbacks=[rec], epochs=12, batch_size=16,
                          early_stopping=False)
    assert result.status == "completed" and len(result.history) == 12
    assert result.best_epoch == 12
    for k, v in module.state_dict().items():
        assert torch.equal(v, rec.states[-1][k])


# -- learning-rate schedules ---------------------------------------------------------------
def _lrs(schedule, *, epochs=20, lr=1e-2, **config):
    X, y = _classification(n=100)
    # 100 rows in batches of 10: 10 steps per epoch; no validation, so nothing stops early
    _, result = _fit(_data(X, y), None, epochs=epochs, batch_size=10, learning_rate=lr,
                     lr_schedule=schedule, **config)
    assert len(result.history) == epochs
    return np.array([r["lr"] for r in result.history])


def test_constant_schedule():
    np.testing.assert_allclose(_lrs("constant"), 1e-2)


def test_cosine_schedule_without_warmup_follows_half_cosine():
    lrs = _lrs("cosine", warmup_fraction=0.0)
    epochs = np.arange(20)  # lr is recorded at the start of each epoch
    np.testing.assert_allclose(lrs, 1e-2 * 0.5 * (1 + np.cos(np.pi * epochs / 20)), rtol=1e-6)


def test_cosine_schedule_warms_up_linearly_then_decays():
    lrs = _lrs("cosine", warmup_fraction=0.25)  # 50 of 200 steps
    peak = int(np.argmax(lrs))
    assert lrs[0] < 0.05 * 1e-2
    assert np.all(np.diff(lrs[: peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)
    assert 4 <= peak <= 6
    np.testing.assert_allclose(np.diff(lrs[:5]), np.diff(lrs[:5])[0], rtol=1e-6)  # linear
    assert lrs[-1] < 0.02 * 1e-2


def test_onecycle_schedule_rises_to_the_peak_then_anneals():
    lrs = _lrs("onecycle")
    peak = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(1e-2 / 25)  # torch's default div_factor
    assert lrs[peak] == pytest.approx(1e-2, rel=0.05)
    assert 4 <= peak <= 8  # the first ~30% of the steps
    assert np.all(np.diff(lrs[peak:]) < 0)
    assert lrs[-1] < lrs[0]


def test_plateau_schedule_cuts_the_lr_when_the_loss_stops_improving():
    # A learning rate too small to move the loss by torch's 1e-4 relative threshold: every
    # epoch after the first is a plateau. (Not smaller: torch ignores cuts below eps=1e-8.)
    lrs = _lrs("plateau", lr=1e-7, early_stopping=False, epochs=15)
    assert lrs[0] == pytest.approx(1e-7)
    assert np.all(np.diff(lrs) <= 0)
    cut = int(np.argmax(lrs < 1e-7))
    assert cut >= 5  # patience 5 without early stopping
    assert lrs[cut] == pytest.approx(0.3e-7)
    assert lrs[-1] == pytest.approx(0.09e-7)


def test_unknown_schedule_is_rejected():
    X, y = _classification()
    with pytest.raises(ValueError, match=r"lr_schedule='step' is not one of constant, cosine"):
        _fit(_data(X, y), None, lr_schedule="step", epochs=1)


def test_devices_that_are_not_here_are_refused_by_name():
    from lepton.training import resolve_device

    assert resolve_device("cpu:0") == torch.device("cpu", 0)
    for bad in ("tpu", "", "cuda:x"):
        with pytest.raises(ValueError, match=rf"device={bad!r} is not a device; use 'auto', "):
            resolve_device(bad)
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match=r"device='mps' but Apple MPS is not available"):
            resolve_device("mps")
    n_gpus = torch.cuda.device_count()
    with pytest.raises(ValueError, match=r"device='cuda:\d+' but (CUDA is not available here|"
                                         rf"this machine has {n_gpus} GPU)"):
        resolve_device(f"cuda:{n_gpus}")


def test_search_devices_resolve_to_a_list_of_distinct_devices_of_one_type(monkeypatch):
    from lepton.training import resolve_devices

    assert resolve_devices("cpu") == [torch.device("cpu")]
    assert resolve_devices(torch.device("cpu")) == [torch.device("cpu")]
    with pytest.raises(ValueError, match=r"device='cpu,cpu' names 'cpu' twice; name each"):
        resolve_devices("cpu,cpu")
    for empty in ([], "cpu,", ""):
        with pytest.raises(ValueError, match=r"names no device|is not a device"):
            resolve_devices(empty)
    with pytest.raises(ValueError, match=r"device=\['cpu', 3\]: 3 is not a device name"):
        resolve_devices(["cpu", 3])
    # a machine with three GPUs, as torch reports it (no tensor is made here)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    gpus = [torch.device("cuda", i) for i in range(3)]
    assert resolve_devices("auto") == gpus
    assert resolve_devices("cuda") == gpus
    assert resolve_devices("cuda:1") == [gpus[1]]
    assert resolve_devices("cuda:2, cuda:0") == [gpus[2], gpus[0]]
    assert resolve_devices(["cuda:0", torch.device("cuda", 1)]) == gpus[:2]
    with pytest.raises(ValueError, match=r"names 'cuda:0' twice"):
        resolve_devices("cuda,cuda:0")
    with pytest.raises(ValueError, match=r"mixes device types \(cpu, cuda\)"):
        resolve_devices("cuda:0,cpu")
    with pytest.raises(ValueError, match=r"device='cuda:3' but this machine has 3 GPU\(s\)"):
        resolve_devices("cuda:0,cuda:3")
    # torch.device objects are checked as their names are: torch.device('cuda') was no
    # device at all (an IndexError later), torch.device('cuda', 3) taken unchecked
    assert resolve_devices(torch.device("cuda")) == gpus
    with pytest.raises(ValueError, match=r"device='cuda:3' but this machine has 3 GPU\(s\)"):
        resolve_devices(torch.device("cuda", 3))


# -- gradient clipping -----------------------------------------------------------------------
def _grad_norm(module):
    return float(torch.linalg.vector_norm(torch.stack(
        [p.grad.norm() for p in module.parameters() if p.grad is not None])))


@pytest.mark.parametrize("clip", [None, 0.5])
def test_gradient_clipping_bounds_the_global_norm(clip):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    xb, yb = torch.randn(32, 4), torch.full((32, 1), 1000.0)  # far-off targets: huge grads
    opt = torch.optim.SGD(module.parameters(), lr=0.0)
    train_step(module, xb, yb, opt, nn.MSELoss(), gradient_clip=clip)
    norm = _grad_norm(module)
    if clip is None:
        assert norm > 100
    else:
        assert norm == pytest.approx(clip, rel=1e-3)


def test_gradient_clipping_in_train_keeps_a_large_lr_finite():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = (1e3 * X[:, :1]).astype(np.float32)
    base = dict(epochs=5, batch_size=16, learning_rate=1.0, lr_schedule="constant",
                early_stopping=False, weight_decay=0.0)
    _, clipped = _fit(_data(X, y, torch.float32), None, task=Task("regression", 1),
                      gradient_clip=1.0, **base)
    assert clipped.status == "completed"
    assert all(math.isfinite(r["train_loss"]) for r in clipped.history)


# -- time limit --------------------------------------------------------------------------
def test_max_time_stops_with_status_time_limit():
    X, y = _classification()
    train_data, valid_data = _split(X, y)
    module, result = _fit(train_data, valid_data, epochs=100_000, batch_size=8, max_time=0.3,
                          early_stopping=False)
    assert result.status == "time_limit"
    assert "max_time=0.3s reached after epoch" in result.message
    assert 1 <= len(result.history) < 100_000
    last = result.history[-1]
    assert set(last) == RECORD_KEYS and math.isfinite(last["val_loss"])
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_an_epoch_cut_by_max_time_counts_for_the_share_of_rows_it_saw():
    X, y = _classification()  # 80 training rows in batches of 20: four steps per epoch
    train_data, valid_data = _split(X, y)
    # any step outlasts a nanosecond: the first epoch is cut after its first batch
    _, result = _fit(train_data, valid_data, epochs=5, batch_size=20, max_time=1e-9,
                     early_stopping=False)
    assert result.status == "time_limit" and len(result.history) == 1
    assert result.complete_epochs == 0 and result.epochs_done == pytest.approx(0.25)
    assert math.isfinite(result.history[0]["val_loss"])  # the cut epoch is validated
    _, whole = _fit(train_data, valid_data, epochs=3, batch_size=20, early_stopping=False)
    assert whole.complete_epochs == 3 and whole.epochs_done == pytest.approx(3.0)


def test_the_time_limit_leaves_the_validation_its_time(monkeypatch):
    """The batches stop early enough for the end-of-epoch validation to fit in max_time:
    a validation pass said to take the whole of an hour's limit cuts the first epoch after
    its first batch (a trial on 40,000 validation rows ran 4.7 s past its 7.9 s)."""
    import lepton.training as training

    X, y = _classification()  # 80 training rows in batches of 20
    train_data, valid_data = _split(X, y)
    monkeypatch.setattr(training, "_forward_seconds", lambda *args: 3600.0)
    monkeypatch.setattr(training, "PRE_TIMED_VALIDATION_ROWS", 10)  # these 40 rows are many
    _, result = _fit(train_data, valid_data, epochs=5, batch_size=20, max_time=3600.0,
                     early_stopping=False)
    assert result.status == "time_limit" and result.epochs_done == pytest.approx(0.25)
    # nothing asked for a limit, or few validation rows: nothing is timed ahead
    _, whole = _fit(train_data, valid_data, epochs=3, batch_size=20, early_stopping=False)
    assert whole.epochs_done == pytest.approx(3.0)
    monkeypatch.setattr(training, "PRE_TIMED_VALIDATION_ROWS", 4096)
    _, few = _fit(train_data, valid_data, epochs=3, batch_size=20, max_time=3600.0,
                  early_stopping=False)
    assert few.epochs_done == pytest.approx(3.0)


@pytest.mark.parametrize("early_stopping", [True, False])
def test_the_result_holds_the_validation_outputs_of_the_weights_kept(early_stopping):
    """The search reads them instead of predicting the validation rows a second time."""
    X, y = _classification(n=160, d=20, noise=0.3)
    train_data, valid_data = _split(X, y)
    module, result = _fit(train_data, valid_data, model={"layers": [{"width": 64}]},
                          epochs=30, batch_size=16, learning_rate=1e-2, patience=3,
                          lr_schedule="constant", early_stopping=early_stopping)
    assert result.best_epoch < len(result.history) or not early_stopping
    torch.testing.assert_close(result.val_outputs, predict_outputs(module, valid_data),
                               rtol=0, atol=0)


# -- divergence ----------------------------------------------------------------------------
def test_huge_learning_rate_diverges_with_a_clear_status():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = X[:, :1].astype(np.float32)
    _, result = _fit(_data(X, y, torch.float32), None, task=Task("regression", 1), epochs=50,
                     batch_size=8, learning_rate=1e12, gradient_clip=None,
                     lr_schedule="constant", early_stopping=False)
    assert result.status == "diverged"
    assert len(result.history) < 50
    assert not math.isfinite(result.history[-1]["train_loss"])
    assert "loss became" in result.message and "learning_rate=1e+12" in result.message
    assert "lower learning rate" in result.message


def test_inf_in_the_data_diverges_without_usable_weights():
    X, y = _classification()
    X[5, 2] = np.inf
    train_data, valid_data = _split(X, y)
    rec = Recorder()
    _, result = _fit(train_data, valid_data, epochs=5, callbacks=[rec])
    assert result.status == "diverged"
    assert result.history[0]["epoch"] == 1 and len(result.history) == 1
    assert result.best_epoch is None  # nothing finite to restore
    assert rec.records == [] and rec.ended is result  # on_train_end still runs


def test_divergence_after_good_epochs_restores_the_last_best_weights():
    X, y = _classification()
    train_data, valid_data = _split(X, y)

    class Poison(Callback):
        def on_epoch_end(self, record, *, module, **kwargs):
            if record["epoch"] == 3:
                with torch.no_grad():
                    next(module.parameters()).fill_(float("nan"))

    module, result = _fit(train_data, valid_data, epochs=10, callbacks=[Poison()])
    assert result.status == "diverged" and len(result.history) == 4
    assert result.best_epoch in (1, 2, 3)
    assert all(torch.isfinite(p).all() for p in module.parameters())


# -- callbacks -------------------------------------------------------------------------------
def test_callbacks_receive_records_and_can_stop():
    X, y = _classification()
    train_data, valid_data = _split(X, y)
    rec = Recorder(stop_at_epoch=3)
    quiet = Callback()  # the no-op base is a valid callback
    _, result = _fit(train_data, valid_data, epochs=20, callbacks=[quiet, rec])
    assert result.status == "stopped" and "after epoch 3" in result.message
    assert [r["epoch"] for r in rec.records] == [1, 2, 3]
    assert rec.records == result.history
    for r in rec.records:
        assert set(r) == RECORD_KEYS
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in r.values())
        assert 0 <= r["val_score"] <= 1 and r["epoch_time"] <= r["elapsed"]
    assert isinstance(rec.began["module"], nn.Module)
    assert isinstance(rec.began["config"], TrainingConfig)
    assert rec.ended is result


def test_exception_in_a_callback_propagates():
    class Boom(Callback):
        def on_epoch_end(self, record, **kwargs):
            if record["epoch"] == 2:
                raise RuntimeError("pruned by test")

    X, y = _classification()
    with pytest.raises(RuntimeError, match="pruned by test"):
        _fit(*_split(X, y), epochs=10, callbacks=[Boom()])


# -- reproducibility -------------------------------------------------------------------------
def test_same_seed_gives_identical_weights_on_cpu():
    X, y = _classification()
    cfg = dict(model={"layers": [{"width": 16}], "dropout": 0.2, "normalization": "batch"},
               epochs=5, batch_size=16)
    rng_before = torch.get_rng_state()
    a, _ = _fit(*_split(X, y), seed=7, **cfg)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched
    b, _ = _fit(*_split(X, y), seed=7, **cfg)
    c, _ = _fit(*_split(X, y), seed=8, **cfg)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert not all(torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


# -- sparse data ---------------------------------------------------------------------------
def test_sparse_tensor_data_trains_like_dense():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(80, 30)).astype(np.float32)
    dense[rng.random(dense.shape) < 0.8] = 0.0
    y = (dense.sum(1) > 0).astype(np.int64)
    csr = sp.csr_matrix(dense)

    sparse_data = _data(csr, y)
    assert sparse_data.sparse is not None and sparse_data.X is None and len(sparse_data) == 80
    idx = torch.tensor([3, 0, 7])
    np.testing.assert_array_equal(sparse_data.features(idx).numpy(), dense[[3, 0, 7]])
    np.testing.assert_array_equal(sparse_data.features(slice(70, 90)).numpy(), dense[70:])

    cfg = dict(epochs=4, batch_size=16, early_stopping=False)
    a, ra = _fit(sparse_data, None, seed=1, **cfg)
    b, _ = _fit(_data(dense, y), None, seed=1, **cfg)
    assert ra.status == "completed"
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k])
    out = predict_outputs(a, TensorData(csr), batch_size=32)  # several sparse batches
    torch.testing.assert_close(out, predict_outputs(a, TensorData(dense)))


# -- task -----------------------------------------------------------------------------------
def test_task_scores():
    cls = Task("classification", 3)
    out = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0]])
    assert cls.score(out, torch.tensor([0, 1, 2, 1])) == pytest.approx(0.75)
    reg = Task("regression", 1)
    y = torch.tensor([[1.0], [2.0], [3.0]])
    assert reg.score(y, y) == pytest.approx(1.0)
    assert reg.score(torch.full_like(y, 2.0), y) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="task kind='ranking' is not one of"):
        Task("ranking", 1)


def test_prediction_passes_hold_a_bounded_number_of_input_values():
    """8,192 rows of 3x64x64 images at once grew a predict_proba of 2,000 images by 1,837
    MiB (review helper-46): wide rows are predicted in fewer rows per pass."""
    seen = []
    module = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 2))
    module.register_forward_hook(lambda mod, args, out: seen.append(len(args[0])))
    images = TensorData(np.zeros((1000, 3 * 64 * 64), dtype=np.float32))
    out = predict_outputs(module, images)
    assert out.shape == (1000, 2) and max(seen) == predict_rows(images) == 170
    seen.clear()
    predict_outputs(module, images, batch_size=600)  # a caller's own batch size stands
    assert seen == [600, 400]
    assert predict_rows(TensorData(np.zeros((10, 64), dtype=np.float32))) == 8192
    assert predict_rows(TensorData(sp.csr_matrix((10, 10**6), dtype=np.float32))) == 64


def test_free_memory_lets_go_of_what_a_failed_fit_held():
    """Out of memory in a trial: the cache was emptied inside the ``except``, where the
    traceback still held the trial's frames, its network and optimizer in them (review
    helper-56); ``free_memory(exc)`` clears the finished frames first."""
    import weakref

    from lepton.training import free_memory

    held = []

    def train_a_network():
        network = nn.Linear(4, 4)
        held.append(weakref.ref(network))
        raise torch.OutOfMemoryError("CUDA out of memory")

    try:
        train_a_network()
    except torch.OutOfMemoryError as exc:
        assert held[0]() is not None  # its frame, on the traceback, still holds it
        free_memory(exc)
        assert held[0]() is None


@pytest.mark.parametrize("capability, dtype", [((7, 5), torch.float16), ((8, 0), torch.bfloat16)])
def test_mixed_precision_takes_bfloat16_only_where_the_gpu_computes_in_it(capability, dtype,
                                                                          monkeypatch):
    """torch.cuda.is_bf16_supported() holds on a T4 (7.5) too, where bfloat16 is emulated:
    trials ran in it there, slower than float32 (review helper-56). float16 with a gradient
    scaler before Ampere (8.0), asked of the trial's own device."""
    from lepton.training import _amp_context

    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability",
                        lambda device=None: asked.append(device) or capability)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a GradScaler without CUDA says it is off
        autocast, scaler = _amp_context(torch.device("cuda", 1), "auto")
    assert asked == [torch.device("cuda", 1)]
    assert (scaler is not None) == (dtype == torch.float16)
    monkeypatch.setattr(torch, "autocast", lambda device_type, dtype: (device_type, dtype))
    assert autocast() == ("cuda", dtype)
    assert _amp_context(torch.device("cpu"), "auto") == (nullcontext, None)
