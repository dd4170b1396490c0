"""Tests of ``python -m coursetools classroom``: one folder with every file the labs load.

The notebooks' own code says which files the labs need; the real mirror of the datasets
(``LABHELPERS_DATA_DIR``, as ``.ci/run`` sets it) fills a folder offline; a local HTTP server
stands in for Keras' download site where weights must come "from the internet".
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import hashlib
import inspect
import io
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from labhelpers import bases, course, data
from labhelpers.data import Dataset
from labhelpers.fetch import DamagedFile, RemoteFile, file_digest, read_sums

import pytest

from coursetools import classroom
from coursetools.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/[0-9]*.ipynb")) + sorted(
    ROOT.glob("notebooks/student/[0-9]*.ipynb")
)
# The dataset each loader of labhelpers.data reads (a test checks that none is left out).
LOADERS = {
    "load_fashion_mnist": "fashion-mnist",
    "load_cats_and_dogs": "cats-and-dogs",
    "load_flowers17": "flowers17",
}
BASES = {"vgg16_base": bases.vgg16_base, "pretrained_base": bases.pretrained_base}
MOBILENET_V2_224 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
REAL_WEIGHTS_SPEC = bases.weights_spec


# --- Which files the notebooks load ------------------------------------------------------


def argument(call: ast.Call, function, param: str, constants: dict, where: str):
    """The value of ``function``'s parameter ``param`` in ``call``, or its default."""
    params = list(inspect.signature(function).parameters.values())
    index = [p.name for p in params].index(param)
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    node = positional[index] if index < len(positional) else None
    node = next((k.value for k in call.keywords if k.arg == param), node)
    if node is None:
        return params[index].default
    try:
        return eval(compile(ast.Expression(node), where, "eval"), {"__builtins__": {}}, constants)
    except Exception as err:
        pytest.fail(f"{where}: cannot tell its {param} ({err}); write it from literals")


def files_loaded(path: Path) -> set[str]:
    """The names of the files that the code of notebook ``path`` loads, per the registries."""
    names: set[str] = set()
    constants: dict = {}  # NAME = <literal> assignments, for arguments like (*IMAGE_SIZE, 3)
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        code = "\n".join(  # IPython magics are not Python
            line.split("%")[0] + "pass" if line.lstrip().startswith("%") else line
            for line in source.splitlines()
        )
        tree = ast.parse(code, filename=f"{path.name}, cell {index}")
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                with contextlib.suppress(ValueError, SyntaxError):
                    constants[node.targets[0].id] = ast.literal_eval(node.value)
        for call in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}, cell {index}: {ast.unparse(call)}"
            # Keras' own downloaders would go past the registries, and the classroom.
            if isinstance(call, ast.ImportFrom):
                assert not re.match(r"(tensorflow\.)?keras\.datasets", call.module or ""), where
            if not isinstance(call, ast.Call):
                continue
            function = ast.unparse(call.func)
            assert not re.search(r"(^|\.)get_file$|keras\.datasets\.", function), where
            assert not any(
                k.arg == "weights" and ast.unparse(k.value) == "'imagenet'" for k in call.keywords
            ), where
            name = function.rpartition(".")[2]
            if name in LOADERS or name == "fetch":
                dataset = LOADERS.get(name) or ast.literal_eval(call.args[0])
                names |= {lookup.file.name for lookup in data.lookups(dataset)}
            elif name in BASES:
                arch = "vgg16" if name == "vgg16_base" else None
                arch = arch or argument(call, BASES[name], "arch", constants, where)
                shape = argument(call, BASES[name], "input_shape", constants, where)
                names.add(bases.weights_spec(arch, shape)[1].name)
    return names


def test_every_loader_of_labhelpers_data_is_known_to_the_notebook_scan():
    assert set(LOADERS) == {name for name in data.__all__ if name.startswith("load_")}


def test_the_classroom_holds_exactly_the_files_that_the_notebooks_load():
    needed: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        for name in files_loaded(path):
            needed.setdefault(name, []).append(path.name)
    provided = {lookup.file.name for lookup in classroom.course_lookups()}
    left_out = {name: needed[name] for name in set(needed) - provided}
    assert not left_out, f"files that notebooks load but the classroom lacks: {left_out}"
    assert provided <= set(needed), f"files that no lab loads: {provided - set(needed)}"
    # Lab 4's Exercise 1 (its solution, in the source) builds MobileNetV2 at 112 x 112, for
    # which Keras loads the weights made for 224 x 224.
    assert MOBILENET_V2_224 in needed
    assert len(provided) == 8  # 4 Fashion-MNIST files, 2 archives, 2 weights files


def test_weights_are_checked_by_the_published_hash_or_else_by_name_and_size():
    weights = {rf.name: rf for rf in (lookup.file for lookup in classroom.course_lookups())}
    vgg16 = weights["vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    assert vgg16.hashes == ("md5:6d6bbae143d832006294945121d1f1fc",)
    assert weights[MOBILENET_V2_224].hashes == () and weights[MOBILENET_V2_224].size == 9_406_464


# --- The command -------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    """Run ``python -m coursetools classroom ARGS`` in this process: exit code and output."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["classroom", *args])
    return code, out.getvalue()


def refuse(*args, **kwargs):
    raise urllib.error.URLError("no network (test)")


def isolate(mp: pytest.MonkeyPatch, tmp: Path, *, network: bool) -> None:
    """Empty caches in ``tmp``; without ``network``, no download site answers."""
    mp.setenv("LABHELPERS_CACHE_DIR", str(tmp / "cache"))
    mp.setenv("KERAS_HOME", str(tmp / "keras"))
    if not network:
        mp.setattr(urllib.request, "urlopen", refuse)


def weights_names() -> list[str]:
    return [bases.weights_spec(arch, shape)[1].name for arch, shape in bases.LAB_BASES]


@pytest.fixture(scope="module")
def real_classroom(tmp_path_factory):
    """A folder filled offline from the real mirror: (mirror, folder, exit code, output)."""
    mirror = course.mirror_dir()
    if mirror is None:
        pytest.skip("LABHELPERS_DATA_DIR names no mirror of the datasets (.ci/run sets it)")
    tmp = tmp_path_factory.mktemp("real")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp, network=False)
        code, out = run(str(tmp / "room"))
    return mirror, tmp / "room", code, out


@pytest.fixture
def offline(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path, network=False)
    return tmp_path


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Downloads work (from the local server only), and there is no mirror."""
    isolate(monkeypatch, tmp_path, network=True)
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    return tmp_path


def test_a_first_run_copies_the_datasets_and_names_the_missing_weights(real_classroom, offline):
    _, room, code, out = real_classroom
    assert code == 1
    sums = read_sums(room)
    datasets = [lookup for name in data.DATASETS for lookup in data.lookups(name)]
    assert set(sums) == {lookup.file.name for lookup in datasets}
    for lookup in datasets:
        source, copy = lookup.resolve(), room / lookup.file.name  # the mirror's or Debian's
        assert file_digest(copy) == file_digest(source) == sums[lookup.file.name]
        assert f"copied: {lookup.file.name} (from {source})" in out
    for arch, shape in bases.LAB_BASES:
        rf = bases.weights_spec(arch, shape)[1]
        assert not (room / rf.name).exists()
        assert f"missing: {rf.name}" in out
        assert f"from {rf.url}" in out and f"to   {room.resolve() / rf.name}" in out
    assert "2 of 8 files are missing or bad" in out
    assert [p.name for p in room.iterdir() if p.name.startswith(".")] == []  # no temporary file


def test_a_second_run_changes_nothing(real_classroom, offline):
    _, room, _, _ = real_classroom
    before = {p.name: p.stat().st_mtime_ns for p in room.iterdir()}
    code, out = run(str(room))
    assert code == 1  # the weights are still missing
    assert {p.name: p.stat().st_mtime_ns for p in room.iterdir()} == before
    assert out.count("present: ") == 6 and "copied" not in out


def damage(path: Path) -> None:
    """Change one byte in the middle of ``path``: same size, wrong content."""
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(blob)


def set_all_labels_to_zero(path: Path) -> None:
    """Rewrite a gzipped IDX labels file with every label 0: valid, and wrong."""
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:8] + bytes(len(raw) - 8)))


def test_a_damaged_copy_in_the_folder_is_never_trusted(real_classroom, offline, monkeypatch):
    mirror, room, _, _ = real_classroom
    zip_name, labels = "cats_and_dogs_filtered.zip", "t10k-labels-idx1-ubyte.gz"
    good = read_sums(room)
    damage(room / zip_name)
    # Altered labels, and a SHA256SUMS that lists them: their published hash still decides.
    set_all_labels_to_zero(room / labels)
    lines = {**good, labels: file_digest(room / labels)}
    (room / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in lines.items()))

    # The folder itself is the mirror, as on a classroom's machines: Debian's package still
    # has Fashion-MNIST, but nothing else has the photos.
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(room))
    with pytest.raises(DamagedFile, match="a published hash always wins over a folder's list"):
        data.fetch("fashion-mnist")  # the loaders refuse the listed labels ...
    code, out = run(str(room))  # ... and the command replaces them, from Debian's package
    assert code == 1
    assert f"replaced: {labels} (the copy here was bad: its SHA-256 is " in out
    assert "SHA256SUMS lists this very copy, but a published hash always wins" in out
    assert file_digest(room / labels) == good[labels]
    assert f"damaged: {zip_name} (the copy here is bad: its SHA-256 is " in out
    assert f"  {zip_name} (dataset 'cats-and-dogs')" in out  # in the list of what to fetch
    assert read_sums(room) == good  # SHA256SUMS still names the good file ...
    with pytest.raises(DamagedFile, match="damaged or not the expected file"):
        data.fetch("cats-and-dogs")  # ... so the loaders refuse the bad one

    # With the real mirror in reach, the bad copy is replaced.
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    code, out = run(str(room))
    assert f"replaced: {zip_name} (the copy here was bad: its SHA-256 is " in out
    assert f"from {mirror / zip_name})" in out
    assert file_digest(room / zip_name) == good[zip_name] and read_sums(room) == good


def test_the_folder_is_all_that_the_loaders_need(real_classroom, offline, monkeypatch):
    _, room, _, _ = real_classroom
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(room))
    for name in ("cats-and-dogs", "flowers17"):
        assert {p.parent for p in data.fetch(name).values()} == {room}
    # Extracted and checked offline; decoding the photos is test_data.py's job, done once.
    photos = data.cats_and_dogs_folder()
    assert photos == offline / "cache" / "cats_and_dogs_filtered"
    assert len(list((photos / "validation" / "dogs").iterdir())) == 500


def test_files_put_in_by_hand_are_checked_before_they_are_listed(offline, monkeypatch):
    monkeypatch.setattr(data, "DATASETS", {})
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    room = offline / "room"
    room.mkdir()
    vgg16, mobilenet = weights_names()
    (room / mobilenet).write_bytes(bytes(9_406_464))  # its size is all Keras lets us check
    (room / vgg16).write_bytes(b"not VGG16's weights")
    code, out = run(str(room))
    assert code == 1
    assert f"listed: {mobilenet}" in out
    assert f"damaged: {vgg16} (the copy here is bad: its MD5 is " in out
    assert set(read_sums(room)) == {mobilenet}

    # MobileNetV2's weights have no published hash: the folder's list vouches for them ...
    assert f"present: {mobilenet}" in run(str(room))[1]
    # ... and refuses them when it disagrees. The line is kept: for a file with no published
    # hash, it may be the only record of the good copy.
    listed = {mobilenet: "0" * 64}
    (room / "SHA256SUMS").write_text(f"{'0' * 64}  {mobilenet}\n")
    code, out = run(str(room))
    assert code == 1
    assert f"damaged: {mobilenet} (the copy here is bad: its SHA-256 is " in out
    assert f"expected SHA-256 {'0' * 64}, as its folder's SHA256SUMS lists" in out
    assert read_sums(room) == listed and (room / mobilenet).stat().st_size == 9_406_464


def test_a_listed_stub_of_a_file_with_a_published_hash_is_never_kept(offline, monkeypatch):
    flowers = data.DATASETS["flowers17"]
    monkeypatch.setattr(data, "DATASETS", {"flowers17": flowers})
    monkeypatch.setattr(bases, "LAB_BASES", ())
    room = offline / "room"
    room.mkdir()
    stub = room / "17flowers.tgz"
    stub.write_bytes(bytes(1 << 20))  # 1 MB where the real archive has 60
    (room / "SHA256SUMS").write_text(f"{file_digest(stub)}  {stub.name}\n")
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(room))
    with pytest.raises(DamagedFile, match="a published hash always wins over a folder's list"):
        data.fetch("flowers17")

    # Nowhere else to get it from: reported, never "present", and no longer listed.
    code, out = run(str(room))
    assert code == 1 and "present" not in out
    assert f"damaged: {stub.name} (the copy here is bad: its SHA-256 is {file_digest(stub)}" in out
    assert "its line in SHA256SUMS, which vouched for the bad copy, was removed" in out
    assert read_sums(room) == {} and "1 of 1 files are missing or bad" in out

    # With a good copy in reach (here, a system folder), the stub is replaced and the good
    # copy listed. Its published hash is made that of a small stand-in for the archive.
    (room / "SHA256SUMS").write_text(f"{file_digest(stub)}  {stub.name}\n")
    source = offline / "system"
    source.mkdir()
    (source / stub.name).write_bytes(b"the real archive")
    good = hashlib.sha256(b"the real archive").hexdigest()
    published = RemoteFile(flowers.files[0].name, flowers.files[0].url, (f"sha256:{good}",))
    stand_in = Dataset("flowers17", files=(published,), system_dirs=(str(source),))
    monkeypatch.setattr(data, "DATASETS", {"flowers17": stand_in})
    code, out = run(str(room))
    assert code == 0, out
    assert f"replaced: {stub.name} (the copy here was bad: its SHA-256 is " in out
    assert f"from {source / stub.name})" in out
    assert stub.read_bytes() == b"the real archive" and read_sums(room) == {stub.name: good}


def test_a_malformed_checksum_list_in_the_folder_stops_with_its_line(offline, capsys):
    room = offline / "room"
    room.mkdir()
    (room / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(SystemExit) as exit_:
        run(str(room))
    assert exit_.value.code == 1
    assert "SHA256SUMS, line 1, is not a checksum line" in capsys.readouterr().err


def serve(monkeypatch, http_server, vgg16: bytes, mobilenet: bytes, vgg16_md5: str) -> None:
    """Serve a tiny dataset and both weights files, under their real names, from the server.

    VGG16's copy is checked against ``vgg16_md5``, standing in for the MD5 Keras publishes.
    """
    base, routes, _ = http_server
    routes["/tiny.bin"] = (b"the real content", "ok")
    tiny = RemoteFile(
        "tiny.bin",
        f"{base}/tiny.bin",
        (f"sha256:{hashlib.sha256(b'the real content').hexdigest()}",),
    )
    monkeypatch.setattr(data, "DATASETS", {"tiny": Dataset("tiny", files=(tiny,))})
    for arch, blob in (("vgg16", vgg16), ("mobilenet_v2", mobilenet)):
        name = bases.weights_spec(arch, (112, 112, 3))[1].name
        routes[f"/{arch}/{name}"] = (blob, "ok")

    def spec(arch, input_shape):
        build, rf = REAL_WEIGHTS_SPEC(arch, input_shape)
        url = f"{base}/{rf.url.removeprefix(bases.KERAS_WEIGHTS_URL)}"
        return build, RemoteFile(rf.name, url, (f"md5:{vgg16_md5}",) if rf.hashes else (), rf.size)

    monkeypatch.setattr(bases, "weights_spec", spec)


def test_online_the_weights_are_downloaded_checked_and_placed(online, monkeypatch, http_server):
    vgg16, mobilenet = b"VGG16's weights", bytes(9_406_464)
    serve(monkeypatch, http_server, vgg16, mobilenet, hashlib.md5(vgg16).hexdigest())
    monkeypatch.chdir(online)
    code, out = run()  # the default folder, as the README says
    room = online / "build" / "classroom"
    assert code == 0, out
    assert (room / weights_names()[0]).read_bytes() == vgg16
    assert (room / weights_names()[1]).read_bytes() == mobilenet
    assert set(read_sums(room)) == {"tiny.bin", *weights_names()}
    assert out.count("copied: ") == 3
    assert f"export LABHELPERS_DATA_DIR={room.resolve()}" in out
    assert len(http_server[2]) == 3

    sums = (room / "SHA256SUMS").read_text()
    code, out = run()
    assert code == 0 and "Nothing to do: all 3 files" in out
    assert (room / "SHA256SUMS").read_text() == sums and len(http_server[2]) == 3


def test_online_downloads_that_fail_their_check_are_not_placed(online, monkeypatch, http_server):
    room = online / "room"
    # VGG16's file fails its MD5, MobileNetV2's its size.
    serve(monkeypatch, http_server, b"VGG16's weights", bytes(1000), "0" * 32)
    code, out = run(str(room))
    assert code == 1
    vgg16, mobilenet = weights_names()
    assert f"damaged: {vgg16} (The file downloaded from " in out and "its MD5 is" in out
    assert f"damaged: {mobilenet} (The file downloaded from " in out
    assert "it has 1000 bytes, expected 9406464" in out
    assert set(read_sums(room)) == {"tiny.bin"}
    assert not (room / vgg16).exists() and not (room / mobilenet).exists()
    assert list((online / "keras" / "models").iterdir()) == []  # nothing kept anywhere
