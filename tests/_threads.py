"""The BLAS threads in force while Lepton preprocesses (tests of its thread limits)."""

from __future__ import annotations

from lepton.preprocessing import TabularPreprocessor


def blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def record_preprocessing_threads(monkeypatch, module) -> list[tuple[int, set[int]]]:
    """The BLAS threads in force as each TabularPreprocessor.fit_transform starts (with
    its rows), ``module``'s threads_per_trial saying one thread is free."""
    real, seen = TabularPreprocessor.fit_transform, []

    def fit_transform(self, X, y=None, **kwargs):
        seen.append((X.shape[0], blas_threads()))
        return real(self, X, y, **kwargs)

    monkeypatch.setattr(TabularPreprocessor, "fit_transform", fit_transform)
    monkeypatch.setattr(module, "threads_per_trial", lambda n_jobs=1: 1)
    return seen
