"""Every warning Lepton gives is a lepton.LeptonWarning, of a kind a user can filter on
(review helper-83: most were plain UserWarnings and RuntimeWarnings, said at the user's
line, so neither a category nor a module filter could pick Lepton's out)."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lepton

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("LeptonWarning", "DataWarning", "SearchWarning", "TrainingWarning", "TrackingWarning",
         "LeftOutColumnsWarning", "LeptonVersionWarning")


def test_the_kinds_are_exported_and_are_lepton_warnings():
    for name in KINDS:
        assert issubclass(getattr(lepton, name), lepton.LeptonWarning), name
    # the runtime kinds stay RuntimeWarnings, as they were
    assert issubclass(lepton.TrackingWarning, RuntimeWarning)
    assert issubclass(lepton.TrainingWarning, RuntimeWarning)
    assert issubclass(lepton.BudgetTooSmall, ValueError)


def _calls(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "warn_at_caller" or (name == "warn" and isinstance(func, ast.Attribute)
                                            and getattr(func.value, "id", "") == "warnings"):
                yield name, node


def test_every_warning_lepton_gives_names_a_lepton_kind():
    """A static check of the package's source: a plain UserWarning added later fails."""
    plain = []
    for path in [*ROOT.joinpath("lepton").rglob("*.py"), *ROOT.joinpath("pipelines").glob("*.py")]:
        for name, call in _calls(path):
            given = call.args[1] if len(call.args) > 1 else next(
                (k.value for k in call.keywords if k.arg == "category"), None)
            if given is None and name == "warn_at_caller":
                continue  # its default is LeptonWarning
            if not (isinstance(given, ast.Name) and given.id in KINDS + ("category",)):
                plain.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert plain == []


def test_a_kind_is_silenced_or_raised_on_its_own(tmp_path):
    X = pd.DataFrame({"a": np.r_[np.zeros(40), np.ones(40)], "c": ["x", "y"] * 40})
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    model = lepton.NeuralNetworkClassifier(epochs=2, random_state=0).fit(X, y)
    def unseen(value):  # (a model says each unseen value once)
        return pd.DataFrame({"a": [0.0, 1.0], "c": ["x", value]})

    with pytest.warns(lepton.DataWarning, match="values the model was not trained on"):
        model.predict(unseen("new"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", lepton.DataWarning)
        model.predict(unseen("newer"))  # silenced by its kind alone
    with warnings.catch_warnings():
        warnings.simplefilter("error", lepton.LeptonWarning)
        with pytest.raises(lepton.DataWarning):
            model.predict(unseen("newest"))
