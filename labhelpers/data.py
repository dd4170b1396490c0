"""The datasets: one registry, and loaders that return NumPy arrays of bytes (uint8).

Each file is found by the chain of :mod:`labhelpers.fetch` (``LABHELPERS_DATA_DIR``, system
folders such as Debian's ``dataset-fashion-mnist``, the cache, then the canonical URL) and
trusted only if it matches a hash declared here; docs/instructors.md tells the whole story.
Bytes are compact and the same in every lab; models scale them with a ``Rescaling`` layer.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

from labhelpers.course import cache_dir, mirror_dir, stratified_sample
from labhelpers.fetch import DamagedFile, Lookup, RemoteFile

import numpy as np

__all__ = [
    "CATS_AND_DOGS_CLASSES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "FLOWERS17_CLASSES",
    "DatasetError",
    "cats_and_dogs_folder",
    "fetch",
    "load_cats_and_dogs",
    "load_fashion_mnist",
    "load_flowers17",
    "lookups",
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
# In the order of the original's numbering: images 1-80 are Daffodil, 81-160 Snowdrop, ...
FLOWERS17_CLASSES = (
    "Daffodil Snowdrop LilyValley Bluebell Crocus Iris Tigerlily Tulip Fritillary Sunflower "
    "Daisy ColtsFoot Dandelion Cowslip Buttercup Windflower Pansy"
).split()
FLOWERS17_PER_CLASS = 80
# How tf.io.decode_image, which decodes the photos here and in image_dataset_from_directory,
# tells the formats it reads (JPEG, PNG, GIF, BMP) apart: by their first bytes.
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
_NOT_AN_IMAGE = "is not a JPEG, PNG, GIF or BMP image"


class DatasetError(DamagedFile):
    """A dataset's file is there but does not hold what it should; the message says the fix."""


class _BadContent(DatasetError):
    """What a check found wrong at ``path`` in the extracted folder ``root``, worded for that
    folder; ``_extract`` words it for the archive when the folder is an extraction in progress."""

    def __init__(self, root: Path, path: Path, problem: str) -> None:
        super().__init__(f"{path} {problem}. Delete {root} to extract it again, and run again.")
        self.path, self.problem = path, problem


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its files and the system folders that may already hold them."""

    name: str
    files: tuple[RemoteFile, ...]
    system_dirs: tuple[str, ...] = ()
    hint: str = ""  # one more way to get the files, for the error message


_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# file: its shape, then the SHA-256 of the canonical file and of Debian's recompressed copy
_FMNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        (60000, 28, 28),
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    "train-labels-idx1-ubyte.gz": (
        (60000,),
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    "t10k-images-idx3-ubyte.gz": (
        (10000, 28, 28),
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        (10000,),
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
}

DATASETS: dict[str, Dataset] = {
    "fashion-mnist": Dataset(
        name="fashion-mnist",
        files=tuple(
            RemoteFile(name, _FMNIST_URL + name, hashes=(f"sha256:{sha}", f"sha256:{debian}"))
            for name, (_, sha, debian) in _FMNIST_FILES.items()
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
                size=68_606_236,
            ),
        ),
        hint="or download the zip by hand into that folder",
    ),
    "flowers17": Dataset(
        name="flowers17",
        files=(
            RemoteFile(
                "17flowers.tgz",
                "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz",
                hashes=(
                    "sha256:fe38a60f8b4a95e657551247d3e7d799a3fafcdbc595be504b12839967823d70",
                    # The course's CI mirror (.ci/run) holds the 1,360 photos repacked from a
                    # public copy of the originals; a folder's SHA256SUMS cannot vouch for a
                    # file that has a published hash, so this repack's hash is declared here.
                    "sha256:f835497ba49696b462e91c1eb3a723fb404c9a6f1085413d573eecaa0ee1db1e",
                ),
                size=60_270_631,
            ),
        ),
        hint="or download 17flowers.tgz by hand into that folder",
    ),
}


def lookups(name: str) -> list[Lookup]:
    """Each file of dataset ``name`` with the places it is looked for: mirror, system, cache."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known: {sorted(DATASETS)}.")
    dataset = DATASETS[name]
    mirror = mirror_dir()
    local = ((mirror,) if mirror else ()) + tuple(Path(d) for d in dataset.system_dirs)
    return [
        Lookup(rf, local, cache_dir(), what=f"dataset {name!r}", hint=dataset.hint)
        for rf in dataset.files
    ]


def fetch(name: str) -> dict[str, Path]:
    """Find or download every file of dataset ``name``; return file name -> verified path (or
    raise MissingFile or DamagedFile, saying the fix)."""
    return {lookup.file.name: lookup.resolve() for lookup in lookups(name)}


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
    """Load the full Fashion-MNIST set as uint8 arrays: ``(x_train, y_train), (x_test, y_test)``
    of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,), labels indexing the classes."""
    paths = fetch("fashion-mnist")
    arrays = {name: _read_idx(path, _FMNIST_FILES[name][0]) for name, path in paths.items()}
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if arrays[name].max() >= len(FASHION_MNIST_CLASSES):
            raise DatasetError(f"{paths[name]} has labels above 9; the file is corrupt.")
    x_train, y_train, x_test, y_test = arrays.values()  # in the order of _FMNIST_FILES
    return (x_train, y_train), (x_test, y_test)


def _is_image(file: Path) -> bool:
    """True when ``file`` starts as a JPEG, PNG, GIF or BMP file does."""
    try:
        with file.open("rb") as f:
            return f.read(8).startswith(_IMAGE_SIGNATURES)
    except OSError:  # a folder, say
        return False


def _check_image_folders(root: Path) -> None:
    """Check ``root`` has train/ and validation/, each with cats/ and dogs/ of images only: a
    stray file would make ``image_dataset_from_directory`` skip it or fail mid-epoch."""
    for split in ("train", "validation"):
        for label in CATS_AND_DOGS_CLASSES:
            folder = root / split / label
            files = sorted(folder.iterdir()) if folder.is_dir() else []
            if not files:
                raise _BadContent(root, folder, "is missing or empty")
            for file in files:
                if not _is_image(file):
                    raise _BadContent(root, file, _NOT_AN_IMAGE)


def _flower_number(file: Path) -> int | None:
    """The number of ``jpg/image_0042.jpg`` (42), or None for any other name."""
    stem = file.stem
    if file.suffix == ".jpg" and stem.startswith("image_") and stem[6:].isdigit():
        return int(stem[6:])
    return None


def _check_flowers(root: Path) -> list[Path]:
    """Check ``root/jpg`` holds exactly image_0001.jpg ... image_1360.jpg, all images, and
    maybe the original's ``files.txt``; return the image files in numbering order."""
    n = len(FLOWERS17_CLASSES) * FLOWERS17_PER_CLASS
    folder = root / "jpg"
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    for file in files:
        if file.name != "files.txt" and _flower_number(file) is None:
            raise _BadContent(root, file, _NOT_AN_IMAGE)
    images = sorted((f for f in files if f.name != "files.txt"), key=_flower_number)
    numbers = [_flower_number(f) for f in images]
    if numbers != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(numbers))[:3]
        raise _BadContent(
            root,
            folder,
            f"holds {len(images)} flower images, expected exactly {n} "
            f"(image_0001.jpg ... image_{n:04d}.jpg)"
            + (f"; missing e.g. {[f'image_{m:04d}.jpg' for m in missing]}" if missing else ""),
        )
    for file in images:
        if not _is_image(file):
            raise _BadContent(root, file, _NOT_AN_IMAGE)
    return images


def _extract(
    archive: Path, target: Path, check: Callable[[Path], object], inner: str | None = None
) -> None:
    """Extract ``archive`` (zip or tar.gz) to ``target`` atomically, checking it first.

    It is extracted into a temporary folder beside ``target`` (``root``: that folder, or its
    sub-folder ``inner``), checked with ``check(root)``, and only then renamed to ``target``: an
    interrupted or failed extraction leaves nothing behind.
    """
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    root = tmp / inner if inner else tmp
    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(tmp)  # raises BadZipFile on any CRC mismatch
            else:
                with tarfile.open(archive, "r:*") as tf_:
                    tf_.extractall(tmp, filter="data")  # gzip checks its CRC-32 at the end
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
            kind = "zip" if archive.suffix == ".zip" else "tar"
            raise DatasetError(
                f"{archive} is not a valid {kind} archive ({err}). Delete it and run again."
            ) from err
        try:
            check(root)
        except _BadContent as bad:
            # The temporary folder is gone by the time the message is read: name the member
            # inside the archive instead, and the fix left to the user, another archive.
            raise DatasetError(
                f"In the archive {archive}, {bad.path.relative_to(tmp).as_posix()} "
                f"{bad.problem}: the archive is damaged or not the expected one, and nothing "
                "was extracted. Replace the archive with a good copy (or delete it to download "
                "it again) and run again."
            ) from None
        if root == tmp:
            tmp.chmod(0o755)  # mkdtemp makes it private; the extracted folder should not be
        os.replace(root, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _decode_photos(
    files: list[Path], image_size: tuple[int, int], antialias: bool = False
) -> np.ndarray:
    """Decode and resize photos into one uint8 array, in parallel with ``tf.data``.

    As ``image_dataset_from_directory`` does: RGB, resized bilinearly to ``image_size`` (height,
    width) without keeping the aspect ratio, then rounded to bytes. ``antialias`` averages over
    every source pixel when shrinking, as Pillow does (how the flowers were always loaded).
    """
    import tensorflow as tf

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, image_size, method="bilinear", antialias=antialias)
        return tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8)

    paths = tf.data.Dataset.from_tensor_slices([str(f) for f in files])
    images = np.empty((len(files), *image_size, 3), dtype=np.uint8)  # filled in place
    done = 0
    for batch in paths.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(64):
        images[done : done + len(batch)] = batch.numpy()
        done += len(batch)
    return images


def cats_and_dogs_folder() -> Path:
    """The folder of the cats-and-dogs JPEG photos: ``train/`` and ``validation/``, each with
    ``cats/`` and ``dogs/``; the archive is fetched and extracted once, then checked."""
    zip_path = fetch("cats-and-dogs")["cats_and_dogs_filtered.zip"]
    root = cache_dir() / "cats_and_dogs_filtered"
    if not root.is_dir():
        _extract(zip_path, root, _check_image_folders, inner=root.name)
    _check_image_folders(root)
    return root


def load_cats_and_dogs(
    image_size: tuple[int, int] = (128, 128),
    seed: int = 42,
    sample: tuple[int, int] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load cats vs dogs as uint8 arrays: ``(x_train, y_train), (x_val, y_val)``.

    2,000 and 1,000 photos of shape ``(*image_size, 3)``; label 0 is "cats", 1 is "dogs". The
    training photos are shuffled with ``seed``; the validation photos are in folder order (all
    cats, then all dogs), so that results line up with a fixed list. ``sample=(train, val)``
    keeps only that many of each split, stratified, in the same order, chosen before any photo
    is decoded: the photos that ``Course.subset(x, y, fast=...)`` would keep with this seed.
    """
    try:
        train, val = sample if sample is not None else (None, None)
    except (TypeError, ValueError):
        raise TypeError(
            "sample= takes two numbers, the training and validation photos to keep, e.g. "
            f"(256, 128); got {sample!r}"
        ) from None
    root = cats_and_dogs_folder()

    def split(name: str, shuffle: bool, size: int | None) -> tuple[np.ndarray, np.ndarray]:
        files, labels = [], []
        for label, class_name in enumerate(CATS_AND_DOGS_CLASSES):
            found = sorted((root / name / class_name).iterdir())
            files += found
            labels += [label] * len(found)
        if shuffle:  # before decoding, so that no second copy of the photos is made
            order = np.random.default_rng(seed).permutation(len(files))
            files, labels = [files[i] for i in order], [labels[i] for i in order]
        if size is not None:  # decoding is the slow part: decode only the photos kept
            keep = stratified_sample(labels, size, seed)
            files, labels = [files[i] for i in keep], [labels[i] for i in keep]
        return _decode_photos(files, image_size), np.array(labels, dtype=np.int64)

    return split("train", True, train), split("validation", False, val)


def load_flowers17(
    image_size: tuple[int, int] = (128, 128), seed: int = 42, sample: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load the Oxford 17 flowers (Nilsback and Zisserman, 2006) as ``(images, labels)``.

    Shapes (1360, height, width, 3) uint8, resized to ``image_size`` without keeping the aspect
    ratio, and (1360,) int64, indexing ``FLOWERS17_CLASSES``: in the original numbering, 80 of
    each class in turn; split them yourself, stratified. ``sample`` keeps only that many,
    stratified with ``seed``, in the same order, chosen before any photo is decoded.
    """
    if sample is not None and not isinstance(sample, Integral):
        raise TypeError(f"sample= takes one number, the photos to keep, e.g. 85; got {sample!r}")
    archive = fetch("flowers17")["17flowers.tgz"]
    root = cache_dir() / "flowers17"
    if not root.is_dir():
        _extract(archive, root, _check_flowers)
    files = _check_flowers(root)
    labels = np.arange(len(files), dtype=np.int64) // FLOWERS17_PER_CLASS
    if sample is not None:
        keep = stratified_sample(labels, sample, seed)
        files, labels = [files[i] for i in keep], labels[keep]
    return _decode_photos(files, image_size, antialias=True), labels
