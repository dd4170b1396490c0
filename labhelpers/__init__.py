"""Helpers for the Keras lab notebooks: data loading, plots, metrics and the course runner.

The lesson's code lives in the notebooks; the plumbing lives here. Importing ``labhelpers``
changes no global state: display settings are one explicit call in each notebook.
"""

from labhelpers import data
from labhelpers.runner import fast_mode, report

__all__ = ["data", "fast_mode", "report"]
__version__ = "0.1.0"
