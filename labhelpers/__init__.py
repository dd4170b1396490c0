"""Helpers for the Keras lab notebooks: data loading, plots, metrics and the self-checks.

The lesson's code lives in the notebooks; the plumbing lives here. Importing ``labhelpers``
only gives TensorFlow two defaults that it reads when it loads (its start-up messages hidden,
its oneDNN kernels on; :mod:`labhelpers.course` says why), so the setup cell imports it before
Keras. That cell then makes one call, ``course = labhelpers.setup(seed=42)``, which seeds,
applies the display settings and returns the run's settings
(:class:`labhelpers.course.Course`).
"""

# course first: its TensorFlow defaults must be in place before anything loads TensorFlow.
from labhelpers.course import Course, report, setup  # isort: skip

from labhelpers import conv, data, metrics, plots

__all__ = ["Course", "conv", "data", "metrics", "plots", "report", "setup"]
__version__ = "0.2.0"
