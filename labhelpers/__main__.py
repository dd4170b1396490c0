"""Command line: ``python -m labhelpers run [--fast] [--random-weights] [--html] [NOTEBOOK ...]``
and ``python -m labhelpers student``."""

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
    commands.add_parser(
        "student", help="regenerate notebooks/student/ (solutions taken out) from notebooks/"
    )
    args = parser.parse_args(argv)

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
    )
    print(f"Executed notebooks and report in {args.output.resolve()}")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
