"""Model builders that more than one lab uses, pre-trained bases with their weights, and a
``clear_session`` that really lets old models go.

Pre-trained weights are found by the same chain as the datasets (:mod:`labhelpers.fetch`):
``LABHELPERS_DATA_DIR``, then the Keras cache (``~/.keras/models``), then the download into
that cache, checked against the hash that Keras publishes (or, for MobileNetV2, for which Keras
publishes none, against the file's size). Where they cannot be had, a base built with
``allow_random_weights=True`` starts from random weights and says so loudly; otherwise the
caller gets a clear error. :data:`LAB_BASES` names the bases the labs build, so that the
classroom command (:mod:`labhelpers.classroom`) knows which weights files to provide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
from keras import layers

from labhelpers.course import keras_cache_dir, mirror_dir
from labhelpers.fetch import Lookup, MissingFile, RemoteFile
from labhelpers.memory import return_freed_memory
from labhelpers.progress import Ticker

__all__ = [
    "LAB_BASES",
    "ArrayBatches",
    "cats_dogs_cnn",
    "clear_session",
    "predict_in_batches",
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
    """Find (or download) the ImageNet "notop" weights of ``arch``; return the verified path.

    Raises:
        MissingFile: the file is found nowhere and cannot be downloaded; the message says
            where we looked and how to provide the file.
        DamagedFile: a copy is not the expected file.
    """
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

    Args:
        arch: ``"vgg16"`` or ``"mobilenet_v2"``.
        input_shape: height, width and 3 channels of the images.
        allow_random_weights: where the weights can be found nowhere, start from random
            initial weights, with a loud banner, instead of raising (fast mode and timing runs
            pass ``course.allow_random_weights``). The model is then named
            ``<arch>_RANDOM_WEIGHTS``. A copy that fails its check is always an error.

    Returns:
        ``(base, pretrained)``: the model (not compiled, trainable) and whether it holds the
        ImageNet weights; report the latter, e.g. ``report("imagenet_weights", pretrained)``.

    Raises:
        MissingFile: the weights cannot be had and random weights are not allowed; the message
            says how to provide them.
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


def predict_in_batches(
    model: keras.Model,
    inputs: np.ndarray,
    *,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    batch_size: int = 8,
    dtype: str = "float32",
    progress: str | None = None,
) -> np.ndarray:
    """Run ``model`` on ``inputs`` a few at a time; return all outputs in one array of ``dtype``.

    With ``progress`` (a label such as "VGG16 features") a line every few seconds says how many
    inputs are done: on a slow CPU this can take minutes.

    Each batch is converted to float32 (and passed through ``preprocess``, e.g. a base's
    ``preprocess_input``) on its own, so inputs stored compactly (uint8 photos, float16
    features) never exist whole as float32. Small batches keep the model's intermediate maps
    small too (VGG16's first block alone holds 3 MiB per 112-pixel photo), and the outputs go
    straight into one array: no list of pieces to concatenate. ``predict_on_batch`` runs the
    model as one compiled graph: faster, and leaner, than calling it op by op.
    """
    if inputs is None:  # a lab lets photos go once they are features, to save memory
        raise ValueError(
            "predict_in_batches got None instead of an array: these inputs were let go to save "
            "memory. Run the cell that loads them again, then this one."
        )
    outputs = None
    ticker = Ticker(progress, len(inputs), "input") if progress else None
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size].astype("float32")
        if preprocess is not None:
            batch = preprocess(batch)
        result = np.asarray(model.predict_on_batch(batch))
        if outputs is None:
            outputs = np.empty((len(inputs), *result.shape[1:]), dtype=dtype)
        outputs[start : start + len(batch)] = result
        if ticker is not None:
            ticker.tick(start + len(batch))
    if outputs is None:
        raise ValueError("predict_in_batches got no inputs: pass at least one.")
    return outputs


class ArrayBatches(keras.utils.PyDataset):
    """Batches of arrays for ``fit``, ``evaluate`` and ``predict``, converted to float32 one
    batch at a time.

    For inputs stored compactly (float16 features, uint8 photos): the whole array never
    exists as float32, and TensorFlow never sees a float16 tensor (which, on CPUs without
    AVX-512, makes oneDNN print an error line). With ``shuffle_seed`` each epoch draws a new
    order; without it the order is kept, so that ``predict`` lines up with ``y``.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int = 32, shuffle_seed: int | None = None
    ) -> None:
        super().__init__(max_queue_size=2)  # a batch is quick to make: no need to queue ten
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}: one label per input.")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self.order = np.arange(len(y))
        self.on_epoch_end()

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows].astype("float32"), self.y[rows]

    def on_epoch_end(self) -> None:
        if self.rng is not None:
            self.order = self.rng.permutation(len(self.y))

    def release(self) -> None:
        """Let go of the arrays. TensorFlow 2.20 keeps every dataset that ``fit`` has read
        alive (tensorflow/tensorflow#123269), and with it this object: deleting our own names
        for the arrays would not free their memory."""
        self.x = self.y = None
