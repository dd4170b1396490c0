"""Self-checks for Lab 5's exercises: weights into a fresh network, a smaller file, safe input."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from labhelpers.checks import NotAnswered, Verdict, WrongAnswer, exercise

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3"]


def _predict(model: Any, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(images, verbose=0), dtype=float)


@exercise("Exercise 1: weights into a fresh network")
def exercise_1(verdict: Verdict, fresh: Any, model: Any, sample: Any) -> None:
    """Check that ``fresh`` is another model object that predicts exactly as ``model`` does."""
    if not hasattr(fresh, "predict"):
        raise WrongAnswer(f"`fresh` should be a Keras model, yours is a {type(fresh).__name__}")
    if not verdict.expect(
        fresh is not model,
        "`fresh` is `model` itself: the exercise asks for a second network, built anew, that "
        "takes the saved weights (section 2: what does a weights file hold, and what not?)",
    ):
        return
    ours, theirs = _predict(fresh, sample), _predict(model, sample)
    if not verdict.expect(
        ours.shape == theirs.shape,
        f"`fresh` gives outputs of shape {ours.shape}, `model` {theirs.shape}: build the same "
        "architecture as `model` before loading its weights",
    ):
        return
    difference = float(np.max(np.abs(ours - theirs)))
    verdict.expect(
        difference <= 1e-6,
        f"`fresh` predicts differently from `model` (by up to {difference:.3g}): a new network "
        "starts from random weights, and predicts as `model` does only once it holds the "
        "weights that section 2 saved",
    )


def _tflite_outputs(model_bytes: bytes, images: np.ndarray) -> np.ndarray:
    from labhelpers.deploy import tflite_interpreter

    interpreter = tflite_interpreter(model_bytes)
    (source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()
    if source["dtype"] != np.float32:
        raise WrongAnswer(
            f"your model takes {np.dtype(source['dtype']).name} inputs: keep float32 inputs "
            "and outputs (leave inference_input_type and inference_output_type alone)"
        )
    outputs = []
    for image in images:
        interpreter.set_tensor(source["index"], image[None].astype(np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target["index"]).ravel())
    return np.asarray(outputs, dtype=float)


@exercise("Exercise 2: dynamic-range quantisation")
def exercise_2(
    verdict: Verdict, dynamic_tflite: Any, dynamic_ratio: Any, float32_tflite: bytes, sample: Any
) -> None:
    """Check a TFLite model of 8-bit weights: a quarter of float32's size, the same answers."""
    if not isinstance(dynamic_tflite, (bytes, bytearray)):
        raise WrongAnswer(
            "`dynamic_tflite` should be the converted model's bytes, what the converter gives "
            f"back, yours is a {type(dynamic_tflite).__name__}"
        )
    try:
        ratio = float(dynamic_ratio)
    except (TypeError, ValueError):
        raise WrongAnswer("`dynamic_ratio` should be a number (a size divided by a size)") from None
    size_ratio = len(dynamic_tflite) / len(float32_tflite)
    verdict.expect(
        np.isclose(ratio, size_ratio, rtol=1e-3),
        f"`dynamic_ratio` is {ratio:.4g}, which is not your model's size divided by the "
        "float32 model's size, both in bytes",
    )
    verdict.expect(
        size_ratio <= 0.35,
        f"your model is {size_ratio:.2f} of the float32 model's size: weights in 8 bits should "
        "make it about a quarter. Which of section 4's int8 settings quantises the weights?",
    )
    ours = _tflite_outputs(bytes(dynamic_tflite), np.asarray(sample))
    reference = _tflite_outputs(float32_tflite, np.asarray(sample))
    if not verdict.expect(
        ours.shape == reference.shape,
        f"your model gives outputs of shape {ours.shape[1:]} per photo, the float32 model "
        f"{reference.shape[1:]}: convert the same model as section 4, its fixed-size SavedModel",
    ):
        return
    difference = float(np.max(np.abs(ours - reference)))
    verdict.expect(
        difference <= 0.1,
        f"your model's P(dog) differs from the float32 model's by up to {difference:.2f}: "
        "convert the same trained model, and quantise the weights only",
    )


def _image_bytes(mode: str, size: tuple[int, int], fmt: str, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _as_rgb(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@exercise("Exercise 3: check the input")
def exercise_3(verdict: Verdict, read_photo: Any, max_side: int) -> None:
    """Check ``read_photo`` on good images of every kind and on inputs it must refuse."""
    if not callable(read_photo):
        raise WrongAnswer("`read_photo` should be a function: def read_photo(data): ...")
    jpeg = _image_bytes("RGB", (40, 30), "JPEG")
    good = {
        "an RGB PNG of 40 x 30": _image_bytes("RGB", (40, 30), "PNG"),
        "a grayscale PNG of 20 x 10": _image_bytes("L", (20, 10), "PNG"),
        "an RGBA PNG (with transparency) of 16 x 16": _image_bytes("RGBA", (16, 16), "PNG"),
        f"a PNG exactly {max_side} pixels wide": _image_bytes("L", (max_side, 2), "PNG"),
        "a JPEG of 40 x 30": jpeg,
    }
    for what, data in good.items():
        try:
            result = read_photo(data)
        except Exception as error:  # noqa: BLE001 - any failure on a good image is the verdict
            verdict.fail(f"on {what}, read_photo raised {type(error).__name__}: {error}")
            continue
        if result is None:
            raise NotAnswered("read_photo returns None: write its body")
        pixels = np.asarray(result)
        expected = _as_rgb(data)
        if not verdict.expect(
            pixels.shape == expected.shape,
            f"on {what}, read_photo returns shape {pixels.shape}, expected {expected.shape} "
            "(height, width, 3 channels of RGB)",
        ):
            continue
        if not verdict.expect(
            pixels.dtype == np.uint8,
            f"on {what}, read_photo returns {pixels.dtype} values: return bytes (uint8, 0-255)",
        ):
            continue
        # PNG is lossless: every decoder gives the same pixels. JPEG decoders differ a little.
        tolerance = 8 if data is jpeg else 0
        verdict.expect(
            np.abs(pixels.astype(int) - expected.astype(int)).max() <= tolerance,
            f"on {what}, read_photo returns other pixels than the image holds",
        )
    bad: dict[str, bytes] = {
        "text (not an image)": b"Hello, I am not a photo.",
        "an empty file": b"",
        "half a JPEG (a broken download)": jpeg[: len(jpeg) // 2],
        f"a PNG {max_side + 1} pixels wide": _image_bytes("L", (max_side + 1, 2), "PNG"),
        f"a PNG {max_side + 1} pixels high": _image_bytes("L", (2, max_side + 1), "PNG"),
    }
    for what, data in bad.items():
        _expect_refusal(verdict, read_photo, what, data)


def _expect_refusal(verdict: Verdict, read_photo: Callable, what: str, data: bytes) -> None:
    try:
        read_photo(data)
    except ValueError as error:
        verdict.expect(
            bool(str(error).strip()),
            f"on {what}, the ValueError should say what is wrong (its message is empty)",
        )
        return
    except Exception as error:  # noqa: BLE001 - the wrong kind of error is the verdict
        verdict.fail(
            f"on {what}, read_photo raised {type(error).__name__} ({error}): raise ValueError "
            "with a message instead, so that callers catch one kind of error"
        )
        return
    verdict.fail(f"read_photo accepted {what}: it should raise ValueError saying why")
