"""Autograde a class in parallel, without two processes ever writing nbgrader's gradebook.

``nbgrader autograde`` grades one submission after another, and every grading process writes
the course's SQLite gradebook; several at once would wait on its lock, or fail with "database
is locked". Here each student's submission is graded by its own ``nbgrader autograde
--student ID`` process, against a copy of the gradebook of its own, and once every process has
finished, this process alone copies what each graded into the course's gradebook: the
submission's timestamp, each graded cell's automatic score and whether it needs a person, and
each answer cell's automatic comment (nbgrader's ``SaveAutoGrades`` writes nothing else).
Run it from the course folder: ``python -m coursetools autograde lab1 --jobs 2``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

__all__ = ["autograde_in_parallel", "merge_submission", "submitted_students"]

WORK = ".autograde"  # in the course folder: one gradebook per student while grading


def submitted_students(course_dir: Path, assignment: str) -> list[str]:
    """The students with a collected submission of ``assignment`` in ``submitted/``."""
    return sorted(
        path.parent.name
        for path in Path(course_dir).glob(f"submitted/*/{assignment}")
        if path.is_dir()
    )


def merge_submission(main: Gradebook, worker: Gradebook, assignment: str, student: str) -> None:
    """Copy one student's autograded submission from ``worker``'s gradebook into ``main``."""
    graded = worker.find_submission(assignment, student)
    main.update_or_create_student(student)
    fields = {"timestamp": graded.timestamp} if graded.timestamp else {}
    main.update_or_create_submission(assignment, student, **fields)
    for notebook in graded.notebooks:
        for grade in notebook.grades:
            target = main.find_grade(grade.name, notebook.name, assignment, student)
            target.auto_score = grade.auto_score
            target.needs_manual_grade = grade.needs_manual_grade
        for comment in notebook.comments:
            target = main.find_comment(comment.name, notebook.name, assignment, student)
            target.auto_comment = comment.auto_comment
    main.db.commit()


def autograde_in_parallel(
    course_dir: Path,
    assignment: str,
    students: list[str] | None = None,
    jobs: int = 2,
    options: tuple[str, ...] = (),
) -> dict[str, subprocess.CompletedProcess]:
    """Autograde each student's submission in its own process, ``jobs`` at a time.

    ``options`` go to every ``nbgrader autograde`` (for example ``--Execute.timeout=300``).
    Returns each student's finished process (its ``returncode`` and output); a submission that
    could not be graded is in the gradebook as nbgrader leaves it, as when grading one by one.
    """
    course_dir = Path(course_dir).resolve()
    students = submitted_students(course_dir, assignment) if students is None else students
    work = course_dir / WORK / assignment
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    main_db = course_dir / "gradebook.db"

    def grade(student: str) -> subprocess.CompletedProcess:
        """One student's submission, graded into that student's copy of the gradebook."""
        database = work / f"{student}.db"
        shutil.copy(main_db, database)
        command = [
            sys.executable,
            "-m",
            "nbgrader",
            "autograde",
            assignment,
            f"--student={student}",
            f"--CourseDirectory.db_url=sqlite:///{database}",
            *options,
        ]
        return subprocess.run(command, cwd=course_dir, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = dict(zip(students, pool.map(grade, students), strict=True))
    with Gradebook(f"sqlite:///{main_db}") as main:
        for student in students:
            with Gradebook(f"sqlite:///{work / f'{student}.db'}") as worker:
                try:
                    merge_submission(main, worker, assignment, student)
                except MissingEntry:  # nbgrader stopped before it recorded anything
                    pass
    shutil.rmtree(course_dir / WORK, ignore_errors=True)
    return done
