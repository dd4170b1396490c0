"""The student versions: generated from the sources, current, and free of solutions."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labhelpers.__main__ import main
from labhelpers.student import (
    GENERATED_TAG,
    SOLUTION_TAG,
    SolutionMarkerError,
    make_student_version,
    solution_lines,
    write_student_version,
)

ROOT = Path(__file__).parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
STUDENT_DIR = ROOT / "notebooks" / "student"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def student_lines(nb: nbformat.NotebookNode) -> set[str]:
    return {line.strip() for cell in nb.cells for line in cell.source.splitlines()}


def test_there_are_sources():
    assert SOURCES, "no lab notebooks found in notebooks/"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_committed_student_version_is_current(source, tmp_path):
    committed = STUDENT_DIR / source.name
    assert committed.exists(), f"{relative(committed)} is missing: run python -m labhelpers student"
    expected, _ = write_student_version(source, tmp_path)
    assert committed.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8"), (
        f"{relative(committed)} is out of date: run python -m labhelpers student"
    )


def test_no_student_version_without_a_source():
    orphans = {p.name for p in STUDENT_DIR.glob("*.ipynb")} - {p.name for p in SOURCES}
    assert not orphans, f"student versions without a source (delete them): {sorted(orphans)}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_lab_marks_its_exercises(source):
    nb = nbformat.read(source, as_version=4)
    assert solution_lines(nb, source.name), f"{source.name} has no marked solution"


def split_lines(nb: nbformat.NotebookNode) -> tuple[set[str], set[str]]:
    """(solution lines, other lines) of a source, read independently of the generator."""
    inside, solution, other = False, set(), set()
    for cell in nb.cells:
        whole = cell.cell_type == "markdown" and SOLUTION_TAG in cell.metadata.get("tags", [])
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                inside = "BEGIN" in line
            elif line.strip():
                (solution if whole or inside else other).add(line.strip())
    return solution, other


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_solution_line_survives(source):
    nb = nbformat.read(source, as_version=4)
    solution, other = split_lines(nb)
    assert set(solution_lines(nb)) == solution, "the generator and this test disagree"
    # Lines such as "plt.show()" or "]" also appear outside the solutions, so they tell
    # nothing; every other solution line must be gone.
    secret = solution - other
    assert secret, f"{source.name}: every solution line also appears outside the solutions"
    student = nbformat.read(STUDENT_DIR / source.name, as_version=4)
    leaked = sorted(secret & student_lines(student))
    assert not leaked, f"solution lines in the student version of {source.name}: {leaked}"
    text = "\n".join(cell.source for cell in student.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert not any(SOLUTION_TAG in cell.metadata.get("tags", []) for cell in student.cells)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_student_version_is_clean_runnable_python_with_its_own_badges(source):
    student = nbformat.read(STUDENT_DIR / source.name, as_version=4)
    nbformat.validate(student)
    assert set(student.metadata) <= {"kernelspec", "language_info", "colab"}
    first = student.cells[0]
    assert first.source.startswith("# ") and GENERATED_TAG in first.metadata["tags"]
    assert f"notebooks/student/{source.name}" in first.source  # Colab opens the student file
    assert f"notebooks%2Fstudent%2F{source.name}" in first.source  # and so does Binder
    for index, cell in enumerate(student.cells):
        assert set(cell.metadata) <= {"tags"}, f"cell {index} has editor metadata"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            # IPython magics are not Python; everything else must parse, placeholders included.
            code = "\n".join(
                line.split("%")[0] + "pass" if line.lstrip().startswith("%") else line
                for line in cell.source.splitlines()
            )
            ast.parse(code, filename=f"{source.name}, cell {index}")


def test_generating_is_deterministic_and_never_touches_the_source(tmp_path):
    before = {source: digest(source) for source in SOURCES}
    first = [write_student_version(source, tmp_path) for source in SOURCES]
    assert all(changed for _, changed in first)
    contents = {path: digest(path) for path, _ in first}
    second = [write_student_version(source, tmp_path) for source in SOURCES]
    assert not any(changed for _, changed in second), "a second run rewrote a file"
    assert {path: digest(path) for path, _ in second} == contents
    assert {source: digest(source) for source in SOURCES} == before


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell("# Lab 9: a test"), *cells])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    return nb


def test_solution_regions_become_placeholders_and_hints_stay():
    cell = new_code_cell(
        "# Exercise: write f. Hint: add one.\n"
        "answer = None\n"
        "def f(x):\n"
        "    ### BEGIN SOLUTION\n"
        "    return x + 1\n"
        "    ### END SOLUTION\n"
        "### BEGIN SOLUTION\n"
        "answer = f(41)\n"
        "### END SOLUTION\n"
        "print(answer)"
    )
    written = new_markdown_cell("The secret answer.")
    written.metadata["tags"] = [SOLUTION_TAG, "keep-me"]
    student = make_student_version(notebook(cell, written), "lab9.ipynb")
    code = student.cells[1].source
    assert "x + 1" not in code and "f(41)" not in code and "SOLUTION" not in code
    assert code.startswith("# Exercise: write f. Hint: add one.\nanswer = None\ndef f(x):\n")
    assert "\n    pass\n" in code and code.endswith("pass\nprint(answer)")
    ast.parse(code)  # the placeholder keeps the indentation of its markers
    assert "secret" not in student.cells[2].source
    assert student.cells[2].metadata["tags"] == ["keep-me"]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (new_code_cell("x = 1\n### BEGIN SOLUTION\nx = 2"), "opened on line 2 is never closed"),
        (new_code_cell("x = 1\n### END SOLUTION"), "line 2 closes a solution region"),
        (
            new_code_cell("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"),
            "line 2 opens a solution region inside",
        ),
        (new_markdown_cell("Answer:\n### BEGIN SOLUTION\n42"), "solution marker in a markdown"),
    ],
    ids=["unclosed", "never opened", "nested", "in markdown"],
)
def test_malformed_markers_name_the_notebook_and_cell(cell, message):
    with pytest.raises(SolutionMarkerError, match="lab9.ipynb, cell 1") as error:
        make_student_version(notebook(cell), "lab9.ipynb")
    assert message in str(error.value)


def test_solution_tag_on_a_code_cell_is_an_error():
    cell = new_code_cell("x = 42")
    cell.metadata["tags"] = [SOLUTION_TAG]
    with pytest.raises(SolutionMarkerError, match=r"lab9.ipynb, cell 1 \(code\).*markdown"):
        make_student_version(notebook(cell), "lab9.ipynb")


def test_refuses_to_overwrite_a_file_that_is_not_generated(tmp_path):
    source = tmp_path / "09_test.ipynb"
    nbformat.write(notebook(new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")), source)
    target_dir = tmp_path / "student"
    target_dir.mkdir()
    precious = target_dir / source.name
    nbformat.write(notebook(new_code_cell("my own work")), precious)
    before = digest(precious)
    with pytest.raises(FileExistsError, match="not a generated student version"):
        write_student_version(source, target_dir)
    assert digest(precious) == before
    precious.unlink()
    path, changed = write_student_version(source, target_dir)  # a generated file is replaced
    assert changed and write_student_version(source, target_dir) == (path, False)


def test_command_line_regenerates_every_lab(tmp_path, monkeypatch, capsys):
    (tmp_path / "notebooks").mkdir()
    for name in ["01_a.ipynb", "02_b.ipynb"]:
        cell = new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
        nbformat.write(notebook(cell), tmp_path / "notebooks" / name)
    monkeypatch.chdir(tmp_path)
    assert main(["student"]) == 0
    assert sorted(p.name for p in (tmp_path / "notebooks/student").iterdir()) == [
        "01_a.ipynb",
        "02_b.ipynb",
    ]
    assert main(["student"]) == 0
    assert capsys.readouterr().out.count("up to date") == 2
