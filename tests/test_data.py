"""Tests of labhelpers.data, on the real datasets and on bad input."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import struct
import tarfile
import time
import zipfile
from pathlib import Path

from labhelpers import data, fetch
from labhelpers.course import Course
from labhelpers.data import Dataset, DatasetError
from labhelpers.fetch import DamagedFile, FetchError, MissingFile, RemoteFile

import numpy as np
import pytest
from PIL import Image

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No mirror, an empty cache in tmp_path/cache."""
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    monkeypatch.setenv("LABHELPERS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def serve_dataset(monkeypatch, http_server, body: bytes, mode: str = "ok") -> str:
    """Register a one-file dataset "tiny" whose canonical URL is on the local server."""
    base, routes, _ = http_server
    routes["/tiny.bin"] = (body, mode)
    rf = RemoteFile("tiny.bin", f"{base}/tiny.bin", (f"sha256:{sha256(b'the real content')}",))
    monkeypatch.setitem(data.DATASETS, "tiny", Dataset("tiny", files=(rf,)))
    return rf.url


# --- Real data -----------------------------------------------------------------------------


def test_fashion_mnist_is_the_full_original_set(monkeypatch):
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    # The published set is balanced: 6000 and 1000 images of each class.
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    # The first training labels of the original files: ankle boot, T-shirt, T-shirt, dress.
    assert y_train[:4].tolist() == [9, 0, 0, 3]
    assert x_train.max() == 255 and x_train.min() == 0
    assert len(data.FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_from_debian_package_is_trusted(monkeypatch):
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    paths = data.fetch("fashion-mnist")
    assert all(p.parent == DEBIAN_DIR for p in paths.values())


def test_cats_and_dogs_has_2000_training_and_1000_validation_photos():
    (x_train, y_train), (x_val, y_val) = data.load_cats_and_dogs(image_size=(32, 48))
    assert x_train.shape == (2000, 32, 48, 3) and x_val.shape == (1000, 32, 48, 3)
    assert x_train.dtype == x_val.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [1000, 1000]
    # Validation keeps the folder order (all cats, then all dogs); training is shuffled.
    assert y_val.tolist() == [0] * 500 + [1] * 500
    assert 0 < y_train[:100].mean() < 1
    assert x_train.std() > 20  # real photos, not blank arrays


# --- Checksums and local copies ------------------------------------------------------------


def test_mirror_file_with_wrong_checksum_is_an_error(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not fashion-mnist"))
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    with pytest.raises(DamagedFile, match="SHA-256") as err:
        data.load_fashion_mnist()
    assert str(mirror / "train-images-idx3-ubyte.gz") in str(err.value)


def listed_in_mirror(monkeypatch, mirror: Path, files: dict[str, bytes]) -> Path:
    """Put ``files`` in ``mirror``, each listed in its SHA256SUMS; point the loaders there."""
    mirror.mkdir(exist_ok=True)
    for name, blob in files.items():
        (mirror / name).write_bytes(blob)
    sums = [f"{sha256(blob)}  {name}" for name, blob in files.items()]
    (mirror / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    return mirror


def test_altered_fashion_mnist_labels_are_refused_though_the_mirror_lists_them(
    monkeypatch, tmp_path
):
    # Every test label set to 0 (T-shirt): a valid file that would train and score wrongly.
    name = "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress((DEBIAN_DIR / name).read_bytes())
    altered = gzip.compress(raw[:8] + bytes(len(raw) - 8))
    mirror = listed_in_mirror(monkeypatch, tmp_path / "mirror", {name: altered})
    with pytest.raises(DamagedFile) as err:
        data.load_fashion_mnist()
    message = str(err.value)
    assert f"{mirror / name} is damaged or not the expected file: its SHA-256 is" in message
    assert "a published hash always wins over a folder's list" in message
    assert "Replace it with a good copy (and its line in SHA256SUMS)" in message


def write_idx(path: Path, array: np.ndarray) -> bytes:
    """Write ``array`` (uint8) as a gzipped IDX file, as Fashion-MNIST's files are; return it."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = gzip.compress(header + array.tobytes(), compresslevel=1)
    path.write_bytes(blob)
    return blob


# The IDX reader's own checks, for a file that passed its hash (say, one registered without).


def test_idx_of_the_expected_shape_is_read(tmp_path):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(data._read_idx(tmp_path / "x.gz", (3, 2, 2)), images)


def test_truncated_gzip_is_an_error_not_a_short_array(tmp_path):
    blob = write_idx(tmp_path / "x.gz", np.ones((3, 2, 2), dtype=np.uint8))
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match="not a complete gzip file"):
        data._read_idx(tmp_path / "x.gz", (3, 2, 2))


def test_idx_with_missing_images_is_an_error(tmp_path):
    # A valid gzip stream whose IDX payload lacks the last image.
    blob = write_idx(tmp_path / "x.gz", np.ones((3, 2, 2), dtype=np.uint8))
    (tmp_path / "x.gz").write_bytes(gzip.compress(gzip.decompress(blob)[:-4]))
    with pytest.raises(DatasetError, match=r"holds 8 bytes .* truncated or wrong"):
        data._read_idx(tmp_path / "x.gz", (3, 2, 2))


def test_idx_with_wrong_magic_number_is_an_error(tmp_path):
    blob = write_idx(tmp_path / "x.gz", np.ones((3, 2, 2), dtype=np.uint8))
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x03" + gzip.decompress(blob)[4:]))
    with pytest.raises(DatasetError, match="magic number 00000d03"):
        data._read_idx(tmp_path / "x.gz", (3, 2, 2))


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="fashion-mnist"):
        data.fetch("mnist")


def test_a_malformed_checksum_list_names_its_file_and_line(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    good = f"{sha256(b'x')}  other.bin"
    (mirror / "SHA256SUMS").write_text(f"{good}\n\nnot-a-hash train-images-idx3-ubyte.gz\n")
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    with pytest.raises(FetchError, match=r"SHA256SUMS, line 3, is not a checksum line"):
        data.load_fashion_mnist()


def test_a_declared_hash_must_name_its_algorithm():
    with pytest.raises(ValueError, match="'sha256:<hex>' or 'md5:<hex>'"):
        RemoteFile("f.bin", "https://example.org/f.bin", hashes=("0123abcd",))


def test_a_published_hash_outranks_the_folders_list(tmp_path):
    path = tmp_path / "f.bin"
    rf = RemoteFile(
        "f.bin", "https://example.org/f.bin", (f"md5:{'0' * 32}", "sha256:" + sha256(b"good"))
    )
    path.write_bytes(b"altered")
    problem = fetch.verify(path, rf, vouched=sha256(b"altered"))
    assert problem is not None and problem.startswith(
        f"its MD5 is {hashlib.md5(b'altered').hexdigest()}"
    )
    assert "lists this very copy, but a published hash always wins" in problem
    # A list that names some other file says nothing about this copy: no such remark.
    assert "lists this very copy" not in fetch.verify(path, rf, vouched="0" * 64)
    path.write_bytes(b"good")
    assert fetch.verify(path, rf, vouched="0" * 64) is None  # the list is not even read


def test_without_a_published_hash_the_folders_list_decides_then_the_size(tmp_path):
    path = tmp_path / "f.bin"
    rf = RemoteFile("f.bin", "https://example.org/f.bin", size=4)
    path.write_bytes(b"good")
    assert fetch.verify(path, rf, vouched=sha256(b"good")) is None
    problem = fetch.verify(path, rf, vouched=sha256(b"else"))
    assert problem == (
        f"its SHA-256 is {sha256(b'good')}; expected SHA-256 {sha256(b'else')}, "
        "as its folder's SHA256SUMS lists"
    )
    assert fetch.verify(path, rf) is None  # not listed: its size is all there is to check
    path.write_bytes(b"longer")
    assert fetch.verify(path, rf) == "it has 6 bytes, expected 4"
    # A listed copy is the folder's own (say, a repack): its list decides, not the size.
    assert fetch.verify(path, rf, vouched=sha256(b"longer")) is None


# --- Downloads -----------------------------------------------------------------------------


def test_download_is_verified_cached_and_not_repeated(monkeypatch, http_server, isolated):
    serve_dataset(monkeypatch, http_server, b"the real content")
    path = data.fetch("tiny")["tiny.bin"]
    assert path == isolated / "tiny.bin" and path.read_bytes() == b"the real content"
    data.fetch("tiny")
    assert http_server[2] == ["/tiny.bin"]  # the second call used the cache


def test_download_with_wrong_checksum_keeps_nothing(monkeypatch, http_server, isolated):
    url = serve_dataset(monkeypatch, http_server, b"something else")
    with pytest.raises(DamagedFile, match="not the expected one") as err:
        data.fetch("tiny")
    assert url in str(err.value)
    assert not isolated.exists() or list(isolated.iterdir()) == []


def test_interrupted_download_leaves_no_file(monkeypatch, http_server, isolated):
    serve_dataset(monkeypatch, http_server, b"the real content", mode="cut")
    with pytest.raises(DamagedFile, match="stopped after 8 of 16 bytes"):
        data.fetch("tiny")
    assert list(isolated.iterdir()) == []
    # Once the connection is good again, the next run downloads the whole file.
    http_server[1]["/tiny.bin"] = (b"the real content", "ok")
    assert data.fetch("tiny")["tiny.bin"].read_bytes() == b"the real content"


def test_corrupt_cached_file_is_downloaded_again(monkeypatch, http_server, isolated):
    serve_dataset(monkeypatch, http_server, b"the real content")
    isolated.mkdir()
    (isolated / "tiny.bin").write_bytes(b"the real cont")  # say, a copy from an older tool
    with pytest.warns(UserWarning, match="failed its check"):
        path = data.fetch("tiny")["tiny.bin"]
    assert path.read_bytes() == b"the real content"


def test_no_network_and_nothing_cached_fails_fast_and_says_how_to_fix(monkeypatch, isolated):
    # Port 9 on loopback refuses connections, as a machine without network does.
    rf = RemoteFile("tiny.bin", "http://127.0.0.1:9/tiny.bin", (f"sha256:{sha256(b'x')}",))
    monkeypatch.setitem(data.DATASETS, "tiny", Dataset("tiny", files=(rf,)))
    start = time.perf_counter()
    with pytest.raises(MissingFile) as err:
        data.fetch("tiny")
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert "LABHELPERS_DATA_DIR" in message and str(isolated / "tiny.bin") in message
    assert "connect to the internet" in message


def test_a_server_that_never_answers_times_out(monkeypatch, http_server, isolated):
    serve_dataset(monkeypatch, http_server, b"the real content", mode="hang")
    monkeypatch.setattr(fetch, "DOWNLOAD_TIMEOUT_S", 1)
    start = time.perf_counter()
    with pytest.raises(MissingFile, match="LABHELPERS_DATA_DIR"):
        data.fetch("tiny")
    assert time.perf_counter() - start < 10
    assert list(isolated.iterdir()) == []


def test_fashion_mnist_without_any_source_names_the_fixes(monkeypatch, isolated):
    monkeypatch.setitem(
        data.DATASETS,
        "fashion-mnist",
        Dataset(
            "fashion-mnist",
            files=tuple(
                RemoteFile(rf.name, "http://127.0.0.1:9/" + rf.name, rf.hashes)
                for rf in data.DATASETS["fashion-mnist"].files
            ),
            system_dirs=(str(isolated / "nowhere"),),
            hint=data.DATASETS["fashion-mnist"].hint,
        ),
    )
    with pytest.raises(MissingFile, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist()


# --- Cats vs dogs archives -----------------------------------------------------------------


@functools.cache  # every archive reuses a few encoded images: encode each once
def jpeg_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def make_zip(
    path: Path, splits=("train", "validation"), extra: dict | None = None, per_class: int = 3
) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for split in splits:
            for offset, label in enumerate(("cats", "dogs")):
                for i in range(per_class):
                    name = f"cats_and_dogs_filtered/{split}/{label}/{label[:-1]}.{i}.jpg"
                    archive.writestr(name, jpeg_bytes(offset * per_class + i))
        for name, blob in (extra or {}).items():
            archive.writestr(name, blob)


@pytest.fixture
def zip_mirror(monkeypatch, tmp_path):
    """A mirror folder; call it with a zip-making function, get the mirror path back."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    monkeypatch.setenv("LABHELPERS_CACHE_DIR", str(tmp_path / "cache"))

    def build(write_zip) -> Path:
        target = mirror / "cats_and_dogs_filtered.zip"
        write_zip(target)
        (mirror / "SHA256SUMS").write_text(f"{sha256(target.read_bytes())}  {target.name}\n")
        return mirror

    return build


def test_small_valid_archive_is_extracted_once(zip_mirror, tmp_path):
    zip_mirror(make_zip)
    (x_train, y_train), (x_val, y_val) = data.load_cats_and_dogs(image_size=(16, 16))
    assert x_train.shape == (6, 16, 16, 3) and sorted(y_train) == [0, 0, 0, 1, 1, 1]
    assert y_val.tolist() == [0, 0, 0, 1, 1, 1]
    extracted = tmp_path / "cache" / "cats_and_dogs_filtered"
    assert (extracted / "validation" / "dogs").is_dir()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["cats_and_dogs_filtered"]
    inode = extracted.stat().st_ino
    data.load_cats_and_dogs(image_size=(16, 16))
    assert extracted.stat().st_ino == inode  # not extracted a second time


def test_cats_and_dogs_training_order_is_set_by_the_seed(zip_mirror):
    zip_mirror(make_zip)
    (first, labels), _ = data.load_cats_and_dogs(image_size=(16, 16), seed=7)
    (again, labels_again), _ = data.load_cats_and_dogs(image_size=(16, 16), seed=7)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    orders = {tuple(data.load_cats_and_dogs(image_size=(16, 16), seed=s)[0][1]) for s in range(6)}
    assert len(orders) > 1, "another seed, another order"


def counting_decodes(monkeypatch) -> list[int]:
    """How many photos each call of the loaders' decoder decodes, call by call."""
    counts, decode = [], data._decode_photos

    def counted(files, *args, **kwargs):
        counts.append(len(files))
        return decode(files, *args, **kwargs)

    monkeypatch.setattr(data, "_decode_photos", counted)
    return counts


def test_a_sample_decodes_only_the_photos_that_fast_modes_subset_keeps(zip_mirror, monkeypatch):
    zip_mirror(lambda path: make_zip(path, per_class=6))
    whole = data.load_cats_and_dogs(image_size=(16, 16), seed=3)
    decoded = counting_decodes(monkeypatch)

    sampled = data.load_cats_and_dogs(image_size=(16, 16), seed=3, sample=(4, 2))

    assert decoded == [4, 2]
    course = Course(fast=True, seed=3)
    for (x, y), (x_kept, y_kept), size in zip(whole, sampled, (4, 2), strict=True):
        x_subset, y_subset = course.subset(x, y, fast=size)
        np.testing.assert_array_equal(x_kept, x_subset)
        np.testing.assert_array_equal(y_kept, y_subset)
        assert sorted(y_kept) == [0] * (size // 2) + [1] * (size // 2)  # both classes
    assert data.load_cats_and_dogs(image_size=(16, 16), sample=(99, 99))[0][0].shape[0] == 12
    with pytest.raises(TypeError, match=r"sample= takes two numbers.*\(256, 128\); got 256"):
        data.load_cats_and_dogs(image_size=(16, 16), sample=256)


def test_truncated_zip_is_an_error_and_leaves_nothing(zip_mirror, tmp_path):
    def truncated(path):
        make_zip(path)
        path.write_bytes(path.read_bytes()[:-200])

    zip_mirror(truncated)
    with pytest.raises(DatasetError, match="not a valid zip archive"):
        data.load_cats_and_dogs()
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_zip_with_a_corrupt_member_fails_its_crc(zip_mirror, tmp_path):
    def corrupt(path):
        make_zip(path)
        blob = bytearray(path.read_bytes())
        first = blob.index(b"\xff\xd8\xff")  # the first JPEG's data, stored uncompressed
        blob[first + 300] ^= 0xFF
        path.write_bytes(bytes(blob))

    zip_mirror(corrupt)
    with pytest.raises(DatasetError, match="CRC"):
        data.load_cats_and_dogs()
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_split_folder_is_an_error(zip_mirror):
    zip_mirror(lambda path: make_zip(path, splits=("train",)))
    with pytest.raises(DatasetError, match=r"validation/cats is missing or empty"):
        data.load_cats_and_dogs()


def test_non_image_member_is_named_by_archive_and_member(zip_mirror, tmp_path):
    extra = {"cats_and_dogs_filtered/train/dogs/notes.jpg": b"this is not a picture"}
    mirror = zip_mirror(lambda path: make_zip(path, extra=extra))
    with pytest.raises(DatasetError) as err:
        data.load_cats_and_dogs()
    message = str(err.value)
    archive = mirror / "cats_and_dogs_filtered.zip"
    assert f"In the archive {archive}, cats_and_dogs_filtered/train/dogs/notes.jpg is" in message
    # Not the temporary extraction folder, which is gone when the user reads the message.
    assert str(tmp_path / "cache") not in message and "Replace the archive" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_non_image_file_in_an_extracted_copy_is_named_by_path(zip_mirror, tmp_path):
    zip_mirror(make_zip)
    data.load_cats_and_dogs(image_size=(16, 16))
    stray = tmp_path / "cache" / "cats_and_dogs_filtered" / "train" / "cats" / "Thumbs.db"
    stray.write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match=f"{stray} is not a JPEG") as err:
        data.load_cats_and_dogs(image_size=(16, 16))
    assert f"Delete {stray.parents[2]} to extract it again" in str(err.value)


def test_a_zip_without_a_published_hash_is_trusted_by_its_folders_list(zip_mirror):
    mirror = zip_mirror(make_zip)  # lists the zip in SHA256SUMS
    zip_path = mirror / "cats_and_dogs_filtered.zip"
    # Not the size of Google's archive: the list, not the size, vouches for it.
    assert zip_path.stat().st_size != data.DATASETS["cats-and-dogs"].files[0].size
    assert data.fetch("cats-and-dogs")["cats_and_dogs_filtered.zip"] == zip_path
    (mirror / "SHA256SUMS").write_text(f"{'0' * 64}  {zip_path.name}\n")
    with pytest.raises(DamagedFile) as err:
        data.fetch("cats-and-dogs")
    assert f"{zip_path} is damaged or not the expected file: its SHA-256 is" in str(err.value)
    assert f"expected SHA-256 {'0' * 64}, as its folder's SHA256SUMS lists" in str(err.value)


def test_canonical_zip_of_the_wrong_size_is_rejected(monkeypatch, http_server, isolated):
    base, routes, _ = http_server
    routes["/c.zip"] = (b"PK" + b"\0" * 100, "ok")
    rf = RemoteFile("cats_and_dogs_filtered.zip", f"{base}/c.zip", size=68_606_236)
    monkeypatch.setitem(data.DATASETS, "cats-and-dogs", Dataset("cats-and-dogs", files=(rf,)))
    with pytest.raises(DamagedFile, match="102 bytes, expected 68606236"):
        data.load_cats_and_dogs()
    assert list(isolated.iterdir()) == []


# --- Oxford 17 flowers ---------------------------------------------------------------------


def test_flowers17_has_1360_images_80_per_class_in_numbering_order():
    images, labels = data.load_flowers17(image_size=(32, 40))
    assert images.shape == (1360, 32, 40, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [80] * 17
    assert labels[:80].tolist() == [0] * 80 and labels[80] == 1 and labels[-1] == 16
    assert len(data.FLOWERS17_CLASSES) == 17 and data.FLOWERS17_CLASSES[9] == "Sunflower"
    assert images.std() > 20  # real photos, not blank arrays


def make_tgz(path: Path, n: int, extra: dict | None = None, truncate: bool = False) -> None:
    """An archive laid out like 17flowers.tgz: jpg/image_0001.jpg ... jpg/image_{n}.jpg."""
    with tarfile.open(path, "w:gz") as archive:
        members = {f"jpg/image_{i:04d}.jpg": jpeg_bytes(i % 5) for i in range(1, n + 1)}
        members["jpg/files.txt"] = b"image_0001.jpg\n"
        for name, blob in {**members, **(extra or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    if truncate:
        path.write_bytes(path.read_bytes()[:-500])


PER_CLASS = 2  # the small archives' flowers per class: 34 images, not 1,360
SMALL_N = len(data.FLOWERS17_CLASSES) * PER_CLASS


@pytest.fixture
def tgz_mirror(monkeypatch, tmp_path):
    """A mirror folder; call it with make_tgz's keywords, get the mirror path back.

    The archive holds 2 flowers of each class, and its hash is made the published one, as
    a good copy of the real archive matches the real published hash.
    """
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    monkeypatch.setenv("LABHELPERS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "FLOWERS17_PER_CLASS", PER_CLASS)

    def build(n: int = SMALL_N, **kwargs) -> Path:
        target = mirror / "17flowers.tgz"
        make_tgz(target, n, **kwargs)
        real = data.DATASETS["flowers17"].files[0]
        published = RemoteFile(real.name, real.url, (f"sha256:{sha256(target.read_bytes())}",))
        monkeypatch.setitem(data.DATASETS, "flowers17", Dataset("flowers17", files=(published,)))
        return mirror

    return build


def test_small_valid_flowers_archive_is_extracted_once(tgz_mirror, tmp_path):
    tgz_mirror()
    images, labels = data.load_flowers17(image_size=(8, 8))
    assert images.shape == (SMALL_N, 8, 8, 3) and labels.tolist() == [
        c for c in range(17) for _ in range(PER_CLASS)
    ]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["flowers17"]
    first = (tmp_path / "cache" / "flowers17").stat().st_ino
    assert data.load_flowers17(image_size=(8, 8))[0].shape == (SMALL_N, 8, 8, 3)
    again = (tmp_path / "cache" / "flowers17").stat().st_ino
    assert first == again  # not extracted a second time
    (tmp_path / "cache" / "flowers17" / "jpg" / "image_0003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"jpg holds 33 flower images.* Delete .*flowers17 to"):
        data.load_flowers17(image_size=(8, 8))


def test_a_flowers_sample_decodes_only_the_photos_that_fast_modes_subset_keeps(
    tgz_mirror, monkeypatch
):
    tgz_mirror()
    images, labels = data.load_flowers17(image_size=(8, 8))
    decoded = counting_decodes(monkeypatch)

    kept, kept_labels = data.load_flowers17(image_size=(8, 8), sample=17)

    assert decoded == [17] and sorted(kept_labels) == list(range(17))  # one of each class
    with pytest.raises(TypeError, match=r"sample= takes one number.*e\.g\. 85; got \(17, 17\)"):
        data.load_flowers17(image_size=(8, 8), sample=(17, 17))
    subset, subset_labels = Course(fast=True).subset(images, labels, fast=17)
    np.testing.assert_array_equal(kept, subset)
    np.testing.assert_array_equal(kept_labels, subset_labels)


def test_flowers_archive_with_an_image_missing_is_an_error(tgz_mirror, tmp_path):
    tgz_mirror(n=SMALL_N - 1)
    with pytest.raises(DatasetError, match=r"holds 33 flower images, expected exactly 34"):
        data.load_flowers17()
    assert list((tmp_path / "cache").iterdir()) == []


def test_flowers_archive_with_an_extra_image_is_an_error(tgz_mirror):
    tgz_mirror(extra={f"jpg/image_{SMALL_N + 1:04d}.jpg": jpeg_bytes(0)})
    with pytest.raises(DatasetError, match=r"holds 35 flower images, expected exactly 34"):
        data.load_flowers17()


def test_flowers_member_that_is_not_an_image_is_named(tgz_mirror, tmp_path):
    mirror = tgz_mirror(extra={"jpg/image_0012.jpg": b"this is not a picture"})
    with pytest.raises(DatasetError) as err:
        data.load_flowers17()
    message = str(err.value)
    assert f"In the archive {mirror / '17flowers.tgz'}, jpg/image_0012.jpg is not a" in message
    assert str(tmp_path / "cache") not in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_flowers_stray_file_is_named(tgz_mirror):
    tgz_mirror(extra={"jpg/.DS_Store": b"\0\0\0\1Bud1"})
    with pytest.raises(DatasetError, match=r"17flowers.tgz, jpg/\.DS_Store is not a JPEG"):
        data.load_flowers17()


def test_truncated_flowers_archive_is_an_error_and_leaves_nothing(tgz_mirror, tmp_path):
    tgz_mirror(truncate=True)
    with pytest.raises(DatasetError, match="not a valid tar archive"):
        data.load_flowers17()
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_stub_flowers_archive_is_refused_though_the_mirror_lists_it(monkeypatch, tmp_path):
    # 1 MB where the real archive has 60: listed in the mirror's SHA256SUMS all the same.
    stub = np.random.default_rng(0).bytes(1 << 20)
    mirror = listed_in_mirror(monkeypatch, tmp_path / "mirror", {"17flowers.tgz": stub})
    monkeypatch.setenv("LABHELPERS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DamagedFile) as err:
        data.load_flowers17()
    message = str(err.value)
    published = data.DATASETS["flowers17"].files[0].hashes[0].removeprefix("sha256:")
    assert f"{mirror / '17flowers.tgz'} is damaged or not the expected file" in message
    assert f"its SHA-256 is {sha256(stub)}; expected SHA-256 {published}" in message
    assert "a published hash always wins over a folder's list" in message
    assert not (tmp_path / "cache").exists()  # nothing extracted
