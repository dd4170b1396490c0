"""``python -m coursetools sizing``: one lab run by several students at once, each measured;
``grading-time``: a lab's solution autograded as a class's submissions, timed."""

from __future__ import annotations

import json

import nbformat
import pytest
from notebook_fixtures import cell_of, fixture_lab, write_notebook

from coursetools.__main__ import main


def test_students_run_at_once_each_in_a_kernel_of_its_own(tmp_path, capsys):
    lab = write_notebook(
        tmp_path / "lab" / "01_lab.ipynb",
        "import os, time\nimport labhelpers\nlabhelpers.report('began', time.time())",
        "block = bytearray(200 * 2**20)  # touch 200 MB so that each peak shows it",
        "time.sleep(3)\nlabhelpers.report('ended', time.time())\n"
        "labhelpers.report('kernel', os.getpid())",
    )
    out = tmp_path / "sizing"

    assert main(["sizing", str(lab), "--students", "3", "--fast", "--output", str(out)]) == 0

    measured = json.loads((out / "sizing.json").read_text())
    assert measured["students"] == 3 and measured["mode"] == "fast"
    assert "AVX-512" in measured["machine"]
    runs = measured["results"]
    assert [r["status"] for r in runs] == ["ok"] * 3
    assert all(r["peak_mem_mb"] > 200 for r in runs)
    assert len({r["figures"]["kernel"] for r in runs}) == 3  # three kernels
    # At once: every run began before any had ended.
    assert max(r["figures"]["began"] for r in runs) < min(r["figures"]["ended"] for r in runs)
    for k in (1, 2, 3):
        assert (out / f"student-{k}" / "01_lab.ipynb").is_file()
    table = (out / "sizing.md").read_text()
    assert "| 3 | ok |" in table and "peaks add up to" in table
    assert table in capsys.readouterr().out


def test_a_failing_run_fails_the_command(tmp_path):
    lab = write_notebook(tmp_path / "01_lab.ipynb", "1 / 0")

    assert main(["sizing", str(lab), "--students", "2", "--output", str(tmp_path / "s")]) == 1

    runs = json.loads((tmp_path / "s" / "sizing.json").read_text())["results"]
    assert all("ZeroDivisionError" in r["error"] for r in runs)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.ipynb"], "no such notebook: missing.ipynb"),
        (["LAB", "--students", "0"], "--students must be at least 1"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, capsys, args, message):
    lab = write_notebook(tmp_path / "01_lab.ipynb", "x = 1")
    args = [str(lab) if a == "LAB" else a for a in args]

    with pytest.raises(SystemExit) as exit:
        main(["sizing", *args])

    assert exit.value.code == 2 and message in capsys.readouterr().err


def fixture_repo(tmp_path, answer: str | None = None):
    """A checkout whose one lab is the grading tests' fixture (lab9), maybe answered wrong."""
    nb = fixture_lab()
    if answer is not None:
        cell_of(nb, "exercise_1_answer").source = answer
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "09_fixture.ipynb")
    return tmp_path


def test_grading_is_timed_one_and_two_at_a_time(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(fixture_repo(tmp_path))
    # As from .venv/bin/python with the environment not activated: nbgrader's gradebook runs
    # `alembic` by name, which the command must still find.
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    args = ["grading-time", "lab9", "--submissions", "2", "--jobs", "1", "2"]

    assert main([*args, "--output", "timing"]) == 0, capsys.readouterr().err

    measured = json.loads((tmp_path / "timing" / "grading.json").read_text())
    assert "AVX-512" in measured["machine"]
    rows = measured["rows"]
    assert [(r["assignment"], r["submissions"], r["jobs"]) for r in rows] == [
        ("lab9", 2, 1),
        ("lab9", 2, 2),
    ]
    assert all(r["wall_s"] > 0 for r in rows)
    table = (tmp_path / "timing" / "grading.md").read_text()
    assert "| lab9 | 2 | 2 |" in table and "class of 200" in table
    assert table in capsys.readouterr().out


def test_a_solution_short_of_full_marks_fails_the_timing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(fixture_repo(tmp_path, answer="def double(x):\n    return x + 1"))

    assert main(["grading-time", "lab9", "--submissions", "1", "--jobs", "1"]) == 1

    assert "not graded with full marks: ['timing-1']" in capsys.readouterr().err


def test_an_unknown_lab_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(fixture_repo(tmp_path))

    with pytest.raises(SystemExit) as exit:
        main(["grading-time", "lab7"])

    assert exit.value.code == 2 and "no such lab: lab7 (the labs: lab9)" in capsys.readouterr().err
