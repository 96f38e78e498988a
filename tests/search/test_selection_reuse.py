"""The ensemble selection runs once for the same kept trials: the search's end asked for it
(whether the final model needs a refit) and the final model again, 0.03-0.3 s of the
budget's end each (review helper-85)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import lepton.search.estimators as est
from lepton import LeptonClassifier
from lepton.search.metrics import get_metric


def test_the_same_kept_trials_are_selected_from_once(monkeypatch):
    calls = []
    select = est.greedy_ensemble_selection

    def counted(*args, **kwargs):
        calls.append(1)
        return select(*args, **kwargs)

    monkeypatch.setattr(est, "greedy_ensemble_selection", counted)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)

    def trial(number, value):
        return SimpleNamespace(number=number, value=value, complete=True,
                               val_pred=rng.dirichlet(np.ones(3), 60))

    ctx = SimpleNamespace(models={0: trial(0, 0.6), 1: trial(1, 0.7)}, y_val=y, w_val=None,
                          metric=get_metric("accuracy", "classification"), selection_s=0.0,
                          last_selection=None)
    model = LeptonClassifier(ensemble_size=3)
    model._forward_splits = False
    first = model._select_ensemble(ctx)
    assert model._select_ensemble(ctx) is first and len(calls) == 1
    ctx.models[2] = trial(2, 0.65)  # a trial kept since: selected again
    third = model._select_ensemble(ctx)
    assert len(calls) == 2 and [c.number for c in third[0]] == [1, 2, 0]
