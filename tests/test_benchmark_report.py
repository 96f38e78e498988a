"""The search benchmark's report statistics (benchmarks/search_benchmark.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "search_benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("search_benchmark", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_record_counts_only_common_seeds(bench):
    a = {0: 0.9, 1: 0.8, 2: 0.7, 3: 0.5}
    b = {0: 0.8, 1: 0.8, 2: 0.9, 9: 0.0}
    w, t, lo, p = bench.paired_record(a, b)
    assert (w, t, lo) == (1, 1, 1)
    assert p == pytest.approx(1.0)


def test_paired_record_sign_test(bench):
    # 9 wins and 1 loss: two-sided exact binomial p = 2 * 11 / 1024
    a = {s: 1.0 for s in range(10)}
    b = {s: 0.0 if s else 2.0 for s in range(10)}
    assert bench.paired_record(a, b) == (9, 0, 1, pytest.approx(22 / 1024))
    # the benchmark's breast_cancer 120 s vs MLP defaults, stop 15: 2-3-5
    a = dict(enumerate([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]))
    b = dict(enumerate([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]))
    assert bench.paired_record(a, b)[3] == pytest.approx(0.453125)


def test_paired_record_all_ties(bench):
    assert bench.paired_record({0: 1.0, 1: 0.5}, {0: 1.0, 1: 0.5}) == (0, 2, 0, 1.0)


def test_median_outcome_is_the_median_dataset(bench):
    # stop 16's target 3 at 120 s: digits, wine, diabetes win, breast_cancer ties,
    # california_synthetic loses: the median dataset is a win
    assert bench.median_outcome(["win", "tie", "win", "win", "loss"]) == "win"
    assert bench.median_outcome(["win", "loss", "loss", "tie", "loss"]) == "loss"
    assert bench.median_outcome(["win", "tie", "loss"]) == "tie"
    assert bench.median_outcome(["win", "loss"]) == "tie"  # the two middle ones disagree
    assert bench.median_outcome(["win", "win", "tie", "loss"]) == "win"  # median 0.5
    assert bench.median_outcome([]) == "n/a"
