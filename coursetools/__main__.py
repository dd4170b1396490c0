"""The instructors' command line: ``python -m coursetools {run,generate,grading,classroom,site,
hub,autograde,sizing}``.

Each command is one small parser (``_add_*``) and one function that carries it out; run them
from the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from coursetools import labs

Command = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from labhelpers.course import Course

    from coursetools.runner import run_notebooks, save_html

    notebooks = args.notebooks or labs.sources()
    if not notebooks:
        parser.error("no notebooks found: run from the repository root or name them")
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    course = Course(fast=args.fast, random_weights=args.random_weights)
    results = run_notebooks(notebooks, args.output, course, args.timeout, reuse=not args.again)
    if args.html:
        for result in results:
            executed = args.output / result.notebook
            if executed.is_file():  # a notebook that could not be read has no executed copy
                save_html(executed)
    print(f"Executed notebooks and report in {args.output.resolve()}")
    return 0 if all(r.status == "ok" for r in results) else 1


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="execute lab notebooks headless and measure them")
    run.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9]*.ipynb")
    run.add_argument("--fast", action="store_true", help="small data, few epochs (as in CI)")
    run.add_argument(
        "--random-weights",
        action="store_true",
        help="where pre-trained weights cannot be had, start from random ones (to measure "
        "time and memory offline; the lab then reports imagenet_weights = 0)",
    )
    run.add_argument("--output", type=Path, default=Path("build/course"), help="%(default)s")
    run.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    run.add_argument(
        "--again",
        action="store_true",
        help="run every notebook, even one unchanged (notebook, labhelpers, requirements and "
        "mode) since a passing run into the same output folder",
    )
    run.add_argument(
        "--html", action="store_true", help="also render the executed notebooks as HTML pages"
    )
    run.set_defaults(handler=_run)


def _generate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from coursetools.generate import generate_student_versions

    sources = labs.sources()
    if not sources:
        parser.error("no notebooks found: run from the repository root")
    for path, changed in generate_student_versions(sources, labs.STUDENT_DIR):
        print(f"{'wrote' if changed else 'up to date'}: {path}")
    return 0


def _add_generate(commands) -> None:
    generate = commands.add_parser(
        "generate", help="regenerate notebooks/student/ (solutions taken out) from notebooks/"
    )
    generate.set_defaults(handler=_generate)


def _grading(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    sources = labs.sources()
    if not sources:
        parser.error("no notebooks found: run from the repository root")
    try:
        from coursetools.grading import prepare_course
    except ImportError as error:
        parser.error(f"{error}: grading needs nbgrader: pip install -r requirements-dev.txt")
    for copy in prepare_course(args.course_dir, sources):
        print(f"{labs.lab_id(copy)}: {copy}")
    print(
        f"Next, in {args.course_dir}: nbgrader generate_assignment lab1 (and so on), then "
        "collect, autograde, generate_feedback and export (see docs/instructors.md)."
    )
    return 0


def _add_grading(commands) -> None:
    grading = commands.add_parser(
        "grading", help="make DIR an nbgrader course folder: one assignment per lab"
    )
    grading.add_argument("course_dir", nargs="?", type=Path, default=Path("grading"))
    grading.set_defaults(handler=_grading)


def _classroom(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from labhelpers.fetch import FetchError

    from coursetools.classroom import prepare, summary

    try:
        outcomes = prepare(args.folder)
    except FetchError as error:  # a malformed SHA256SUMS in the folder
        parser.exit(1, f"{error}\n")
    for outcome in outcomes:
        print(outcome)
    print(summary(outcomes, args.folder))
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def _add_classroom(commands) -> None:
    classroom = commands.add_parser(
        "classroom",
        help="fill DIR with every dataset and weights file the labs need, checked, for a "
        "classroom without internet (then: export LABHELPERS_DATA_DIR=DIR)",
    )
    # Under build/, which git ignores, as the runner's build/course is.
    classroom.add_argument(
        "folder", nargs="?", type=Path, default=Path("build/classroom"), help="%(default)s"
    )
    classroom.set_defaults(handler=_classroom)


def _site(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from coursetools.site import LABELS, SiteError, build_site

    executed = {"students": args.students, "solutions": args.solutions}
    if args.only:
        executed = {args.only: executed[args.only]}
    try:
        built = build_site(executed, args.output)
    except SiteError as error:
        parser.exit(1, f"error: {error}\n")
    for edition, (seconds, warnings) in built.items():
        note = f", {len(warnings)} warnings (above)" if warnings else ""
        index = args.output / edition / "index.html"
        print(f"The {LABELS[edition]}: {index}, built in {seconds:.1f} s{note}")
    return 0


def _add_site(commands) -> None:
    site = commands.add_parser(
        "site",
        help="build the course website from executed notebooks: the students' edition (from "
        "the student versions) and the solutions edition (from the sources)",
        description="Build the course website from executed notebooks (Sphinx executes "
        "nothing). First run the sources, `python -m coursetools run` (into build/course/), "
        "and the student versions, `python -m coursetools run notebooks/student/[0-9]*.ipynb "
        "--output build/course/student`; --fast for a quick look. The students' edition holds "
        "no solution; publish the solutions edition after the term.",
    )
    site.add_argument(
        "--students",
        type=Path,
        default=Path("build/course/student"),
        help="the executed student versions (default: %(default)s)",
    )
    site.add_argument(
        "--solutions",
        type=Path,
        default=Path("build/course"),
        help="the executed sources (default: %(default)s)",
    )
    site.add_argument(
        "--only", choices=["students", "solutions"], help="build one edition (default: both)"
    )
    site.add_argument(
        "--output",
        type=Path,
        default=Path("build/site"),
        help="the editions go to OUTPUT/students/ and OUTPUT/solutions/ (default: %(default)s)",
    )
    site.set_defaults(handler=_site)


def _hub(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    sources = labs.sources()
    if not sources:
        parser.error("no notebooks found: run from the repository root")
    if os.geteuid() != 0:
        parser.error("run it as root (sudo): it makes users and starts their servers")
    try:
        from coursetools.hub import Settings, read_class_list, setup, start
    except ImportError as error:
        parser.error(f"{error}: the hub needs JupyterHub: pip install -r requirements-dev.txt")
    settings = Settings(
        course=args.course,
        instructors=args.instructor,
        students=read_class_list(args.students),
        state=str(args.state.resolve()),
        exchange=str(args.exchange.resolve()),
        data=str(args.data.resolve()) if args.data else "",
        ip=args.ip,
        port=args.port,
        python=str(args.python),
    )
    config = setup(settings, sources)
    print(
        f"{len(settings.students)} students, instructors {', '.join(settings.instructors)}; "
        f"exchange {settings.exchange}/{settings.course}; JupyterHub settings {config}"
    )
    if args.no_start:
        return 0
    print(f"Starting JupyterHub on {settings.ip or '*'}:{settings.port}", flush=True)
    start(settings)  # does not return: this process becomes JupyterHub
    return 0


def _add_hub(commands) -> None:
    hub = commands.add_parser(
        "hub",
        help="as root: make a classroom JupyterHub on this machine (users, nbgrader's "
        "exchange, the instructor's course folder) and start it",
        description="Make and start a classroom JupyterHub on one server (docs/classroom-hub.md). "
        "Safe to run again: existing users and settings are kept.",
    )
    hub.add_argument(
        "--instructor", action="append", required=True, help="Unix user name (repeatable)"
    )
    hub.add_argument(
        "--students", type=Path, required=True, help="the class list: nbgrader's students.csv"
    )
    hub.add_argument("--data", type=Path, help="the data mirror (python -m coursetools classroom)")
    hub.add_argument("--course", default="keras-labs", help="nbgrader course id (%(default)s)")
    hub.add_argument("--state", type=Path, default=Path("/srv/keras-labs-hub"), help="%(default)s")
    hub.add_argument(
        "--exchange", type=Path, default=Path("/srv/nbgrader/exchange"), help="%(default)s"
    )
    hub.add_argument("--ip", default="", help="address to listen on (default: every interface)")
    hub.add_argument("--port", type=int, default=8000, help="%(default)s")
    hub.add_argument(
        "--python",
        type=Path,
        default=Path(sys.executable),
        help="the Python of the users' servers, which every user must be able to run "
        "(default: this one)",
    )
    hub.add_argument("--no-start", action="store_true", help="set up only; do not start")
    hub.set_defaults(handler=_hub)


def _autograde(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from coursetools.autograde import autograde_in_parallel
    except ImportError as error:
        parser.error(f"{error}: grading needs nbgrader: pip install -r requirements-dev.txt")
    if not Path("gradebook.db").is_file():
        parser.error("no gradebook.db here: run it from the course folder, after collect")
    done = autograde_in_parallel(Path.cwd(), args.assignment, args.student, args.jobs)
    for student, process in done.items():
        if process.returncode:
            print(process.stderr[-2000:], file=sys.stderr)
        print(f"{student}: {'graded' if process.returncode == 0 else 'failed (above)'}")
    return 0 if all(process.returncode == 0 for process in done.values()) else 1


def _add_autograde(commands) -> None:
    autograde = commands.add_parser(
        "autograde",
        help="in an nbgrader course folder: autograde an assignment's submissions in parallel",
    )
    autograde.add_argument("assignment", help="for example lab1")
    autograde.add_argument(
        "--student", action="append", help="only this student (repeatable; default: all)"
    )
    autograde.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes at once (default: cores)"
    )
    autograde.set_defaults(handler=_autograde)


def _sizing(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from labhelpers.course import Course

    from coursetools.sizing import measure_students

    if not args.notebook.is_file():
        parser.error(f"no such notebook: {args.notebook}")
    if args.students < 1:
        parser.error("--students must be at least 1")
    course = Course(fast=args.fast, random_weights=args.random_weights)
    results = measure_students(args.notebook, args.students, args.output, course, args.timeout)
    return 0 if all(r.status == "ok" for r in results) else 1


def _add_sizing(commands) -> None:
    sizing = commands.add_parser(
        "sizing",
        help="run one lab as several students at once on this machine; measure each run's "
        "time and peak memory (to size a classroom hub)",
    )
    sizing.add_argument(
        "notebook", type=Path, help="for example notebooks/02_convolutional_networks.ipynb"
    )
    sizing.add_argument("--students", type=int, default=2, help="kernels at once (default: 2)")
    sizing.add_argument("--fast", action="store_true", help="small data, few epochs")
    sizing.add_argument(
        "--random-weights",
        action="store_true",
        help="as for run: random weights where pre-trained ones cannot be had",
    )
    sizing.add_argument("--output", type=Path, default=Path("build/sizing"), help="%(default)s")
    sizing.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    sizing.set_defaults(handler=_sizing)


def _grading_time(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from coursetools.sizing import time_grading
    except ImportError as error:
        parser.error(f"{error}: grading needs nbgrader: pip install -r requirements-dev.txt")
    known = [labs.lab_id(source) for source in labs.sources()]
    unknown = [lab for lab in args.assignments if lab not in known]
    if unknown:
        parser.error(f"no such lab: {', '.join(unknown)} (the labs: {', '.join(known)})")
    if args.submissions < 1 or min(args.jobs) < 1:
        parser.error("--submissions and --jobs must be at least 1")
    try:
        time_grading(args.assignments, args.submissions, args.jobs, args.output, Path.cwd())
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _add_grading_time(commands) -> None:
    timing = commands.add_parser(
        "grading-time",
        help="autograde copies of labs' solutions as a class's submissions; time it (to "
        "know how long a class takes to grade)",
    )
    timing.add_argument("assignments", nargs="+", help="for example lab1 lab3")
    timing.add_argument("--submissions", type=int, default=2, help="per lab (default: 2)")
    timing.add_argument(
        "--jobs", type=int, nargs="+", default=[2], help="processes at once, one run each"
    )
    timing.add_argument(
        "--output", type=Path, default=Path("build/grading-time"), help="%(default)s"
    )
    timing.set_defaults(handler=_grading_time)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and carry out its command; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m coursetools")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_run,
        _add_generate,
        _add_grading,
        _add_classroom,
        _add_site,
        _add_hub,
        _add_autograde,
        _add_sizing,
        _add_grading_time,
    ):
        add(commands)
    args = parser.parse_args(argv)
    # nbgrader's gradebook runs `alembic` by name: under sudo, or from .venv/bin/python without
    # the environment activated, PATH lacks this environment's scripts.
    scripts, path = str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, path])
    return args.handler(args, parser)


if __name__ == "__main__":
    sys.exit(main())
