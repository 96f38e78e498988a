"""Dev probe: the fixed per-batch costs of the training loop (the learning-rate schedule's
step and the gradient clipping) on small tables, in two versions of lepton/training.py.

For iris-sized (135 x 4, batch 16), wine-sized (160 x 13, batch 32) and a mid-size table
(5,000 x 20, batch 256), it times whole ``train`` runs (no validation, no early stopping)
for each lr_schedule ('constant', 'cosine', 'onecycle') with and without gradient_clip,
alternating the two versions each repetition, and reports the median seconds per epoch of
each and their ratio. Separately it times one schedule step and one ``clip_grad_norm``
call on the network's real gradients (medians of repeated loops), and reports them in
microseconds and as a share of a plain epoch (constant schedule, no clipping). Finally it
checks that both versions train to bit-identical losses, learning rates and weights.
One torch thread.

    cp lepton/training.py /tmp/before/training.py   # (from the tree to compare against)
    python benchmarks/dev/per_batch_cost.py /tmp/before/training.py [reps]

Without a path, only this tree's version is timed.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
import warnings

import numpy as np
import torch

from lepton import training as after
from lepton.models import build_model

warnings.simplefilter("ignore")  # torch's "scheduler.step() before optimizer.step()"

CASES = {  # name: rows, features, classes, batch size, hidden widths, epochs per run
    "iris": (135, 4, 3, 16, (32, 32), 20),
    "wine": (160, 13, 3, 32, (64, 64), 20),
    "mid": (5000, 20, 2, 256, (256, 256), 3),
}
SCHEDULES = ("constant", "cosine", "onecycle")


def _load(path: str):
    spec = importlib.util.spec_from_file_location("lepton._training_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _data(tr, case: str):
    n, d, k, *_ = CASES[case]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, :k] @ rng.normal(size=(k, k))).argmax(1)
    return tr.TensorData(X, y, y_dtype=torch.long), tr.Task("classification", k)


def _net(case: str, seed: int = 0):
    _, d, k, _, widths, _ = CASES[case]
    torch.manual_seed(seed)
    return build_model({"layers": [{"width": w} for w in widths]}, d, k)


def _train(tr, case: str, schedule: str, clip: float | None, seed: int = 0):
    data, task = _data(tr, case)
    *_, batch, _, epochs = CASES[case]
    module = _net(case, seed)
    config = tr.TrainingConfig(epochs=epochs, batch_size=batch, lr_schedule=schedule,
                               gradient_clip=clip, early_stopping=False)
    t0 = time.perf_counter()
    result = tr.train(module, data, None, task, config,
                      generator=torch.Generator().manual_seed(seed))
    return (time.perf_counter() - t0) / epochs, result, module


def _loop_us(fn, n: int, reps: int = 7) -> float:
    """Median microseconds per call of ``fn`` over ``reps`` loops of ``n`` calls."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def _step_us(tr, case: str, schedule: str) -> float:
    module = _net(case)
    config = tr.TrainingConfig(lr_schedule=schedule, epochs=10**6)  # never runs out
    optimizer = tr.make_optimizer(module.parameters(), config)
    scheduler, _ = tr._make_scheduler(optimizer, config, 10)
    return _loop_us(scheduler.step, 5000)


def _clip_us(tr, case: str) -> float:
    data, task = _data(tr, case)
    batch = CASES[case][3]
    module = _net(case)
    task.loss_fn(module(data.X[:batch]), data.y[:batch]).backward()
    params = list(module.parameters())
    return _loop_us(lambda: tr.clip_grad_norm(params, 1e9), 2000)  # 1e9: grads unchanged


def main() -> None:
    torch.set_num_threads(1)
    versions = {"after": after}
    if len(sys.argv) > 1:
        versions = {"before": _load(sys.argv[1]), "after": after}
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    for case, (n, d, _, batch, widths, epochs) in CASES.items():
        steps = len(after._batch_bounds(int(n), batch))
        print(f"\n{case}: {n} x {d}, batch {batch} ({steps} batches/epoch), MLP {widths}, "
              f"{epochs} epochs/run, {reps} reps")
        epoch_s: dict[tuple, list[float]] = {}
        for rep in range(reps):
            order = list(versions.items())
            if rep % 2:
                order.reverse()
            for schedule in SCHEDULES:
                for clip in (None, 1.0):
                    for name, tr in order:
                        s, _, _ = _train(tr, case, schedule, clip)
                        epoch_s.setdefault((name, schedule, clip), []).append(s)
        plain = {name: statistics.median(epoch_s[(name, "constant", None)])
                 for name in versions}
        for schedule in SCHEDULES:
            for clip in (None, 1.0):
                cells = []
                for name in versions:
                    med = statistics.median(epoch_s[(name, schedule, clip)])
                    cells.append(f"{name} {med * 1e3:7.3f} ms/epoch")
                if len(versions) == 2:
                    ratio = (statistics.median(epoch_s[("after", schedule, clip)])
                             / statistics.median(epoch_s[("before", schedule, clip)]))
                    cells.append(f"after/before {ratio:.3f}")
                print(f"  {schedule:9s} clip={str(clip):4s}  " + "  ".join(cells))
        for name, tr in versions.items():
            parts = []
            for schedule in ("cosine", "onecycle"):
                us = _step_us(tr, case, schedule)
                parts.append(f"{schedule} step {us:5.2f} us "
                             f"({us * steps / (plain[name] * 1e6):.1%} of a plain epoch)")
            us = _clip_us(tr, case)
            parts.append(f"clip {us:5.2f} us ({us * steps / (plain[name] * 1e6):.1%})")
            print(f"  per batch, {name}: " + "; ".join(parts))
    if len(versions) == 2:
        print("\nbit-identical training (losses, lr per epoch, weights), before vs after:")
        for case in CASES:
            for schedule in SCHEDULES + ("plateau",):
                for clip in (None, 1.0):
                    runs = [_train(tr, case, schedule, clip, seed=3)
                            for tr in versions.values()]
                    (_, r0, m0), (_, r1, m1) = runs
                    keys = ("train_loss", "lr")
                    same = ([[h[k] for k in keys] for h in r0.history]
                            == [[h[k] for k in keys] for h in r1.history])
                    s0, s1 = m0.state_dict(), m1.state_dict()
                    same = same and all(torch.equal(s0[k], s1[k]) for k in s0)
                    print(f"  {case:4s} {schedule:9s} clip={str(clip):4s} "
                          f"{'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
