"""Grading a term with nbgrader: the course folder, its settings, feedback and the grades CSV.

Instructors only: this module needs nbgrader (``requirements-dev.txt``); students never import
it. ``python -m coursetools grading DIR`` makes ``DIR`` an nbgrader course folder: one assignment
per lab (``lab0`` ... ``lab4``, each holding that lab's source notebook) and an
``nbgrader_config.py`` that calls :func:`configure`. Everything else is nbgrader's own commands,
run from ``DIR`` (docs/instructors.md, "Grading a term", walks through them).

What :func:`configure` sets, and why:

- the placeholders of the student versions (``coursetools.generate``), so that what nbgrader
  releases is what ``notebooks/student/`` holds;
- a time limit per cell, after which the cell is interrupted and the rest of the notebook still
  runs: a submission that never finishes loses the exercises it blocks, and the others are
  graded;
- check cells that a student deleted are put back before grading (edited ones are restored
  anyway: grading runs the instructor's checks, never the student's copy);
- feedback that shows each failed check's message but not the hidden tests' code;
- ``nbgrader export`` writes one CSV row per student, lab and exercise (:class:`ExerciseCsv`);
- ``nbgrader zip_collect`` files each downloaded notebook under its student's id, whatever the
  learning platform named the file (:class:`OneNotebookCollector`).
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin, FileNameCollectorPlugin
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import Unicode

from coursetools.generate import CODE_PLACEHOLDER, TEXT_PLACEHOLDER
from coursetools.labs import lab_id

__all__ = [
    "CONFIG_FILE",
    "ExerciseCsv",
    "HideHiddenTests",
    "OneNotebookCollector",
    "configure",
    "prepare_course",
]

CONFIG_FILE = """\
# nbgrader settings for the Keras labs; see coursetools/grading.py for what they do and why.
# Change them here, after configure(): for example c.Execute.timeout = 300.
from coursetools.grading import configure

c = get_config()  # noqa: F821 - nbgrader defines it when it reads this file
configure(c)
"""


def prepare_course(course_dir: Path, sources: Iterable[Path]) -> list[Path]:
    """Copy each lab source into ``course_dir/source/labN/``; write ``nbgrader_config.py`` once.

    The copies are replaced on every call (the sources in ``notebooks/`` are the ones to edit);
    an existing ``nbgrader_config.py`` is kept, since the instructor may have changed it.
    Returns the copies' paths.
    """
    course_dir = Path(course_dir)
    copies = []
    for source in sources:
        folder = course_dir / "source" / lab_id(source)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.ipynb"):
            if old.name != Path(source).name:
                old.unlink()  # a renamed lab: one notebook per assignment
        copies.append(Path(shutil.copy2(source, folder / Path(source).name)))
    config = course_dir / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG_FILE, encoding="utf-8")
    return copies


class HideHiddenTests(ClearHiddenTests):
    """Feedback preprocessor: take hidden tests out of check cells; keep each error's message.

    nbgrader's feedback shows the autograded notebook, hidden tests and tracebacks included; the
    student needs the check's verdict (the AssertionError's message), not the grading code.
    """

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        """Remove the hidden-test lines of a graded cell and shorten its tracebacks."""
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            cell, resources = super().preprocess_cell(cell, resources, index)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return cell, resources


class ExerciseCsv(ExportPlugin):
    """``nbgrader export``: one row per student, lab and exercise, to ``grades.csv`` by default.

    Columns: student_id, lab, exercise, score, max_score, status. The status is "graded",
    "needs manual grading" (a written answer), "not graded" (the notebook could not be graded,
    for example because it is not valid JSON: nbgrader's log says why) or "no submission".
    """

    def export(self, gradebook: Gradebook) -> None:
        """Write the CSV file ``self.to`` (default ``grades.csv``)."""
        path = Path(self.to or "grades.csv")
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["student_id", "lab", "exercise", "score", "max_score", "status"])
            for assignment in gradebook.assignments:
                if self.assignment and assignment.name not in self.assignment:
                    continue
                for student in gradebook.students:
                    if self.student and student.id not in self.student:
                        continue
                    for row in _exercise_rows(gradebook, assignment, student.id):
                        writer.writerow([student.id, assignment.name, *row])
        self.log.info("Wrote the grades of every exercise to %s", path)


def _exercise_rows(gradebook: Gradebook, assignment: Any, student_id: str) -> list[list[Any]]:
    """[exercise, score, max_score, status] for each graded cell of one student's lab."""
    cells = [cell for notebook in assignment.notebooks for cell in notebook.grade_cells]
    try:
        submission = gradebook.find_submission(assignment.name, student_id)
    except MissingEntry:
        return [[cell.name, 0, cell.max_score, "no submission"] for cell in cells]
    grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
    # A notebook that autograde could not run keeps every grade empty, checks included.
    ungraded = all(grade.auto_score is None and grade.manual_score is None for grade in grades)
    rows = []
    for grade in grades:
        if ungraded:
            status = "not graded"
        elif grade.needs_manual_grade:
            status = "needs manual grading"
        else:
            status = "graded"
        rows.append([grade.name, grade.score, grade.max_score, status])
    return rows


class OneNotebookCollector(FileNameCollectorPlugin):
    """``nbgrader zip_collect``: each lab is one notebook, so any downloaded ``.ipynb`` is that
    lab's, filed under the student id that ``student_regexp`` finds in its path.

    Learning platforms rename downloads ("alice_12345_01_classifying_clothing (1).ipynb"); only
    the student id matters. The default takes the text before the file name's first "_"; for
    Moodle's folders ("Alice Smith_4711_assignsubmission_file_/lab.ipynb") set
    ``c.OneNotebookCollector.student_regexp = r"_(?P<student_id>\\d+)_assignsubmission_file_/"``.
    """

    student_regexp = Unicode(
        r"(?P<student_id>[A-Za-z0-9.-]+)_[^/]*$",
        help="matched (re.search) against the file's path inside the extracted folder; "
        "its group student_id names the student",
    ).tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        """The student id and the lab's notebook name for one downloaded file, or None."""
        path = Path(submitted_file)
        if path.suffix not in self.valid_ext:
            return None
        parts = path.parts
        if "extracted" not in parts:
            return None
        at = len(parts) - 1 - parts[::-1].index("extracted")
        assignment = parts[at - 1]
        inside = "/".join(parts[at + 1 :])
        match = re.search(self.student_regexp, inside)
        if match is None:
            self.log.warning("No student id in %s (student_regexp %s)", inside, self.student_regexp)
            return None
        released = sorted((Path("release") / assignment).glob("*.ipynb"))
        notebook = released[0].name if len(released) == 1 else path.name
        return {"student_id": match["student_id"], "file_id": notebook}


def configure(c: Any, timeout: int = 1200) -> None:
    """Apply the course's nbgrader settings to the config object ``c`` of ``nbgrader_config.py``.

    ``timeout`` is the limit in seconds for one cell when grading (the longest training cell,
    in full mode on a slow CPU, takes about 15 minutes; in fast mode, under one).
    """
    c.ClearSolutions.code_stub = {"python": CODE_PLACEHOLDER}
    c.ClearSolutions.text_stub = TEXT_PLACEHOLDER
    # nbgrader reads Execute.*, not nbclient's ExecutePreprocessor.*, for autograde.
    c.Execute.timeout = timeout
    c.Execute.interrupt_on_timeout = True  # the rest of the notebook still runs and is graded
    c.OverwriteCells.add_missing_cells = True
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    c.ExportApp.plugin_class = ExerciseCsv
    c.ZipCollectApp.collector_plugin = OneNotebookCollector
