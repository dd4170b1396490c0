"""Small notebooks for the tests: code cells in a python3 notebook, and nbgrader's metadata."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook


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
