"""Find a file by one resolution chain, shared by datasets and model weights.

A file is looked for, in order, in local folders (a mirror such as ``LABHELPERS_DATA_DIR``,
then system folders), then in a cache folder, and is finally downloaded into that cache under a
temporary name, verified, then renamed. Datasets (:mod:`labhelpers.data`) and pre-trained
weights (:mod:`labhelpers.models`) differ only in the folders they pass and the error they raise.

A file is trusted only if its checksum is one we know: the canonical download's (SHA-256, or
the MD5 that Keras publishes for its weights), a known repackaging's, or the local folder's own
``SHA256SUMS`` entry.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DOWNLOAD_TIMEOUT_S", "FetchError", "RemoteFile", "mirror_dir", "resolve"]

DOWNLOAD_TIMEOUT_S = 15


class FetchError(RuntimeError):
    """A file could not be found, downloaded or trusted; the message says how to fix it.

    ``missing`` is True when the file was found nowhere and could not be downloaded (as
    opposed to a copy that exists but fails its checksum).
    """

    missing = False


@dataclass(frozen=True)
class RemoteFile:
    """One file: where it comes from and how we recognise a good copy."""

    name: str
    url: str
    sha256: str | None  # of the canonical download; None where no checksum is published
    size: int | None = None  # of the canonical download, checked when no checksum is known
    also_trusted: tuple[str, ...] = ()  # SHA-256s of known repackagings of the same data
    md5: str | None = None  # where the publisher gives only an MD5 (Keras's weights files)


def mirror_dir() -> Path | None:
    """Return the local mirror folder named by ``LABHELPERS_DATA_DIR``, if it is set."""
    mirror = os.environ.get("LABHELPERS_DATA_DIR")
    return Path(mirror).expanduser() if mirror else None


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_sums(folder: Path) -> dict[str, str]:
    """Read a ``SHA256SUMS`` file (``sha256sum`` format) in ``folder``, if there is one."""
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    sums = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest.lower()
    return sums


def _problem(path: Path, rf: RemoteFile, sums: dict[str, str]) -> str | None:
    """Say what is wrong with a local copy of ``rf``, or return None if it is trusted."""
    trusted = {rf.sha256, *rf.also_trusted, sums.get(rf.name)} - {None}
    if trusted:
        actual = _digest(path, "sha256")
        if actual in trusted:
            return None
        if rf.md5 is None or _digest(path, "md5") != rf.md5:
            expected = sorted(trusted) + ([f"MD5 {rf.md5}"] if rf.md5 else [])
            return f"its SHA-256 is {actual}, expected one of {expected}"
    elif rf.md5 is not None:
        actual = _digest(path, "md5")
        if actual != rf.md5:
            return f"its MD5 is {actual}, expected {rf.md5}"
    elif rf.size is not None and path.stat().st_size != rf.size:
        return f"it has {path.stat().st_size} bytes, expected {rf.size}"
    return None


def _download(rf: RemoteFile, target: Path, error: type[FetchError]) -> None:
    """Download ``rf`` to ``target`` via a temporary file; verify before renaming."""
    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{rf.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
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
            raise error(
                f"The download of {rf.url} stopped after {tmp.stat().st_size} of {total} "
                "bytes; nothing was kept. Run again to retry."
            )
        problem = _problem(tmp, rf, {})
        if problem:
            raise error(
                f"The file downloaded from {rf.url} is not the expected one: {problem}. "
                "Nothing was kept; try again later or use a local copy (LABHELPERS_DATA_DIR)."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def resolve(
    rf: RemoteFile,
    *,
    local_dirs: Sequence[Path],
    cache: Path,
    what: str,
    hint: str = "",
    error: type[FetchError] = FetchError,
) -> Path:
    """Find ``rf`` in ``local_dirs``, else in ``cache``, else download it there; return its path.

    Args:
        rf: the file and how to recognise a good copy.
        local_dirs: folders to look in first, in order (a mirror, system folders); a copy there
            must pass its checksum, or be listed in that folder's ``SHA256SUMS``.
        cache: where downloads go; a cached copy that fails its checksum is downloaded again.
        what: what the file is for, for messages, e.g. ``"dataset 'cats-and-dogs'"``.
        hint: one more way to get the file, added to the error message.
        error: the exception class to raise (a subclass of :class:`FetchError`).

    Raises:
        FetchError: (as ``error``) when the file is found nowhere and cannot be downloaded,
            or a local copy fails its checksum. The message lists where we looked and the fix.
    """
    looked = []
    for folder in local_dirs:
        path = folder / rf.name
        looked.append(str(path))
        if path.is_file():
            problem = _problem(path, rf, _read_sums(folder))
            if problem:
                raise error(
                    f"{path} is damaged or not the expected file: {problem}. "
                    "Replace it with a good copy, or delete it to use another source."
                )
            return path
    path = cache / rf.name
    looked.append(str(path))
    if path.is_file() and _problem(path, rf, {}):
        warnings.warn(f"{path} failed its checksum; downloading it again.", stacklevel=3)
        path.unlink()
    if not path.is_file():
        try:
            _download(rf, path, error)
        except (urllib.error.URLError, OSError) as err:
            where = "\n  ".join(looked)
            missing = error(
                f"Could not find or download {rf.name} ({what}).\n"
                f"Looked in:\n  {where}\nDownload from {rf.url} failed: {err}.\n"
                "To fix: connect to the internet and run again; or set "
                "LABHELPERS_DATA_DIR to a folder that holds the file"
                + (f"; {hint}." if hint else ".")
            )
            missing.missing = True
            raise missing from err
    return path
