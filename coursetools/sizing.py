"""How many students a server holds, and how long a class takes to grade: both measured.

Students: each student's copy of the lab runs in a kernel of its own, all started together, as
a class working on one lab from one server. What a server must hold is every kernel's peak at
once; what the students feel is each run's wall time beside the time of one run alone.

Grading: copies of a lab's solution, handed in as so many students, are autograded by
``coursetools.autograde`` a given number at a time; each graded copy must score full marks, so
that the time is that of a real grading.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from labhelpers.course import Course, from_environment

from coursetools import labs
from coursetools.runner import NotebookResult, machine_description, run_one

__all__ = [
    "grading_markdown",
    "measure_grading",
    "measure_students",
    "sizing_markdown",
    "time_grading",
]

CLASS_SIZE = 200  # the class that grading_markdown projects to


def measure_students(
    notebook: Path, students: int, out_dir: Path, course: Course, timeout: int = 3600
) -> list[NotebookResult]:
    """Run ``students`` copies of ``notebook`` at once, each in its own kernel; measure each.

    Each copy's executed notebook goes to ``out_dir/student-K/``; ``out_dir/sizing.json`` and
    ``out_dir/sizing.md`` hold the measurements.
    """
    out_dir = Path(out_dir).resolve()
    meta = {
        "notebook": notebook.name,
        "mode": course.mode,
        "students": students,
        "machine": machine_description(),
    }
    print(
        f"{students} students run {notebook.name} at once, {course.mode} mode, on "
        f"{meta['machine']}",
        flush=True,
    )
    # A process per student: each drives its own kernel, as each student's server does.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(students, mp_context=spawn) as pool:
        runs = [
            pool.submit(
                run_one, notebook, out_dir / f"student-{k}" / notebook.name, course, timeout
            )
            for k in range(1, students + 1)
        ]
        results = [run.result() for run in runs]
    meta["date"] = time.strftime("%Y-%m-%d %H:%M")
    _write_report(
        out_dir,
        "sizing",
        {**meta, "results": [asdict(r) for r in results]},
        sizing_markdown(results, meta),
    )
    return results


def _write_report(out_dir: Path, name: str, measured: dict, table: str) -> None:
    """Keep a measurement as ``name.json`` and its table as ``name.md``; print the table."""
    (out_dir / f"{name}.json").write_text(json.dumps(measured, indent=2) + "\n")
    (out_dir / f"{name}.md").write_text(table)
    print("\n" + table)


def sizing_markdown(results: list[NotebookResult], meta: dict) -> str:
    """A table of each student's run, and what the server held at once."""
    lines = [
        f"# {meta['students']} students, {meta['notebook']}, {meta['mode']} mode",
        "",
        f"On {meta['machine']}.",
        "",
        "| student | status | wall time | peak memory |",
        "|---|---|---|---|",
    ]
    for k, r in enumerate(results, 1):
        peak = f"{r.peak_mem_mb:,.0f} MiB" if r.peak_mem_mb else "?"
        lines.append(f"| {k} | {r.status} | {r.wall_s:.0f} s | {peak} |")
    peaks = [r.peak_mem_mb or 0.0 for r in results]
    lines += [
        "",
        f"Slowest run {max(r.wall_s for r in results):.0f} s; the kernels' peaks add up to "
        f"{sum(peaks):,.0f} MiB (an upper bound of what they held at once).",
    ]
    return "\n".join(lines) + "\n"


def measure_grading(course_dir: Path, assignment: str, submissions: int, jobs: int) -> dict:
    """Autograde ``submissions`` copies of ``assignment``'s solution, ``jobs`` at a time.

    ``course_dir`` is an nbgrader course folder (``python -m coursetools grading``) in which
    ``nbgrader generate_assignment`` has made the assignment. The copies are handed in as
    students ``timing-1`` ... and left graded in its gradebook. Returns the wall time and each
    copy's score; raises RuntimeError if a copy is not graded with full marks.
    """
    from nbgrader.api import Gradebook

    from coursetools.autograde import autograde_in_parallel

    course_dir = Path(course_dir).resolve()
    notebooks = sorted((course_dir / "source" / assignment).glob("*.ipynb"))
    if len(notebooks) != 1:
        raise RuntimeError(f"{course_dir / 'source' / assignment} must hold one notebook")
    students = [f"timing-{k}" for k in range(1, submissions + 1)]
    for student in students:
        folder = course_dir / "submitted" / student / assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(notebooks[0], folder)
        (folder / "timestamp.txt").write_text(time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC"))
    start = time.perf_counter()
    done = autograde_in_parallel(course_dir, assignment, students, jobs)
    wall = time.perf_counter() - start
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        scores = {}
        for student in students:
            graded = gradebook.find_submission(assignment, student)
            scores[student] = (graded.code_score, graded.max_code_score)
    failed = {s: process.stderr[-1500:] for s, process in done.items() if process.returncode}
    if failed:
        student, log = next(iter(failed.items()))
        raise RuntimeError(f"nbgrader could not grade {sorted(failed)}; {student}'s log:\n{log}")
    short = sorted(s for s, (score, best) in scores.items() if score < best)
    if short:
        raise RuntimeError(f"not graded with full marks: {short}")
    return {"assignment": assignment, "submissions": submissions, "jobs": jobs, "wall_s": wall}


def grading_markdown(rows: list[dict], meta: dict) -> str:
    """A table of grading times, and what a class of ``CLASS_SIZE`` takes at each rate."""
    lines = [
        f"# Autograding, {meta['mode']} mode",
        "",
        f"On {meta['machine']}.",
        "",
        f"| lab | submissions | at once | wall time | per submission | class of {CLASS_SIZE} |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        each = row["wall_s"] / row["submissions"]
        lines.append(
            f"| {row['assignment']} | {row['submissions']} | {row['jobs']} | "
            f"{row['wall_s']:.0f} s | {each:.0f} s | {CLASS_SIZE * each / 60:.0f} min |"
        )
    return "\n".join(lines) + "\n"


def time_grading(
    assignments: list[str], submissions: int, jobs: list[int], out_dir: Path, repo: Path
) -> list[dict]:
    """Time the autograding of each assignment at each number of ``jobs``; write the tables.

    Makes ``out_dir/course`` a course folder of ``repo``'s labs, generates each assignment, and
    calls :func:`measure_grading`; ``out_dir/grading.json`` and ``out_dir/grading.md`` hold the
    measurements. The mode is the environment's, as for ``nbgrader autograde``.
    """
    from coursetools.grading import prepare_course

    out_dir = Path(out_dir).resolve()
    course_dir = out_dir / "course"
    shutil.rmtree(course_dir, ignore_errors=True)
    prepare_course(course_dir, labs.sources(repo))
    meta = {"mode": from_environment().mode, "machine": machine_description()}
    print(f"Autograding {', '.join(assignments)}, {meta['mode']} mode, on {meta['machine']}")
    rows = []
    for assignment in assignments:
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment]
        subprocess.run(command, cwd=course_dir, check=True, capture_output=True)
        for n in jobs:
            rows.append(measure_grading(course_dir, assignment, submissions, n))
            print(f"{assignment}, {n} at once: {rows[-1]['wall_s']:.0f} s", flush=True)
    meta["date"] = time.strftime("%Y-%m-%d %H:%M")
    _write_report(out_dir, "grading", {**meta, "rows": rows}, grading_markdown(rows, meta))
    return rows
