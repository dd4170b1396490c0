"""Dataset loading: one registry, one resolution order, verified and atomic writes.

Every file is looked for, in order, in:

1. ``LABHELPERS_DATA_DIR``: a local mirror that an instructor or CI fills in advance;
2. system locations, such as the folder that Debian's ``dataset-fashion-mnist`` installs;
3. the cache: ``LABHELPERS_CACHE_DIR``, by default the repository's ``data/`` folder (or
   ``~/.cache/labhelpers`` when ``labhelpers`` is installed outside a checkout);
4. the canonical URL, downloaded into the cache under a temporary name, verified, then renamed.

A file is trusted only if its SHA-256 is one we know: the canonical download's, a known
repackaging's (Debian recompresses Fashion-MNIST), or the mirror's own ``SHA256SUMS`` entry.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "CATS_AND_DOGS_CLASSES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "DatasetError",
    "cache_dir",
    "cached_batches",
    "fetch",
    "load_cats_and_dogs",
    "load_fashion_mnist",
]

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CATS_AND_DOGS_CLASSES = ["cats", "dogs"]
IMAGE_FORMATS = {"JPEG", "PNG", "GIF", "BMP"}  # what image_dataset_from_directory decodes

DOWNLOAD_TIMEOUT_S = 15


class DatasetError(RuntimeError):
    """A dataset could not be found, downloaded or read; the message says how to fix it."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it comes from and how we recognise a good copy."""

    name: str
    url: str
    sha256: str | None  # of the canonical download; None where no checksum is published
    size: int | None = None  # of the canonical download, checked when sha256 is None
    also_trusted: tuple[str, ...] = ()  # SHA-256s of known repackagings of the same data


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its files and the system folders that may already hold them."""

    name: str
    files: tuple[RemoteFile, ...]
    system_dirs: tuple[str, ...] = ()
    hint: str = ""  # one more way to get the files, for the error message


_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# (file, canonical SHA-256, SHA-256 of Debian's recompressed copy, expected shape)
_FMNIST_FILES = [
    (
        "train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        (60000, 28, 28),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        (60000,),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        (10000, 28, 28),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        (10000,),
    ),
]

DATASETS: dict[str, Dataset] = {
    "fashion-mnist": Dataset(
        name="fashion-mnist",
        files=tuple(
            RemoteFile(name, _FMNIST_URL + name, sha, also_trusted=(debian_sha,))
            for name, sha, debian_sha, _ in _FMNIST_FILES
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        hint="or install Debian's package: apt-get install dataset-fashion-mnist",
    ),
    "cats-and-dogs": Dataset(
        name="cats-and-dogs",
        files=(
            RemoteFile(
                "cats_and_dogs_filtered.zip",
                "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
                # Google publishes no checksum for this archive; we check its size here and
                # the CRC-32 of every member when it is extracted.
                sha256=None,
                size=68_606_236,
            ),
        ),
        hint="or download the zip by hand into that folder",
    ),
}
_FMNIST_SHAPES = {name: shape for name, _, _, shape in _FMNIST_FILES}


def cache_dir() -> Path:
    """Return the download cache: ``LABHELPERS_CACHE_DIR``, the repo's ``data/``, or ~/.cache."""
    if os.environ.get("LABHELPERS_CACHE_DIR"):
        return Path(os.environ["LABHELPERS_CACHE_DIR"]).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and (repo / "data").is_dir():
        return repo / "data"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "labhelpers"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
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
        actual = _sha256(path)
        if actual not in trusted:
            return f"its SHA-256 is {actual}, expected one of {sorted(trusted)}"
    elif rf.size is not None and path.stat().st_size != rf.size:
        return f"it has {path.stat().st_size} bytes, expected {rf.size}"
    return None


def _download(rf: RemoteFile, target: Path) -> None:
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
            raise DatasetError(
                f"The download of {rf.url} stopped after {tmp.stat().st_size} of {total} "
                "bytes; nothing was kept. Run again to retry."
            )
        problem = _problem(tmp, rf, {})
        if problem:
            raise DatasetError(
                f"The file downloaded from {rf.url} is not the expected one: {problem}. "
                "Nothing was kept; try again later or use a local copy (LABHELPERS_DATA_DIR)."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(name: str) -> dict[str, Path]:
    """Find or download every file of dataset ``name``; return file name -> verified path.

    Raises:
        DatasetError: when a file is found nowhere and cannot be downloaded, or a local copy
            fails its checksum. The message lists where we looked and how to fix it.
    """
    if name not in DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}; known: {sorted(DATASETS)}.")
    dataset = DATASETS[name]
    mirror = os.environ.get("LABHELPERS_DATA_DIR")
    local = [Path(mirror).expanduser()] if mirror else []
    local += [Path(d) for d in dataset.system_dirs]
    cache = cache_dir()

    paths = {}
    for rf in dataset.files:
        looked = []
        for folder in local:
            path = folder / rf.name
            looked.append(str(path))
            if path.is_file():
                problem = _problem(path, rf, _read_sums(folder))
                if problem:
                    raise DatasetError(
                        f"{path} is damaged or not the expected file: {problem}. "
                        "Replace it with a good copy, or delete it to use another source."
                    )
                paths[rf.name] = path
                break
        else:
            path = cache / rf.name
            looked.append(str(path))
            if path.is_file() and _problem(path, rf, {}):
                warnings.warn(f"{path} failed its checksum; downloading it again.", stacklevel=2)
                path.unlink()
            if not path.is_file():
                try:
                    _download(rf, path)
                except (urllib.error.URLError, OSError) as err:
                    where = "\n  ".join(looked)
                    raise DatasetError(
                        f"Could not find or download {rf.name} (dataset {name!r}).\n"
                        f"Looked in:\n  {where}\nDownload from {rf.url} failed: {err}.\n"
                        "To fix: connect to the internet and run again; or set "
                        "LABHELPERS_DATA_DIR to a folder that holds the file"
                        + (f"; {dataset.hint}." if dataset.hint else ".")
                    ) from err
            paths[rf.name] = path
    return paths


def _read_idx(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes and check it has exactly ``shape``."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path} is not a complete gzip file ({err}); delete it.") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != len(shape):
        raise DatasetError(
            f"{path} is not an IDX file of {len(shape)}-d unsigned bytes "
            f"(magic number {raw[:4].hex() or 'missing'}); delete it."
        )
    header = 4 + 4 * len(shape)
    dims = struct.unpack(f">{len(shape)}I", raw[4:header])
    if dims != shape or len(raw) - header != int(np.prod(shape)):
        raise DatasetError(
            f"{path} holds {len(raw) - header} bytes for shape {dims}; expected shape {shape} "
            f"({int(np.prod(shape))} bytes). The file is truncated or wrong; delete it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the full Fashion-MNIST set as uint8 arrays.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` with shapes (60000, 28, 28), (60000,),
        (10000, 28, 28) and (10000,); labels index ``FASHION_MNIST_CLASSES``.
    """
    paths = fetch("fashion-mnist")
    arrays = {name: _read_idx(path, _FMNIST_SHAPES[name]) for name, path in paths.items()}
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if arrays[name].max() >= len(FASHION_MNIST_CLASSES):
            raise DatasetError(f"{paths[name]} has labels above 9; the file is corrupt.")
    return (
        (arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]),
        (arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]),
    )


def _check_image_folders(root: Path) -> None:
    """Check ``root`` has train/ and validation/, each with cats/ and dogs/ of images only.

    Every file must open as an image: a stray file is an error naming it, since
    ``image_dataset_from_directory`` would otherwise skip it or fail mid-epoch.
    """
    from PIL import Image, UnidentifiedImageError

    for split in ("train", "validation"):
        for label in CATS_AND_DOGS_CLASSES:
            folder = root / split / label
            files = sorted(folder.iterdir()) if folder.is_dir() else []
            if not files:
                raise DatasetError(
                    f"{folder} is missing or empty: the archive is incomplete. Delete "
                    f"{root} and the zip in {cache_dir()} to extract it again."
                )
            for file in files:
                try:
                    with Image.open(file) as image:
                        ok = image.format in IMAGE_FORMATS
                except (UnidentifiedImageError, OSError):
                    ok = False
                if not ok:
                    raise DatasetError(
                        f"{file} is not a JPEG, PNG, GIF or BMP image. Remove it (or replace "
                        "it with a real image) and run again."
                    )


def _extract(zip_path: Path, target: Path) -> None:
    """Extract the archive into ``target``'s parent, atomically, checking every CRC-32."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(tmp)  # raises BadZipFile on any CRC mismatch
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise DatasetError(
                f"{zip_path} is not a valid zip archive ({err}). Delete it and run again."
            ) from err
        _check_image_folders(tmp / target.name)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_cats_and_dogs(
    image_size: tuple[int, int] = (150, 150), batch_size: int | None = 32, seed: int = 42
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Load cats vs dogs as ``tf.data`` datasets of (float32 images 0-255, 0/1 labels).

    The archive is extracted once into the cache. The training set is shuffled with
    ``seed``; the validation set keeps a fixed order. Label 0 is "cats", 1 is "dogs".
    ``batch_size=None`` yields single images, for pipelines that cache before batching.

    Returns:
        ``(train_ds, val_ds)``: 2000 and 1000 images, with ``class_names == ["cats", "dogs"]``.
    """
    import keras

    zip_path = fetch("cats-and-dogs")["cats_and_dogs_filtered.zip"]
    root = cache_dir() / "cats_and_dogs_filtered"
    if not root.is_dir():
        _extract(zip_path, root)
    _check_image_folders(root)

    def split(name: str, shuffle: bool) -> tf.data.Dataset:
        return keras.utils.image_dataset_from_directory(
            root / name,
            labels="inferred",
            label_mode="binary",
            class_names=CATS_AND_DOGS_CLASSES,
            image_size=image_size,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            verbose=False,
        )

    return split("train", shuffle=True), split("validation", shuffle=False)


def cached_batches(
    ds: tf.data.Dataset, batch_size: int = 32, *, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Decode once, keep the images in memory as bytes, then (shuffle and) batch and prefetch.

    ``ds`` yields single images (``load_cats_and_dogs(batch_size=None)``). Bytes take a quarter
    of the memory of float32; models scale them with a ``Rescaling`` layer. With
    ``shuffle_seed`` each epoch draws a new order from a buffer of 1,000 images.
    """
    import tensorflow as tf

    ds = ds.map(lambda x, y: (tf.cast(x, tf.uint8), y)).cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(1000, seed=shuffle_seed)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
