"""Command line: ``python -m labhelpers run [--fast] [--random-weights] [--html] [NOTEBOOK ...]``,
``python -m labhelpers student``, ``python -m labhelpers workspace [DIR]`` (students' own
copies), ``python -m labhelpers grading [DIR]``, ``python -m labhelpers classroom [DIR]`` and
``python -m labhelpers site`` (the course website, from executed notebooks)."""

import argparse
import sys
from pathlib import Path

from labhelpers.runner import run_notebooks


def main(argv: list[str] | None = None) -> int:
    """Run the course runner; return 0 when every notebook ran without error."""
    parser = argparse.ArgumentParser(prog="python -m labhelpers")
    commands = parser.add_subparsers(dest="command", required=True)
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
        "--html", action="store_true", help="also render the executed notebooks as HTML pages"
    )
    run.add_argument(
        "--rerun",
        action="store_true",
        help="then run every cell once more, in order, in the same kernel (as students do)",
    )
    commands.add_parser(
        "student", help="regenerate notebooks/student/ (solutions taken out) from notebooks/"
    )
    workspace = commands.add_parser(
        "workspace", help="copy the student versions into DIR (default my-labs), to work in"
    )
    workspace.add_argument("target_dir", nargs="?", type=Path, default=Path("my-labs"))
    grading = commands.add_parser(
        "grading", help="make DIR an nbgrader course folder: one assignment per lab (instructors)"
    )
    grading.add_argument("course_dir", nargs="?", type=Path, default=Path("grading"))
    classroom = commands.add_parser(
        "classroom",
        help="fill DIR with every dataset and weights file the labs need, checked, for a "
        "classroom without internet (then: export LABHELPERS_DATA_DIR=DIR)",
    )
    # Under build/, which git ignores, as the runner's build/course is.
    classroom.add_argument(
        "folder", nargs="?", type=Path, default=Path("build/classroom"), help="%(default)s"
    )
    site = commands.add_parser(
        "site",
        help="build the course website from executed notebooks: the students' edition (from "
        "the student versions) and the solutions edition (from the sources)",
        description="Build the course website from executed notebooks (Sphinx executes "
        "nothing). First run the sources, `python -m labhelpers run` (into build/course/), and "
        "the student versions, `python -m labhelpers run notebooks/student/[0-9]*.ipynb "
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
    args = parser.parse_args(argv)

    if args.command == "site":
        from labhelpers.site import LABELS, SiteError, build_site

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

    if args.command == "classroom":
        from labhelpers.classroom import prepare, summary
        from labhelpers.fetch import FetchError

        try:
            outcomes = prepare(args.folder)
        except FetchError as error:  # a malformed SHA256SUMS in the folder
            parser.exit(1, f"{error}\n")
        for outcome in outcomes:
            print(outcome)
        print(summary(outcomes, args.folder))
        return 0 if all(outcome.ok for outcome in outcomes) else 1

    if args.command == "workspace":
        from labhelpers.student import copy_for_student

        try:
            copies = copy_for_student(args.target_dir)
        except FileNotFoundError as error:
            parser.error(str(error))
        for path, copied in copies:
            print(f"{'copied' if copied else 'kept yours'}: {path}")
        print(f"Open the labs with: jupyter lab {args.target_dir}")
        return 0

    if args.command == "grading":
        sources = sorted(Path("notebooks").glob("[0-9]*.ipynb"))
        if not sources:
            parser.error("no notebooks found: run from the repository root")
        try:
            from labhelpers.grading import lab_id, prepare_course
        except ImportError as error:
            parser.error(f"{error}: grading needs nbgrader: pip install -r requirements-dev.txt")
        for copy in prepare_course(args.course_dir, sources):
            print(f"{lab_id(copy)}: {copy}")
        print(
            f"Next, in {args.course_dir}: nbgrader generate_assignment lab1 (and so on), then "
            "collect, autograde, generate_feedback and export (see the README)."
        )
        return 0

    if args.command == "student":
        from labhelpers.student import generate_student_versions

        sources = sorted(Path("notebooks").glob("[0-9]*.ipynb"))
        if not sources:
            parser.error("no notebooks found: run from the repository root")
        for path, changed in generate_student_versions(sources):
            print(f"{'wrote' if changed else 'up to date'}: {path}")
        return 0

    notebooks = args.notebooks or sorted(Path("notebooks").glob("[0-9]*.ipynb"))
    if not notebooks:
        parser.error("no notebooks found: run from the repository root or name them")
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    results = run_notebooks(
        notebooks,
        args.output,
        fast=args.fast,
        random_weights=args.random_weights,
        timeout=args.timeout,
        html=args.html,
        rerun=args.rerun,
    )
    print(f"Executed notebooks and report in {args.output.resolve()}")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
