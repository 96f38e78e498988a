"""Fixed-architecture estimators: NeuralNetworkClassifier, NeuralNetworkRegressor and
the original design's NeuralNetwork (task inferred from ``y``)."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .. import defaults
from ..training import REGRESSION_LOSSES
from ._base import BaseNeuralNetwork, accuracy_score_of, infer_task

__all__ = ["NeuralNetworkClassifier", "NeuralNetworkRegressor", "NeuralNetwork"]

_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(256, 256)
        Width of each hidden layer.
    activation : str or sequence of str, default='relu'
        One activation for all layers, or one per layer. Known: elu, gelu, identity,
        leaky_relu, mish, relu, selu, sigmoid, silu, softplus, tanh.
    dropout : float in [0, 1), default=0.0
    normalization : {'none', 'batch', 'layer'}, default='none'
    residual : bool, default=False
        Skip connections around every hidden layer (projected when widths differ).
    architecture : dict, default=None
        A full model config (``lepton.models.ModelConfig`` format, as the search spaces
        produce). Overrides the five parameters above.
    input_shape : sequence of int, default=None
        Per-sample shape, e.g. (8, 8) for digit images: (height, width) or (channels,
        height, width). None takes image-shaped X's own (3-D/4-D arrays, channels last
        where the last axis is 1, 3 or 4 and smaller than both before it, as in
        LeptonClassifier). Image-shaped X is flattened (channels first); a ``cnn``
        architecture uses the shape.
    epochs : int, default=100
    batch_size : int or 'auto', default='auto'
        'auto' = max(128, n_samples // 100), at most 1024.
    learning_rate : float, default=1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default=1e-4
    lr_schedule : {'cosine', 'onecycle', 'plateau', 'constant'}, default='cosine'
        'cosine' has a 5% linear warmup.
    warmup_fraction : float in [0, 0.5], default=0.05
        Share of all steps spent warming the learning rate up (schedule 'cosine').
    beta1 : float in [0, 1), default=0.9
        AdamW's first-moment decay (the search tunes it).
    gradient_clip : float or None, default=1.0
        Maximum global gradient norm.
    input_scaling : {'robust', 'standard', 'global'}, default='robust'
        Scaling of numeric columns: median / IQR with smooth clipping of outliers, mean /
        standard deviation without clipping, or one mean and deviation for all columns
        (an image's pixels, a pair for each channel; see :mod:`lepton.preprocessing`).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the data, stop after ``n_iter_no_change`` epochs
        without improvement of the validation loss, and restore the best epoch's weights.
        Needs at least 30 validation rows (``n_samples * validation_fraction``); with
        fewer, a best epoch chosen on them is noise, so all rows train for ``epochs``.
    validation_fraction : float in [0, 1), default=0.1
    n_iter_no_change : int, default=10
    max_time : float or None, default=None
        Seconds of training after which training stops (checked after every batch).
    device : str, default='auto'
        'auto' picks cuda, then mps, then cpu.
    random_state : int, RandomState or None, default=None
        The same int gives the same predictions on CPU.
    verbose : int, default=0
        Print one line per epoch when > 0.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (eval mode).
    preprocessor_ : lepton.preprocessing.TabularPreprocessor
    n_features_in_ : int
    input_shape_ : tuple of int or None
        The per-sample shape of image input, channels first; None for rows of features.
    channels_last_ : bool
        Whether X holds images channels last, (n, h, w, c), moved channels first.
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    history_ : list of dict
        One record per epoch: epoch, train_loss, val_loss, val_score, lr, elapsed, epoch_time.
    best_epoch_ : int or None
    n_epochs_ : int
    training_status_ : str
        completed, early_stopped, time_limit or diverged.
    model_config_ : dict
    training_config_ : lepton.training.TrainingConfig
    device_ : str
    task_ : str
"""


def _init_params(self, *, hidden_layer_sizes, activation, dropout, normalization, residual,
                 architecture, input_shape, epochs, batch_size, learning_rate, weight_decay,
                 lr_schedule, warmup_fraction, beta1, gradient_clip, input_scaling, early_stopping,
                 validation_fraction, n_iter_no_change, max_time, device, random_state,
                 verbose) -> None:
    self.hidden_layer_sizes = hidden_layer_sizes
    self.activation = activation
    self.dropout = dropout
    self.normalization = normalization
    self.residual = residual
    self.architecture = architecture
    self.input_shape = input_shape
    self.epochs = epochs
    self.batch_size = batch_size
    self.warmup_fraction = warmup_fraction
    self.beta1 = beta1
    self.learning_rate = learning_rate
    self.weight_decay = weight_decay
    self.lr_schedule = lr_schedule
    self.gradient_clip = gradient_clip
    self.input_scaling = input_scaling
    self.early_stopping = early_stopping
    self.validation_fraction = validation_fraction
    self.n_iter_no_change = n_iter_no_change
    self.max_time = max_time
    self.device = device
    self.random_state = random_state
    self.verbose = verbose


class NeuralNetworkClassifier(ClassifierMixin, BaseNeuralNetwork):
    __doc__ = ("""Neural-network classifier with a fixed architecture.

    Accepts numpy arrays, DataFrames with mixed column types and missing values, and
    sparse matrices; class labels may be strings or integers. Several labels per row
    (multilabel) come as a 0/1 or False/True column per label (scikit-learn's indicator
    matrix): one network then has an output per label, each a sigmoid trained with
    binary cross-entropy, sharing the hidden layers.
""" + _PARAMS_DOC + """    label_smoothing : float in [0, 1), default=0.0
""" + _ATTRS_DOC + """    classes_ : ndarray
        The class labels (multilabel: the label columns' positions, 0..n_labels-1).
    multilabel_ : bool
        Whether ``y`` was a 0/1 column per label.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from lepton import NeuralNetworkClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuralNetworkClassifier(hidden_layer_sizes=(32,), epochs=30,
    ...                               random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).tolist()
    [0, 0, 0]
    """)

    _parameter_constraints = {
        **BaseNeuralNetwork._parameter_constraints,
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }
    _task = "classification"

    def __init__(self, hidden_layer_sizes=defaults.HIDDEN_LAYER_SIZES, activation=defaults.ACTIVATION,
                 *, dropout=defaults.DROPOUT, normalization=defaults.NORMALIZATION, residual=False,
                 architecture=None, input_shape=None, epochs=defaults.EPOCHS,
                 batch_size=defaults.BATCH_SIZE, learning_rate=defaults.LEARNING_RATE,
                 weight_decay=defaults.WEIGHT_DECAY, lr_schedule=defaults.LR_SCHEDULE,
                 warmup_fraction=defaults.WARMUP_FRACTION, beta1=defaults.BETA1,
                 gradient_clip=defaults.GRADIENT_CLIP, label_smoothing=0.0, input_scaling="robust",
                 early_stopping=True,
                 validation_fraction=defaults.VALIDATION_FRACTION,
                 n_iter_no_change=defaults.PATIENCE, max_time=None, device="auto",
                 random_state=None, verbose=0):
        _init_params(self, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                     dropout=dropout, normalization=normalization, residual=residual,
                     architecture=architecture, input_shape=input_shape, epochs=epochs,
                     batch_size=batch_size, learning_rate=learning_rate,
                     weight_decay=weight_decay, lr_schedule=lr_schedule,
                     warmup_fraction=warmup_fraction, beta1=beta1,
                     gradient_clip=gradient_clip, input_scaling=input_scaling,
                     early_stopping=early_stopping,
                     validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
                     max_time=max_time, device=device, random_state=random_state,
                     verbose=verbose)
        self.label_smoothing = label_smoothing

    def predict(self, X) -> np.ndarray:
        """Predicted class labels, shape (n_samples,); for a multilabel ``y`` (a 0/1 column
        per label) each label's 0/1, shape (n_samples, n_labels), in ``y``'s dtype."""
        return self._predict_classes(X)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns ordered as ``classes_``;
        for a multilabel ``y``, each label's own probability (n_samples, n_labels)."""
        return self._predict_proba(X)

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

    score = accuracy_score_of  # ClassifierMixin.score, for a frame of 0/1 and bool labels too

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # a 0/1 column per label: test_multilabel.py
        return tags


class NeuralNetworkRegressor(RegressorMixin, BaseNeuralNetwork):
    __doc__ = ("""Neural-network regressor with a fixed architecture.

    Targets are standardised internally; ``y`` may be 1-D or 2-D (multi-output).
""" + _PARAMS_DOC + """    loss : {'squared_error', 'absolute_error'}, default='squared_error'
        What training minimises: squared errors (predicts the mean) or absolute errors
        (the median: robust to outlying targets; what ``LeptonRegressor(metric='mae')``
        trains with).
""" + _ATTRS_DOC + """    y_scaler_ : sklearn.preprocessing.StandardScaler
        The targets' scaling the network was trained in, fitted on the training rows
        (not the early-stopping ones): mean and standard deviation, or median and
        interquartile range for ``loss='absolute_error'``.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from lepton import NeuralNetworkRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = NeuralNetworkRegressor(epochs=20, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """)

    _task = "regression"
    loss = "squared_error"  # a regressor pickled before ``loss`` existed trained on these
    _parameter_constraints = {
        **BaseNeuralNetwork._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }

    def __init__(self, hidden_layer_sizes=defaults.HIDDEN_LAYER_SIZES, activation=defaults.ACTIVATION,
                 *, dropout=defaults.DROPOUT, normalization=defaults.NORMALIZATION, residual=False,
                 architecture=None, input_shape=None, epochs=defaults.EPOCHS,
                 batch_size=defaults.BATCH_SIZE, learning_rate=defaults.LEARNING_RATE,
                 weight_decay=defaults.WEIGHT_DECAY, lr_schedule=defaults.LR_SCHEDULE,
                 warmup_fraction=defaults.WARMUP_FRACTION, beta1=defaults.BETA1,
                 gradient_clip=defaults.GRADIENT_CLIP, input_scaling="robust", early_stopping=True,
                 validation_fraction=defaults.VALIDATION_FRACTION,
                 n_iter_no_change=defaults.PATIENCE, max_time=None, device="auto",
                 random_state=None, verbose=0, loss="squared_error"):
        _init_params(self, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                     dropout=dropout, normalization=normalization, residual=residual,
                     architecture=architecture, input_shape=input_shape, epochs=epochs,
                     batch_size=batch_size, learning_rate=learning_rate,
                     weight_decay=weight_decay, lr_schedule=lr_schedule,
                     warmup_fraction=warmup_fraction, beta1=beta1,
                     gradient_clip=gradient_clip, input_scaling=input_scaling,
                     early_stopping=early_stopping,
                     validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
                     max_time=max_time, device=device, random_state=random_state,
                     verbose=verbose)
        self.loss = loss

    def predict(self, X) -> np.ndarray:
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._predict_values(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NeuralNetwork(BaseNeuralNetwork):
    __doc__ = ("""The original Lepton API: one estimator for classification and regression.

    ``NeuralNetwork(input_shape=[10], hidden_layer_sizes=[5, 2]).fit(x, y, epochs=100,
    batch_size=10)`` then ``.predict(x)``.

    With ``task='auto'`` the task is inferred from ``y`` at fit (see
    :func:`lepton.estimators._base.infer_task`): classification when ``y`` holds strings,
    booleans or categories, or whole numbers with at most 20 distinct values; regression
    otherwise. ``task_`` records the decision; pass ``task='classification'`` or
    ``'regression'`` to override.
""" + _PARAMS_DOC + """    task : {'auto', 'classification', 'regression'}, default='auto'
""" + _ATTRS_DOC + """    classes_ : ndarray
        Only for classification.

    Examples
    --------
    >>> import numpy as np
    >>> from lepton import NeuralNetwork
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 10))
    >>> y = (x[:, 0] + x[:, 1] > 0).astype(int)
    >>> model = NeuralNetwork(input_shape=[10], hidden_layer_sizes=[5, 2], random_state=0)
    >>> model = model.fit(x, y, epochs=100, batch_size=10)
    >>> model.task_
    'classification'
    >>> model.predict(x[:4]).shape
    (4,)
    """)

    _parameter_constraints = {
        **BaseNeuralNetwork._parameter_constraints,
        "task": [StrOptions({"auto", "classification", "regression"})],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, input_shape=None, hidden_layer_sizes=defaults.HIDDEN_LAYER_SIZES,
                 activation=defaults.ACTIVATION, *, task="auto", dropout=defaults.DROPOUT,
                 normalization=defaults.NORMALIZATION, residual=False, architecture=None,
                 epochs=defaults.EPOCHS, batch_size=defaults.BATCH_SIZE,
                 learning_rate=defaults.LEARNING_RATE, weight_decay=defaults.WEIGHT_DECAY,
                 lr_schedule=defaults.LR_SCHEDULE, warmup_fraction=defaults.WARMUP_FRACTION,
                 beta1=defaults.BETA1, gradient_clip=defaults.GRADIENT_CLIP,
                 label_smoothing=0.0, input_scaling="robust", early_stopping=True,
                 validation_fraction=defaults.VALIDATION_FRACTION,
                 n_iter_no_change=defaults.PATIENCE, max_time=None, device="auto",
                 random_state=None, verbose=0):
        _init_params(self, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                     dropout=dropout, normalization=normalization, residual=residual,
                     architecture=architecture, input_shape=input_shape, epochs=epochs,
                     batch_size=batch_size, learning_rate=learning_rate,
                     weight_decay=weight_decay, lr_schedule=lr_schedule,
                     warmup_fraction=warmup_fraction, beta1=beta1,
                     gradient_clip=gradient_clip, input_scaling=input_scaling,
                     early_stopping=early_stopping,
                     validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
                     max_time=max_time, device=device, random_state=random_state,
                     verbose=verbose)
        self.task = task
        self.label_smoothing = label_smoothing

    def _resolve_task(self, y) -> str:
        if self.task != "auto":
            return self.task
        if y is None:
            return "regression"  # encode_target raises the 'y is None' error
        return infer_task(y)

    def predict(self, X) -> np.ndarray:
        """Class labels (classification) or values (regression)."""
        check_is_fitted(self, "module_")
        if self.task_ == "classification":
            return self._predict_classes(X)
        return self._predict_values(X)

    def _check_proba(self) -> bool:
        # hasattr(model, 'predict_proba') is False for a regression task, before fit when
        # task='regression' and after fit when the inferred task_ is 'regression'.
        task = getattr(self, "task_", self.task)
        if task == "regression":
            raise AttributeError("predict_proba is only available for a classification task "
                                 f"(task={self.task!r}, task_={getattr(self, 'task_', None)!r}).")
        return True

    @available_if(_check_proba)
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities; only for a classification task."""
        check_is_fitted(self, "module_")
        return self._predict_proba(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for classification, R^2 for regression."""
        if self.task_ == "classification":
            return accuracy_score_of(self, X, y, sample_weight)
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # task='auto' decides at fit: once fitted, the task it decided (scikit-learn's
        # scorers and CalibratedClassifierCV read the tags of the fitted estimator; a
        # classification fit read as no classifier scored roc_auc as NaN)
        task = getattr(self, "task_", None) if self.task == "auto" else self.task
        if task == "classification":
            tags.estimator_type = "classifier"
            from sklearn.utils import ClassifierTags
            tags.classifier_tags = ClassifierTags(multi_label=True)
        elif task == "regression":
            tags.estimator_type = "regressor"
            from sklearn.utils import RegressorTags
            tags.regressor_tags = RegressorTags()
            tags.target_tags.multi_output = True
        tags.target_tags.required = True
        return tags
