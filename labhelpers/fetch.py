"""Find a file by one resolution chain, shared by datasets and pre-trained weights.

A file is looked for, in order, in local folders (a mirror such as ``LABHELPERS_DATA_DIR``,
then system folders), then in a cache folder, and is finally downloaded into that cache under a
temporary name, verified, then renamed.

What makes a copy trustworthy is data, not code: each :class:`RemoteFile` declares the hashes
of its good copies (``"sha256:..."``, or ``"md5:..."`` where that is all the publisher gives),
and these always decide. Only for a file with no published hash does a local folder's
``SHA256SUMS`` (the output of ``sha256sum``) vouch for its copy there; where neither is known,
the file's size is checked. A :class:`Lookup` names one file together with the places its chain
looks in, so that the loaders and the classroom command (``python -m coursetools classroom``)
resolve it in the same way.
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
from collections.abc import Callable, Sequence
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
    "resolve",
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
    """File name -> SHA-256 from ``folder/SHA256SUMS`` (none if there is no such file).

    Raises:
        FetchError: for a line that is not ``<64 hex digits>  <file name>``, naming the line.
    """
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

    A published hash (``rf.hashes``) always decides. ``vouched``, the SHA-256 that the copy's
    own folder lists for it in ``SHA256SUMS``, counts only for a file with no published hash,
    since a folder can hold a damaged or altered copy and list that too. Where neither is
    known, the size is checked.
    """
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
    """Write ``target`` by ``fill(temporary path)`` beside it, then rename it to ``target``.

    An interruption, or an error that ``fill`` raises (say, a failed check), leaves nothing
    behind: ``target`` is either its old self or complete, never half written.
    """
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
    local_dirs: tuple[Path, ...]  # a mirror, system folders; see :func:`resolve`
    cache: Path  # where downloads go
    what: str  # what the file is for, for messages, e.g. "dataset 'cats-and-dogs'"
    hint: str = ""  # one more way to get the file, for the error message

    def resolve(self) -> Path:
        """Find the file or download it, as :func:`resolve` does; return its verified path."""
        return resolve(
            self.file,
            local_dirs=self.local_dirs,
            cache=self.cache,
            what=self.what,
            hint=self.hint,
        )


def resolve(
    rf: RemoteFile, *, local_dirs: Sequence[Path], cache: Path, what: str, hint: str = ""
) -> Path:
    """Find ``rf`` in ``local_dirs``, else in ``cache``, else download it there; return its path.

    Args:
        rf: the file and how to recognise a good copy.
        local_dirs: folders to look in first, in order (a mirror, system folders); a copy there
            must match one of ``rf.hashes``; only a file with none may be vouched for by the
            SHA-256 that its folder's ``SHA256SUMS`` lists.
        cache: where downloads go; a cached copy that fails its check is downloaded again.
        what: what the file is for, for messages, e.g. ``"dataset 'cats-and-dogs'"``.
        hint: one more way to get the file, added to the error message.

    Raises:
        MissingFile: the file is found nowhere and cannot be downloaded; the message lists
            where we looked and how to fix it.
        DamagedFile: a local copy, or the download, is not the expected file (even when its
            folder lists it, if the file has a published hash).
    """
    looked = []
    for folder in local_dirs:
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
    path = cache / rf.name
    looked.append(str(path))
    if path.is_file() and verify(path, rf):
        warnings.warn(f"{path} failed its check; downloading it again.", stacklevel=3)
        path.unlink()
    if not path.is_file():
        try:
            _download(rf, path)
        except (urllib.error.URLError, OSError) as err:
            where = "\n  ".join(looked)
            raise MissingFile(
                f"Could not find or download {rf.name} ({what}).\n"
                f"Looked in:\n  {where}\nDownload from {rf.url} failed: {err}.\n"
                "To fix: connect to the internet and run again; or set "
                "LABHELPERS_DATA_DIR to a folder that holds the file"
                + (f"; {hint}." if hint else ".")
            ) from err
    return path
