"""Fill one folder with every file the labs need, checked, for a classroom without internet.

``python -m coursetools classroom DIR`` places in ``DIR`` every dataset archive of
:data:`labhelpers.data.DATASETS` and the weights of every base in
:data:`labhelpers.bases.LAB_BASES`, and lists each in ``DIR/SHA256SUMS``; pointing
``LABHELPERS_DATA_DIR`` at ``DIR`` is then all a classroom needs. Each file is had through the
loaders' own resolution chain (another mirror, system folders, the cache, the download), so it
is checked exactly as they check it, and the copy is checked again before it is renamed into
place. A file already in ``DIR`` is checked as the loaders will check it (by its published
hash where there is one, whatever ``DIR/SHA256SUMS`` says); a bad one is replaced, or
reported, and never vouched for.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from labhelpers import bases, data
from labhelpers.fetch import (
    DamagedFile,
    FetchError,
    Lookup,
    MissingFile,
    file_digest,
    read_sums,
    verify,
    write_atomically,
)

__all__ = ["Outcome", "course_lookups", "prepare", "summary"]


@dataclass(frozen=True)
class Outcome:
    """What :func:`prepare` did with one file, and why."""

    lookup: Lookup
    action: str  # "present", "listed", "copied", "replaced", "missing" or "damaged"
    detail: str = ""  # where the file came from, or what is wrong

    @property
    def ok(self) -> bool:
        """Whether the folder now holds a good copy, listed in its ``SHA256SUMS``."""
        return self.action not in ("missing", "damaged")

    def __str__(self) -> str:
        """One line for the command's output, e.g. ``copied: 17flowers.tgz (from ...)``."""
        return f"{self.action}: {self.lookup.file.name}" + (
            f" ({self.detail})" if self.detail else ""
        )


def course_lookups() -> list[Lookup]:
    """Every file that a lab or an exercise loads, from the two registries, once each."""
    found = [lookup for name in data.DATASETS for lookup in data.lookups(name)]
    found += [bases.weights_lookup(arch, shape) for arch, shape in bases.LAB_BASES]
    return list({lookup.file.name: lookup for lookup in found}.values())


def _list(folder: Path, name: str, digest: str | None) -> None:
    """Set ``name``'s line of ``folder/SHA256SUMS`` (or remove it, for None), atomically."""
    sums = {**read_sums(folder), name: digest}
    if digest is None:
        del sums[name]
    text = "".join(f"{sums[n]}  {n}\n" for n in sorted(sums))
    write_atomically(folder / "SHA256SUMS", lambda tmp: tmp.write_text(text))


def _copy(source: Path, target: Path, lookup: Lookup) -> str:
    """Copy ``source`` to ``target`` atomically, checked; return the copy's SHA-256."""
    digest = file_digest(source)

    def fill(tmp: Path) -> None:
        shutil.copyfile(source, tmp)
        # The copy must pass the published hash, or, for a file with none, be the very file
        # the chain checked, byte for byte.
        problem = verify(tmp, lookup.file, vouched=digest)
        if problem:
            raise DamagedFile(f"the copy of {source} differs from it: {problem}")

    write_atomically(target, fill)
    return digest


def _place(lookup: Lookup, folder: Path) -> Outcome:
    """Check ``lookup``'s file in ``folder``; if it is absent or bad, place a good copy."""
    rf = lookup.file
    target = folder / rf.name
    listed = read_sums(folder).get(rf.name)
    problem = None
    if target.is_file():
        # As the loaders will check it: by the published hash; only for a file with none, by
        # its SHA256SUMS line; else by its size.
        problem = verify(target, rf, listed)
        if problem is None:
            digest = file_digest(target)
            if digest == listed:
                return Outcome(lookup, "present")
            _list(folder, rf.name, digest)
            return Outcome(lookup, "listed", "it was there and passed its check")
    # Never take the file from the folder being filled: its copy is missing or bad.
    others = tuple(d for d in lookup.local_dirs if d.resolve() != folder.resolve())
    try:
        source = dataclasses.replace(lookup, local_dirs=others).resolve()
        digest = _copy(source, target, lookup)
    except FetchError as err:
        missing = isinstance(err, MissingFile)
        why = f"found nowhere, and the download failed: {err.__cause__}" if missing else str(err)
        if problem and listed is not None and listed == file_digest(target):
            # The list vouches for a copy that fails its published hash: take that back. (A
            # line that names another copy is kept: for a file with no published hash, it is
            # the only record of the good one.)
            _list(folder, rf.name, None)
            why += "; its line in SHA256SUMS, which vouched for the bad copy, was removed"
        if problem:
            return Outcome(lookup, "damaged", f"the copy here is bad: {problem}; {why}")
        return Outcome(lookup, "missing" if missing else "damaged", why)
    _list(folder, rf.name, digest)
    if problem:
        return Outcome(lookup, "replaced", f"the copy here was bad: {problem}; from {source}")
    return Outcome(lookup, "copied", f"from {source}")


def prepare(folder: Path) -> list[Outcome]:
    """Make ``folder`` hold every file of :func:`course_lookups`, checked and listed.

    Files go in one by one, each under a temporary name until it has passed its check, and
    ``SHA256SUMS`` is updated after each; a file that cannot be had does not stop the others.
    Running it again changes nothing unless a file is missing or bad.

    Raises:
        FetchError: ``folder/SHA256SUMS`` has a line that is not a checksum line.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return [_place(lookup, folder) for lookup in course_lookups()]


def summary(outcomes: list[Outcome], folder: Path) -> str:
    """The command's last words: nothing to do, how to use the folder, or what is missing."""
    folder = folder.resolve()
    bad = [o for o in outcomes if not o.ok]
    if bad:
        lines = [
            f"{len(bad)} of {len(outcomes)} files are missing or bad, and the labs that load "
            f"them will stop there. On a machine with internet access, download each one and "
            f"put it in {folder} under exactly this name, then run this command again (it "
            "checks them and lists them in SHA256SUMS):"
        ]
        for o in bad:
            lines += [
                f"  {o.lookup.file.name} ({o.lookup.what})",
                f"    from {o.lookup.file.url}",
                f"    to   {folder / o.lookup.file.name}",
            ]
        return "\n".join(lines)
    if all(o.action == "present" for o in outcomes):
        return f"Nothing to do: all {len(outcomes)} files in {folder} are there and checked."
    return (
        f"{folder} now holds all {len(outcomes)} files, checked and listed in its SHA256SUMS. "
        f"Point every machine at it: export LABHELPERS_DATA_DIR={folder}"
    )
