"""Small notebooks for the tests: code cells in a python3 notebook, and nbgrader's metadata."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write_notebook(path: Path, *sources: str) -> Path:
    """Write a notebook of one code cell per source, with the python3 kernel; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def graded(cell: nbformat.NotebookNode, grade_id: str, **fields) -> nbformat.NotebookNode:
    """``cell`` with nbgrader metadata: fields solution, grade, locked, points."""
    cell.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": grade_id,
        "locked": False,
        "schema_version": 3,
        "solution": False,
        "task": False,
        **fields,
    }
    return cell


def answered(
    release: nbformat.NotebookNode, source: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled in from the source's solution."""
    solutions = {
        cell.metadata.nbgrader["grade_id"]: cell.source
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    return nb


def cell_of(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """The cell of ``nb`` whose nbgrader grade id is ``grade_id``."""
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def check_cell(number: int, call: str) -> nbformat.NotebookNode:
    """A check cell as the labs write it: a verdict for the student, the graded form hidden."""
    source = (
        f"check({number}, {call})\n### BEGIN HIDDEN TESTS\n"
        f"assert {call}, 'Exercise {number}: not quite; reread the section above.'\n"
        "### END HIDDEN TESTS"
    )
    return graded(new_code_cell(source), f"exercise_{number}", grade=True, locked=True, points=1)


def fixture_lab() -> nbformat.NotebookNode:
    """A lab of two exercises with nbgrader's metadata, as the sources have it."""
    setup = (
        "def check(number, passed):\n"
        "    print(f'Exercise {number}: ' + ('correct' if passed else 'not quite'))"
    )
    cells = [
        new_markdown_cell("# Lab 9: a fixture"),
        graded(new_code_cell(setup), "setup", locked=True),
        graded(
            new_code_cell(
                "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
            ),
            "exercise_1_answer",
            solution=True,
        ),
        check_cell(1, "double(2) == 4"),
        graded(
            new_code_cell("words = []\n### BEGIN SOLUTION\nwords = ['a', 'b']\n### END SOLUTION"),
            "exercise_2_answer",
            solution=True,
        ),
        check_cell(2, "len(words) == 2"),
        graded(
            new_markdown_cell("Doubling twice is multiplying by four."),
            "exercise_3_answer",
            solution=True,
            grade=True,
            points=1,
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb
