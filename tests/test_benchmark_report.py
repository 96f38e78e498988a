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


def _row(method, dataset, budget, seed, score, **extra):
    return {"key": f"{method}|{dataset}|{budget}|{seed}", "method": method, "dataset": dataset,
            "budget": budget, "seed": seed, "status": "ok", "score": score,
            "metric": "accuracy", "fit_wall": 1.0, "started": "2026-11-29T12:00:00",
            "finished": "2026-11-29T12:00:01", **extra}


def _write(path, rows):
    import json
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_report_leaves_out_seed_offset_replicates(bench, tmp_path):
    """Rows run with --lepton-seed-offset are A/A replicates: the table never mixes them in."""
    import argparse
    lepton = dict(fit_time_inside=1.0, best_score=0.9, final_choice="refit", n_trials=3,
                  overrun=0.5)
    rows = [_row("lepton", "wine", 30, s, 0.9, random_state=s, **lepton) for s in range(3)]
    rows += [_row("lepton", "wine", 30, s, 0.1, random_state=s + 1000, **lepton)
             for s in range(3)]  # the replicate's rows come last: they would win the key
    rows += [_row("mlp", "wine", None, s, 0.5) for s in range(3)]
    out = _write(tmp_path / "rows.jsonl", rows)
    args = argparse.Namespace(out=str(out), datasets=["wine"], budgets=[30], note=None,
                              report_out=str(tmp_path / "report.md"))
    text = bench.report(args)
    assert "| wine | accuracy | 30 s | **0.9000** |" in text
    assert "0.1000" not in text


@pytest.fixture(scope="module")
def replicates(bench):
    import sys
    sys.path.insert(0, str(_PATH.parent))
    spec = importlib.util.spec_from_file_location("replicates", _PATH.parent / "replicates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replicates_flag_targets_that_flip_with_the_search_seed(replicates, tmp_path):
    mlp = [_row("mlp", "wine", None, s, 0.95) for s in range(3)]
    realmlp = [_row("realmlp", "wine", None, s, 0.97) for s in range(3)]
    base = _write(tmp_path / "main.jsonl", mlp + realmlp)
    a = _write(tmp_path / "a.jsonl",
               [_row("lepton", "wine", 30, s, x) for s, x in enumerate([0.96, 0.96, 0.90])]
               + [_row("lepton", "wine", 120, s, x) for s, x in enumerate([0.98, 0.98, 0.90])])
    b = _write(tmp_path / "b.jsonl",
               [_row("lepton", "wine", 30, s, x) for s, x in enumerate([0.96, 0.99, 0.99])]
               + [_row("lepton", "wine", 120, s, x) for s, x in enumerate([0.94, 0.97, 0.99])])
    out = tmp_path / "cmp.md"
    assert replicates.main([f"A={a}", f"B={b}", "--baseline", str(base), "--out", str(out)]) == 0
    text = out.read_text()
    # medians: A 0.96 (30 s) / 0.98 (120 s); B 0.99 / 0.97; pooled (six each) 0.96 / 0.975
    assert "| wine | 30 s | 0.9600 | 0.9900 | 2-1-0 (p=0.5) | 0.9600 | 0.9500 | 0.9700 |" in text
    assert "| wine | 120 s | 0.9800 | 0.9700 | 1-0-2 (p=1) | 0.9750 | 0.9500 | 0.9700 |" in text
    # beats the MLP in both; RealMLP-TD: A wins, B ties; 120 vs 30 s: A ok, B lower
    assert "All cells, seed by seed, B vs A: 3-1-2 (wins-ties-losses)." in text
    assert "(target 2): wine 120 s | win | win | yes |" in text
    assert "(target 3): wine 120 s | win | tie | **no** |" in text
    assert "(target 4): wine | ok | lower | **no** |" in text
    assert "Cells whose outcome differs between replicates: 2." in text


def test_replicates_reject_a_missing_file(replicates, tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        replicates.main([f"A={tmp_path / 'nope.jsonl'}"])
