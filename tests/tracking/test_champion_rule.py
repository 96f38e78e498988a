"""The champion alias moves only on a strictly better score, in the metric's direction.
Every champion test used accuracy: a worse model taking the alias under a metric where
lower is better, and a tie moving it, survived (mutation review helper-82)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("mlflow")

from lepton.tracking._mlflow import TAG_METRIC, TAG_SCORE, MLflowTracker  # noqa: E402


@pytest.mark.parametrize("direction, old, score, promoted", [
    ("maximize", 0.9, 0.9, False), ("maximize", 0.9, 0.91, True),
    ("maximize", 0.9, 0.89, False), ("minimize", 0.3, 0.3, False),
    ("minimize", 0.3, 0.29, True), ("minimize", 0.3, 0.31, False)])
def test_the_alias_moves_only_on_a_strictly_better_score(direction, old, score, promoted):
    champion = SimpleNamespace(version="1", tags={TAG_SCORE: str(old), TAG_METRIC: "m"})
    better, why = MLflowTracker._versus(None, "nn", champion, score, "m", direction,
                                        outdated=None)
    assert better is promoted, why
    assert why.startswith("promoted" if promoted else "not promoted")
