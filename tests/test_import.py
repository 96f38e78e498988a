"""``import lepton`` stays light: the optional integrations load only where used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("mlflow", "prefect")


def test_import_lepton_does_not_import_mlflow_or_prefect():
    code = ("import json, sys; import lepton, lepton.estimators, lepton.models, "
            "lepton.preprocessing, lepton.training, lepton.datasets, lepton.cli, lepton.steps; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_check_would_see_them():
    # guard against a vacuous pass: the same probe reports a module that was imported
    code = "import json, sys, email; print(json.dumps('email' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout) is True


def _modules_after(code: str) -> list[str]:
    probe = (f"import json, sys; {code}; "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_command_parses_its_arguments_without_torch():
    # `lepton --help` and a mistyped option answer at once: the estimators (torch,
    # scikit-learn, optuna: seconds of imports) load on first use, not with the package
    loaded = _modules_after("import lepton, lepton.cli; "
                            "lepton.cli.build_parser().parse_args(['run', 'digits'])")
    assert not {"torch", "sklearn", "optuna"} & set(loaded)


def test_the_estimators_are_importable_from_the_package():
    import lepton

    from lepton.estimators import NeuralNetwork
    from lepton.search import LeptonClassifier

    assert lepton.LeptonClassifier is LeptonClassifier
    assert lepton.NeuralNetwork is NeuralNetwork
    assert set(lepton.__all__) <= set(dir(lepton))
    assert "torch" in _modules_after("from lepton import LeptonRegressor")
    with pytest.raises(AttributeError, match="no attribute 'LeptonClasifier'"):
        lepton.LeptonClasifier  # noqa: B018 (a typo)


def test_the_package_version_is_the_installed_distributions():
    # models record lepton.__version__ when pickled (a later version's model warns on
    # load): it must be the version pip installed
    from importlib import metadata

    import lepton

    assert lepton.__version__ == metadata.version("lepton-automl")
