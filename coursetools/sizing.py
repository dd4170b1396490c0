"""How many students a server holds: one lab run by several students at once, measured.

Each student's copy of the lab runs in a kernel of its own, all started together, as a class
working on one lab from one server. What a server must hold is every kernel's peak at once;
what the students feel is each run's wall time beside the time of one run alone.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from labhelpers.course import Course

from coursetools.runner import NotebookResult, machine_description, run_one

__all__ = ["measure_students", "sizing_markdown"]


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
    (out_dir / "sizing.json").write_text(
        json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    table = sizing_markdown(results, meta)
    (out_dir / "sizing.md").write_text(table)
    print("\n" + table)
    return results


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
