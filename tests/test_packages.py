"""Two packages for two audiences: every module of labhelpers imports without the instructors'
tools (what `pip install -r requirements.txt -e .` gives a student), and coursetools holds them."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import labhelpers

import pytest

ROOT = Path(__file__).parents[1]
# What requirements-dev.txt adds for instructors and developers, and the course tools.
INSTRUCTORS_ONLY = ["coursetools", "nbgrader", "nbval", "sphinx", "myst_nb", "playwright", "pytest"]

PROBE = """
import importlib, importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is an instructors' tool")
        return None

sys.meta_path.insert(0, Refuse())
for module in {modules!r}:
    importlib.import_module(module)
print("imported", len({modules!r}))
"""


def test_every_labhelpers_module_imports_without_the_instructors_tools():
    modules = [
        info.name
        for info in pkgutil.walk_packages(labhelpers.__path__, "labhelpers.")
        if info.name != "labhelpers.__main__"
    ]
    assert "labhelpers.checks.lab0" in modules and "labhelpers.workspace" in modules
    probe = PROBE.format(blocked=INSTRUCTORS_ONLY, modules=["labhelpers", *modules])
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"imported {len(modules) + 1}" in done.stdout


def test_the_old_grading_settings_still_work_for_one_release():
    from labhelpers import grading

    from traitlets.config import Config

    config = Config()
    with pytest.warns(DeprecationWarning, match="coursetools.grading"):
        grading.configure(config)
    assert config.Execute.timeout == 1200 and config.OverwriteCells.add_missing_cells
