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

    TensorFlow 2.19 and 2.20 keep a global table entry, holding the whole traced graph, for
    every ``tf.custom_gradient`` traced, and Keras' training step traces one: each model trained
    leaves 5-12 MB behind for the life of the kernel, even after ``del model`` and Keras'
    ``clear_session`` (tensorflow/tensorflow#97697). This drops those entries, then gives the
    memory back to the system. Models still in use keep working: their training step was traced
    when ``fit`` first ran, and a new trace registers a new entry.
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

    With the defaults this is exactly Lab 2's network, not compiled: ``Rescaling`` of RGB bytes
    of ``image_size``, one block (3 x 3 convolution, ReLU, 2 x 2 max pooling) per entry of
    ``filters``, ``Flatten``, a dense layer of ``dense_units`` and one sigmoid unit giving
    P(dog). ``dropout`` adds a ``Dropout`` layer before the dense layer, where most of the
    weights are; ``augmentation`` (random layers, active only in training) comes first. (Lab 3
    writes its L2 and batch-normalised versions out in Keras, where students see how.)
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
