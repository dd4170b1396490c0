"""The course's labs: where their sources and student versions are, and their names.

The one list of labs: every command and test that needs it asks here.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["SOURCE_DIR", "STUDENT_DIR", "lab_id", "sources", "student_versions"]

SOURCE_DIR = Path("notebooks")  # the instructors' sources, with solutions
STUDENT_DIR = SOURCE_DIR / "student"  # the generated student versions
_LAB = "[0-9]*.ipynb"  # a lab's file name starts with its number, e.g. 01_classifying_clothing


def sources(root: Path = Path(".")) -> list[Path]:
    """The labs' sources under ``root``, in course order."""
    return sorted((Path(root) / SOURCE_DIR).glob(_LAB))


def student_versions(root: Path = Path(".")) -> list[Path]:
    """The labs' student versions under ``root``, in course order."""
    return sorted((Path(root) / STUDENT_DIR).glob(_LAB))


def lab_id(notebook: Path | str) -> str:
    """The assignment name of a lab notebook: "01_classifying_clothing.ipynb" -> "lab1"."""
    match = re.match(r"^(\d+)_", Path(notebook).name)
    if match is None:
        raise ValueError(f"{notebook}: a lab notebook's name starts with its number, like 01_...")
    return f"lab{int(match[1])}"
