"""A term graded with real nbgrader, in fast mode: release, collect, autograde, feedback, export.

The submissions a real term brings: every answer right, nothing answered, a wrong answer, check
cells edited and deleted, a file that is not a notebook, a notebook that never finishes, and
a student who hands in nothing. They are graded on a small fixture lab (``lab9``: two
exercises, checks as the course writes them, no TensorFlow), so that each costs seconds; a real
lab is graded end to end in ``tests/test_hub.py``, through nbgrader's exchange on a hub.
The exported CSV must give each submission exactly the score it deserves, and no bad
submission may stop the grading of the others. Every lab's release is compared with its
committed student version.
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

from notebook_fixtures import answered, cell_of, fixture_lab  # noqa: E402

from coursetools import labs  # noqa: E402 - after the skip
from coursetools.grading import prepare_course  # noqa: E402

ROOT = Path(__file__).parents[1]
FIXTURE = "09_fixture.ipynb"
# Wrong answers that run: exercise 1 of each lab.
WRONG = {
    "lab9": "def double(x):\n    return x + 1",
}
NEVER_ENDS = "import time\nwhile True:  # a student's loop that never stops\n    time.sleep(1)"
STUDENTS = ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]  # gina hands in nothing
# Seconds per cell: the fixture's cells take milliseconds, so its never-ending notebook is
# stopped after a few seconds.
TIMEOUT = 5


def shell(folder: Path, command: str, ok: bool = True) -> subprocess.CompletedProcess:
    """Run a command line as the guide gives it, in fast mode, with this Python first on PATH."""
    env = dict(os.environ, LABHELPERS_FAST="1")
    # `python` and `nbgrader` (which calls the alembic executable) are the ones beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        command, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=1800
    )
    assert not ok or done.returncode == 0, f"{command}:\n{done.stderr[-3000:]}"
    return done


def nbgrader(course: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder."""
    return shell(course, "nbgrader " + " ".join(args), ok=ok)


def grade_ids(nb: nbformat.NotebookNode, **fields: bool) -> list[str]:
    """Grade ids of the cells whose nbgrader metadata has all of ``fields``."""
    return [
        cell.metadata.nbgrader["grade_id"]
        for cell in nb.cells
        if "nbgrader" in cell.metadata
        and all(cell.metadata.nbgrader.get(k, False) == v for k, v in fields.items())
    ]


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """Grade a term of the fixture lab; return (course folder, expected scores, CSV rows)."""
    # The guide's commands, as written, in a checkout that holds every lab and the fixture.
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(
        ROOT / "notebooks", repo / "notebooks", ignore=shutil.ignore_patterns("student")
    )
    nbformat.write(fixture_lab(), repo / "notebooks" / FIXTURE)
    shell(repo, "python -m coursetools grading")
    course = repo / "grading"
    (course / "students.csv").write_text(
        "id,first_name,last_name,email\n"
        + "".join(f"{name},{name.title()},Student,\n" for name in STUDENTS),
        encoding="utf-8",
    )
    shell(course, "nbgrader db student import students.csv")
    shell(course, "nbgrader generate_assignment lab1")
    for source_path in labs.sources(repo):  # every release, to compare with the student versions
        if labs.lab_id(source_path) != "lab1":
            nbgrader(course, "generate_assignment", labs.lab_id(source_path))
    expected: dict[tuple[str, str, str], tuple[float, str]] = {}
    for source_path in [repo / "notebooks" / FIXTURE]:
        lab = labs.lab_id(source_path)
        release_path = course / "release" / lab / source_path.name
        release = nbformat.read(release_path, as_version=4)
        source = nbformat.read(source_path, as_version=4)
        checks = grade_ids(release, grade=True, solution=False)
        written = grade_ids(release, grade=True, solution=True)
        points = {g: cell_of(release, g).metadata.nbgrader["points"] for g in checks + written}

        full = answered(release, source)
        wrong = answered(release, source)
        cell_of(wrong, "exercise_1_answer").source = WRONG[lab]

        def expect(student, scores, status="graded", wrote=False, lab=lab, cells=(checks, written)):
            """Autograded scores; a written answer waits for the instructor, a blank one is 0."""
            for g in cells[0] + cells[1]:
                state = "needs manual grading" if g in cells[1] and wrote else status
                score = scores.get(g, 0) if state == "graded" and g in cells[0] else 0
                expected[student, lab, g] = (score, state)

        everything = {g: points[g] for g in checks}
        expect("carol", {**everything, "exercise_1": 0}, wrote=True)
        expect("erin", {}, status="not graded")
        submissions = {"carol": wrong}
        if lab == "lab9":  # right, blank, tampered, never-ending: on the fixture, seconds each
            expect("alice", everything, wrote=True)
            # Tampered: exercise 1 unanswered, but its check cell prints a pass and claims 100
            # points; exercise 2 answered, and its check cell deleted.
            tampered = nbformat.from_dict(release)
            cell_of(tampered, "exercise_1").source = 'print("Exercise 1: correct")'
            cell_of(tampered, "exercise_1").metadata.nbgrader["points"] = 100
            answer = cell_of(full, "exercise_2_answer").source
            cell_of(tampered, "exercise_2_answer").source = answer
            tampered.cells.remove(cell_of(tampered, "exercise_2"))
            endless = answered(release, source)
            answer = cell_of(endless, "exercise_1_answer")
            answer.source = NEVER_ENDS + "\n" + answer.source  # stops before the answer
            submissions.update(alice=full, bob=release, dave=tampered, frank=endless)
            expect("bob", {})
            expect("dave", {"exercise_2": points["exercise_2"]})
            expect("frank", {**everything, "exercise_1": 0}, wrote=True)
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

        timeout = f"--Execute.timeout={TIMEOUT}"
        graded = nbgrader(course, "autograde", lab, timeout, ok=False)
        # erin's file fails, and only hers: nbgrader exits 1 once all others are graded.
        assert graded.returncode == 1
        assert "There was an error processing assignment 'lab" in graded.stderr
        failed = [line for line in graded.stderr.splitlines() if "for student '" in line]
        assert all("'erin'" in line for line in failed), failed
        if lab == "lab9":
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
    # gina handed in nothing: nbgrader lists her (she is in the database) with nothing.
    assert {got[key] for key in got if key[:2] == ("gina", "lab9")} == {(0, "no submission")}


def test_max_scores_come_from_the_source_not_from_the_submission(term):
    _, _, rows = term
    dave = {
        row["exercise"]: float(row["max_score"])
        for row in rows
        if row["student_id"] == "dave" and row["lab"] == "lab9"
    }
    assert dave["exercise_1"] == 1  # he claimed 100


def test_feedback_shows_the_checks_message_but_not_the_hidden_tests(term):
    course, _, _ = term
    for name, hidden in [(FIXTURE, "assert double")]:
        lab = labs.lab_id(name)
        page = course / "feedback" / "carol" / lab / Path(name).with_suffix(".html").name
        html = page.read_text(encoding="utf-8")
        assert "AssertionError" in html and "Exercise 1" in html and "not quite" in html
        assert "HIDDEN TESTS" not in html and hidden not in html
    full_marks = course / "feedback" / "alice" / "lab9" / "09_fixture.html"
    assert "AssertionError" not in full_marks.read_text(encoding="utf-8")
    assert not (course / "feedback" / "erin").exists()  # nothing to give back: not graded


def test_the_release_is_the_committed_student_version(term):
    course, _, _ = term
    for source_path in labs.sources():
        release = nbformat.read(course / "release" / labs.lab_id(source_path) / source_path.name, 4)
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
    assert labs.lab_id("notebooks/04_transfer_learning.ipynb") == "lab4"
    with pytest.raises(ValueError, match="starts with its number"):
        labs.lab_id("transfer_learning.ipynb")
    course = tmp_path / "grading"
    sources = labs.sources(ROOT)[:2]
    first = prepare_course(course, sources)
    assert [p.relative_to(course).as_posix() for p in first] == [
        "source/lab0/00_how_networks_learn.ipynb",
        "source/lab1/01_classifying_clothing.ipynb",
    ]
    config = course / "nbgrader_config.py"
    assert "configure(c)" in config.read_text(encoding="utf-8")
    config.write_text("c = get_config()\nc.Execute.timeout = 300\n", encoding="utf-8")
    stale = course / "source" / "lab1" / "01_old_name.ipynb"
    stale.write_text("{}", encoding="utf-8")
    prepare_course(course, sources)
    assert "timeout = 300" in config.read_text(encoding="utf-8")  # never overwritten
    assert not stale.exists()  # one notebook per assignment
    copy = course / "source/lab1/01_classifying_clothing.ipynb"
    assert copy.read_bytes() == sources[1].read_bytes()
