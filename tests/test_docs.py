"""The README stays a landing page, and every command that it and the guides show is real.

Each command in a ```bash block of README.md or docs/*.md must be, exactly as written, a line
of .ci/run or a whole string in a test's code (a sentence that mentions it, a docstring or a
comment does not count), so that it runs somewhere as a reader would type it: CI runs it, or a
test holds it and runs that. A line's comment (`` # ...``) is not part of its command, and
``a && b`` passes when it appears whole or when ``a`` and ``b`` each do. Moving into a folder
(``cd``) is left to the commands that follow it; the few commands no CI can run are listed
below with the reason. Every ``python -m labhelpers`` or ``python -m coursetools`` command, in
a block or in the prose, must name a command and options that its parser knows.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README_LINES = 120  # a landing page: a few screens (the guides hold the rest)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CI = ROOT / ".ci" / "run"
TESTS = sorted(path for path in (ROOT / "tests").rglob("*.py") if path.name != "test_docs.py")
NOT_RUN = {
    "git clone https://github.com/keras-labs/keras-labs": "CI runs in the checkout it was given",
    "jupyter lab my-labs/": "starts JupyterLab for a person; test_browser.py starts it headless",
    "pip install -r requirements.txt -e .": ".ci/run installs it with requirements-dev.txt; "
    "test_colab.py installs labhelpers alone",
    "python -m coursetools run": "full mode takes about half an hour: the measurements' "
    "benchmark (docs/measurements.md); test_runner.py runs full mode on tiny labs",
    "python -m coursetools classroom": "downloads every dataset and weights file; "
    "test_classroom.py runs it against a local server",
    "python -m coursetools run notebooks/student/[0-9]*.ipynb --output build/course/student": (
        "the Pages workflow runs it; CI executes the student versions under nbval into the "
        "same folder"
    ),
    "sed -i 's|keras-labs/keras-labs@v[0-9.]*|keras-labs/keras-labs@v0.3.0|' "
    "notebooks/[0-9]*.ipynb": "a release edits the committed notebooks; test_colab.py checks "
    "the line it edits",
}
FENCE = re.compile(r"^\s*```bash\n(.*?)^\s*```", re.M | re.S)
COMMENT = re.compile(r"\s+#(\s.*)?$")


def documented_commands(path: Path) -> list[str]:
    """The commands of a Markdown file's bash blocks, one per line, without their comments."""
    commands = []
    for block in FENCE.findall(path.read_text(encoding="utf-8")):
        for line in re.sub(r"\\\n\s*", "", block).splitlines():  # continuation lines joined
            command = COMMENT.sub("", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def _code_strings(path: Path) -> list[str]:
    """The string constants of a Python file's code (f-strings' pieces too), no docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, scopes) and node.body and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def where_commands_run() -> set[str]:
    """CI's command lines without their comments, and every string in the tests' code."""
    lines = {COMMENT.sub("", line).strip() for line in CI.read_text(encoding="utf-8").splitlines()}
    strings = {text.strip() for path in TESTS for text in _code_strings(path)}
    return {text for text in lines | strings if text and not text.startswith("#")}


def test_readme_is_a_landing_page():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_LINES, (
        f"README.md has {lines} lines, more than {README_LINES}: move the details into a guide "
        "in docs/ and link to it"
    )


def test_every_documented_command_is_run_as_written():
    run = where_commands_run()
    offenders = []
    for path in DOCUMENTS:
        for command in documented_commands(path):
            if command in run:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {part}"
                for part in (part.strip() for part in command.split("&&"))
                if part not in run and part not in NOT_RUN and not part.startswith("cd ")
            ]
    offenders = list(dict.fromkeys(offenders))  # each once, in the order a reader meets them
    assert not offenders, (
        "commands in the README or the guides that neither .ci/run nor any test runs exactly "
        "as written (run them there, or change the documentation):\n  " + "\n  ".join(offenders)
    )


def _course_commands() -> list[tuple[str, str, str]]:
    """Each ``python -m labhelpers|coursetools ARGS`` the documents show: (file, package, ARGS)."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"python -m (labhelpers|coursetools)\b([^`\n]*)", text):
            found.append((path.name, match[1], COMMENT.sub("", match[2]).strip()))
    return found


def _help(package: str, command: str) -> str:
    """What ``python -m package command --help`` prints, in this process ("" if no command)."""
    if package == "labhelpers":
        from labhelpers.__main__ import main
    else:
        from coursetools.__main__ import main
    out = io.StringIO()
    # --help exits 0 after printing; an unknown command exits 2 and prints nothing on stdout.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        with contextlib.suppress(SystemExit):
            main([command, "--help"])
    return out.getvalue()


def test_every_course_command_and_option_exists():
    assert _course_commands(), "the README and the guides show no python -m command"
    helps: dict[tuple[str, str], str] = {}
    unknown = []
    for where, package, args in _course_commands():
        command = args.split()[0] if args else ""
        if command.isupper():  # a placeholder, as in "python -m coursetools COMMAND"
            continue
        if (package, command) not in helps:
            helps[package, command] = _help(package, command)
        usage = helps[package, command]
        options = re.findall(r"(?<!\S)(--?[a-z][\w-]*)", args)
        if not command or not usage or any(option not in usage for option in options):
            unknown.append(f"{where}: python -m {package} {args}")
    assert not unknown, "commands or options that do not exist:\n  " + "\n  ".join(unknown)
