"""Generate the student version of each lab: the same notebook with its solutions taken out.

A lab's source holds the solutions, marked with nbgrader's conventions:

- in a code cell, solution lines sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
  they become a short placeholder, and the comments above the region (what to write, a hint)
  stay for the student;
- a markdown cell that is wholly a written answer carries the cell tag ``solution``; its text
  becomes an invitation to write one's own answer.

The placeholder is a comment and ``pass``, not nbgrader's ``raise NotImplementedError``, so
that "Run all" goes through a notebook whose exercises are still blank; the self-check cells
then say "not answered yet". Student versions go to ``notebooks/student/`` under the same
names, with a tag on their first cell that marks them as generated: the generator refuses to
overwrite a file without it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = [
    "GENERATED_TAG",
    "SOLUTION_TAG",
    "SolutionMarkerError",
    "generate_student_versions",
    "make_student_version",
    "solution_lines",
    "write_student_version",
]

SOLUTION_TAG = "solution"
GENERATED_TAG = "student-version"
_MARKER = re.compile(r"^(?P<indent>\s*)#+\s*(?P<kind>BEGIN|END) SOLUTION\s*$")
CODE_PLACEHOLDER = "# YOUR CODE HERE: replace this line and the pass below with your answer.\npass"
TEXT_PLACEHOLDER = (
    "**Your answer:** double-click this cell and write your own answer here, then compare with "
    "your neighbour or your instructor."
)
GENERATED_NOTE = (
    "*Student version: the exercises are yours to solve. This file is generated from the "
    "course's source by `python -m labhelpers student`; instructors edit the source, not it.*"
)


class SolutionMarkerError(ValueError):
    """A solution marker in a source notebook is malformed."""


def _split(source: str, where: str) -> list[tuple[bool, list[str]]]:
    """Split a code cell's lines into (is_solution, lines) runs, markers removed."""
    runs: list[tuple[bool, list[str]]] = [(False, [])]
    opened_at = None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = _MARKER.match(line)
        if marker is None:
            runs[-1][1].append(line)
        elif marker["kind"] == "BEGIN":
            if opened_at is not None:
                raise SolutionMarkerError(
                    f"{where}: line {number} opens a solution region inside the one opened on "
                    f"line {opened_at}; close it first with '### END SOLUTION'."
                )
            opened_at = number
            runs.append((True, [marker["indent"]]))  # the first item keeps the indentation
        else:
            if opened_at is None:
                raise SolutionMarkerError(
                    f"{where}: line {number} closes a solution region that was never opened; "
                    "add '### BEGIN SOLUTION' above the solution."
                )
            opened_at = None
            runs.append((False, []))
    if opened_at is not None:
        raise SolutionMarkerError(
            f"{where}: the solution region opened on line {opened_at} is never closed; "
            "add '### END SOLUTION' after the solution."
        )
    return runs


def _where(name: str, index: int, cell: NotebookNode) -> str:
    return f"{name}, cell {index} ({cell.cell_type})"


def _check_markdown(cell: NotebookNode, where: str) -> None:
    for number, line in enumerate(cell.source.splitlines(), start=1):
        if _MARKER.match(line):
            raise SolutionMarkerError(
                f"{where}: line {number} is a solution marker in a markdown cell; markers work "
                f"in code cells only. Tag the whole cell '{SOLUTION_TAG}' instead."
            )


def _tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def make_student_version(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Return a copy of ``nb`` with solutions replaced by placeholders; ``name`` is for errors."""
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        where = _where(name, index, cell)
        tags = _tags(cell)
        if cell.cell_type == "markdown":
            _check_markdown(cell, where)
            if SOLUTION_TAG in tags:
                cell.source = TEXT_PLACEHOLDER
        elif cell.cell_type == "code":
            if SOLUTION_TAG in tags:
                raise SolutionMarkerError(
                    f"{where}: the '{SOLUTION_TAG}' tag is for markdown answers; in a code cell "
                    "put the solution between '### BEGIN SOLUTION' and '### END SOLUTION'."
                )
            lines = []
            for is_solution, run in _split(cell.source, where):
                if is_solution:
                    indent = run[0]
                    lines += [indent + line for line in CODE_PLACEHOLDER.splitlines()]
                else:
                    lines += run
            cell.source = "\n".join(lines)
            cell.outputs = []
            cell.execution_count = None
        if SOLUTION_TAG in tags:
            tags.remove(SOLUTION_TAG)
        if tags:
            cell.metadata = {"tags": tags}
        else:
            cell.metadata = {}
    first = student.cells[0]
    first.source = _point_badges_at_student_version(first.source, name) + "\n\n" + GENERATED_NOTE
    first.metadata = {"tags": [*_tags(first), GENERATED_TAG]}
    return student


def _point_badges_at_student_version(text: str, name: str) -> str:
    """Make the Colab and Binder links of the first cell open the student file itself."""
    file = Path(name).name
    text = text.replace(f"notebooks/{file}", f"notebooks/student/{file}")
    return text.replace(f"notebooks%2F{file}", f"notebooks%2Fstudent%2F{file}")


def solution_lines(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """Every non-blank line of the solutions in a source notebook, stripped of indentation."""
    lines: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and SOLUTION_TAG in _tags(cell):
            lines += cell.source.splitlines()
        elif cell.cell_type == "code":
            for is_solution, run in _split(cell.source, _where(name, index, cell)):
                if is_solution:
                    lines += run[1:]
    return [line.strip() for line in lines if line.strip()]


def is_generated(path: Path) -> bool:
    """True when ``path`` is a student version written by this module."""
    nb = nbformat.read(path, as_version=4)
    return bool(nb.cells) and GENERATED_TAG in _tags(nb.cells[0])


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
    sources: Iterable[Path] | None = None, target_dir: Path = Path("notebooks/student")
) -> list[tuple[Path, bool]]:
    """Write the student version of every lab (default: ``notebooks/[0-9]*.ipynb``)."""
    sources = sorted(Path("notebooks").glob("[0-9]*.ipynb")) if sources is None else sources
    return [write_student_version(source, target_dir) for source in sources]
