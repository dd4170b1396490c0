"""Generate the student version of each lab: the same notebook with its solutions taken out.

A lab's source is an nbgrader source notebook: the cells carry nbgrader's metadata
(``metadata.nbgrader``), and this generator reads the same conventions as nbgrader's
``generate_assignment``, so that the student versions we commit and what nbgrader releases
hold the same cells:

- an answer cell (``solution: true``) of code keeps its lines except those between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``, which become a short placeholder; the
  comments above the region (what to write, a hint) stay for the student;
- a written answer (a markdown cell with ``solution: true``, manually graded) becomes an
  invitation to write one's own answer;
- a check cell (``grade: true``, locked) loses the lines between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS``: the graded form of the check, which raises on a wrong answer;
- locked cells become read-only in the student's JupyterLab (``editable`` and ``deletable``
  false, as nbgrader releases them).

The placeholder is a comment and ``pass``, not nbgrader's default ``raise
NotImplementedError``, so that "Run all" goes through a notebook whose exercises are still
blank; the self-check cells then say "not answered yet" (``nbgrader_config.py`` gives nbgrader
the same placeholders). Student versions go to ``notebooks/student/`` under the same names,
with a tag on their first cell that marks them as generated: the generator refuses to
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
    "CODE_PLACEHOLDER",
    "GENERATED_TAG",
    "TEXT_PLACEHOLDER",
    "SolutionMarkerError",
    "copy_for_student",
    "generate_student_versions",
    "make_student_version",
    "nbgrader_cells",
    "solution_lines",
    "write_student_version",
]

GENERATED_TAG = "student-version"
_MARKER = re.compile(r"^(?P<indent>\s*)#+\s*(?P<kind>BEGIN|END) SOLUTION\s*$")
_HIDDEN = re.compile(r"^\s*#+\s*(?P<kind>BEGIN|END) HIDDEN TESTS\s*$")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
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
    """A solution marker or nbgrader cell metadata in a source notebook is malformed."""


def _regions(
    source: str, where: str, pattern: re.Pattern[str], what: str
) -> list[tuple[bool, list[str]]]:
    """Split a cell's lines into (inside, lines) runs at ``pattern``'s BEGIN/END markers.

    The first item of an inside run is the BEGIN marker's indentation; markers are removed.
    """
    runs: list[tuple[bool, list[str]]] = [(False, [])]
    opened_at = None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = pattern.match(line)
        if marker is None:
            runs[-1][1].append(line)
        elif marker["kind"] == "BEGIN":
            if opened_at is not None:
                raise SolutionMarkerError(
                    f"{where}: line {number} opens a {what} region inside the one opened on "
                    f"line {opened_at}; close it first with '### END {what.upper()}'."
                )
            opened_at = number
            runs.append((True, [line[: len(line) - len(line.lstrip())]]))
        else:
            if opened_at is None:
                raise SolutionMarkerError(
                    f"{where}: line {number} closes a {what} region that was never opened; "
                    f"add '### BEGIN {what.upper()}' above it."
                )
            opened_at = None
            runs.append((False, []))
    if opened_at is not None:
        raise SolutionMarkerError(
            f"{where}: the {what} region opened on line {opened_at} is never closed; "
            f"add '### END {what.upper()}' after it."
        )
    return runs


def _split(source: str, where: str) -> list[tuple[bool, list[str]]]:
    """Split a code cell's lines into (is_solution, lines) runs, markers removed."""
    return _regions(source, where, _MARKER, "solution")


def _where(name: str, index: int, cell: NotebookNode) -> str:
    return f"{name}, cell {index} ({cell.cell_type})"


def _grading(cell: NotebookNode) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def nbgrader_cells(nb: NotebookNode, name: str = "notebook") -> dict[str, NotebookNode]:
    """The cells that carry nbgrader metadata, by grade id, after checking that metadata.

    Raises :class:`SolutionMarkerError` naming the cell when an id is missing, malformed or
    used twice, a graded cell has no points, a check cell is not locked, or solution markers
    and hidden tests sit in cells whose metadata does not say so.
    """
    found: dict[str, NotebookNode] = {}
    for index, cell in enumerate(nb.cells):
        where = _where(name, index, cell)
        grading = _grading(cell)
        text = cell.source
        has_markers = any(_MARKER.match(line) for line in text.splitlines())
        has_hidden = any(_HIDDEN.match(line) for line in text.splitlines())
        if cell.cell_type == "markdown" and (has_markers or has_hidden):
            raise SolutionMarkerError(
                f"{where}: solution markers and hidden tests work in code cells only; mark a "
                "written answer with nbgrader metadata solution: true instead."
            )
        if not grading:
            if has_markers or has_hidden:
                raise SolutionMarkerError(
                    f"{where}: the cell has {'solution markers' if has_markers else 'hidden tests'}"
                    " but no nbgrader metadata; give it metadata.nbgrader (solution: true for "
                    "an answer, grade: true and locked: true for a check)."
                )
            continue
        grade_id = grading.get("grade_id")
        if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
            raise SolutionMarkerError(
                f"{where}: nbgrader grade_id {grade_id!r} should be letters, digits, _ or -."
            )
        if grade_id in found:
            raise SolutionMarkerError(f"{where}: grade_id {grade_id!r} is used twice.")
        found[grade_id] = cell
        solution, graded = grading.get("solution", False), grading.get("grade", False)
        if graded and not (
            isinstance(grading.get("points"), (int, float)) and grading["points"] > 0
        ):
            raise SolutionMarkerError(f"{where}: graded cell {grade_id!r} needs points > 0.")
        if cell.cell_type == "code" and solution != has_markers:
            raise SolutionMarkerError(
                f"{where}: an answer cell (solution: true) needs '### BEGIN SOLUTION' and "
                "'### END SOLUTION' around its solution, and only an answer cell has them."
            )
        if has_hidden and not graded:
            raise SolutionMarkerError(f"{where}: hidden tests belong in a graded cell.")
        if cell.cell_type == "code" and graded and not (grading.get("locked") and not solution):
            raise SolutionMarkerError(
                f"{where}: a check cell (grade: true) must be locked: true and not a solution."
            )
    return found


def make_student_version(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Return a copy of ``nb`` with solutions and hidden tests taken out; ``name`` is for errors."""
    nbgrader_cells(nb, name)
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        where = _where(name, index, cell)
        grading = _grading(cell)
        grading.pop("checksum", None)  # nbgrader's, of the instructor's version of the cell
        if cell.cell_type == "markdown" and grading.get("solution"):
            cell.source = TEXT_PLACEHOLDER
        elif cell.cell_type == "code":
            lines = []
            for is_solution, run in _split(cell.source, where):
                if is_solution:
                    lines += [run[0] + line for line in CODE_PLACEHOLDER.splitlines()]
                else:
                    lines += run
            hidden = _regions("\n".join(lines), where, _HIDDEN, "hidden tests")
            cell.source = "\n".join(line for inside, run in hidden if not inside for line in run)
            cell.outputs = []
            cell.execution_count = None
        metadata = {key: cell.metadata[key] for key in ("tags",) if cell.metadata.get(key)}
        if grading:
            metadata["nbgrader"] = grading
            metadata["deletable"] = False
            if grading.get("locked"):
                metadata["editable"] = False
        cell.metadata = metadata
    first = student.cells[0]
    first.source = _point_badges_at_student_version(first.source, name) + "\n\n" + GENERATED_NOTE
    first.metadata["tags"] = [*first.metadata.get("tags", []), GENERATED_TAG]
    return student


def _point_badges_at_student_version(text: str, name: str) -> str:
    """Make the Colab and Binder links of the first cell open the student file itself."""
    file = Path(name).name
    text = text.replace(f"notebooks/{file}", f"notebooks/student/{file}")
    return text.replace(f"notebooks%2F{file}", f"notebooks%2Fstudent%2F{file}")


def solution_lines(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """Every non-blank line that a student version leaves out (solutions and hidden tests)."""
    lines: list[str] = []
    for index, cell in enumerate(nb.cells):
        where = _where(name, index, cell)
        if cell.cell_type == "markdown" and _grading(cell).get("solution"):
            lines += cell.source.splitlines()
        elif cell.cell_type == "code":
            for pattern, what in ((_MARKER, "solution"), (_HIDDEN, "hidden tests")):
                for inside, run in _regions(cell.source, where, pattern, what):
                    if inside:
                        lines += run[1:]
    return [line.strip() for line in lines if line.strip()]


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
    sources: Iterable[Path] | None = None, target_dir: Path = Path("notebooks/student")
) -> list[tuple[Path, bool]]:
    """Write the student version of every lab (default: ``notebooks/[0-9]*.ipynb``)."""
    sources = sorted(Path("notebooks").glob("[0-9]*.ipynb")) if sources is None else sources
    return [write_student_version(source, target_dir) for source in sources]


def copy_for_student(
    target_dir: Path = Path("my-labs"), student_dir: Path = Path("notebooks/student")
) -> list[tuple[Path, bool]]:
    """Copy each student version into ``target_dir`` unless a copy is there already.

    A student's own copies: ``git pull`` updates ``notebooks/student/`` and never touches these
    (``my-labs/`` is ignored by git), and a second call adds new labs without overwriting work.
    Returns (path, copied) for every lab.
    """
    labs = sorted(Path(student_dir).glob("[0-9]*.ipynb"))
    if not labs:
        raise FileNotFoundError(
            f"no student versions in {student_dir}: run from the repository root"
        )
    Path(target_dir).mkdir(parents=True, exist_ok=True)
    done = []
    for lab in labs:
        target = Path(target_dir) / lab.name
        try:
            with target.open("xb") as copy:  # "x": never overwrite, even in a race
                copy.write(lab.read_bytes())
        except FileExistsError:
            done.append((target, False))
        else:
            done.append((target, True))
    return done
