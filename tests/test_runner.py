"""Tests of the course runner on tiny notebooks: reporting, expectations, failures, paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labhelpers.__main__ import main

REPO = Path(__file__).resolve().parents[1]


def write_notebook(path, *sources):
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_runner_reports_figures_memory_and_failures(tmp_path, capsys):
    good = write_notebook(
        tmp_path / "01_good.ipynb",
        "import labhelpers",
        "block = bytearray(300 * 2**20)  # touch 300 MB so that the peak shows it",
        "labhelpers.report('fast', labhelpers.fast_mode())\nlabhelpers.report('answer', 42)",
    )
    bad = write_notebook(tmp_path / "02_bad.ipynb", "x = 1", "1 / 0", "never = 'reached'")
    out = tmp_path / "out"

    assert main(["run", "--fast", "--output", str(out), str(good), str(bad)]) == 1

    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "fast"
    first, second = report["results"]
    assert first["status"] == "ok" and first["figures"] == {"fast": 1.0, "answer": 42.0}
    assert first["peak_mem_mb"] > 300
    assert second["status"] == "failed"
    assert second["error"].startswith("cell 1:") and "ZeroDivisionError" in second["error"]
    # Executed copies are saved, the failing one with its traceback.
    executed = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0].ename == "ZeroDivisionError"
    table = (out / "report.md").read_text()
    assert "| 01_good.ipynb | ok |" in table and "answer = 42" in table
    assert "| 02_bad.ipynb | failed: cell 1:" in capsys.readouterr().out


EXPECTING = (
    "import labhelpers\n"
    "labhelpers.report('accuracy', 0.91, at_least=0.87)\n"
    "labhelpers.report('gap', 0.30, at_most=0.10)"
)


def test_full_mode_fails_a_figure_outside_its_expectation(tmp_path, monkeypatch):
    monkeypatch.delenv("LABHELPERS_FAST", raising=False)
    nb = write_notebook(tmp_path / "01.ipynb", EXPECTING)
    out = tmp_path / "out"

    assert main(["run", "--output", str(out), str(nb)]) == 1

    result = json.loads((out / "report.json").read_text())["results"][0]
    assert result["status"] == "failed" and result["missed"] == ["gap"]
    assert result["expected"] == {"accuracy": ">= 0.87", "gap": "<= 0.1"}
    assert "outside expectation: gap" in result["error"]
    table = (out / "report.md").read_text()
    assert "accuracy = 0.91 (expected >= 0.87: ok)" in table
    assert "gap = 0.3 (expected <= 0.1: **outside**)" in table


def test_fast_mode_shows_but_does_not_check_expectations(tmp_path):
    nb = write_notebook(tmp_path / "01.ipynb", EXPECTING)
    out = tmp_path / "out"

    assert main(["run", "--fast", "--output", str(out), str(nb)]) == 0

    result = json.loads((out / "report.json").read_text())["results"][0]
    assert result["status"] == "ok" and result["missed"] == ["gap"]
    assert (
        "gap = 0.3 (expected <= 0.1: not checked in fast mode)" in (out / "report.md").read_text()
    )


def test_runner_full_mode_exit_code_zero_and_html(tmp_path, monkeypatch):
    monkeypatch.delenv("LABHELPERS_FAST", raising=False)
    nb = write_notebook(
        tmp_path / "01.ipynb",
        "import labhelpers; labhelpers.report('fast', labhelpers.fast_mode(), at_most=0)",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
    )
    assert main(["run", "--html", "--output", str(tmp_path / "out"), str(nb)]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["mode"] == "full" and report["results"][0]["figures"] == {"fast": 0.0}
    page = (tmp_path / "out" / "01.html").read_text()
    assert "<html" in page and "data:image/png;base64" in page  # the figure is in the page


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the repository's package with two tiny labs, one in a subfolder."""
    root = tmp_path / "course"
    shutil.copytree(
        REPO / "labhelpers", root / "labhelpers", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", root)
    lab = (
        "import labhelpers\n"
        "print('Epoch 1/2 - loss: 0.69', flush=True)\n"
        "import time; time.sleep(2.5)\n"
        "labhelpers.report('accuracy', 0.9, at_least=0.87)"
    )
    write_notebook(root / "notebooks" / "01_lab.ipynb", lab)
    write_notebook(root / "notebooks" / "student" / "01_lab.ipynb", lab)
    return root


def run_cli(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "LABHELPERS_FAST"}
    return subprocess.run(
        [sys.executable, "-m", "labhelpers", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_readme_command_with_defaults_from_the_repository_root(course_copy):
    """``python -m labhelpers run --fast``, exactly as the README gives it."""
    done = run_cli("run", "--fast", cwd=course_copy)

    assert done.returncode == 0, done.stdout + done.stderr
    out = course_copy / "build" / "course"
    report = json.loads((out / "report.json").read_text())
    assert [r["notebook"] for r in report["results"]] == ["01_lab.ipynb"]
    assert report["results"][0]["figures"] == {"accuracy": 0.9}
    assert (out / "01_lab.ipynb").is_file()
    # The progress bar shows what the kernel is printing inside a long cell.
    assert "Epoch 1/2 - loss: 0.69" in done.stderr


def test_relative_output_from_another_folder_and_notebooks_in_subfolders(course_copy):
    elsewhere = course_copy / "elsewhere"
    elsewhere.mkdir()
    notebooks = ["../notebooks/01_lab.ipynb", "../notebooks/student/01_lab.ipynb"]

    done = run_cli("run", "--output", "out", *notebooks, cwd=elsewhere)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((elsewhere / "out" / "report.json").read_text())
    assert [r["notebook"] for r in report["results"]] == ["01_lab.ipynb", "student/01_lab.ipynb"]
    assert all(r["figures"] == {"accuracy": 0.9} for r in report["results"])
    assert (elsewhere / "out" / "student" / "01_lab.ipynb").is_file()
