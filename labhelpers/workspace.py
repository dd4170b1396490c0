"""The student's own copies of the labs: ``python -m labhelpers workspace [DIR]``.

``git pull`` updates ``notebooks/student/`` and never touches these copies (``my-labs/`` is
ignored by git); a second call adds labs that are new without overwriting anyone's work.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["copy_for_student"]


def copy_for_student(
    target_dir: Path = Path("my-labs"), student_dir: Path = Path("notebooks/student")
) -> list[tuple[Path, bool]]:
    """Copy each student version into ``target_dir`` unless a copy is there already; return
    (path, copied) for every lab."""
    labs = sorted(Path(student_dir).glob("[0-9]*.ipynb"))
    if not labs:
        raise FileNotFoundError(
            f"no student versions in {student_dir}: run from the repository root"
        )
    Path(target_dir).mkdir(parents=True, exist_ok=True)
    done = []
    for lab in labs:
        target = Path(target_dir) / lab.name
        try:
            with target.open("xb") as copy:  # "x": never overwrite, even in a race
                copy.write(lab.read_bytes())
        except FileExistsError:
            done.append((target, False))
        else:
            done.append((target, True))
    return done
