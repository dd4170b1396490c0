"""Generate the student version of each lab: the same notebook with its solutions taken out.

A lab's source is an nbgrader source notebook (``metadata.nbgrader`` on its answer and check
cells), and its student version is made by nbgrader's own preprocessors, in the order that
``nbgrader generate_assignment`` runs them: ``LockCells`` (check cells read-only),
``ClearSolutions`` (each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes a
placeholder, each written answer an invitation), ``ClearOutput``, ``ClearHiddenTests`` (the
graded form of each check goes) and ``CheckCellMetadata``. So what we commit in
``notebooks/student/`` and what nbgrader releases hold the same cells.

The code placeholder is a comment and ``pass``, not nbgrader's default ``raise
NotImplementedError``, so that "Run all" goes through a notebook whose exercises are still
blank; the self-check cells then say "not answered yet" (:mod:`coursetools.grading` gives
nbgrader the same placeholders). Student versions go to ``notebooks/student/`` under the same
names, with a tag on their first cell that marks them as generated: the generator refuses to
overwrite a file without it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.nbgraderformat import ValidationError
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    ClearSolutions,
    LockCells,
)
from traitlets.config import Config

from coursetools import labs

__all__ = [
    "CODE_PLACEHOLDER",
    "GENERATED_TAG",
    "TEXT_PLACEHOLDER",
    "SolutionMarkerError",
    "generate_student_versions",
    "make_student_version",
    "solution_lines",
    "write_student_version",
]

GENERATED_TAG = "student-version"
CODE_PLACEHOLDER = "# YOUR CODE HERE: replace this line and the pass below with your answer.\npass"
TEXT_PLACEHOLDER = (
    "**Your answer:** double-click this cell and write your answer here, in a few sentences. "
    "No check cell judges a written answer: your instructor reads it."
)
GENERATED_NOTE = (
    "*Student version: the exercises are yours to solve, and the check cell after each one "
    "tells you whether your answer is right.*"
)
# generate_assignment's order, less what a committed notebook must not hold (checksums, the
# gradebook) and what this course does not use (headers, test templates, mark schemes).
PREPROCESSORS = (LockCells, ClearSolutions, ClearOutput, ClearHiddenTests, CheckCellMetadata)
NBGRADER_ERRORS = (RuntimeError, ValueError, ValidationError)  # what they raise on bad input


class SolutionMarkerError(ValueError):
    """A solution marker or nbgrader cell metadata in a source notebook is malformed."""


def _config() -> Config:
    """nbgrader's settings for the student versions: our placeholders."""
    config = Config()
    config.ClearSolutions.code_stub = {"python": CODE_PLACEHOLDER}
    config.ClearSolutions.text_stub = TEXT_PLACEHOLDER
    return config


def _preprocess(nb: NotebookNode) -> NotebookNode:
    resources, config = {}, _config()
    for preprocessor in PREPROCESSORS:
        nb, resources = preprocessor(config=config).preprocess(nb, resources)
    return nb


def _culprit(nb: NotebookNode) -> str:
    """Which cell nbgrader refuses, found by giving it one cell at a time ("" if none alone)."""
    for index, cell in enumerate(nb.cells):
        try:
            _preprocess(nbformat.v4.new_notebook(cells=[copy.deepcopy(cell)], metadata=nb.metadata))
        except NBGRADER_ERRORS as error:
            return f", cell {index} ({cell.cell_type}): {error}"
    return ""


def make_student_version(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Return a copy of ``nb`` with solutions and hidden tests taken out; ``name`` is for errors."""
    try:
        student = _preprocess(copy.deepcopy(nb))
    except NBGRADER_ERRORS as error:  # malformed markers or metadata, in nbgrader's words
        where = _culprit(nb) or f": {error} (a grade_id used twice, or the metadata's schema)"
        raise SolutionMarkerError(f"{name}{where}") from None
    for cell in student.cells:
        # Keep what JupyterLab and nbgrader read; drop editor noise (collapsed, scrolled, ...).
        keep = ("tags", "nbgrader", "deletable", "editable")
        cell.metadata = {key: cell.metadata[key] for key in keep if key in cell.metadata}
        cell.metadata.get("nbgrader", {}).pop("checksum", None)  # of the instructor's cell
    first = student.cells[0]
    first.source = _point_badges_at_student_version(first.source, name) + "\n\n" + GENERATED_NOTE
    first.metadata["tags"] = [*first.metadata.get("tags", []), GENERATED_TAG]
    return student


def solution_lines(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """Every non-blank line of ``nb`` that its student version leaves out, cell by cell, less
    the markers themselves."""
    student = make_student_version(nb, name)
    left_out = []
    for source, kept in zip(nb.cells, student.cells, strict=True):
        shown = {line.strip() for line in kept.source.splitlines()}
        left_out += [
            line.strip() for line in source.source.splitlines() if line.strip() not in shown
        ]
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    return [line for line in left_out if line and not any(m in line for m in markers)]


def _point_badges_at_student_version(text: str, name: str) -> str:
    """Make the Colab and Binder links of the first cell open the student file itself."""
    file = Path(name).name
    text = text.replace(f"notebooks/{file}", f"notebooks/student/{file}")
    return text.replace(f"notebooks%2F{file}", f"notebooks%2Fstudent%2F{file}")


def is_generated(path: Path) -> bool:
    """True when ``path`` is a student version written by this module."""
    nb = nbformat.read(path, as_version=4)
    return bool(nb.cells) and GENERATED_TAG in nb.cells[0].get("metadata", {}).get("tags", [])


def write_student_version(source: Path, target_dir: Path) -> tuple[Path, bool]:
    """Write the student version of ``source`` into ``target_dir``; return (path, changed).

    Refuses to overwrite a file that is not a generated student version, and writes nothing
    when the file is already current, so a second run changes nothing.
    """
    source, target_dir = Path(source), Path(target_dir)
    target = target_dir / source.name
    if target.resolve() == source.resolve():
        raise ValueError(f"{source}: the student version would overwrite its own source")
    nb = nbformat.read(source, as_version=4)
    text = nbformat.writes(make_student_version(nb, str(source)), version=4)
    text += "" if text.endswith("\n") else "\n"  # as nbformat.write does
    if target.exists():
        if not is_generated(target):
            raise FileExistsError(
                f"{target} exists and is not a generated student version (its first cell lacks "
                f"the '{GENERATED_TAG}' tag); move it away if it is yours, then run again."
            )
        if target.read_text(encoding="utf-8") == text:
            return target, False
    target_dir.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".ipynb.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)  # atomic: a failed run never leaves half a notebook
    return target, True


def generate_student_versions(
    sources: Iterable[Path] | None = None, target_dir: Path = labs.STUDENT_DIR
) -> list[tuple[Path, bool]]:
    """Write the student version of every lab (default: ``notebooks/[0-9]*.ipynb``)."""
    sources = labs.sources() if sources is None else sources
    return [write_student_version(source, target_dir) for source in sources]
