"""Self-checks for Lab 3's exercises: batch normalisation, augmentation, a learning-rate sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labhelpers.checks import (
    Verdict,
    exercise,
    final_activation,
    layer_activation,
    model_input_shape,
    model_layers,
    model_output_shape,
)

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3"]


@exercise("Exercise 1: batch normalisation")
def exercise_1(verdict: Verdict, bn_model: Any) -> None:
    """Check a cats-vs-dogs network for 64 x 64 photos with batch normalisation."""
    verdict.expect_shape(
        model_input_shape(bn_model), (None, 64, 64, 3), "input shape", (None, None, None, None)
    )
    verdict.expect_shape(model_output_shape(bn_model), (None, 1), "output shape")
    verdict.expect(
        final_activation(bn_model) == "sigmoid",
        f"the last activation should be sigmoid (one P(dog) for binary cross-entropy), "
        f"yours is {final_activation(bn_model)}",
    )
    flat = model_layers(bn_model)
    kinds = [type(layer).__name__ for layer in flat]
    convs = [i for i, kind in enumerate(kinds) if kind == "Conv2D"]
    if not verdict.expect(bool(convs), "the model has no Conv2D layer"):
        return
    # Between a convolution and the next weighted layer (Conv2D or Dense) there must be a
    # BatchNormalization layer: one in the dense head normalises no convolution.
    weighted = [i for i, kind in enumerate(kinds) if kind in ("Conv2D", "Dense")]
    ends = [next((i for i in weighted if i > start), len(kinds)) for start in convs]
    without = [
        flat[start].name
        for start, end in zip(convs, ends, strict=True)
        if "BatchNormalization" not in kinds[start:end]
    ]
    verdict.expect(
        not without,
        f"add a BatchNormalization layer after every convolution; {', '.join(without)} "
        f"{'has' if len(without) == 1 else 'have'} none",
    )
    no_relu = [flat[i].name for i in convs if layer_activation(bn_model, flat[i]) != "relu"]
    verdict.expect(
        not no_relu,
        "every convolution needs its ReLU, before or after the batch normalisation; "
        f"{', '.join(no_relu)} {'has' if len(no_relu) == 1 else 'have'} none",
    )


def _mean_change(augment: Any, photo: np.ndarray, copies: int = 8) -> float:
    """How far augmented copies of ``photo`` are from it on average, in grey levels.

    A horizontal flip changes every pixel but not what the photo shows, so each copy is
    compared with the photo and with its mirror image, whichever is closer.
    """
    import keras

    batch = np.repeat(photo, copies, axis=0)
    augmented = keras.ops.convert_to_numpy(augment(batch, training=True)).astype("float32")
    as_is = np.abs(augmented - batch).mean(axis=(1, 2, 3))
    mirrored = np.abs(augmented - batch[:, :, ::-1]).mean(axis=(1, 2, 3))
    return float(np.minimum(as_is, mirrored).mean())


@exercise("Exercise 2: augmentation strength")
def exercise_2(verdict: Verdict, strong_augment: Any, photo: Any, augment: Any) -> None:
    """Check an augmentation pipeline that changes photos more than section 5's ``augment``."""
    import keras

    photo = np.asarray(keras.ops.convert_to_numpy(photo), dtype="float32")
    at_inference = keras.ops.convert_to_numpy(strong_augment(photo, training=False))
    augmented = keras.ops.convert_to_numpy(strong_augment(photo, training=True))
    if not verdict.expect(
        augmented.shape == photo.shape,
        f"augmentation must keep the photo's shape {photo.shape}, yours gives {augmented.shape} "
        "(a crop layer changes it: leave it out, or resize back)",
    ):
        return
    verdict.expect(
        np.allclose(at_inference, photo),
        "with training=False the photo should come back unchanged; use random layers "
        "(layers.Random...), which switch themselves off at inference",
    )
    yours, theirs = _mean_change(strong_augment, photo), _mean_change(augment, photo)
    verdict.expect(
        yours > 1.1 * theirs,
        f"your augmentation changes the photo by {yours:.1f} grey levels on average, section "
        f"5's `augment` by {theirs:.1f}: make yours clearly stronger",
    )


@exercise("Exercise 3: a learning-rate sweep")
def exercise_3(
    verdict: Verdict,
    sweep_rates: Sequence[float],
    sweep_accuracies: Sequence[float],
    best_rate: float,
) -> None:
    """Check a sweep: at least four rates over two orders of magnitude, and its best rate."""
    rates = np.asarray(sweep_rates, dtype=float).ravel()
    accuracies = np.asarray(sweep_accuracies, dtype=float).ravel()
    if not verdict.expect(
        len(rates) == len(accuracies),
        f"you have {len(rates)} rates but {len(accuracies)} accuracies: one accuracy per rate",
    ):
        return
    verdict.expect(len(rates) >= 4, f"try at least four learning rates, you tried {len(rates)}")
    if not verdict.expect(bool(np.all(rates > 0)), "learning rates must be positive"):
        return
    verdict.expect(
        rates.max() / rates.min() >= 100,
        f"your rates go from {rates.min():g} to {rates.max():g}: cover at least two orders of "
        "magnitude (a factor of 100), since good rates are found on a log scale",
    )
    best_in_sweep = rates[int(np.nanargmax(accuracies))]
    verdict.expect(
        bool(np.isclose(float(best_rate), best_in_sweep)),
        f"best_rate is {float(best_rate):g}, but the highest accuracy in your sweep is at "
        f"{best_in_sweep:g}",
    )
