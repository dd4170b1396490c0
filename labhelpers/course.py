"""The course settings, and the protocol between a lab notebook and the course runner.

A lab's setup cell calls ``course = labhelpers.setup(seed=42)``; the :class:`Course` it returns
says whether the run is fast, and shrinks data and epochs one way for every lab. :func:`report`
sends the headline figures back. Only this module reads labhelpers' environment variables,
which the runner sets per kernel: a student's kernel has none, and runs in full mode.

Importing it (``import labhelpers`` does) gives TensorFlow two defaults, read only when it
loads (so setup cells import ``labhelpers`` before Keras; a value already set wins): start-up
messages hidden, and oneDNN kernels on, which TensorFlow does itself only on CPUs with AVX-512
VNNI, AVX-VNNI or AMX although they run the labs faster and leaner elsewhere too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "CACHE_DIR_VAR",
    "DATA_DIR_VAR",
    "FAST_VAR",
    "RANDOM_WEIGHTS_VAR",
    "REPORT_FILE_VAR",
    "TENSORFLOW_DEFAULTS",
    "Course",
    "cache_dir",
    "from_environment",
    "keras_cache_dir",
    "mirror_dir",
    "report",
    "setup",
    "stratified_sample",
]

FAST_VAR = "LABHELPERS_FAST"  # "1": fast mode
RANDOM_WEIGHTS_VAR = "LABHELPERS_RANDOM_WEIGHTS"  # "1": random weights where none can be had
REPORT_FILE_VAR = "LABHELPERS_REPORT_FILE"  # where report() appends the figures, for the runner
DATA_DIR_VAR = "LABHELPERS_DATA_DIR"  # a local mirror of the datasets and weights
CACHE_DIR_VAR = "LABHELPERS_CACHE_DIR"  # where downloads and extracted archives go

T = TypeVar("T")

# Read by TensorFlow when it loads (see the module's docstring); a value set by the user wins.
TENSORFLOW_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1"}
for _name, _value in TENSORFLOW_DEFAULTS.items():
    os.environ.setdefault(_name, _value)


def stratified_sample(labels: Any, size: int, seed: int) -> np.ndarray:
    """Indices of ``size`` items drawn with every class in its share, in their original order:
    how fast mode cuts every dataset, so that every class stays represented."""
    labels = np.asarray(labels).ravel()
    if size >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(
        np.arange(len(labels)), train_size=size, stratify=labels, random_state=seed
    )
    return np.sort(chosen)


@dataclass(frozen=True)
class Course:
    """How this run of a lab is set: fast or full, its seed, random weights allowed or not."""

    fast: bool = False
    seed: int = 42
    random_weights: bool = False  # pre-trained bases may start from random weights

    @property
    def mode(self) -> str:
        """``"fast"`` or ``"full"``."""
        return "fast" if self.fast else "full"

    @property
    def allow_random_weights(self) -> bool:
        """Whether a pre-trained base may fall back to random weights when none can be had."""
        return self.fast or self.random_weights

    def pick(self, full: T, fast: T) -> T:
        """The full-mode value, or the fast-mode one, e.g. ``course.pick(5, fast=3)`` folds."""
        return fast if self.fast else full

    def epochs(self, full: int, fast: int = 2) -> int:
        """How many epochs a training gets: ``full``, or ``fast`` in fast mode."""
        return min(full, fast) if self.fast else full

    def subset(self, x: Any, y: Any, fast: int) -> tuple[Any, Any]:
        """``(x, y)`` whole, or in fast mode ``fast`` of them, stratified by ``y``."""
        if not self.fast:
            return x, y
        keep = stratified_sample(y, fast, self.seed)
        return x[keep], y[keep]


def from_environment(seed: int = 42) -> Course:
    """The settings this kernel was started with (full mode when nothing is set)."""
    return Course(
        fast=os.environ.get(FAST_VAR) == "1",
        seed=seed,
        random_weights=os.environ.get(RANDOM_WEIGHTS_VAR) == "1",
    )


def setup(seed: int = 42) -> Course:
    """Seed Python, NumPy and Keras, apply the display settings, print the versions; return
    this run's :class:`Course`, whose values go to the code that needs them."""
    from labhelpers.memory import limit_arenas
    from labhelpers.plots import setup_display

    import keras
    import tensorflow as tf

    limit_arenas()  # fewer malloc arenas: a few hundred MiB less by the end of a long lab
    course = from_environment(seed)
    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow: reruns tell one story
    setup_display()
    quick = ": a quick run on little data, for tests; its numbers mean little"
    versions = f"Keras {keras.__version__}, TensorFlow {tf.__version__}"
    print(versions + (quick if course.fast else ""))
    return course


def report(
    name: str, value: float, *, at_least: float | None = None, at_most: float | None = None
) -> float:
    """Show a headline figure, record it for the course runner, and return it.

    ``name`` is the figure's name in the runner's table, e.g. ``"test_accuracy"`` (the notebook
    shows "test accuracy: 0.8712"). ``at_least`` and ``at_most``, what a full run on a typical
    laptop CPU reaches or stays below, appear only in the runner's table, and a full run fails a
    lab whose figure is outside them.
    """
    value = float(value)
    print(f"{name.replace('_', ' ')}: {value:.4g}")
    path = os.environ.get(REPORT_FILE_VAR)
    if path:
        item = {"name": name, "value": value, "at_least": at_least, "at_most": at_most}
        with open(path, "a") as f:
            f.write(json.dumps(item) + "\n")
    return value


def mirror_dir() -> Path | None:
    """The local mirror named by ``LABHELPERS_DATA_DIR``, if it is set."""
    mirror = os.environ.get(DATA_DIR_VAR)
    return Path(mirror).expanduser() if mirror else None


def cache_dir() -> Path:
    """The download cache: ``LABHELPERS_CACHE_DIR``, the repository's ``data/``, or ~/.cache."""
    if os.environ.get(CACHE_DIR_VAR):
        return Path(os.environ[CACHE_DIR_VAR]).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and (repo / "data").is_dir():
        return repo / "data"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "labhelpers"


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models`` (``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"
