"""The memory running out while a fit prepares all rows (review helper-91: a 500,000 x 50
table under a memory limit ended in numpy's traceback from inside the preprocessing, once
after its search had finished a trial). Out of memory is raised as numpy raises it."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_iris

from lepton import LeptonClassifier
from lepton._warn import SearchWarning
from lepton.preprocessing import TabularPreprocessor


def _runs_out_on(n_rows: int, monkeypatch) -> None:
    """TabularPreprocessor.fit_transform raises numpy's MemoryError on ``n_rows`` rows."""
    fit_transform = TabularPreprocessor.fit_transform

    def fit_transform_or_run_out(self, X, y=None, **kwargs):
        if len(X) == n_rows:
            raise MemoryError(f"Unable to allocate 4.69 KiB for an array with shape "
                              f"({n_rows}, 4) and data type float64")  # numpy's words
        return fit_transform(self, X, y, **kwargs)

    monkeypatch.setattr(TabularPreprocessor, "fit_transform", fit_transform_or_run_out)


def test_a_refit_that_runs_out_of_memory_leaves_the_best_trials_networks(monkeypatch):
    X, y = load_iris(return_X_y=True)
    _runs_out_on(len(X), monkeypatch)  # every row: the refit's preparation, not the folds'
    with pytest.warns(SearchWarning, match=r"the final refit failed \(out of memory: Unable "
                                           r"to allocate .*\); the final model is the best "
                                           r"trial's own networks"):
        model = LeptonClassifier(time_budget=6, n_trials=2, ensemble_size=1, cv=None,
                                 random_state=0, verbose=0).fit(X, y)
    assert model.final_choice_ == "best_trial"
    assert model.final_model_info_["refit"]["status"].startswith("failed: out of memory")
    assert model.score(X, y) > 0.5


def test_folds_that_run_out_of_memory_say_the_datas_size_and_the_ways_out(monkeypatch):
    X, y = load_iris(return_X_y=True)
    _runs_out_on(120, monkeypatch)  # a fold's train rows
    with pytest.raises(MemoryError, match=r"LeptonClassifier: not enough memory to prepare the "
                                          r"data for the search \(150 rows x 4 columns, 0 MB "
                                          r"as given\)\. The search holds its validation "
                                          r"split, preprocessed to float32.*Fit on fewer rows"):
        LeptonClassifier(time_budget=6, n_trials=1, cv=None, random_state=0,
                         verbose=0).fit(X, y)
