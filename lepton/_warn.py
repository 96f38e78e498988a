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
