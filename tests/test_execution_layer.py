"""The student versions' execution layer (the root conftest.py): under nbval every cell runs
twice, a cell that cannot run a second time fails, a passing notebook is saved with its
outputs, and an unchanged one is not run again."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_fixtures import write_notebook

pytest.importorskip("nbval", reason="pip install -r requirements-dev.txt for nbval")

ROOT = Path(__file__).parents[1]


# CI runs the student versions on every core, each notebook whole in one worker.
WAYS = {"one process": [], "workers": ["-n", "2", "--dist", "loadfile"]}


def nbval(folder: Path, way: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "notebooks/student", "--nbval-lax", "-rA", *way]
        + ["-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("way", WAYS.values(), ids=WAYS.keys())
def test_every_cell_runs_twice_and_passing_notebooks_are_saved_once(tmp_path, way):
    shutil.copy(ROOT / "conftest.py", tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    student = tmp_path / "notebooks" / "student"
    student.mkdir(parents=True)
    write_notebook(student / "01_safe.ipynb", "x = [1, 2]", "print(len(x))")
    # A cell that changes what an earlier cell made, the way x = x[..., None] does.
    write_notebook(
        student / "02_fragile.ipynb",
        "shape = globals().get('shape', (28, 28))",
        "shape += (1,)",
        "assert len(shape) == 3, shape",
    )

    done = nbval(tmp_path, way)

    assert done.returncode == 1, done.stdout
    assert re.search(r"PASSED \S*01_safe\S*::Cell 1, again", done.stdout), done.stdout
    assert re.search(r"PASSED \S*02_fragile\S*::Cell 2\n", done.stdout)
    assert re.search(r"FAILED \S*02_fragile\S*::Cell 2, again", done.stdout)
    executed = tmp_path / "build" / "course" / "student"
    assert sorted(p.name for p in executed.iterdir()) == ["01_safe.ipynb"]  # not the failed one
    saved = nbformat.read(executed / "01_safe.ipynb", as_version=4)
    assert saved.cells[1].outputs[0]["text"] == "2\n" and saved.cells[1].execution_count == 2

    again = nbval(tmp_path, way)
    assert "4 skipped" in again.stdout and "unchanged since its passing run" in again.stdout
    assert re.search(r"FAILED \S*02_fragile\S*::Cell 2, again", again.stdout)
