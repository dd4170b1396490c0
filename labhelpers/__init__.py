"""Helpers for the Keras lab notebooks: data loading, plots, metrics and the self-checks.

The lesson's code lives in the notebooks; the plumbing lives here. A lab's setup cell imports
``labhelpers`` before Keras (:mod:`labhelpers.course` says why), then calls
``course = labhelpers.setup(seed=42)``.
"""

import importlib
from types import ModuleType

# course first: its TensorFlow defaults must be in place before anything loads TensorFlow.
from labhelpers.course import Course, report, setup  # isort: skip

# Submodules load on first use (labhelpers.plots, labhelpers.bases, ...): importing the package
# stays cheap for the course runner and for kernels that only report a figure.
SUBMODULES = frozenset(
    "bases batches checks conv course data deploy fetch memory metrics models plots progress "
    "workspace".split()
)

__all__ = ["Course", "report", "setup", *sorted(SUBMODULES - {"course"})]
__version__ = "0.2.0"


def __getattr__(name: str) -> ModuleType:
    """``labhelpers.plots`` and the other submodules, imported when first asked for."""
    if name in SUBMODULES:
        return importlib.import_module(f"labhelpers.{name}")
    raise AttributeError(f"module 'labhelpers' has no attribute {name!r}")
