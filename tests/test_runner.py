"""Tests of the course runner on two tiny notebooks: one that reports, one that fails."""

from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from labhelpers.__main__ import main


def write_notebook(path, *sources):
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


def test_runner_full_mode_and_exit_code_zero(tmp_path, monkeypatch):
    monkeypatch.delenv("LABHELPERS_FAST", raising=False)
    nb = write_notebook(
        tmp_path / "01.ipynb",
        "import labhelpers; labhelpers.report('fast', labhelpers.fast_mode())",
    )
    assert main(["run", "--output", str(tmp_path / "out"), str(nb)]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["mode"] == "full" and report["results"][0]["figures"] == {"fast": 0.0}
