"""Model builders that more than one lab uses, pre-trained bases with their weights, and a
``clear_session`` that really lets old models go.

Pre-trained weights are found by the same chain as the datasets (:mod:`labhelpers.fetch`):
``LABHELPERS_DATA_DIR``, then the Keras cache (``~/.keras/models``), then the download into
that cache, checked against the hash that Keras publishes. Where they cannot be had, fast mode
(and the developer switch ``LABHELPERS_ALLOW_RANDOM_WEIGHTS=1``, for timing runs only) falls
back to random initial weights and says so loudly; full mode stops with a clear error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
from keras import layers

from labhelpers.fetch import FetchError, RemoteFile, mirror_dir, resolve
from labhelpers.runner import fast_mode

__all__ = [
    "RANDOM_WEIGHTS_VAR",
    "WeightsError",
    "cats_dogs_cnn",
    "clear_session",
    "keras_cache_dir",
    "pretrained_base",
    "vgg16_base",
    "weights_file",
]

RANDOM_WEIGHTS_VAR = "LABHELPERS_ALLOW_RANDOM_WEIGHTS"
_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# The MD5 that keras/src/applications/vgg16.py passes to get_file as file_hash.
VGG16_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"


class WeightsError(FetchError):
    """Pre-trained weights could not be found, downloaded or trusted; the message says how."""


def _weights_spec(arch: str, input_shape: tuple[int, int, int]) -> tuple[Callable, RemoteFile]:
    """Return the Keras constructor of ``arch`` and its ImageNet "notop" weights file."""
    if arch == "vgg16":
        name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        rf = RemoteFile(name, _KERAS_WEIGHTS_URL + "vgg16/" + name, None, md5=VGG16_NOTOP_MD5)
        return keras.applications.VGG16, rf
    if arch == "mobilenet_v2":
        rows = input_shape[0] if input_shape[0] in (96, 128, 160, 192, 224) else 224
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
        # Keras publishes no hash for these files: a local copy is trusted by its folder's
        # SHA256SUMS, a download as Keras itself would trust it (unchecked).
        rf = RemoteFile(name, _KERAS_WEIGHTS_URL + "mobilenet_v2/" + name, None)
        return keras.applications.MobileNetV2, rf
    raise ValueError(f"Unknown base {arch!r}; known: 'vgg16', 'mobilenet_v2'.")


def keras_cache_dir() -> Path:
    """Return the folder where Keras keeps downloaded weights: ``$KERAS_HOME/models``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def weights_file(arch: str = "vgg16", input_shape: tuple[int, int, int] = (128, 128, 3)) -> Path:
    """Find (or download) the ImageNet "notop" weights of ``arch``; return the verified path.

    Raises:
        WeightsError: when the file is found nowhere and cannot be downloaded, or a copy fails
            its checksum; the message says where we looked and how to provide the file.
    """
    _, rf = _weights_spec(arch, input_shape)
    mirror = mirror_dir()
    return resolve(
        rf,
        # The Keras cache is the cache: a copy there that fails its hash is downloaded again,
        # as Keras itself does.
        local_dirs=[mirror] if mirror else [],
        cache=keras_cache_dir(),
        what=f"ImageNet weights of {arch}",
        hint=(
            f"or, on a machine that is online, download {rf.url} and copy it into "
            f"{keras_cache_dir()} or into the LABHELPERS_DATA_DIR folder"
        ),
        error=WeightsError,
    )


def _random_weights_banner(arch: str, reason: str) -> str:
    line = "!" * 78
    return (
        f"{line}\n!!! NO IMAGENET WEIGHTS: {arch} STARTS FROM RANDOM WEIGHTS.\n"
        f"!!! {reason}\n"
        "!!! This run shows that the code works and what it costs in time and memory; its\n"
        "!!! accuracies are NOT transfer learning. Reported as imagenet_weights = 0.\n"
        f"{line}"
    )


def pretrained_base(
    arch: str = "vgg16", input_shape: tuple[int, int, int] = (128, 128, 3)
) -> tuple[keras.Model, bool]:
    """Build ``arch``'s convolutional base (``include_top=False``) with ImageNet weights.

    In fast mode, or with ``LABHELPERS_ALLOW_RANDOM_WEIGHTS=1`` (a developer switch for timing
    full runs offline), weights that can be found nowhere are replaced by random initial
    weights, with a loud banner; the model is then named ``<arch>_RANDOM_WEIGHTS``. A copy
    that fails its checksum is always an error.

    Args:
        arch: ``"vgg16"`` or ``"mobilenet_v2"``.
        input_shape: height, width and 3 channels of the images.

    Returns:
        ``(base, pretrained)``: the model (not compiled, trainable) and whether it holds the
        ImageNet weights; report the latter, e.g. ``report("imagenet_weights", pretrained)``.

    Raises:
        WeightsError: in full mode, when the weights cannot be had; it says how to provide them.
    """
    build, _ = _weights_spec(arch, input_shape)
    try:
        path = weights_file(arch, input_shape)
    except WeightsError as err:
        if not err.missing:  # a damaged or wrong file is never silently replaced
            raise
        if fast_mode():
            reason = "Fast mode, and the weights file could not be found or downloaded."
        elif os.environ.get(RANDOM_WEIGHTS_VAR) == "1":
            reason = f"Full mode, but {RANDOM_WEIGHTS_VAR}=1 allows random weights (timing)."
        else:
            raise
        print(_random_weights_banner(arch, reason))
        print(f"(Why: {str(err).splitlines()[0]})")
        base = build(
            include_top=False, weights=None, input_shape=input_shape, name=f"{arch}_RANDOM_WEIGHTS"
        )
        return base, False
    return build(include_top=False, weights=str(path), input_shape=input_shape), True


def vgg16_base(input_shape: tuple[int, int, int] = (128, 128, 3)) -> tuple[keras.Model, bool]:
    """Build VGG16's convolutional base with ImageNet weights; see :func:`pretrained_base`."""
    return pretrained_base("vgg16", input_shape)


def clear_session() -> None:
    """Forget the models built so far: ``keras.backend.clear_session()``, plus a leak fix.

    TensorFlow 2.19 and 2.20 keep a global table entry for every ``tf.custom_gradient`` traced
    in a graph, and Keras' training step traces one (in the default distribution strategy's
    ``all_reduce``). The entry holds the whole traced graph, so each model trained leaves
    5-12 MB behind for the life of the kernel, even after ``del model`` and Keras'
    ``clear_session`` (tensorflow/tensorflow#97697). A notebook that trains thirty models
    piles up hundreds of MB; this drops those entries so that the graphs can be freed.

    Models still in use keep working: their training step was traced, gradients included,
    when ``fit`` first ran, and a new trace registers a new entry.
    """
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import ops

        registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", {})
        for name in [name for name in registry if name.startswith("CustomGradient-")]:
            del registry[name]
    keras.backend.clear_session()  # also runs the garbage collector


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
