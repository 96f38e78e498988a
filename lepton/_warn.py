"""Warnings said at the user's line."""

from __future__ import annotations

import sys
import warnings

VERSION_KEY = "_lepton_version"


class LeptonWarning(UserWarning):
    """Every warning Lepton gives is one: ``warnings.simplefilter("ignore",
    lepton.LeptonWarning)`` silences them all, and its kinds below one kind. (Before, most
    were plain UserWarnings or RuntimeWarnings, said at the caller's line: only a filter
    on their text could pick them out: review helper-83.)"""


class DataWarning(LeptonWarning):
    """The data at ``fit`` or ``predict``: columns left out, values or missing numbers
    the training rows did not have, few validation rows, targets of unequal units."""


class SearchWarning(LeptonWarning):
    """The search: interrupted or stopped, its final refit failed, a search space narrowed
    to the data, a study resumed that holds no record of its data."""


class TrainingWarning(LeptonWarning, RuntimeWarning):
    """A network's training diverged, or ended with a loss that did not settle."""


class TrackingWarning(LeptonWarning, RuntimeWarning):
    """Tracking (MLflow) could not do something; the fit goes on without it."""


def warn_at_caller(message: str, category: type[Warning] = LeptonWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside the lepton package: the
    line that called ``fit``, however deep inside Lepton the warning is raised (a fixed
    stacklevel is right for one depth only: the SIGTERM warning, raised both from the
    search and from the refit, pointed into Lepton's own code from the refit)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("lepton."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def auto_tqdm():
    """``tqdm.auto``'s bar class: a widget in a notebook that has ipywidgets. In one
    without, importing it warned ('IProgress not found. Please update jupyter and
    ipywidgets') before drawing text, which redraws in place there too (review helper-77):
    imported quietly, before Optuna imports it (lepton.search does this first)."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


class LeftOutColumnsWarning(DataWarning):
    """``fit`` left columns of ``X`` out of the features (an identifier, a written row
    number), each named with why. ``lepton run`` and the Prefect
    flow say the same in their notes, and ignore this warning."""


def warn_left_out(name: str, dropped: dict) -> None:
    """Say which columns ``fit`` leaves out, and why (``dropped_columns_``): a column
    whose values were numbers in a format pandas did not read (``'3.311,03'``) was left out
    as an identifier, and the estimator API said nothing."""
    if not dropped:
        return
    shown = "; ".join(f"{col!r} ({why})" for col, why in list(dropped.items())[:10])
    more = f"; and {len(dropped) - 10} more" if len(dropped) > 10 else ""
    warn_at_caller(
        f"{name}: {len(dropped)} column(s) of X left out of the features: {shown}{more}. "
        "Drop them from X to silence this, or give them a dtype that says what they are "
        "(numbers, or 'category').", LeftOutColumnsWarning)


class LeptonVersionWarning(LeptonWarning):
    """An estimator is loaded (unpickled) by an older Lepton than the one that saved it.
    Lepton loads the models of its earlier versions; a later version's model may hold
    what this one does not know, and predict wrongly or fail."""


def stamp_version(state: dict) -> dict:
    """The pickled state of a Lepton estimator, with the version that saves it."""
    from . import __version__

    return {**state, VERSION_KEY: __version__}


def check_version(state: dict) -> None:
    """Take the saving version out of ``state``; warn if it is later than this Lepton.
    Models saved before versions were recorded (0.1.0 and earlier) say nothing."""
    saved = state.pop(VERSION_KEY, None)
    if saved is None:
        return
    from packaging.version import InvalidVersion, Version

    from . import __version__

    try:
        newer = Version(saved) > Version(__version__)
    except InvalidVersion:
        newer = saved != __version__
    if newer:  # one text for a model and those it holds (a search's best_estimator_):
        # Python's default filter then says it once a load, not once for each of them
        warnings.warn(
            f"this model was saved by Lepton {saved} and is loaded by Lepton {__version__}: "
            "a model loads safely in the version that saved it or a later one. Upgrade "
            f"(pip install 'lepton-automl>={saved}') before predicting with it.",
            LeptonVersionWarning, stacklevel=3)
