"""Dev probe: the peak memory and time of ``TabularPreprocessor`` fit_transform and
transform on all-number tables, in two versions of lepton/preprocessing.py (review
helper-92: the scalers' transforms made float64 temporaries of the whole table, 2.5x the
float32 output; they now work in row blocks of ``TRANSFORM_BLOCK_BYTES``).

Each case (version, rows, dtype, missing, repetition) runs in a fresh child process: it
builds a table of ``rows`` x 50 (normal columns of various scales; with ``missing``, 1%
missing in 5 columns, so that the imputer fills them and adds its indicators), then
measures fit_transform on it and transform on a second table of the same shape: the peak
resident memory above what was resident before the call (Linux's VmHWM, reset through
/proc/self/clear_refs), the tracemalloc peak (numpy's buffers, exact), and the seconds.
Versions alternate within each repetition; medians are reported.

    cp lepton/preprocessing.py /tmp/before/preprocessing.py   # (the tree to compare with)
    python benchmarks/dev/preprocessing_memory.py /tmp/before/preprocessing.py [reps]

Without a path, only this tree's version is measured.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np

SIZES = (500_000, 1_000_000)
DTYPES = ("float64", "float32")
COLUMNS = 50


def _load(path: str | None):
    if path is None:
        from lepton import preprocessing
        return preprocessing
    spec = importlib.util.spec_from_file_location("lepton._preprocessing_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _table(rows: int, dtype: str, missing: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.empty((rows, COLUMNS), dtype=dtype)
    for j in range(COLUMNS):  # a column at a time: no float64 temporary of the whole table
        X[:, j] = rng.normal(size=rows) * 10.0 ** (j % 5 - 2) + j
    for j in range(0, COLUMNS, 10) if missing else ():
        X[rng.random(rows) < 0.01, j] = np.nan
    return X


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _measure(call) -> tuple[float, int, int, object]:
    """Seconds, peak RSS above the RSS before, tracemalloc peak (a second run)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = _status("VmRSS")
    start = time.perf_counter()
    out = call()
    seconds = time.perf_counter() - start
    rss = _status("VmHWM") - before
    del out
    tracemalloc.start()
    out = call()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, rss, traced, out


def child(path: str | None, rows: int, dtype: str, missing: bool, seed: int) -> dict:
    P = _load(path)
    X, X2 = _table(rows, dtype, missing, seed), _table(rows, dtype, missing, seed + 1)
    pre = P.TabularPreprocessor()
    fit_s, fit_rss, fit_traced, Xt = _measure(lambda: pre.fit_transform(X))
    out_mb = Xt.nbytes / 1e6
    del Xt
    tr_s, tr_rss, tr_traced, _ = _measure(lambda: pre.transform(X2))
    return {"fit_s": fit_s, "fit_rss": fit_rss / 1e6, "fit_traced": fit_traced / 1e6,
            "transform_s": tr_s, "transform_rss": tr_rss / 1e6,
            "transform_traced": tr_traced / 1e6, "data_mb": X.nbytes / 1e6,
            "out_mb": out_mb}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        path = None if sys.argv[2] == "-" else sys.argv[2]
        print(json.dumps(child(path, int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1",
                               int(sys.argv[6]))))
        return
    before = sys.argv[1] if len(sys.argv) > 1 else None
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    versions = {"after": "-"} | ({"before": before} if before else {})
    keys = ("fit_s", "fit_rss", "fit_traced", "transform_s", "transform_rss",
            "transform_traced")
    print(f"{'case':<26}" + "".join(f"{k:>17}" for k in keys))
    for rows, dtype, missing in itertools.product(SIZES, DTYPES, (False, True)):
        runs: dict[str, list[dict]] = {v: [] for v in versions}
        for rep in range(reps):
            for v in list(versions) if rep % 2 == 0 else list(versions)[::-1]:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", versions[v], str(rows), dtype,
                     str(int(missing)), str(rep)], capture_output=True, text=True, check=True)
                runs[v].append(json.loads(out.stdout.splitlines()[-1]))
        first = runs["after"][0]
        print(f"{rows:,} x {COLUMNS} {dtype}{', 1% missing' if missing else ''}: data "
              f"{first['data_mb']:.0f} MB, output {first['out_mb']:.0f} MB "
              "(MB above what was resident before; seconds)")
        for v, rs in runs.items():
            med = [statistics.median(r[k] for r in rs) for k in keys]
            print(f"  {v:<24}" + "".join(f"{m:>17.2f}" for m in med))


if __name__ == "__main__":
    main()
