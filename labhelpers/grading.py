"""Deprecated: nbgrader's settings moved to :mod:`coursetools.grading` (removed in 0.4).

Grading folders made with version 0.2 hold an ``nbgrader_config.py`` that calls
``labhelpers.grading.configure(c)``; it keeps working for one release. Nothing is imported
until it is called, so this module needs none of the instructors' tools.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["configure"]


def configure(c: Any, timeout: int = 1200) -> None:
    """Apply :func:`coursetools.grading.configure`, after a warning to update the config file."""
    warnings.warn(
        "nbgrader_config.py: `from labhelpers.grading import configure` is deprecated; write "
        "`from coursetools.grading import configure` (labhelpers 0.4 drops this module).",
        DeprecationWarning,
        stacklevel=2,
    )
    from coursetools.grading import configure as course_configure

    course_configure(c, timeout)
