"""Pre-trained convolutional bases (VGG16, MobileNetV2) and where their ImageNet weights come from.

The weights are found by the chain of :mod:`labhelpers.fetch`, the Keras cache
(``~/.keras/models``) as its cache, and checked against the hash Keras publishes (MobileNetV2's,
which have none, by size). :data:`LAB_BASES` tells ``python -m coursetools classroom`` which
weights files the labs need.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labhelpers.course import keras_cache_dir, mirror_dir
from labhelpers.fetch import Lookup, MissingFile, RemoteFile

import keras

__all__ = [
    "LAB_BASES",
    "pretrained_base",
    "vgg16_base",
    "weights_file",
    "weights_lookup",
    "weights_spec",
]

KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)  # the input sizes Keras has weights for
# Keras passes no hash for MobileNetV2's files, so a download is checked by its size: the one
# Keras' own download log prints for these files (9406464/9406464), the same for both sizes
# seen; the weights of a convolutional base do not depend on the image size.
_MOBILENET_V2_NOTOP_BYTES = {128: 9_406_464, 224: 9_406_464}
# The pre-trained bases that the labs and their solutions build, at the input shapes they use:
# Lab 4 and its Exercise 1 work on 112 x 112 photos, for which Keras loads MobileNetV2's
# 224 file. tests/test_classroom.py checks this against the notebooks' calls.
LAB_BASES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("vgg16", (112, 112, 3)),
    ("mobilenet_v2", (112, 112, 3)),
)


def weights_spec(arch: str, input_shape: tuple[int, int, int]) -> tuple[Callable, RemoteFile]:
    """The Keras constructor of ``arch`` and its ImageNet "notop" weights file, as Keras names
    and checks it (a test compares both with the installed Keras)."""
    if arch == "vgg16":
        name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        # The MD5 that keras/src/applications/vgg16.py passes to get_file as file_hash.
        rf = RemoteFile(
            name,
            KERAS_WEIGHTS_URL + "vgg16/" + name,
            hashes=("md5:6d6bbae143d832006294945121d1f1fc",),
            size=58_889_256,
        )
        return keras.applications.VGG16, rf
    if arch == "mobilenet_v2":
        rows = input_shape[0] if input_shape[0] in MOBILENET_V2_SIZES else 224
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
        rf = RemoteFile(
            name,
            KERAS_WEIGHTS_URL + "mobilenet_v2/" + name,
            size=_MOBILENET_V2_NOTOP_BYTES.get(rows),
        )
        return keras.applications.MobileNetV2, rf
    raise ValueError(f"Unknown base {arch!r}; known: 'vgg16', 'mobilenet_v2'.")


def weights_lookup(arch: str, input_shape: tuple[int, int, int]) -> Lookup:
    """The weights file of :func:`weights_spec` with the places it is looked for."""
    _, rf = weights_spec(arch, input_shape)
    mirror = mirror_dir()
    return Lookup(
        rf,
        local_dirs=(mirror,) if mirror else (),
        # The Keras cache is the cache: a copy there that fails its check is downloaded again,
        # as Keras itself does.
        cache=keras_cache_dir(),
        what=f"ImageNet weights of {arch}",
        hint=(
            f"or, on a machine that is online, download {rf.url} and copy it into "
            f"{keras_cache_dir()} or into the LABHELPERS_DATA_DIR folder"
        ),
    )


def weights_file(arch: str = "vgg16", input_shape: tuple[int, int, int] = (128, 128, 3)) -> Path:
    """Find (or download) the ImageNet "notop" weights of ``arch``; return the verified path
    (or raise MissingFile or DamagedFile, saying the fix)."""
    return weights_lookup(arch, input_shape).resolve()


def _random_weights_banner(arch: str) -> str:
    line = "!" * 78
    return (
        f"{line}\n!!! NO IMAGENET WEIGHTS: {arch} STARTS FROM RANDOM WEIGHTS.\n"
        "!!! This run shows that the code works and what it costs in time and memory; its\n"
        "!!! accuracies are NOT transfer learning. Reported as imagenet_weights = 0.\n"
        f"{line}"
    )


def pretrained_base(
    arch: str = "vgg16",
    input_shape: tuple[int, int, int] = (128, 128, 3),
    *,
    allow_random_weights: bool = False,
) -> tuple[keras.Model, bool]:
    """Build ``arch``'s convolutional base (``include_top=False``) with ImageNet weights.

    ``arch`` is ``"vgg16"`` or ``"mobilenet_v2"``. Returns ``(base, pretrained)``: the model (not
    compiled, trainable) and whether it holds the ImageNet weights, to report. Where the weights
    can be had nowhere this raises MissingFile, saying how to provide them; with
    ``allow_random_weights`` (fast mode and timing runs pass ``course.allow_random_weights``) the
    base, named ``<arch>_RANDOM_WEIGHTS``, starts from random weights under a loud banner
    instead. A copy that fails its check is always an error.
    """
    build, _ = weights_spec(arch, input_shape)
    try:
        path = weights_file(arch, input_shape)
    except MissingFile as err:
        if not allow_random_weights:
            raise
        print(_random_weights_banner(arch))
        print(f"(Why: {str(err).splitlines()[0]})")
        base = build(
            include_top=False, weights=None, input_shape=input_shape, name=f"{arch}_RANDOM_WEIGHTS"
        )
        return base, False
    return build(include_top=False, weights=str(path), input_shape=input_shape), True


def vgg16_base(
    input_shape: tuple[int, int, int] = (128, 128, 3), *, allow_random_weights: bool = False
) -> tuple[keras.Model, bool]:
    """Build VGG16's convolutional base with ImageNet weights; see :func:`pretrained_base`."""
    return pretrained_base("vgg16", input_shape, allow_random_weights=allow_random_weights)
