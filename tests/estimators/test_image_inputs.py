"""Image-shaped X in the fixed-architecture estimators: its shape read at fit (channels
last too), kept, and asked for again at predict (review helper-46)."""

from __future__ import annotations

import numpy as np
import pytest

from lepton import NeuralNetworkClassifier

CNN = {"family": "cnn", "conv_channels": [4], "kernel_size": 3, "layers": []}


def _images(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, 6, 6) channels first; the class is the brightest channel."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 3, 6, 6)).astype(np.float32)
    X[np.arange(n), y] += 1.0
    return X, y


def test_channels_last_images_train_the_same_network_as_channels_first():
    """(n, 6, 6, 3) was read as 6 channels of 6x3 images (C=h, H=w, W=c); given as such or
    by input_shape=(6, 6, 3), it is now the same images moved channels first: the same
    network, the same predictions."""
    X, y = _images()
    last = X.transpose(0, 2, 3, 1).copy()  # (n, 6, 6, 3)
    first = NeuralNetworkClassifier(architecture=CNN, epochs=2, random_state=0,
                                    input_shape=(3, 6, 6)).fit(X, y)
    for shape in (None, (6, 6, 3)):
        net = NeuralNetworkClassifier(architecture=CNN, epochs=2, random_state=0,
                                      input_shape=shape).fit(last, y)
        assert net.input_shape_ == (3, 6, 6) and net.channels_last_
        assert net.module_.input_shape == (3, 6, 6)
        np.testing.assert_allclose(net.predict_proba(last), first.predict_proba(X), atol=1e-4)
        # a flat row is an image flattened as given (channels last), as at fit
        np.testing.assert_array_equal(net.predict_proba(last.reshape(len(last), -1)),
                                      net.predict_proba(last))
    assert not first.channels_last_


def test_which_shapes_are_read_channels_last():
    """The last axis 1, 3 or 4 and smaller than both before it; a shape that reads either
    way stays channels first, the layout input_shape documents."""
    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    mlp = {"hidden_layer_sizes": (4,), "epochs": 1, "random_state": 0}
    for shape, read in [((8, 8, 1), (1, 8, 8)), ((5, 7, 4), (4, 5, 7)),
                        ((3, 6, 3), (3, 6, 3)), ((8, 8, 5), (8, 8, 5)), ((1, 8, 8), (1, 8, 8))]:
        net = NeuralNetworkClassifier(**mlp).fit(rng.normal(size=(20, *shape)), y)
        assert net.input_shape_ == read, shape
        assert net.channels_last_ == (read != shape), shape


def test_cnn_architecture_takes_the_shape_of_image_shaped_x():
    """Without input_shape, a cnn architecture on (n, 8, 8) raised 'family 'cnn' needs
    image-shaped input ... got input_shape=None', where LeptonClassifier infers it."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 8, 8)), np.arange(30) % 2
    net = NeuralNetworkClassifier(architecture=CNN, epochs=1, random_state=0).fit(X, y)
    assert net.input_shape_ == (8, 8) and not net.channels_last_
    assert net.module_.input_shape == (1, 8, 8)
    assert net.predict(X).shape == (30,)
    with pytest.raises(ValueError, match=r"family 'cnn' needs image-shaped input: X of shape "
                                         r"\(n, height, width\)"):
        NeuralNetworkClassifier(architecture=CNN, epochs=1).fit(X.reshape(30, 64), y)


def test_predict_asks_for_the_image_shape_fitted_without_input_shape():
    """Fitted on (n, 8, 8) without input_shape, (n, 4, 16) was reshaped into other images
    without a word, and other shapes met 'X has 256 features, but ... expecting 64'."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 8, 8)), np.arange(30) % 2
    net = NeuralNetworkClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"X has per-sample shape \[4, 16\] but "
                                         r"input_shape=\[8, 8\], the shape the model was "
                                         r"fitted on; pass X of shape \(n, 8, 8\) or "
                                         r"flattened, \(n, 64\)"):
        net.predict(X.reshape(30, 4, 16))
    with pytest.raises(ValueError, match=r"X has 49 features but input_shape=\[8, 8\]"):
        net.predict(X[:, :7, :7].reshape(30, 49))
    with pytest.raises(ValueError, match=r"X of shape \(8, 8\) is one image without the batch "
                                         r"axis; .* pass X\[None\], of shape \(1, 8, 8\)"):
        net.predict(X[0])
    # the same images flattened, or with a channel of 1, are what was fitted
    expected = net.predict_proba(X)
    np.testing.assert_array_equal(net.predict_proba(X.reshape(30, 64)), expected)
    np.testing.assert_array_equal(net.predict_proba(X[:, None]), expected)


def test_a_network_pickled_before_the_recorded_shape_predicts_as_it_did():
    """Networks pickled before input_shape_ and channels_last_ have neither: checked
    against input_shape, read as given."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 8, 8)), np.arange(30) % 2
    net = NeuralNetworkClassifier(architecture=CNN, epochs=1, random_state=0,
                                  input_shape=(8, 8)).fit(X, y)
    expected = net.predict_proba(X)
    del net.input_shape_, net.channels_last_
    np.testing.assert_array_equal(net.predict_proba(X), expected)
    np.testing.assert_array_equal(net.predict_proba(X.reshape(30, 64)), expected)


def test_global_scaling_gives_each_channel_its_own_mean_and_deviation():
    """A fixed network's 'global' scaling too: one pair for all three channels, where one
    is in thousands, left the others near one value (see GlobalScaler)."""
    X, y = _images()
    X[:, 2] = 2000 + 300 * X[:, 2]
    for given, shape in ((X, None), (X.transpose(0, 2, 3, 1), None),
                         (X.reshape(len(X), -1), (3, 6, 6))):
        net = NeuralNetworkClassifier(architecture=CNN, epochs=1, random_state=0,
                                      input_scaling="global", input_shape=shape).fit(given, y)
        scaler = net.preprocessor_.transformer_[-1].scaler_
        assert scaler.channels == 3
        np.testing.assert_allclose(scaler.mean_, X.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)
