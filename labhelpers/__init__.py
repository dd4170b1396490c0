"""Helpers for the Keras lab notebooks: data loading, plots, metrics and the course runner.

The lesson's code lives in the notebooks; the plumbing lives here. Importing ``labhelpers``
changes no global state: display settings are one explicit call,
:func:`labhelpers.plots.setup_display`, in each notebook's setup cell.
"""

from labhelpers import conv, data, metrics, plots
from labhelpers.runner import fast_mode, report

__all__ = ["conv", "data", "fast_mode", "metrics", "plots", "report"]
__version__ = "0.1.0"
