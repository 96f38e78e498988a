"""Dev probe: what the Ctrl-C check costs the training loop (stop 23).

``run_epoch`` asks ``interrupt.is_set()`` after every batch once a search or a refit
passes an event. This trains the same network on the same data with ``interrupt=None``
(no check) and with an unset ``threading.Event``, alternating, one thread, and reports the
median seconds of each and their ratio. Small batches of a small network are the worst
case: the most batches for the least work per batch.

    python benchmarks/dev/interrupt_check_overhead.py [reps]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

import numpy as np
import torch
from sklearn.datasets import make_classification

from lepton.models import LayerConfig, ModelConfig
from lepton.training import Task, TensorData, TrainingConfig, fit_model


def main(reps: int = 7) -> None:
    torch.set_num_threads(1)
    X, y = make_classification(n_samples=8000, n_features=20, n_informative=10,
                               random_state=0)
    data = TensorData(X.astype(np.float32), y, y_dtype=torch.long)
    model = ModelConfig(layers=(LayerConfig(width=32), LayerConfig(width=32)))
    config = TrainingConfig(epochs=5, batch_size=16, learning_rate=1e-3)
    task = Task("classification", 2)
    times: dict[str, list[float]] = {"none": [], "event": []}
    for _ in range(reps):
        for arm in ("none", "event"):
            event = threading.Event() if arm == "event" else None
            t = time.perf_counter()
            fit_model(model, data, None, task, config, seed=0, interrupt=event)
            times[arm].append(time.perf_counter() - t)
    none, event = statistics.median(times["none"]), statistics.median(times["event"])
    batches = 5 * len(range(0, 8000, 16))
    print(f"{batches} batches per fit, {reps} fits per arm: median {none:.3f} s without the "
          f"check, {event:.3f} s with it, ratio {event / none:.4f}; "
          f"event.is_set() alone: {_is_set_ns():.0f} ns")


def _is_set_ns(n: int = 1_000_000) -> float:
    event = threading.Event()
    t = time.perf_counter()
    for _ in range(n):
        event.is_set()
    return (time.perf_counter() - t) / n * 1e9


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
