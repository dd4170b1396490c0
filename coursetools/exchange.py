"""nbgrader's exchange on a shared server, with each student's work kept from the others.

nbgrader's default exchange is a folder that every user writes into. As it comes (0.9), a
submission is a folder that anyone may read and write once they know its name (mode 0777,
files 0644), and ``nbgrader collect`` only warns when a folder claims a student who did not
make it (``check_owner``), then collects it anyway, under the claimed name. Two subclasses,
named in the nbgrader settings that ``coursetools.hub`` writes, close both gaps:

- :class:`PrivateSubmit`: a submission that only its student and the graders can read. The
  inbound folder belongs to the graders' group and is set-group-ID, so what a student creates
  there belongs to that group; the submission is then made ``rwx/r-x/---`` (files ``rw-/r--/---``).
- :class:`OwnerCheckedCollect`: a submission folder is collected only if the student it names
  owns it; a forged one is skipped, and that student's own latest submission is taken instead.

The folder layout and modes that make this hold are set up by ``coursetools.hub.setup_exchange``.
"""

from __future__ import annotations

import glob
import os
import pwd
import tempfile
from pathlib import Path

from nbgrader.exchange.default import ExchangeCollect, ExchangeSubmit

__all__ = ["OwnerCheckedCollect", "PrivateSubmit", "owner_of"]

SUBMISSION_DIR = 0o770  # the graders may later tidy the inbound up (nbgrader gives 0777)
SUBMISSION_SUBDIR = 0o750
SUBMISSION_FILE = 0o640


def owner_of(path: str | os.PathLike) -> str:
    """The user name that owns ``path`` (its uid as text if no user has it)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class PrivateSubmit(ExchangeSubmit):
    """``nbgrader submit``: nbgrader's own submission, then readable by the graders alone."""

    def copy_files(self) -> None:
        """Submit as nbgrader does, then take every permission away from other users."""
        super().copy_files()
        folder = Path(self.inbound_path, self.assignment_filename)
        group = os.stat(self.inbound_path).st_gid
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.stat().st_gid != group:
                _regroup(path, Path(self.inbound_path))
        for path in folder.rglob("*"):
            path.chmod(SUBMISSION_SUBDIR if path.is_dir() else SUBMISSION_FILE)
        folder.chmod(SUBMISSION_DIR)
        if folder.stat().st_gid != group:  # an inbound folder that is not set up for this
            self.log.warning("%s is not in the graders' group: check the exchange", folder)


def _regroup(path: Path, inbound: Path) -> None:
    """Give a file the inbound folder's group, which its owner may not be a member of.

    nbgrader writes timestamp.txt after copying the notebooks, once copying has cleared the
    folder's set-group-ID bit (a non-member's chmod does); a file created in the inbound folder
    itself, which keeps that bit, gets its group, and a rename keeps it.
    """
    handle, temporary = tempfile.mkstemp(dir=inbound, prefix=".submitting-")
    with os.fdopen(handle, "wb") as copy:
        copy.write(path.read_bytes())
    os.replace(temporary, path)


class OwnerCheckedCollect(ExchangeCollect):
    """``nbgrader collect``: only folders that their student made; forged ones are skipped."""

    def init_src(self) -> None:
        """nbgrader's choice of submission per student, with forged folders replaced."""
        super().init_src()
        kept = []
        for record in self.src_records:
            if self._made_by_student(record):
                kept.append(record)
                continue
            pattern = f"{glob.escape(record['username'])}+{self.coursedir.assignment_id}+*"
            own = [
                candidate
                for candidate in map(
                    self._path_to_record, glob.glob(os.path.join(self.inbound_path, pattern))
                )
                if self._made_by_student(candidate)
            ]
            if own:
                kept.append(self._sort_by_timestamp(own)[0])
        self.src_records = kept

    def _made_by_student(self, record: dict) -> bool:
        """Whether the folder's owner is the student its name claims; log a forgery."""
        path = os.path.join(self.inbound_path, record["filename"])
        owner = owner_of(path)
        if owner == record["username"]:
            return True
        self.log.error(
            "Skipped %s: it claims to be %s's submission, but %s made it",
            path,
            record["username"],
            owner,
        )
        return False
