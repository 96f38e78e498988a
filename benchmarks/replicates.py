"""A/A replicates of the search benchmark: the same code on the same splits, Lepton's own
``random_state`` changed (``search_benchmark.py --lepton-seed-offset``). How far do the
medians, and the targets' verdicts, move with the search's randomness alone?

    python benchmarks/replicates.py A=rows_a.jsonl[,more.jsonl] B=rows_b.jsonl [--out FILE.md]

Each replicate is one or more JSONL files of Lepton rows (``search_benchmark.py --out``).
The MLP and RealMLP-TD rows come from the main results file (``--baseline``); they are
seeded by the split and do not change between replicates. Prints (and with ``--out``
writes) Markdown: per dataset and budget, each replicate's median, the second replicate
against the first seed by seed, and the pooled median; then each replicate's reading of
the targets (beat the MLP defaults; beat RealMLP-TD at the longest budget; the longest
budget no worse than the shortest).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_benchmark import (  # noqa: E402
    DATASETS, DEFAULT_OUT, outcome, paired_record, read_results,
)


def lepton_scores(paths: list[Path]) -> dict[tuple[str, int], dict[int, float]]:
    """(dataset, budget) -> {seed: score} of the ok Lepton rows (the last row of a key wins)."""
    out: dict[tuple[str, int], dict[int, float]] = {}
    for path in paths:
        if not path.exists():
            raise SystemExit(f"replicate file {path} does not exist")
        for r in read_results(path):
            if r.get("method") == "lepton" and r.get("status") == "ok":
                out.setdefault((r["dataset"], r["budget"]), {})[r["seed"]] = r["score"]
    return out


def baseline_scores(path: Path, method: str) -> dict[str, dict[int, float]]:
    """dataset -> {seed: score} of an unbudgeted method's ok rows in the main results."""
    out: dict[str, dict[int, float]] = {}
    for r in read_results(path):
        if r.get("method") == method and r.get("status") == "ok":
            out.setdefault(r["dataset"], {})[r["seed"]] = r["score"]
    return out


def _med(scores: dict[int, float] | list[float]) -> float:
    values = list(scores.values()) if isinstance(scores, dict) else scores
    return statistics.median(values) if values else float("nan")


def _record(a: dict[int, float], b: dict[int, float]) -> str:
    w, t, lo, p = paired_record(a, b)
    return f"{w}-{t}-{lo} (p={p:.2g})"


def target_readings(rep: dict[tuple[str, int], dict[int, float]],
                    mlp: dict[str, dict[int, float]], realmlp: dict[str, dict[int, float]],
                    datasets: list[str], budgets: list[int]) -> dict[str, dict[str, str]]:
    """target -> {cell: outcome} for one replicate: 'mlp' (each dataset and budget),
    'realmlp' (each dataset at the longest budget), 'longer' (longest vs shortest)."""
    big, small = max(budgets), min(budgets)
    out: dict[str, dict[str, str]] = {"mlp": {}, "realmlp": {}, "longer": {}}
    for d in datasets:
        for b in budgets:
            if rep.get((d, b)) and mlp.get(d):
                out["mlp"][f"{d} {b} s"] = outcome(_med(rep[(d, b)]), _med(mlp[d]))
        if rep.get((d, big)) and realmlp.get(d):
            out["realmlp"][f"{d} {big} s"] = outcome(_med(rep[(d, big)]), _med(realmlp[d]))
        if rep.get((d, big)) and rep.get((d, small)):
            higher = _med(rep[(d, big)]) >= _med(rep[(d, small)])
            out["longer"][d] = "ok" if higher else "lower"
    return out


def compare(replicates: dict[str, dict[tuple[str, int], dict[int, float]]],
            mlp: dict[str, dict[int, float]], realmlp: dict[str, dict[int, float]]) -> str:
    names = list(replicates)
    first = replicates[names[0]]
    cells = sorted({c for rep in replicates.values() for c in rep},
                   key=lambda c: (DATASETS.index(c[0]) if c[0] in DATASETS else 99, c[1]))
    datasets = list(dict.fromkeys(d for d, _ in cells))
    budgets = sorted({b for _, b in cells})
    lines = ["| dataset | budget | " + " | ".join(f"median {n}" for n in names)
             + "".join(f" | {n} vs {names[0]} (seeds W-T-L)" for n in names[1:])
             + " | pooled median | MLP | RealMLP-TD |",
             "|---|---|" + "---|" * (2 * len(names) - 1) + "---|---|---|"]
    for d, b in cells:
        reps = [replicates[n].get((d, b), {}) for n in names]
        pooled = [s for rep in reps for s in rep.values()]
        lines.append(
            f"| {d} | {b} s | " + " | ".join(f"{_med(r):.4f}" if r else "-" for r in reps)
            + "".join(f" | {_record(r, reps[0])}" if r and reps[0] else " | -" for r in reps[1:])
            + f" | {_med(pooled):.4f} | {_med(mlp.get(d, {})):.4f} "
            f"| {_med(realmlp.get(d, {})):.4f} |")
    for n in names[1:]:
        totals = [0, 0, 0]
        for d, b in cells:
            record = paired_record(replicates[n].get((d, b), {}), first.get((d, b), {}))
            totals = [t + x for t, x in zip(totals, record[:3])]
        lines += ["", f"All cells, seed by seed, {n} vs {names[0]}: "
                  f"{totals[0]}-{totals[1]}-{totals[2]} (wins-ties-losses)."]
    readings = {n: target_readings(replicates[n], mlp, realmlp, datasets, budgets)
                for n in names}
    titles = {"mlp": "Lepton vs MLP defaults (target 2)",
              "realmlp": f"Lepton vs RealMLP-TD at {max(budgets)} s (target 3)",
              "longer": f"Lepton at {max(budgets)} s vs {min(budgets)} s (target 4)"}
    lines += ["", "| target, cell | " + " | ".join(names) + " | same in every replicate |",
              "|---|" + "---|" * (len(names) + 1)]
    flips = 0
    for key, title in titles.items():
        cells_ = list(dict.fromkeys(c for n in names for c in readings[n][key]))
        for c in cells_:
            got = [readings[n][key].get(c, "-") for n in names]
            same = len(set(got)) == 1
            flips += not same
            lines.append(f"| {title}: {c} | " + " | ".join(got)
                         + f" | {'yes' if same else '**no**'} |")
    lines += ["", f"Cells whose outcome differs between replicates: {flips}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("replicates", nargs="+", metavar="NAME=FILE[,FILE]",
                   help="a replicate's name and its Lepton rows (first one: the reference)")
    p.add_argument("--baseline", type=Path, default=DEFAULT_OUT,
                   help="results file with the MLP and RealMLP-TD rows")
    p.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = p.parse_args(argv)
    replicates = {}
    for spec in args.replicates:
        name, sep, files = spec.partition("=")
        if not sep or not files:
            p.error(f"replicate {spec!r}: expected NAME=FILE[,FILE]")
        replicates[name] = lepton_scores([Path(f) for f in files.split(",")])
    text = compare(replicates, baseline_scores(args.baseline, "mlp"),
                   baseline_scores(args.baseline, "realmlp"))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
