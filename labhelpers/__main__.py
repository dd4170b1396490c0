"""The student's command: ``python -m labhelpers workspace [DIR]``, your own copies of the labs.

The instructors' commands (run, generate, grading, classroom, site) are in the course tools:
``python -m coursetools --help``.
"""

import argparse
import sys
from pathlib import Path

from labhelpers.workspace import copy_for_student

# The instructors' commands that lived here until version 0.2: say where they went.
MOVED = {"run", "student", "grading", "classroom", "site"}


def main(argv: list[str] | None = None) -> int:
    """Copy the student versions into the student's own folder; return the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m labhelpers")
    if argv and argv[0] in MOVED:
        command = "generate" if argv[0] == "student" else argv[0]
        parser.exit(2, f"`{argv[0]}` is an instructors' command: python -m coursetools {command}\n")
    commands = parser.add_subparsers(dest="command", required=True)
    workspace = commands.add_parser(
        "workspace", help="copy the student versions into DIR (default my-labs), to work in"
    )
    workspace.add_argument("target_dir", nargs="?", type=Path, default=Path("my-labs"))
    args = parser.parse_args(argv)
    try:
        copies = copy_for_student(args.target_dir)
    except FileNotFoundError as error:
        parser.error(str(error))
    for path, copied in copies:
        print(f"{'copied' if copied else 'kept yours'}: {path}")
    print(f"Open the labs with: jupyter lab {args.target_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
