"""Tests of labhelpers.models, .bases and .batches: builders, pre-trained weights, batching.

No test downloads anything: a real Keras weights file, with random values, is made offline in
the layout of Keras's own ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` (HDF5, one
group per layer, named as keras.applications names VGG16's layers).
"""

from __future__ import annotations

import gc
import hashlib
import time
from pathlib import Path

from labhelpers import bases, batches, models
from labhelpers.fetch import DamagedFile, MissingFile, RemoteFile
from labhelpers.models import cats_dogs_cnn

import h5py
import keras
import numpy as np
import pytest

NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
SMALL = (32, 32, 3)  # the weights do not depend on the image size; small keeps tests fast
REAL_WEIGHTS_SPEC = bases.weights_spec


def write_vgg16_notop(path: Path, seed: int) -> dict[str, np.ndarray]:
    """Write random VGG16 "notop" weights as Keras's file stores them; return the kernels."""
    # Block i has n convolutions of f filters; the layer names are keras.applications'.
    blocks = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]
    rng = np.random.default_rng(seed)
    layer_names, kernels, channels = ["input_1"], {}, 3
    with h5py.File(path, "w") as f:
        for b, (n, filters) in enumerate(blocks, 1):
            for c in range(1, n + 1):
                name = f"block{b}_conv{c}"
                kernel = rng.normal(0, 0.05, (3, 3, channels, filters)).astype("float32")
                bias = rng.normal(0, 0.05, (filters,)).astype("float32")
                group = f.create_group(name)
                group.attrs["weight_names"] = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
                group[f"{name}_W_1:0"] = kernel
                group[f"{name}_b_1:0"] = bias
                layer_names.append(name)
                kernels[name] = kernel
                channels = filters
            layer_names.append(f"block{b}_pool")
            f.create_group(f"block{b}_pool").attrs["weight_names"] = []
        f.create_group("input_1").attrs["weight_names"] = []
        f.attrs["layer_names"] = [name.encode() for name in layer_names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"
    return kernels


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serve_vgg16_from(monkeypatch, base_url: str, hashes: tuple[str, ...] | None = None) -> None:
    """Make VGG16's weights come from ``base_url``, checked against ``hashes`` if given.

    Only the address (and, with ``hashes``, what a good copy is) changes: the file name, and
    everything the resolution chain does with it, stay those of the real registry.
    """

    def spec(arch, input_shape):
        build, rf = REAL_WEIGHTS_SPEC(arch, input_shape)
        url = base_url + rf.url.removeprefix(bases.KERAS_WEIGHTS_URL)
        return build, RemoteFile(rf.name, url, rf.hashes if hashes is None else hashes, rf.size)

    monkeypatch.setattr(bases, "weights_spec", spec)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No mirror, an empty Keras cache, and a download site that refuses."""
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    # Port 9 on loopback refuses connections, as a machine without network does.
    serve_vgg16_from(monkeypatch, "http://127.0.0.1:9/")
    return tmp_path


def assert_loaded(base, kernels: dict[str, np.ndarray]) -> None:
    for name in ("block1_conv1", "block3_conv2", "block5_conv3"):
        np.testing.assert_array_equal(base.get_layer(name).kernel.numpy(), kernels[name])


def test_weights_in_the_mirror_are_the_ones_loaded(offline, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    kernels = write_vgg16_notop(mirror / NOTOP, seed=1)
    (mirror / "SHA256SUMS").write_text(f"{sha256(mirror / NOTOP)}  {NOTOP}\n")
    # The published hash decides (a folder's list vouches only for files that have none):
    # these stand-in weights are published here under their own MD5.
    md5 = hashlib.md5((mirror / NOTOP).read_bytes()).hexdigest()
    serve_vgg16_from(monkeypatch, "http://127.0.0.1:9/", hashes=(f"md5:{md5}",))
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    assert bases.weights_file("vgg16") == mirror / NOTOP
    base, pretrained = bases.vgg16_base(SMALL)
    assert pretrained is True and base.name == "vgg16"
    assert_loaded(base, kernels)
    assert base.output_shape == (None, 1, 1, 512)


def test_mirror_weights_with_the_wrong_hash_are_refused(offline, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    write_vgg16_notop(mirror / NOTOP, seed=1)
    (mirror / "SHA256SUMS").write_text(f"{'0' * 64}  {NOTOP}\n")
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    # Even a run that allows random weights does not fall back here.
    with pytest.raises(DamagedFile, match="damaged or not the expected file") as err:
        bases.vgg16_base(SMALL, allow_random_weights=True)
    assert str(mirror / NOTOP) in str(err.value) and "MD5" in str(err.value)


def test_mirror_weights_not_listed_must_match_the_keras_hash(offline, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    write_vgg16_notop(mirror / NOTOP, seed=1)
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    with pytest.raises(
        DamagedFile, match="its MD5 is [0-9a-f]+; expected MD5 6d6bbae143d832006294945121d1f1fc"
    ):
        bases.vgg16_base(SMALL)


def test_weights_in_the_keras_cache_are_checked_by_their_md5(offline, monkeypatch):
    cache = offline / "keras" / "models"
    cache.mkdir(parents=True)
    kernels = write_vgg16_notop(cache / NOTOP, seed=2)
    # Stand in for Keras's published MD5 with the one of our file.
    serve_vgg16_from(monkeypatch, "http://127.0.0.1:9/", hashes=(f"md5:{md5(cache / NOTOP)}",))
    base, pretrained = bases.vgg16_base(SMALL)
    assert pretrained and bases.weights_file() == cache / NOTOP
    assert_loaded(base, kernels)


def test_weights_are_downloaded_into_the_keras_cache_and_verified(
    offline, monkeypatch, http_server
):
    base_url, routes, hits = http_server
    served = offline / "served.h5"
    kernels = write_vgg16_notop(served, seed=3)
    routes[f"/vgg16/{NOTOP}"] = (served.read_bytes(), "ok")
    serve_vgg16_from(monkeypatch, base_url + "/", hashes=(f"md5:{md5(served)}",))
    base, pretrained = bases.vgg16_base(SMALL)
    assert pretrained and (offline / "keras" / "models" / NOTOP).is_file()
    assert_loaded(base, kernels)
    bases.vgg16_base(SMALL)
    assert hits == [f"/vgg16/{NOTOP}"]  # the second call used the cache


def test_downloaded_weights_with_the_wrong_hash_are_refused(offline, monkeypatch, http_server):
    base_url, routes, _ = http_server
    served = offline / "served.h5"
    write_vgg16_notop(served, seed=3)
    routes[f"/vgg16/{NOTOP}"] = (served.read_bytes(), "ok")
    serve_vgg16_from(monkeypatch, base_url + "/")  # the real MD5, which our file fails
    with pytest.raises(DamagedFile, match="not the expected one: its MD5"):
        bases.vgg16_base(SMALL)
    assert list((offline / "keras" / "models").iterdir()) == []


def test_missing_weights_are_a_fast_clear_error(offline):
    start = time.perf_counter()
    with pytest.raises(MissingFile) as err:
        bases.vgg16_base(SMALL)
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert NOTOP in message and "LABHELPERS_DATA_DIR" in message
    assert f"copy it into {offline / 'keras' / 'models'}" in message


def test_missing_weights_fall_back_loudly_to_random_when_allowed(offline, capsys):
    base, pretrained = bases.vgg16_base(SMALL, allow_random_weights=True)
    assert pretrained is False and base.name == "vgg16_RANDOM_WEIGHTS"
    out = capsys.readouterr().out
    assert "NO IMAGENET WEIGHTS" in out and "imagenet_weights = 0" in out
    assert base.output_shape == (None, 1, 1, 512)


def test_mobilenet_v2_falls_back_when_allowed_too(offline, monkeypatch):
    base, pretrained = bases.pretrained_base("mobilenet_v2", (96, 96, 3), allow_random_weights=True)
    assert not pretrained and base.output_shape == (None, 3, 3, 1280)


class _AskedFor(Exception):
    """Raised by our stand-in for Keras' downloader, carrying what Keras asked it for."""


@pytest.mark.parametrize(
    ("arch", "build", "size"),
    [
        ("vgg16", keras.applications.VGG16, 128),
        ("mobilenet_v2", keras.applications.MobileNetV2, 112),  # Lab 4's: the 224 file
        ("mobilenet_v2", keras.applications.MobileNetV2, 128),
        ("mobilenet_v2", keras.applications.MobileNetV2, 224),
    ],
)
def test_weights_registry_matches_what_the_installed_keras_downloads(
    arch, build, size, monkeypatch
):
    # Keras' own application code names the file, its address and its hash; we ask it (with
    # its downloader replaced, so nothing is fetched) and compare with our registry.
    from keras.src.utils import file_utils

    def asked_for(fname, origin=None, file_hash=None, **kwargs):
        raise _AskedFor(fname, origin, file_hash)

    monkeypatch.setattr(file_utils, "get_file", asked_for)
    with pytest.raises(_AskedFor) as asked:
        build(include_top=False, weights="imagenet", input_shape=(size, size, 3))
    fname, origin, file_hash = asked.value.args
    _, rf = bases.weights_spec(arch, (size, size, 3))
    assert (rf.name, rf.url) == (fname, origin)
    if file_hash is None:
        # Keras publishes no hash for this file (MobileNetV2): the download is checked by size.
        assert rf.hashes == () and rf.size is not None
    else:
        algorithm = "md5" if len(file_hash) == 32 else "sha256"  # as Keras' get_file decides
        assert rf.hashes == (f"{algorithm}:{file_hash}",)


def test_unknown_base_is_named():
    with pytest.raises(ValueError, match="known: 'vgg16', 'mobilenet_v2'"):
        bases.pretrained_base("resnet")


def test_cats_dogs_cnn_defaults_are_lab_2s_network():
    model = cats_dogs_cnn()

    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 1)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64, 64]
    assert model.layers[-1].activation.__name__ == "sigmoid"
    # Counted layer by layer (Lab 2 explains the formula), not copied from a summary:
    # convs 448 + 4,640 + 18,496 + 36,928, dense 4 x 4 x 64 x 128 + 128, output 129.
    assert model.count_params() == 448 + 4640 + 18496 + 36928 + (4 * 4 * 64 * 128 + 128) + 129
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_cats_dogs_cnn_options():
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation")
    model = cats_dogs_cnn(
        (64, 64),
        filters=(8, 16),
        dense_units=32,
        dropout=0.5,
        augmentation=augment,
    )
    names = [type(layer).__name__ for layer in model.layers]

    assert model.input_shape == (None, 64, 64, 3)
    assert names[:2] == ["Sequential", "Rescaling"]  # augmentation first, on raw bytes
    assert names.count("Conv2D") == 2 and names.count("Dropout") == 1
    images = np.full((2, 64, 64, 3), 200, dtype="uint8")
    assert model.predict(images, verbose=0).shape == (2, 1)


def _traced_graphs() -> int:
    return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())


def test_clear_session_lets_the_graphs_of_trained_models_go():
    # TensorFlow 2.19-2.20 keep every trained model's graph alive (tensorflow#97697); Keras'
    # own clear_session does not free them, ours must, and a model still in use must train on.
    x = np.full((8, 16, 16, 3), 100, dtype="uint8")
    y = np.array([0, 1] * 4)
    kept = cats_dogs_cnn((16, 16), filters=(4,), dense_units=4)
    kept.compile(optimizer="adam", loss="binary_crossentropy")
    kept.fit(x, y, epochs=1, verbose=0)
    models.clear_session()
    before = _traced_graphs()

    for _ in range(3):
        model = cats_dogs_cnn((16, 16), filters=(4,), dense_units=4)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        del model
    keras.backend.clear_session()
    assert _traced_graphs() > before, "TensorFlow frees them now: drop the registry fix"
    models.clear_session()

    assert _traced_graphs() <= before
    kept.fit(x, y, epochs=1, batch_size=3, verbose=0)  # a new batch size: traced again


def test_predict_in_batches_matches_one_big_predict_and_keeps_the_dtype():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    inputs = np.random.default_rng(0).integers(0, 255, (10, 4)).astype("uint8")
    expected = model.predict(inputs.astype("float32") / 255, verbose=0)

    outputs = batches.predict_in_batches(model, inputs, preprocess=lambda x: x / 255, batch_size=3)
    assert outputs.dtype == np.float32 and outputs.shape == (10, 3)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)
    small = batches.predict_in_batches(model, inputs, batch_size=4, dtype="float16")
    assert small.dtype == np.float16 and small.shape == (10, 3)
    with pytest.raises(ValueError, match="no inputs"):
        batches.predict_in_batches(model, inputs[:0])
    with pytest.raises(
        ValueError, match=r"set to None to save memory\? Run the cell that makes them"
    ):
        batches.predict_in_batches(model, None)  # photos a lab has released


def test_array_batches_serve_float32_in_a_seeded_new_order_every_epoch():
    x = np.arange(10, dtype="float16").reshape(10, 1)
    y = np.arange(10)
    ordered = batches.ArrayBatches(x, y, batch_size=4)
    assert len(ordered) == 3
    first_x, first_y = ordered[0]
    assert first_x.dtype == np.float32 and first_y.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(first_x.ravel(), first_y)  # rows stay paired

    def epoch(batches):
        return np.concatenate([batches[i][1] for i in range(len(batches))])

    shuffled = batches.ArrayBatches(x, y, batch_size=4, shuffle_seed=1)
    one = epoch(shuffled)
    shuffled.on_epoch_end()
    two = epoch(shuffled)
    assert sorted(one) == sorted(two) == list(range(10)) and one.tolist() != two.tolist()
    again = batches.ArrayBatches(x, y, batch_size=4, shuffle_seed=1)
    np.testing.assert_array_equal(epoch(again), one)  # the same seed, the same story
    with pytest.raises(ValueError, match="one label per input"):
        batches.ArrayBatches(x, y[:5])


def test_array_batches_train_a_model_and_let_go_of_their_arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float16")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    feed = batches.ArrayBatches(x, y, batch_size=16, shuffle_seed=0)
    model.fit(feed, epochs=1, verbose=0)
    assert model.predict(batches.ArrayBatches(x, y), verbose=0).shape == (64, 1)
    feed.release()
    assert feed.x is None and feed.y is None
