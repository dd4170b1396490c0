"""No check hands over an answer: the verdicts of the check tests, held against the solutions.

``tests/conftest.py`` records every message a verdict gives while a check test runs
(``MESSAGES``: test module -> (exercise title, message)); each check test module ends with a
test that calls :func:`assert_none_given_away`. A message gives its exercise's answer away
when it holds a line of that exercise's solution region in the lab's source, or a call that
the solution makes (``load_weights(``).
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).parents[1]
MESSAGES: dict[str, list[tuple[str, str]]] = {}
_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
_CALL = re.compile(r"([A-Za-z_]\w*)\(")


@functools.cache
def exercise_of(title: str) -> tuple[int, int] | None:
    """(lab, exercise) of the lab's self-check titled ``title``; None for a test's own check."""
    for lab in range(6):
        checks = importlib.import_module(f"labhelpers.checks.lab{lab}")
        for name in checks.__all__:
            if getattr(getattr(checks, name), "title", None) == title:
                return lab, int(name.rsplit("_", 1)[1])
    return None


@functools.cache
def solution(lab: int, number: int) -> tuple[frozenset[str], frozenset[str]]:
    """The lines (12 characters or more) of an exercise's solution regions, and what they call."""
    (path,) = (ROOT / "notebooks").glob(f"{lab:02d}_*.ipynb")
    lines, calls = set(), set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") != f"exercise_{number}_answer":
            continue
        for region in _REGION.findall(cell.source):
            for line in region.splitlines():
                code = line.split("  #")[0].strip()
                if code.startswith("#"):
                    continue
                if len(code) >= 12:
                    lines.add(code)
                calls.update(_CALL.findall(code))
    assert lines, f"lab {lab} has no solution for exercise {number}"
    return frozenset(lines), frozenset(calls)


def given_away(title: str, message: str) -> list[str]:
    """The lines and calls of exercise ``title``'s solution that ``message`` holds."""
    if exercise_of(title) is None:
        return []
    lines, calls = solution(*exercise_of(title))
    found = [line for line in lines if line in message]
    return found + [f"{name}(" for name in calls if re.search(rf"\b{name}\(", message)]


def assert_none_given_away(module: str) -> None:
    """Fail when a verdict recorded in test module ``module`` holds a piece of its solution."""
    messages = MESSAGES.get(module, [])
    assert messages, f"{module} recorded no verdict: run the whole module"
    bad = {
        message: found for title, message in set(messages) if (found := given_away(title, message))
    }
    assert not bad, "check messages that give an answer away:\n" + "\n".join(
        f"- {message!r}: {found}" for message, found in bad.items()
    )
