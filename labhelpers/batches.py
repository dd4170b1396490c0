"""Feeding arrays to a model a few at a time: predictions, and batches for ``fit``.

Photos are stored compactly (uint8) and features as float16; both are turned into float32 one
batch at a time, so the whole array never exists as float32.
"""

from __future__ import annotations

from collections.abc import Callable

from labhelpers.progress import Ticker

import keras
import numpy as np

__all__ = ["ArrayBatches", "predict_in_batches"]


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

    Each batch goes through ``preprocess`` (e.g. a base's ``preprocess_input``) on its own. Small
    batches keep the model's intermediate maps small too (VGG16's first block alone holds 3 MiB
    per 112-pixel photo); ``predict_on_batch`` runs one compiled graph, faster and leaner than
    op by op. With ``progress`` (a label such as "VGG16 features") a line every few seconds says
    how many inputs are done: on a slow CPU this can take minutes.
    """
    if inputs is None:  # a notebook may set arrays it no longer needs to None, to save memory
        raise ValueError(
            "predict_in_batches got None instead of an array: were these inputs set to None to "
            "save memory? Run the cell that makes them again, then this one."
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
    """Batches of arrays for ``fit``, ``evaluate`` and ``predict``, made float32 one at a time.

    TensorFlow never sees a float16 tensor (which, on CPUs without AVX-512, makes oneDNN print
    an error line). With ``shuffle_seed`` each epoch draws a new order; without it the order is
    kept, so that ``predict`` lines up with ``y``.
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
