"""Image-shaped X in the search estimators: channels last, nested lists, the shape asked
for at predict, and cv='auto' on images too big for five folds (review helper-46)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from lepton import LeptonClassifier
from lepton.search import estimators

#: one small conv block, 2-3 epochs: a trial takes a fraction of a second
TINY_CNN = {"base": "cnn", "parameters": {
    "n_conv_blocks": 1, "conv_channels": {"type": "int", "low": 4, "high": 8, "per_block": True},
    "n_layers": 0, "epochs": {"type": "int", "low": 2, "high": 3}}}


@pytest.fixture(scope="module")
def digit_images():
    X, y = load_digits(return_X_y=True)
    return X.reshape(-1, 8, 8)[:300], y[:300]


@pytest.fixture(scope="module")
def best_trial_model(digit_images):
    """Fitted on (n, 8, 8) without input_shape; the best trial's networks predict (no
    refit), so that predict goes through the ensemble's check, and best_estimator_'s
    through its own."""
    images, y = digit_images
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(estimators._BaseLepton, "_refit",
                   lambda self, *args, **kwargs: (None, {"status": "skipped: test"}))
        clf = LeptonClassifier(time_budget=20, n_trials=1, search_space=TINY_CNN, cv=None,
                               random_state=0).fit(images, y)
    assert clf.final_choice_ == "best_trial" and clf.ensemble_ is not None
    return clf


def test_channels_last_images_are_moved_channels_first(digit_images):
    """(n, 8, 8, 3) was read as 8 channels of 8x3 images (C=h, H=w, W=c)."""
    images, y = digit_images
    rng = np.random.default_rng(0)
    X = np.stack([images, images.max() - images, rng.normal(size=images.shape)], axis=-1)
    clf = LeptonClassifier(time_budget=20, n_trials=1, search_space=TINY_CNN, cv=None,
                           random_state=0).fit(X, y)
    assert clf.input_shape_ == (3, 8, 8) and clf.channels_last_
    assert clf.meta_features_["input_shape"] == [3, 8, 8]
    assert clf.best_estimator_.module_.input_shape == (3, 8, 8)
    # refitted as it was fitted: best_estimator_ reads the images as given again
    assert list(clf.best_estimator_.input_shape) == [8, 8, 3]
    assert clf.best_estimator_.channels_last_
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.best_estimator_.predict_proba(X),
                                  clf.best_estimator_.predict_proba(X.reshape(len(X), -1)))
    np.testing.assert_array_equal(clf.predict_proba(X.reshape(len(X), -1)), expected)
    with pytest.raises(ValueError, match=r"X has per-sample shape \[3, 8, 8\] but "
                                         r"input_shape=\[8, 8, 3\]"):
        clf.predict(X.transpose(0, 3, 1, 2))


def test_each_channel_is_scaled_on_its_own(digit_images):
    """A channel in other units beside the digit (a depth around 2,000 mm): scaled by one
    mean and deviation with it, the digit's channel kept within 0.01 of one value, and 20 s
    searches on such digits scored held-out accuracy 0.087-0.102 (0.944-0.957 now;
    benchmarks/dev/image_channel_units.py). Every trial's preprocessing and the refit's
    scale each channel on its own."""
    images, y = digit_images
    depth = 2000 + 300 * np.random.default_rng(0).normal(size=images.shape)
    X = np.stack([images, depth], axis=1)
    refit = LeptonClassifier(time_budget=20, n_trials=1, search_space=TINY_CNN, cv=None,
                             random_state=0).fit(X, y)
    assert refit.final_choice_ == "refit"
    with pytest.MonkeyPatch.context() as mp:  # the trial's own networks and preprocessing
        mp.setattr(estimators._BaseLepton, "_refit",
                   lambda self, *args, **kwargs: (None, {"status": "skipped: test"}))
        trial = LeptonClassifier(time_budget=20, n_trials=1, search_space=TINY_CNN, cv=None,
                                 random_state=0).fit(X, y)
    assert trial.final_choice_ == "best_trial"
    for pre in [refit.best_estimator_.preprocessor_, trial.ensemble_.preprocessors[0][0]]:
        scaler = pre.transformer_[-1].scaler_
        assert scaler.channels == 2 and scaler.mean_ == pytest.approx([4.9, 2000], rel=0.05)
        Xt = pre.transform(X.reshape(len(X), -1))
        assert Xt[:, :64].std() == pytest.approx(1.0, rel=0.05)


def test_predict_refuses_images_of_another_shape_fitted_without_input_shape(best_trial_model,
                                                                             digit_images):
    """(n, 4, 16) on a model fitted on (n, 8, 8) was reshaped into other images: the
    predictions bit-identical to the (n, 8, 8) ones."""
    images, _ = digit_images
    for model in (best_trial_model, best_trial_model.best_estimator_):
        with pytest.raises(ValueError, match=r"X has per-sample shape \[4, 16\] but "
                                             r"input_shape=\[8, 8\], the shape the model was "
                                             r"fitted on"):
            model.predict(images.reshape(-1, 4, 16))


def test_predict_names_the_image_shape_expected(best_trial_model, digit_images):
    """(n, 16, 16) and (n, 7, 7) met 'X has 256 features, but LeptonClassifier is
    expecting 64 features', a bare (8, 8) image 'X has 8 features'."""
    images, _ = digit_images
    for model in (best_trial_model, best_trial_model.best_estimator_):
        for other in (np.tile(images, (1, 2, 2)), images[:, :7, :7]):
            with pytest.raises(ValueError, match=r"pass X of shape \(n, 8, 8\) or "
                                                 r"flattened, \(n, 64\)"):
                model.predict(other)
        with pytest.raises(ValueError, match=r"X of shape \(8, 8\) is one image without the "
                                             r"batch axis; the model takes X of shape "
                                             r"\(n, 8, 8\) .*pass X\[None\]"):
            model.predict(images[0])
    assert best_trial_model.predict(images[0][None]).shape == (1,)


def test_a_model_pickled_before_channels_last_predicts_as_it_did(best_trial_model,
                                                                  digit_images):
    images, _ = digit_images
    expected = best_trial_model.predict_proba(images)
    old = best_trial_model.__class__.__new__(best_trial_model.__class__)
    old.__dict__.update(best_trial_model.__dict__)
    del old.__dict__["channels_last_"]
    np.testing.assert_array_equal(old.predict_proba(images), expected)


def test_images_as_nested_lists_are_images(digit_images):
    """X.tolist() of (n, 8, 8) lost its shape: searched as rows, with the mlp space."""
    images, y = digit_images
    clf = LeptonClassifier(time_budget=20, n_trials=1, cv=None, random_state=0)
    clf.fit(images.tolist(), y)
    assert clf.search_space_.family == "cnn"
    assert clf.input_shape_ == (8, 8) and clf.meta_features_["input_shape"] == [8, 8]
    np.testing.assert_array_equal(clf.predict(images[:20].tolist()), clf.predict(images[:20]))


def test_auto_cv_holds_out_one_split_where_five_folds_would_not_fit_the_budget():
    """500 images of 3x64x64 got 5 folds (under 5,000 rows) and no trial finished in 10-15
    s; one split fit. 100 images of 3x64x64 are too many values for 5 folds in 20 s."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3, 64, 64)).astype(np.float32)
    y = np.arange(100) % 2
    clf = LeptonClassifier(time_budget=20, n_trials=1, search_space=TINY_CNN, random_state=0)
    clf.fit(X, y)
    assert clf.study_.user_attrs["lepton.validation"] == "holdout 0.2"
    # the rule: rows and values against the budget, at the family's speed
    assert clf._n_folds(100, X[0].size * 100, "cnn") is None
    assert LeptonClassifier(time_budget=600)._n_folds(100, X[0].size * 100, "cnn") == 5
    assert LeptonClassifier(time_budget=5)._n_folds(1797, 1797 * 64, "cnn") == 5
    assert LeptonClassifier(time_budget=5)._n_folds(4999, 4999 * 100, "mlp") == 5
    assert LeptonClassifier(time_budget=600)._n_folds(5000, 5000 * 10, "mlp") is None
    # the speeds are a CPU's: on a GPU the folds are kept, as before (review helper-52)
    on_gpu = LeptonClassifier(time_budget=20)
    on_gpu.devices_ = ["cuda:0"]
    assert on_gpu._n_folds(100, X[0].size * 100, "cnn") == 5
    # a study resumed keeps the scheme it recorded, whatever the budget
    assert clf._n_folds(100, X[0].size * 100, "cnn", recorded="5-fold cv") == 5
    assert LeptonClassifier(time_budget=600)._n_folds(100, 100, "cnn", "holdout 0.2") is None


def test_budget_too_small_for_the_folds_says_cv_none(monkeypatch):
    """The error said only 'Increase time_budget' where one split would have fit. (No
    trial runs here: a budget too small for one is a matter of the machine's speed.)"""
    X, y = load_digits(return_X_y=True)
    monkeypatch.setattr(estimators, "run_trials", lambda *args, **kwargs: None)
    with pytest.raises(ValueError, match=r"time_budget=10s is too small to train even one "
                                         r"configuration .*Increase time_budget, or pass "
                                         r"cv=None: one validation split, each trial trained "
                                         r"once instead of on each of the 5 folds\."):
        LeptonClassifier(time_budget=10, cv=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"Increase time_budget\.$"):
        LeptonClassifier(time_budget=10, cv=None, random_state=0).fit(X, y)


def test_a_study_resumed_with_a_larger_budget_keeps_its_validation_split(tmp_path):
    """cv='auto' now weighs the budget: a study created with one split (8 s) and resumed
    with a budget that holds 5 folds (20 s) keeps its split, where another scheme would
    refuse to resume it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3, 48, 48)).astype(np.float32)  # 5 folds from ~14 s
    y = np.arange(100) % 2
    common = {"n_trials": 1, "search_space": TINY_CNN, "storage": str(tmp_path / "study.db"),
              "study_name": "images", "random_state": 0}
    first = LeptonClassifier(time_budget=8, **common).fit(X, y)
    assert first.study_.user_attrs["lepton.validation"] == "holdout 0.2"
    assert LeptonClassifier(time_budget=20)._n_folds(100, X.size, "cnn") == 5
    again = LeptonClassifier(time_budget=20, **{**common, "n_trials": 2}).fit(X, y)
    assert again.n_trials_ == 2
    assert again.study_.user_attrs["lepton.validation"] == "holdout 0.2"
