"""Lab 5's self-checks pass on correct answers, however written, and fail helpfully on mistakes."""

from __future__ import annotations

import io

from labhelpers.checks import lab5

import keras
import numpy as np
import pytest
import tensorflow as tf
from giveaways import assert_none_given_away, given_away
from keras import layers
from PIL import Image

MAX_SIDE = 4096


def small_cnn() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(4, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3)).astype("uint8")
    model.fit(x, np.arange(32) % 2, epochs=1, verbose=0)
    return model, x


def test_exercise_1_accepts_a_fresh_network_with_the_saved_weights(trained, tmp_path, capsys):
    model, x = trained
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = small_cnn()
    fresh.load_weights(tmp_path / "m.weights.h5")
    assert lab5.exercise_1(fresh, model, x[:4])
    # Another correct spelling: the whole model reloaded from a .keras file.
    model.save(tmp_path / "m.keras")
    assert lab5.exercise_1(keras.models.load_model(tmp_path / "m.keras"), model, x[:4])
    assert "correct" in capsys.readouterr().out


def test_exercise_1_rejects_the_model_itself_and_unloaded_weights(trained, capsys):
    model, x = trained
    assert not lab5.exercise_1(model, model, x[:4])
    assert "`fresh` is `model` itself" in capsys.readouterr().out
    keras.utils.set_random_seed(1)
    assert not lab5.exercise_1(small_cnn(), model, x[:4])  # built, weights never loaded
    assert "only once it holds the weights" in capsys.readouterr().out
    assert not lab5.exercise_1(None, model, x[:4])
    assert "not answered yet" in capsys.readouterr().out


def convert(saved_model: str, **settings) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    for name, value in settings.items():
        setattr(converter, name, value)
    return converter.convert()


@pytest.fixture(scope="module")
def tflite_models(trained, tmp_path_factory):
    model, x = trained
    folder = str(tmp_path_factory.mktemp("export") / "fixed")
    model.export(folder, verbose=False)
    float32 = convert(folder)
    dynamic = convert(folder, optimizations=[tf.lite.Optimize.DEFAULT])
    converter = tf.lite.TFLiteConverter.from_saved_model(folder)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    float16 = converter.convert()
    return {"float32": float32, "dynamic": dynamic, "float16": float16, "folder": folder}


def test_exercise_2_accepts_dynamic_range_quantisation(tflite_models, trained, capsys):
    _, x = trained
    dynamic, float32 = tflite_models["dynamic"], tflite_models["float32"]
    assert lab5.exercise_2(dynamic, len(dynamic) / len(float32), float32, x[:4])
    # The ratio as a NumPy number, and the bytes as a bytearray, are fine too.
    assert lab5.exercise_2(bytearray(dynamic), np.float64(len(dynamic) / len(float32)), float32, x)
    assert "correct" in capsys.readouterr().out


def test_exercise_2_rejects_a_wrong_ratio_float16_and_a_path(tflite_models, trained, capsys):
    _, x = trained
    dynamic, float32 = tflite_models["dynamic"], tflite_models["float32"]
    assert not lab5.exercise_2(dynamic, len(float32) / len(dynamic), float32, x[:4])
    assert "not your model's size divided by" in capsys.readouterr().out
    float16 = tflite_models["float16"]
    assert not lab5.exercise_2(float16, len(float16) / len(float32), float32, x[:4])
    assert "should make it about a quarter" in capsys.readouterr().out
    assert not lab5.exercise_2("model.tflite", 0.25, float32, x[:4])
    assert "the converted model's bytes" in capsys.readouterr().out


def test_exercise_2_rejects_integer_inputs(tflite_models, trained, capsys):
    _, x = trained

    def photos():
        for image in x[:8]:
            yield [image[None].astype("float32")]

    integer_io = convert(
        tflite_models["folder"],
        optimizations=[tf.lite.Optimize.DEFAULT],
        representative_dataset=photos,
        inference_input_type=tf.uint8,
    )
    float32 = tflite_models["float32"]
    assert not lab5.exercise_2(integer_io, len(integer_io) / len(float32), float32, x[:4])
    assert "keep float32 inputs" in capsys.readouterr().out


class PhotoError(ValueError):
    """A service's own error: a subclass of ValueError is a ValueError."""


def read_photo_pillow(data):
    """The lab's solution."""
    try:
        image = Image.open(io.BytesIO(data))
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"not an image ({err})") from err
    with image:
        if max(image.size) > MAX_SIDE:
            raise ValueError(f"{image.size} is too large")
        try:
            return np.asarray(image.convert("RGB"))
        except OSError as err:
            raise ValueError(f"broken image ({err})") from err


def read_photo_tensorflow(data):
    """Another correct answer: Pillow reads the size, TensorFlow decodes, own error class."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except OSError as err:
        raise PhotoError("this is not an image") from err
    if width > MAX_SIDE or height > MAX_SIDE:
        raise PhotoError(f"{width} x {height} pixels is more than {MAX_SIDE} a side")
    try:
        pixels = tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as err:
        raise PhotoError("the image is broken") from err
    return pixels.numpy()


@pytest.mark.parametrize("read_photo", [read_photo_pillow, read_photo_tensorflow])
def test_exercise_3_accepts_correct_validation(read_photo, capsys):
    assert lab5.exercise_3(read_photo, MAX_SIDE)
    assert "correct" in capsys.readouterr().out


def no_size_check(data):
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as err:
        raise ValueError("not an image") from err


def off_by_one(data):
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) >= MAX_SIDE:
            raise ValueError("too large")
    return read_photo_pillow(data)


def keeps_the_mode(data):
    if max(read_photo_pillow(data).shape[:2]) > MAX_SIDE:
        raise ValueError("too large")
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def pillows_errors(data):
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) > MAX_SIDE:
            raise ValueError("too large")
        return np.asarray(image.convert("RGB"))


def blank(data):
    pass


@pytest.mark.parametrize(
    "read_photo, fragment",
    [
        (no_size_check, "accepted a PNG 4097 pixels wide"),
        (off_by_one, "on a PNG exactly 4096 pixels wide, read_photo raised ValueError"),
        (keeps_the_mode, "on a grayscale PNG of 20 x 10, read_photo returns shape (10, 20)"),
        (pillows_errors, "raised UnidentifiedImageError"),
        (blank, "not answered yet"),
        ("read_photo", "should be a function"),
    ],
)
def test_exercise_3_names_what_is_wrong(read_photo, fragment, capsys):
    assert not lab5.exercise_3(read_photo, MAX_SIDE)
    assert fragment in capsys.readouterr().out


def test_no_message_hands_over_an_answer():
    """Every verdict the tests above drew from the checks names no line or call of a solution."""
    assert_none_given_away(__name__)


@pytest.mark.parametrize(
    ("title", "message"),
    [  # what the checks said before they were reworded: each handed over an answer
        (
            "Exercise 1: weights into a fresh network",
            "`fresh` predicts differently from `model` (by up to 0.1): load the weights file "
            "into it with fresh.load_weights(...)",
        ),
        (
            "Exercise 2: dynamic-range quantisation",
            "your model is 0.52 of the float32 model's size: weights in 8 bits should make it "
            "about a quarter. Did you set converter.optimizations = [tf.lite.Optimize.DEFAULT]?",
        ),
    ],
)
def test_the_giveaway_test_catches_the_old_messages(title, message):
    assert given_away(title, message)
