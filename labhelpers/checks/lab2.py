"""Self-checks for Lab 2, convolutional networks."""

from __future__ import annotations

from typing import Any

from labhelpers.checks import (
    Verdict,
    exercise,
    final_activation,
    layer_activation,
    model_layers,
    model_output_shape,
)
from labhelpers.conv import conv_output_size

__all__ = ["EXERCISE_1_LAYERS", "exercise_1", "exercise_2"]

# The layers of exercise 1, in the lab's order: (filters, kernel, stride, padding).
EXERCISE_1_LAYERS = [
    (16, 5, 1, "valid"),
    (16, 3, 2, "valid"),
    (16, 3, 2, "same"),
    (64, 3, 1, "valid"),
]
# 32, not section 4's 28: its table must not hold the answers.
INPUT_SIZE, INPUT_CHANNELS = 32, 1


def _describe(filters: int, kernel: int, stride: int, padding: str) -> str:
    strides = f", strides={stride}" if stride != 1 else ""
    padded = f', padding="{padding}"' if padding != "valid" else ""
    return f"Conv2D({filters}, {kernel}{strides}{padded})"


@exercise("Exercise 1: output shapes and parameters")
def exercise_1(verdict: Verdict, predictions: Any) -> None:
    """Check one (shape, parameters) prediction per layer of exercise 1, on a 32 x 32 x 1 input."""
    predictions = list(predictions)
    if not verdict.expect(
        len(predictions) == len(EXERCISE_1_LAYERS),
        f"give {len(EXERCISE_1_LAYERS)} (shape, parameters) pairs, one per layer; "
        f"yours has {len(predictions)}",
    ):
        return
    for number, (prediction, layer) in enumerate(
        zip(predictions, EXERCISE_1_LAYERS, strict=True), start=1
    ):
        filters, kernel, stride, padding = layer
        name = f"layer {number}, {_describe(*layer)}"
        try:
            shape, params = prediction
            shape = tuple(int(s) for s in shape if s is not None)  # a batch axis None is fine
        except (TypeError, ValueError):
            verdict.fail(f"{name}: give a pair like ((height, width, channels), parameters)")
            continue
        size = conv_output_size(INPUT_SIZE, kernel, stride=stride, padding=padding)
        if len(shape) != 3:
            verdict.fail(f"{name}: the shape should be (height, width, channels), 3 numbers")
        elif shape[:2] != (size, size):
            verdict.fail(
                f"{name}: the height and width are not right; apply the output-size formula "
                "of section 4 (or conv_output_size) with this kernel, stride and padding"
            )
        elif shape[2] != filters:
            verdict.fail(f"{name}: the number of channels is not right; it is set by the filters")
        weights = kernel * kernel * INPUT_CHANNELS * filters
        if params == weights:
            verdict.fail(f"{name}: the parameter count forgets the biases, one per filter")
        elif params != weights + filters:
            verdict.fail(
                f"{name}: the parameter count is not right; it is kernel height x width x "
                "input channels x filters, plus one bias per filter (stride and padding "
                "do not change it)"
            )


@exercise("Exercise 2: a 5 x 5 kernel in conv2")
def exercise_2(verdict: Verdict, bonus_model: Any) -> None:
    """Check the Fashion-MNIST CNN of section 7 with a 5 x 5 kernel in its second convolution."""
    verdict.expect_shape(
        model_output_shape(bonus_model), (None, 10), "output shape", axis_names=(None, "classes")
    )
    verdict.expect(
        final_activation(bonus_model) == "softmax",
        "the last layer should be the softmax over the 10 classes, as in section 7",
    )
    convs = model_layers(bonus_model, "Conv2D")
    if not verdict.expect(
        len(convs) == 2, f"the CNN of section 7 has 2 convolution layers, yours has {len(convs)}"
    ):
        return
    kernels = [tuple(layer.kernel_size) for layer in convs]
    verdict.expect(
        kernels[0] == (3, 3),
        f"conv1 should keep its 3 x 3 kernel, yours is {kernels[0][0]} x {kernels[0][1]}",
    )
    verdict.expect(
        kernels[1] == (5, 5),
        f"conv2 should have a 5 x 5 kernel, yours is {kernels[1][0]} x {kernels[1][1]}",
    )
    verdict.expect(
        [layer.filters for layer in convs] == [16, 64],
        "keep the filters of section 7: 16 in conv1, 64 in conv2",
    )
    verdict.expect(
        all(layer.padding == "same" for layer in convs),
        'keep padding="same" in both convolutions, as in section 7',
    )
    dense = model_layers(bonus_model, "Dense")
    verdict.expect(
        [layer.units for layer in dense] == [128, 10],
        "keep the dense layers of section 7: 128 units, then one per class",
    )
    verdict.expect(
        all(layer_activation(bonus_model, layer) == "relu" for layer in [*convs, *dense[:-1]]),
        "keep the ReLU after both convolutions and the hidden Dense layer, as in section 7",
    )
    flatten = model_layers(bonus_model, "Flatten")
    if verdict.expect(bool(flatten), "keep the Flatten layer of section 7 before the dense layers"):
        before = tuple(flatten[0].input.shape)
        verdict.expect_shape(before, (None, 7, 7, 64), "shape before Flatten")
