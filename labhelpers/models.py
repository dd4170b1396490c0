"""Model builders that more than one lab uses."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

__all__ = ["cats_dogs_cnn"]


def cats_dogs_cnn(
    image_size: tuple[int, int] = (128, 128),
    *,
    filters: Sequence[int] = (16, 32, 64, 64),
    dense_units: int = 128,
    dropout: float = 0.0,
    l2: float = 0.0,
    batch_norm: bool = False,
    augmentation: keras.layers.Layer | None = None,
    name: str = "cats_vs_dogs",
) -> keras.Sequential:
    """Build Lab 2's cats-vs-dogs CNN, optionally with dropout, L2 and augmentation.

    With the defaults this is exactly Lab 2's network: ``Rescaling``, one convolution block
    (3 x 3 convolution, ReLU, 2 x 2 max pooling) per entry of ``filters``, ``Flatten``, a dense
    layer and one sigmoid unit giving P(dog). The model is not compiled.

    Args:
        image_size: height and width of the input images (3 channels, bytes 0-255).
        filters: number of filters of each convolution block.
        dense_units: units of the dense layer before the output.
        dropout: rate of a ``Dropout`` layer between ``Flatten`` and the dense layer, where
            most of the weights are (0 for none).
        l2: L2 penalty on every convolution and dense kernel (0 for none).
        batch_norm: add ``BatchNormalization`` after every convolution, before its ReLU.
        augmentation: a layer (often a ``Sequential`` of random layers) applied to the raw
            images first; it is active only in training.
        name: the model's name.
    """
    regularizer = keras.regularizers.L2(l2) if l2 else None
    stack: list[keras.layers.Layer] = [keras.Input(shape=(*image_size, 3))]
    if augmentation is not None:
        stack.append(augmentation)
    stack.append(layers.Rescaling(1 / 255))
    for i, n in enumerate(filters, 1):
        if batch_norm:  # normalise before the ReLU, so that it sees centred inputs
            stack += [
                layers.Conv2D(n, 3, kernel_regularizer=regularizer, name=f"conv{i}"),
                layers.BatchNormalization(),
                layers.Activation("relu"),
            ]
        else:
            stack.append(
                layers.Conv2D(
                    n, 3, activation="relu", kernel_regularizer=regularizer, name=f"conv{i}"
                )
            )
        stack.append(layers.MaxPooling2D(2))
    stack.append(layers.Flatten())
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(dense_units, activation="relu", kernel_regularizer=regularizer))
    stack.append(layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizer))
    return keras.Sequential(stack, name=name)
