"""A term graded with real nbgrader, in fast mode: release, collect, autograde, feedback, export.

Two labs, and the submissions a real term brings: every answer right, nothing answered, a wrong
answer, check cells edited and deleted, a file that is not a notebook, a notebook that never
finishes, and students who hand in one lab but not the other. The exported CSV must give each
of them exactly the score it deserves, and no bad submission may stop the grading of the
others.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip(
    "nbgrader", reason="grading needs nbgrader: pip install -r requirements-dev.txt"
)

from labhelpers.grading import lab_id, prepare_course  # noqa: E402 - after the skip

ROOT = Path(__file__).parents[1]
LABS = [ROOT / "notebooks" / "00_how_networks_learn.ipynb"]
LABS.append(ROOT / "notebooks" / "01_classifying_clothing.ipynb")
# Wrong answers that run: exercise 1 of each lab.
WRONG = {
    "lab0": "def mse(y_true, y_pred):\n    return np.mean(np.abs(np.asarray(y_pred) - y_true))",
    "lab1": "def sigmoid(z):\n    return z",
}
NEVER_ENDS = "import time\nwhile True:  # a student's loop that never stops\n    time.sleep(1)"
STUDENTS = ["alice", "bob", "carol", "dave", "erin", "frank"]
TIMEOUT = 90  # seconds per cell: several times the slowest fast-mode cell of these labs


def nbgrader(course: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, LABHELPERS_FAST="1")
    # nbgrader calls the alembic executable, which sits next to this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert not ok or done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done


def grade_ids(nb: nbformat.NotebookNode, **fields: bool) -> list[str]:
    """Grade ids of the cells whose nbgrader metadata has all of ``fields``."""
    return [
        cell.metadata.nbgrader["grade_id"]
        for cell in nb.cells
        if "nbgrader" in cell.metadata
        and all(cell.metadata.nbgrader.get(k, False) == v for k, v in fields.items())
    ]


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
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """Grade a term of two labs; return (course folder, {lab: expected scores}, CSV rows)."""
    # The README's commands, as written, in a checkout that holds these two labs.
    repo = tmp_path_factory.mktemp("repo")
    (repo / "notebooks").mkdir()
    for source in LABS:
        shutil.copy2(source, repo / "notebooks")
    made = subprocess.run(
        [sys.executable, "-m", "labhelpers", "grading"], cwd=repo, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    course = repo / "grading"
    (course / "students.csv").write_text(
        "id,first_name,last_name,email\n"
        + "".join(f"{name},{name.title()},Student,\n" for name in STUDENTS),
        encoding="utf-8",
    )
    nbgrader(course, "db", "student", "import", "students.csv")
    expected: dict[tuple[str, str, str], tuple[float, str]] = {}
    for source_path in LABS:
        lab = lab_id(source_path)
        nbgrader(course, "generate_assignment", lab)
        release_path = course / "release" / lab / source_path.name
        release = nbformat.read(release_path, as_version=4)
        source = nbformat.read(source_path, as_version=4)
        checks = grade_ids(release, grade=True, solution=False)
        written = grade_ids(release, grade=True, solution=True)
        points = {g: cell_of(release, g).metadata.nbgrader["points"] for g in checks + written}

        full = answered(release, source)
        wrong = answered(release, source)
        cell_of(wrong, "exercise_1_answer").source = WRONG[lab]
        # Tampered: exercise 1 unanswered, but its check cell prints a pass and claims 100
        # points; exercise 2 answered, and its check cell deleted.
        tampered = nbformat.from_dict(release)
        cell_of(tampered, "exercise_1").source = 'print("✅ Exercise 1: correct, well done.")'
        cell_of(tampered, "exercise_1").metadata.nbgrader["points"] = 100
        cell_of(tampered, "exercise_2_answer").source = cell_of(full, "exercise_2_answer").source
        tampered.cells.remove(cell_of(tampered, "exercise_2"))
        endless = answered(release, source)
        answer = cell_of(endless, "exercise_1_answer")
        answer.source = NEVER_ENDS + "\n" + answer.source  # stops before the answer

        def expect(student, scores, status="graded", wrote=False, lab=lab, cells=(checks, written)):
            """Autograded scores; a written answer waits for the instructor, a blank one is 0."""
            for g in cells[0] + cells[1]:
                state = "needs manual grading" if g in cells[1] and wrote else status
                score = scores.get(g, 0) if state == "graded" and g in cells[0] else 0
                expected[student, lab, g] = (score, state)

        everything = {g: points[g] for g in checks}
        expect("alice", everything, wrote=True)
        expect("carol", {**everything, "exercise_1": 0}, wrote=True)
        expect("erin", {}, status="not graded")
        submissions = {"alice": full, "carol": wrong}
        if lab == "lab0":  # blank, tampered, never-ending: once is enough, each costs a run
            submissions.update(bob=release, dave=tampered, frank=endless)
            expect("bob", {})
            expect("dave", {"exercise_2": points["exercise_2"]})
            expect("frank", {**everything, "exercise_1": 0})
        # Submissions as a learning platform hands them out: one zip of renamed downloads.
        downloads = course / "downloaded" / lab / "archive"
        downloads.mkdir(parents=True)
        with zipfile.ZipFile(downloads / "submissions.zip", "w") as archive:
            for student, nb in submissions.items():
                archive.writestr(
                    f"{student}_{lab}_{student}-attempt (1).ipynb", nbformat.writes(nb)
                )
            text = nbformat.writes(full)
            archive.writestr(f"erin_{lab}_download.ipynb", text[: len(text) // 2])  # cut short
        collected = nbgrader(course, "zip_collect", lab)
        assert "files collected" in collected.stderr
        for student in [*submissions, "erin"]:
            assert (course / "submitted" / student / lab / source_path.name).is_file(), student

        graded = nbgrader(course, "autograde", lab, f"--Execute.timeout={TIMEOUT}", ok=False)
        # erin's file fails, and only hers: nbgrader exits 1 once all others are graded.
        assert graded.returncode == 1
        assert "There was an error processing assignment 'lab" in graded.stderr
        failed = [line for line in graded.stderr.splitlines() if "for student '" in line]
        assert all("'erin'" in line for line in failed), failed
        if lab == "lab0":
            assert "Timeout waiting for execute reply" in graded.stderr
        nbgrader(course, "generate_feedback", lab)
    nbgrader(course, "export")
    with (course / "grades.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    return course, expected, rows


def test_every_submission_gets_the_score_it_deserves(term):
    _, expected, rows = term
    got = {
        (row["student_id"], row["lab"], row["exercise"]): (float(row["score"]), row["status"])
        for row in rows
    }
    missing = sorted(set(expected) - set(got))
    assert not missing, f"no row for {missing}"
    wrong = {key: (got[key], want) for key, want in expected.items() if got[key] != want}
    assert not wrong, f"(got, expected): {wrong}"
    # bob, dave and frank handed in lab0 only; in lab1 nbgrader lists them (they are in the
    # database) with nothing.
    for student in ("bob", "dave", "frank"):
        assert {got[key] for key in got if key[:2] == (student, "lab1")} == {(0, "no submission")}


def test_max_scores_come_from_the_source_not_from_the_submission(term):
    _, _, rows = term
    dave = {
        row["exercise"]: float(row["max_score"])
        for row in rows
        if row["student_id"] == "dave" and row["lab"] == "lab0"
    }
    assert dave["exercise_1"] == 1  # he claimed 100


def test_feedback_shows_the_checks_message_but_not_the_hidden_tests(term):
    course, _, _ = term
    for source_path in LABS:
        lab = lab_id(source_path)
        page = course / "feedback" / "carol" / lab / source_path.with_suffix(".html").name
        html = page.read_text(encoding="utf-8")
        assert "AssertionError" in html and "Exercise 1" in html and "not quite" in html
        assert "HIDDEN TESTS" not in html and ".require(" not in html
        full_marks = course / "feedback" / "alice" / lab / page.name
        assert "AssertionError" not in full_marks.read_text(encoding="utf-8")
    assert not (course / "feedback" / "erin").exists()  # nothing to give back: not graded


def test_the_release_is_the_committed_student_version(term):
    course, _, _ = term
    for source_path in LABS:
        release = nbformat.read(course / "release" / lab_id(source_path) / source_path.name, 4)
        student = nbformat.read(ROOT / "notebooks" / "student" / source_path.name, 4)
        assert [c.cell_type for c in release.cells] == [c.cell_type for c in student.cells]
        # The first cell differs on purpose: the student version's badges open itself.
        for index, (ours, theirs) in enumerate(
            zip(student.cells[1:], release.cells[1:], strict=True), 1
        ):
            assert ours.source == theirs.source, f"{source_path.name}, cell {index}"
            assert ours.metadata.get("nbgrader", {}).get("grade_id") == theirs.metadata.get(
                "nbgrader", {}
            ).get("grade_id")


def test_lab_ids_and_a_course_folder_that_keeps_the_instructors_settings(tmp_path):
    assert lab_id("notebooks/04_transfer_learning.ipynb") == "lab4"
    with pytest.raises(ValueError, match="starts with its number"):
        lab_id("transfer_learning.ipynb")
    course = tmp_path / "grading"
    first = prepare_course(course, LABS)
    assert [p.relative_to(course).as_posix() for p in first] == [
        "source/lab0/00_how_networks_learn.ipynb",
        "source/lab1/01_classifying_clothing.ipynb",
    ]
    config = course / "nbgrader_config.py"
    assert "configure(c)" in config.read_text(encoding="utf-8")
    config.write_text("c = get_config()\nc.Execute.timeout = 300\n", encoding="utf-8")
    stale = course / "source" / "lab1" / "01_old_name.ipynb"
    stale.write_text("{}", encoding="utf-8")
    prepare_course(course, LABS)
    assert "timeout = 300" in config.read_text(encoding="utf-8")  # never overwritten
    assert not stale.exists()  # one notebook per assignment
    assert (course / "source/lab1/01_classifying_clothing.ipynb").read_bytes() == LABS[
        1
    ].read_bytes()
