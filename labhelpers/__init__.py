"""Helpers for the Keras lab notebooks: data loading, plots, metrics and the course runner.

The lesson's code lives in the notebooks; the plumbing lives here. Importing ``labhelpers``
changes no global state: each lab's setup cell makes one call, ``course =
labhelpers.setup(seed=42)``, which seeds, applies the display settings and returns the run's
settings (:class:`labhelpers.course.Course`).
"""

from labhelpers import conv, data, metrics, plots
from labhelpers.course import Course, report, setup

__all__ = ["Course", "conv", "data", "metrics", "plots", "report", "setup"]
__version__ = "0.2.0"
