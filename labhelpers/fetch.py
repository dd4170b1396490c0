"""Find a file by one resolution chain, shared by datasets and pre-trained weights.

A file is looked for in local folders (a mirror such as ``LABHELPERS_DATA_DIR``, then system
folders), then in a cache folder, and is finally downloaded into that cache under a temporary
name, verified, then renamed. What makes a copy trustworthy is data, not code: the hashes that
its :class:`RemoteFile` declares always decide; only for a file with none may a local folder's
``SHA256SUMS`` vouch for its copy there, and where neither is known the size is checked.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "DamagedFile",
    "FetchError",
    "Lookup",
    "MissingFile",
    "RemoteFile",
    "file_digest",
    "read_sums",
    "verify",
    "write_atomically",
]

DOWNLOAD_TIMEOUT_S = 15
_NAMES = {"sha256": "SHA-256", "md5": "MD5"}
_SUMS_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")


class FetchError(RuntimeError):
    """A file could not be had or trusted; the message says how to fix it."""


class MissingFile(FetchError):
    """The file is found nowhere and cannot be downloaded."""


class DamagedFile(FetchError):
    """A copy of the file exists but is not the expected one (or not what it should hold)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file: where it comes from and how a good copy is recognised."""

    name: str
    url: str
    hashes: tuple[str, ...] = ()  # "sha256:<hex>" or "md5:<hex>"; any one of them will do
    size: int | None = None  # bytes of the canonical download; checked where no hash is known

    def __post_init__(self) -> None:
        for entry in self.hashes:
            algorithm, _, digest = entry.partition(":")
            if algorithm not in _NAMES or not re.fullmatch(r"[0-9a-f]+", digest):
                raise ValueError(f"{self.name}: {entry!r} is not 'sha256:<hex>' or 'md5:<hex>'")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of the file at ``path``: SHA-256 by default, as ``sha256sum`` prints it."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 from ``folder/SHA256SUMS`` (none if there is no such file); a line
    that is not ``<64 hex digits>  <file name>`` is a FetchError naming it."""
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    sums = {}
    for number, line in enumerate(sums_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = _SUMS_LINE.match(line.rstrip())
        if match is None:
            raise FetchError(
                f"{sums_file}, line {number}, is not a checksum line: {line[:80]!r}. Each line "
                "must be a SHA-256 (64 hex digits), two spaces and a file name, as "
                "`sha256sum FILE > SHA256SUMS` writes it. Fix or remove that line."
            )
        sums[match["name"].strip()] = match["digest"].lower()
    return sums


def verify(path: Path, rf: RemoteFile, vouched: str | None = None) -> str | None:
    """Say what is wrong with a copy of ``rf`` at ``path``, or return None if it is good.
    ``vouched``, the SHA-256 that its folder's ``SHA256SUMS`` lists, counts only for a file with
    no published hash: a folder can hold a damaged or altered copy and list that too."""
    if rf.hashes:
        actual: dict[str, str] = {}
        for entry in rf.hashes:
            algorithm, _, digest = entry.partition(":")
            if algorithm not in actual:  # each digest once: Debian's copy matches the second
                actual[algorithm] = file_digest(path, algorithm)
            if actual[algorithm] == digest:
                return None
        found = ", ".join(f"its {_NAMES[a]} is {d}" for a, d in actual.items())
        wanted = " or ".join(
            f"{_NAMES[a]} {d}" for a, _, d in (e.partition(":") for e in rf.hashes)
        )
        problem = f"{found}; expected {wanted} (published for this file)"
        # Say why a listed copy is refused: the list alone would make it look trusted.
        if vouched and vouched == (actual.get("sha256") or file_digest(path)):
            problem += (
                ". Its folder's SHA256SUMS lists this very copy, but a published hash always "
                "wins over a folder's list"
            )
        return problem
    if vouched:
        digest = file_digest(path)
        if digest != vouched:
            return (
                f"its SHA-256 is {digest}; expected SHA-256 {vouched}, as its folder's "
                "SHA256SUMS lists"
            )
        return None
    if rf.size is not None and path.stat().st_size != rf.size:
        return f"it has {path.stat().st_size} bytes, expected {rf.size}"
    return None


def write_atomically(target: Path, fill: Callable[[Path], None]) -> None:
    """Write ``target`` by ``fill(temporary path)`` beside it, then rename it to ``target``: an
    interruption or an error in ``fill`` leaves ``target`` as it was, never half written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        fill(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; a shared mirror is read by every account
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _download(rf: RemoteFile, target: Path) -> None:
    """Download ``rf`` to ``target`` via a temporary file; verify before renaming."""
    from tqdm import tqdm

    def fill(tmp: Path) -> None:
        with (
            open(tmp, "wb") as out,
            urllib.request.urlopen(rf.url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=rf.name) as bar:
                try:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
                except http.client.IncompleteRead:
                    pass  # reported just below, with the byte counts
        if total is not None and tmp.stat().st_size != total:
            raise DamagedFile(
                f"The download of {rf.url} stopped after {tmp.stat().st_size} of {total} "
                "bytes; nothing was kept. Run again to retry."
            )
        problem = verify(tmp, rf)
        if problem:
            raise DamagedFile(
                f"The file downloaded from {rf.url} is not the expected one: {problem}. "
                "Nothing was kept; try again later or use a local copy (LABHELPERS_DATA_DIR)."
            )

    write_atomically(target, fill)


@dataclass(frozen=True)
class Lookup:
    """One file and the places where its resolution chain looks for it, in order."""

    file: RemoteFile
    local_dirs: tuple[Path, ...]  # a mirror, system folders
    cache: Path  # where downloads go
    what: str  # what the file is for, for messages, e.g. "dataset 'cats-and-dogs'"
    hint: str = ""  # one more way to get the file, for the error message

    def resolve(self) -> Path:
        """Find the file in ``local_dirs``, else in ``cache``, else download it there.

        A cached copy that fails :func:`verify` is downloaded again. Raises MissingFile (found
        nowhere: the message lists where we looked and how to fix it) or DamagedFile.
        """
        rf, looked = self.file, []
        for folder in self.local_dirs:
            path = folder / rf.name
            looked.append(str(path))
            if path.is_file():
                listed = read_sums(folder).get(rf.name)
                problem = verify(path, rf, listed)
                if problem:
                    raise DamagedFile(
                        f"{path} is damaged or not the expected file: {problem}. Replace it with a "
                        + ("good copy (and its line in SHA256SUMS)" if listed else "good copy")
                        + ", or delete it to use another source."
                    )
                return path
        path = self.cache / rf.name
        looked.append(str(path))
        if path.is_file() and verify(path, rf):
            warnings.warn(f"{path} failed its check; downloading it again.", stacklevel=2)
            path.unlink()
        if not path.is_file():
            try:
                _download(rf, path)
            except (urllib.error.URLError, OSError) as err:
                where = "\n  ".join(looked)
                raise MissingFile(
                    f"Could not find or download {rf.name} ({self.what}).\n"
                    f"Looked in:\n  {where}\nDownload from {rf.url} failed: {err}.\n"
                    "To fix: connect to the internet and run again; or set "
                    "LABHELPERS_DATA_DIR to a folder that holds the file"
                    + (f"; {self.hint}." if self.hint else ".")
                ) from err
        return path
