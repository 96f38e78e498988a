"""Warnings said at the user's line."""

from __future__ import annotations

import sys
import warnings


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside the lepton package: the
    line that called ``fit``, however deep inside Lepton the warning is raised (a fixed
    stacklevel is right for one depth only: the SIGTERM warning, raised both from the
    search and from the refit, pointed into Lepton's own code from the refit)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("lepton."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class LeftOutColumnsWarning(UserWarning):
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
