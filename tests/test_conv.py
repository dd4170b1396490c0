"""conv_output_size against hand-worked cases and the shapes Keras produces."""

from __future__ import annotations

import itertools

from labhelpers.conv import conv_output_size

import keras
import pytest


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((32, 5), {}, 28),  # 3@32x32, 5x5 filters, stride 1, no padding: 28x28
        ((28, 5), {"padding": 2}, 28),  # padding 2 keeps 28x28
        ((28, 4), {"stride": 2}, 13),  # (28 - 4) // 2 + 1
        ((7, 3), {"dilation": 2}, 3),  # a dilated 3x3 kernel covers 5 inputs
        ((28, 3), {"stride": 2, "padding": "same"}, 14),
        ((5, 2), {"stride": 2}, 2),  # pooling drops the odd last row
    ],
)
def test_worked_cases(args, kwargs, expected):
    assert conv_output_size(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation"),
    [
        (s, k, st, p, d)
        for s, k, st, p, d in itertools.product(
            [9, 28, 31], [1, 3, 4], [1, 2, 3], ["valid", "same"], [1, 2]
        )
        if not (st > 1 and d > 1)  # Keras does not allow both at once
    ],
)
def test_matches_keras_conv2d(size, kernel, stride, padding, dilation):
    layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding, dilation_rate=dilation)
    keras_size = layer.compute_output_shape((1, size, size, 1))[1]
    ours = conv_output_size(size, kernel, stride=stride, padding=padding, dilation=dilation)
    assert ours == keras_size


def test_matches_keras_pooling():
    for size, pool in [(28, 2), (13, 2), (27, 3)]:
        keras_size = keras.layers.MaxPooling2D(pool).compute_output_shape((1, size, size, 1))[1]
        assert conv_output_size(size, pool, stride=pool) == keras_size


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 3, "kernel_size": 5}, "does not fit"),
        ({"size": 5, "kernel_size": 3, "dilation": 3}, "covering 7 inputs"),
        ({"size": 5, "kernel_size": 3, "padding": "full"}, "padding must be"),
        ({"size": 5, "kernel_size": 3, "stride": 0}, "stride must be a positive integer"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(**kwargs)
