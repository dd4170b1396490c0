"""Model builders that more than one lab uses, and a ``clear_session`` that really lets old
models go."""

from __future__ import annotations

from collections.abc import Sequence

from labhelpers.memory import return_freed_memory

import keras
from keras import layers

__all__ = ["cats_dogs_cnn", "clear_session"]


def clear_session() -> None:
    """Forget the models built so far: ``keras.backend.clear_session()``, plus a leak fix.

    TensorFlow 2.19 and 2.20 keep a global table entry for every ``tf.custom_gradient`` traced
    in a graph, and Keras' training step traces one (in the default distribution strategy's
    ``all_reduce``). The entry holds the whole traced graph, so each model trained leaves
    5-12 MB behind for the life of the kernel, even after ``del model`` and Keras'
    ``clear_session`` (tensorflow/tensorflow#97697). A notebook that trains thirty models
    piles up hundreds of MB; this drops those entries so that the graphs can be freed.

    Models still in use keep working: their training step was traced, gradients included,
    when ``fit`` first ran, and a new trace registers a new entry. What was freed then goes back
    to the system (:func:`labhelpers.memory.return_freed_memory`).
    """
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import ops

        registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", {})
        for name in [name for name in registry if name.startswith("CustomGradient-")]:
            del registry[name]
    keras.backend.clear_session()  # also runs the garbage collector
    return_freed_memory()


def cats_dogs_cnn(
    image_size: tuple[int, int] = (96, 96),
    *,
    filters: Sequence[int] = (16, 32, 64, 64),
    dense_units: int = 128,
    dropout: float = 0.0,
    augmentation: keras.layers.Layer | None = None,
    name: str = "cats_vs_dogs",
) -> keras.Sequential:
    """Build Lab 2's cats-vs-dogs CNN, optionally smaller, with dropout or with augmentation.

    With the defaults this is exactly Lab 2's network: ``Rescaling``, one convolution block
    (3 x 3 convolution, ReLU, 2 x 2 max pooling) per entry of ``filters``, ``Flatten``, a dense
    layer and one sigmoid unit giving P(dog). The model is not compiled. (Lab 3 writes its L2
    and batch-normalised versions out in Keras, where students see how they are made.)

    Args:
        image_size: height and width of the input images (3 channels, bytes 0-255).
        filters: number of filters of each convolution block.
        dense_units: units of the dense layer before the output.
        dropout: rate of a ``Dropout`` layer between ``Flatten`` and the dense layer, where
            most of the weights are (0 for none).
        augmentation: a layer (often a ``Sequential`` of random layers) applied to the raw
            images first; it is active only in training.
        name: the model's name.
    """
    stack: list[keras.layers.Layer] = [keras.Input(shape=(*image_size, 3))]
    if augmentation is not None:
        stack.append(augmentation)
    stack.append(layers.Rescaling(1 / 255))
    for i, n in enumerate(filters, 1):
        stack += [layers.Conv2D(n, 3, activation="relu", name=f"conv{i}"), layers.MaxPooling2D(2)]
    stack.append(layers.Flatten())
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(dense_units, activation="relu"))
    stack.append(layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(stack, name=name)
