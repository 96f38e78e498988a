"""Files written into a search's parent run: study plots, learning curves, evaluation
plots, leaderboard and search space. Plain functions over a folder; no mlflow here.

Every writer returns the file names it produced and never raises for data it cannot
plot (too few trials, a single-valued parameter): it skips that plot and says why in
``skipped``. Figures are closed after saving so a notebook does not accumulate them.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_study_plots", "write_learning_curves", "write_holdout_plot",
           "write_tables"]


def _save(fig_or_ax: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    if isinstance(fig_or_ax, np.ndarray):  # optuna returns an array of Axes for some plots
        fig = fig_or_ax.ravel()[0].figure
    elif hasattr(fig_or_ax, "savefig"):
        fig = fig_or_ax
    else:
        fig = fig_or_ax.figure
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_study_plots(study: Any, folder: Path, skipped: dict[str, str], *,
                      no_room: Any = None) -> list[str]:
    """Optimization history, parameter importances and parallel coordinates (PNG, and
    interactive HTML when plotly is installed). ``no_room()``: why the next plot is left
    out (no time left, a stop signal), or None (those left out are in ``skipped``)."""
    import optuna
    from optuna.trial import TrialState

    folder.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    written: list[str] = []
    plots = {"optimization_history": "plot_optimization_history",
             "param_importances": "plot_param_importances",
             "parallel_coordinate": "plot_parallel_coordinate"}
    if not complete:
        skipped.update({k: "no complete trial" for k in plots})
        return written
    try:
        import plotly  # noqa: F401
        has_plotly = True
    except ImportError:
        has_plotly = False
    for name, fn in plots.items():
        why = no_room() if no_room is not None else None
        if why:
            skipped[name] = why
            continue
        if name == "param_importances":
            if len(complete) < 2:
                skipped[name] = f"needs >= 2 complete trials, got {len(complete)}"
                continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's ExperimentalWarning for matplotlib plots
            try:
                ax = getattr(optuna.visualization.matplotlib, fn)(study)
                _save(ax, folder / f"{name}.png")
                written.append(f"{name}.png")
            except Exception as exc:  # e.g. every parameter single-valued
                skipped[name] = f"{type(exc).__name__}: {exc}"
                continue
            if has_plotly:
                try:
                    fig = getattr(optuna.visualization, fn)(study)
                    fig.write_html(folder / f"{name}.html", include_plotlyjs="cdn")
                    written.append(f"{name}.html")
                except Exception as exc:
                    skipped[f"{name}.html"] = f"{type(exc).__name__}: {exc}"
    return written


def write_learning_curves(curves: Mapping[int, Sequence[Mapping[str, Any]]], values: Mapping[int, float],
                          folder: Path, *, metric: str) -> list[str]:
    """One PNG with loss and validation-score curves of the given trials (best first)
    and the epoch records as JSON."""
    import matplotlib.pyplot as plt

    if not curves:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4))
    for number, records in curves.items():
        epochs = [r.get("epoch") for r in records]
        label = f"trial {number} ({metric}={values.get(number, float('nan')):.4g})"
        line = None
        for key, style in (("train_loss", "--"), ("val_loss", "-")):
            ys = [_num(r.get(key)) for r in records]
            if any(not math.isnan(v) for v in ys):
                (line,) = ax_loss.plot(epochs, ys, style,
                                       color=None if line is None else line.get_color(),
                                       label=f"{label} {key}")
        ys = [_num(r.get("val_score")) for r in records]
        if any(not math.isnan(v) for v in ys):
            ax_score.plot(epochs, ys, color=None if line is None else line.get_color(), label=label)
    # with cross-validation the records are the first fold's (step = epoch, as logged)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="train (dashed) / validation loss")
    ax_score.set(xlabel="epoch", ylabel="val_score", title="validation score")
    ax_loss.legend(fontsize=7)
    ax_score.legend(fontsize=7)
    _save(fig, folder / "learning_curves.png")
    (folder / "learning_curves.json").write_text(
        json.dumps({str(k): list(v) for k, v in curves.items()}, default=_json_default, indent=1))
    return ["learning_curves.png", "learning_curves.json"]


def write_holdout_plot(y_true: Any, y_pred: Any, task: str, folder: Path,
                       skipped: dict[str, str]) -> list[str]:
    """Confusion matrix (classification; multilabel: each label's precision, recall and
    F1) or residuals vs prediction (regression)."""
    import matplotlib.pyplot as plt

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.size == 0 or len(y_true) != len(y_pred):
        skipped["holdout"] = (f"no usable validation predictions ({len(y_true)} targets, "
                              f"{len(y_pred)} predictions)")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    if task == "classification" and y_true.ndim == 2:  # multilabel: a 0/1 column per label
        from sklearn.metrics import precision_recall_fscore_support

        scores = precision_recall_fscore_support(y_true, y_pred, zero_division=0.0)[:3]
        labels = np.arange(y_true.shape[1])
        fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(labels)), 4))
        for k, (name, values) in enumerate(zip(("precision", "recall", "F1"), scores)):
            ax.bar(labels + (k - 1) * 0.27, values, width=0.27, label=name)
        ax.set(xlabel="label (column of y)", ylabel="score", ylim=(0, 1.05),
               title="each label on the validation data")
        ax.set_xticks(labels)
        ax.legend(fontsize=7)
        _save(fig, folder / "label_scores.png")
        return ["label_scores.png"]
    if task == "classification":
        from sklearn.metrics import ConfusionMatrixDisplay

        disp = ConfusionMatrixDisplay.from_predictions(y_true, y_pred, xticks_rotation="vertical",
                                                       colorbar=False)
        disp.ax_.set_title("confusion matrix (validation data)")
        _save(disp.figure_, folder / "confusion_matrix.png")
        return ["confusion_matrix.png"]
    y_true = y_true.reshape(len(y_true), -1).astype(float)
    y_pred = y_pred.reshape(len(y_pred), -1).astype(float)
    fig, ax = plt.subplots(figsize=(6, 4))
    for j in range(y_true.shape[1]):  # one colour per output
        ax.scatter(y_pred[:, j], y_true[:, j] - y_pred[:, j], s=8, alpha=0.6,
                   label=f"output {j}" if y_true.shape[1] > 1 else None)
    ax.axhline(0.0, color="black", lw=1)
    ax.set(xlabel="prediction", ylabel="residual (true - prediction)",
           title="residuals (validation data)")
    if y_true.shape[1] > 1:
        ax.legend(fontsize=7)
    _save(fig, folder / "residuals.png")
    return ["residuals.png"]


def write_tables(folder: Path, *, leaderboard: Any, search_space: Mapping | None,
                 meta_features: Mapping | None, settings: Mapping | None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if leaderboard is not None:
        leaderboard.to_csv(folder / "leaderboard.csv", index=False)
        written.append("leaderboard.csv")
    for name, obj in (("search_space", search_space), ("meta_features", meta_features),
                      ("settings", settings)):
        if obj is None:
            continue
        (folder / f"{name}.json").write_text(json.dumps(obj, indent=2, default=_json_default))
        written.append(f"{name}.json")
    if search_space is not None:
        import yaml

        plain = json.loads(json.dumps(search_space, default=_json_default))
        (folder / "search_space.yaml").write_text(yaml.safe_dump(plain, sort_keys=False))
        written.append("search_space.yaml")
    return written


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)
