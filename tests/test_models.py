"""Tests of labhelpers.models: the model builders and the resolution of pre-trained weights.

No test downloads anything: a real Keras weights file, with random values, is made offline in
the layout of Keras's own ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` (HDF5, one
group per layer, named as keras.applications names VGG16's layers).
"""

from __future__ import annotations

import gc
import hashlib
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from labhelpers import models
from labhelpers.models import WeightsError, cats_dogs_cnn

NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
SMALL = (32, 32, 3)  # the weights do not depend on the image size; small keeps tests fast


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


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No mirror, an empty Keras cache, full mode, and a download site that refuses."""
    monkeypatch.delenv("LABHELPERS_DATA_DIR", raising=False)
    monkeypatch.delenv("LABHELPERS_FAST", raising=False)
    monkeypatch.delenv(models.RANDOM_WEIGHTS_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    # Port 9 on loopback refuses connections, as a machine without network does.
    monkeypatch.setattr(models, "_KERAS_WEIGHTS_URL", "http://127.0.0.1:9/")
    return tmp_path


def assert_loaded(base, kernels: dict[str, np.ndarray]) -> None:
    for name in ("block1_conv1", "block3_conv2", "block5_conv3"):
        np.testing.assert_array_equal(base.get_layer(name).kernel.numpy(), kernels[name])


def test_weights_in_the_mirror_are_the_ones_loaded(offline, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    kernels = write_vgg16_notop(mirror / NOTOP, seed=1)
    (mirror / "SHA256SUMS").write_text(f"{sha256(mirror / NOTOP)}  {NOTOP}\n")
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    assert models.weights_file("vgg16") == mirror / NOTOP
    base, pretrained = models.vgg16_base(SMALL)
    assert pretrained is True and base.name == "vgg16"
    assert_loaded(base, kernels)
    assert base.output_shape == (None, 1, 1, 512)


def test_mirror_weights_with_the_wrong_hash_are_refused(offline, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    write_vgg16_notop(mirror / NOTOP, seed=1)
    (mirror / "SHA256SUMS").write_text(f"{'0' * 64}  {NOTOP}\n")
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    monkeypatch.setenv("LABHELPERS_FAST", "1")  # even fast mode does not fall back here
    with pytest.raises(WeightsError, match="damaged or not the expected file") as err:
        models.vgg16_base(SMALL)
    assert str(mirror / NOTOP) in str(err.value) and "SHA-256" in str(err.value)


def test_mirror_weights_not_listed_must_match_the_keras_hash(offline, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    write_vgg16_notop(mirror / NOTOP, seed=1)
    monkeypatch.setenv("LABHELPERS_DATA_DIR", str(mirror))
    with pytest.raises(
        WeightsError, match=f"its MD5 is [0-9a-f]+, expected {models.VGG16_NOTOP_MD5}"
    ):
        models.vgg16_base(SMALL)


def test_weights_in_the_keras_cache_are_checked_by_their_md5(offline, monkeypatch):
    cache = offline / "keras" / "models"
    cache.mkdir(parents=True)
    kernels = write_vgg16_notop(cache / NOTOP, seed=2)
    # Stand in for Keras's published MD5 with the one of our file.
    monkeypatch.setattr(models, "VGG16_NOTOP_MD5", md5(cache / NOTOP))
    base, pretrained = models.vgg16_base(SMALL)
    assert pretrained and models.weights_file() == cache / NOTOP
    assert_loaded(base, kernels)


def test_weights_are_downloaded_into_the_keras_cache_and_verified(
    offline, monkeypatch, http_server
):
    base_url, routes, hits = http_server
    served = offline / "served.h5"
    kernels = write_vgg16_notop(served, seed=3)
    routes[f"/vgg16/{NOTOP}"] = (served.read_bytes(), "ok")
    monkeypatch.setattr(models, "_KERAS_WEIGHTS_URL", base_url + "/")
    monkeypatch.setattr(models, "VGG16_NOTOP_MD5", md5(served))
    base, pretrained = models.vgg16_base(SMALL)
    assert pretrained and (offline / "keras" / "models" / NOTOP).is_file()
    assert_loaded(base, kernels)
    models.vgg16_base(SMALL)
    assert hits == [f"/vgg16/{NOTOP}"]  # the second call used the cache


def test_downloaded_weights_with_the_wrong_hash_are_refused(offline, monkeypatch, http_server):
    base_url, routes, _ = http_server
    served = offline / "served.h5"
    write_vgg16_notop(served, seed=3)
    routes[f"/vgg16/{NOTOP}"] = (served.read_bytes(), "ok")
    monkeypatch.setattr(models, "_KERAS_WEIGHTS_URL", base_url + "/")
    with pytest.raises(WeightsError, match="not the expected one: its MD5"):
        models.vgg16_base(SMALL)
    assert list((offline / "keras" / "models").iterdir()) == []


def test_missing_weights_in_full_mode_are_a_fast_clear_error(offline):
    start = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        models.vgg16_base(SMALL)
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert NOTOP in message and "LABHELPERS_DATA_DIR" in message
    assert f"copy it into {offline / 'keras' / 'models'}" in message


def test_missing_weights_in_fast_mode_fall_back_loudly_to_random(offline, monkeypatch, capsys):
    monkeypatch.setenv("LABHELPERS_FAST", "1")
    base, pretrained = models.vgg16_base(SMALL)
    assert pretrained is False and base.name == "vgg16_RANDOM_WEIGHTS"
    out = capsys.readouterr().out
    assert "NO IMAGENET WEIGHTS" in out and "imagenet_weights = 0" in out
    assert base.output_shape == (None, 1, 1, 512)


def test_the_developer_switch_allows_random_weights_in_full_mode(offline, monkeypatch, capsys):
    monkeypatch.setenv(models.RANDOM_WEIGHTS_VAR, "1")
    base, pretrained = models.vgg16_base(SMALL)
    assert not pretrained and "RANDOM_WEIGHTS" in base.name
    assert f"{models.RANDOM_WEIGHTS_VAR}=1" in capsys.readouterr().out


def test_mobilenet_v2_falls_back_in_fast_mode_too(offline, monkeypatch):
    monkeypatch.setenv("LABHELPERS_FAST", "1")
    base, pretrained = models.pretrained_base("mobilenet_v2", (96, 96, 3))
    assert not pretrained and base.output_shape == (None, 3, 3, 1280)


def test_unknown_base_is_named():
    with pytest.raises(ValueError, match="known: 'vgg16', 'mobilenet_v2'"):
        models.pretrained_base("resnet")


def test_cats_dogs_cnn_defaults_are_lab_2s_network():
    model = cats_dogs_cnn()

    assert model.input_shape == (None, 128, 128, 3) and model.output_shape == (None, 1)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64, 64]
    assert model.layers[-1].activation.__name__ == "sigmoid"
    # Counted layer by layer (Lab 2 explains the formula), not copied from a summary:
    # convs 448 + 4,640 + 18,496 + 36,928, dense 2,304 x 64 x 128 + 128, output 129.
    assert model.count_params() == 448 + 4640 + 18496 + 36928 + (6 * 6 * 64 * 128 + 128) + 129
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_cats_dogs_cnn_options():
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation")
    model = cats_dogs_cnn(
        (64, 64),
        filters=(8, 16),
        dense_units=32,
        dropout=0.5,
        l2=1e-3,
        batch_norm=True,
        augmentation=augment,
    )
    names = [type(layer).__name__ for layer in model.layers]

    assert model.input_shape == (None, 64, 64, 3)
    assert names[:2] == ["Sequential", "Rescaling"]  # augmentation first, on raw bytes
    assert names.count("BatchNormalization") == 2 and names.count("Dropout") == 1
    assert all(
        layer.kernel_regularizer is not None
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    )
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
