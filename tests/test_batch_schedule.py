"""The per-batch learning-rate schedules and the gradient clipping of lepton.training, against
what they replace: torch's LambdaLR (cosine with warmup) and OneCycleLR, and torch's
clip_grad_norm_. Same values at every step, to the bit, and the same training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lepton import training
from lepton.training import (
    Task,
    TensorData,
    TrainingConfig,
    _make_scheduler,
    clip_grad_norm,
    fit_model,
    make_optimizer,
)


def _torch_scheduler(optimizer, config: TrainingConfig, steps: int):
    """What ``_make_scheduler`` returned before the per-batch setters (torch's schedulers)."""
    total = max(1, steps * config.epochs)
    if config.lr_schedule == "cosine":
        warmup = int(config.warmup_fraction * total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True
    if config.lr_schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.learning_rate, total_steps=total + 1), True
    return _make_scheduler(optimizer, config, steps)


def _optimizer(config: TrainingConfig, groups: int = 1):
    torch.manual_seed(0)
    layers = [nn.Linear(3, 3) for _ in range(groups)]
    if groups == 1:
        return make_optimizer(layers[0].parameters(), config)
    return make_optimizer([{"params": layer.parameters()} for layer in layers], config)


CONFIGS = [
    dict(lr_schedule=schedule, epochs=epochs, warmup_fraction=warmup, learning_rate=lr,
         betas=betas)
    for schedule in ("cosine", "onecycle")
    for epochs, warmup, lr, betas in [(1, 0.0, 1e-3, (0.9, 0.999)), (3, 0.05, 3e-3, (0.8, 0.99)),
                                      (20, 0.25, 1e-2, (0.9, 0.999)), (7, 1.0, 0.1, (0.5, 0.9)),
                                      (100, 0.05, 1e-3, (0.9, 0.999))]
]


@pytest.mark.parametrize("steps", [1, 2, 7, 10, 33])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['lr_schedule']}-{c['epochs']}")
@pytest.mark.parametrize("groups", [1, 2])
def test_the_lr_and_betas_of_every_step_are_torch_schedulers_own(config, steps, groups):
    config = TrainingConfig(**config)
    ours, theirs = _optimizer(config, groups), _optimizer(config, groups)
    scheduler, per_batch = _make_scheduler(ours, config, steps)
    reference, _ = _torch_scheduler(theirs, config, steps)
    assert per_batch
    for step in range(steps * config.epochs + 1):  # the state as made, then after each batch
        if step:
            theirs.step()  # torch's schedulers expect the optimizer to have stepped
            scheduler.step()
            reference.step()
        for mine, torchs in zip(ours.param_groups, theirs.param_groups, strict=True):
            assert abs(mine["lr"] - torchs["lr"]) <= 1e-12
            assert mine["lr"] == torchs["lr"]  # in fact the same float
            assert mine["betas"] == torchs["betas"]
    # the keys torch's schedulers leave in the groups are all there, with its values
    for mine, torchs in zip(ours.param_groups, theirs.param_groups, strict=True):
        assert {k: v for k, v in mine.items() if k != "params"} == {
            k: v for k, v in torchs.items() if k != "params"}


def test_constant_and_plateau_schedules_are_unchanged():
    config = TrainingConfig(lr_schedule="constant")
    assert _make_scheduler(_optimizer(config), config, 5) == (None, False)
    config = TrainingConfig(lr_schedule="plateau")
    scheduler, per_batch = _make_scheduler(_optimizer(config), config, 5)
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and not per_batch


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
@pytest.mark.parametrize("clip", [None, 1.0, 0.05])
def test_training_is_bit_identical_to_training_with_torch_schedulers(monkeypatch, schedule,
                                                                     clip):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(135, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    data, task = TensorData(X, y, y_dtype=torch.long), Task("classification", 3)
    config = TrainingConfig(epochs=6, batch_size=16, learning_rate=1e-2, lr_schedule=schedule,
                            gradient_clip=clip, early_stopping=False, warmup_fraction=0.2)
    model = {"layers": [{"width": 32}, {"width": 32}]}
    runs = []
    for make in (_make_scheduler, _torch_scheduler):
        monkeypatch.setattr(training, "_make_scheduler", make)
        module, result = fit_model(model, data, None, task, config, seed=3)
        runs.append((module.state_dict(), [(r["train_loss"], r["lr"]) for r in result.history]))
    (ours, our_history), (theirs, their_history) = runs
    assert our_history == their_history
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def _bits(tensors):
    return [t.view(torch.int32 if t.dtype == torch.float32 else torch.int16) for t in tensors]


def test_clipping_is_torchs_to_the_bit_around_the_threshold():
    """20,000 draws of three gradients scaled to a norm of max_norm times 0.5-2, or within
    1e-4 of max_norm, or exactly it: the same bits as torch's ``clip_grad_norm_``."""
    gen = torch.Generator().manual_seed(0)
    for i in range(20_000):
        max_norm = [1.0, 0.5, 3.7][i % 3]
        grads = [torch.randn(shape, generator=gen) for shape in ((4, 3), (3,), (2, 4))]
        norm = float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])))
        kind = i % 4
        u = float(torch.rand((), generator=gen))
        ratio = (0.5 + 1.5 * u if kind == 0 else 1 + (u - 0.5) * 2e-4 if kind == 1
                 else 1 + (u - 0.5) * 4e-5 if kind == 2 else 1.0)
        grads = [g * (max_norm * ratio / norm) for g in grads]
        ours = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        theirs = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for a, b, g in zip(ours, theirs, grads, strict=True):
            a.grad, b.grad = g.clone(), g.clone()
        clip_grad_norm(ours, max_norm)
        nn.utils.clip_grad_norm_(theirs, max_norm)
        for a, b in zip(_bits([p.grad for p in ours]), _bits([p.grad for p in theirs]),
                        strict=True):
            assert torch.equal(a, b), (i, ratio)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("scale", [0.0, 1e-3, 0.999, 1e30, math.inf, math.nan])
def test_clipping_of_zero_tiny_huge_and_non_finite_norms_is_torchs(dtype, scale):
    grads = [torch.full((3, 2), 0.5, dtype=dtype) * scale, torch.ones(2, dtype=dtype)]
    ours = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    theirs = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for a, b, g in zip(ours, theirs, grads, strict=True):
        a.grad, b.grad = g.clone(), g.clone()
    clip_grad_norm(ours, 1.0)
    nn.utils.clip_grad_norm_(theirs, 1.0)
    for a, b in zip(_bits([p.grad for p in ours]), _bits([p.grad for p in theirs]),
                    strict=True):
        assert torch.equal(a, b)
