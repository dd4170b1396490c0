"""Self-checks for Lab 4's exercises: another base, unfreezing more blocks, a flowers head."""

from __future__ import annotations

import re
from typing import Any

from labhelpers.checks import (
    Verdict,
    exercise,
    final_activation,
    model_input_shape,
    model_output_shape,
)

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3"]

MOBILENET_V2_FEATURES = 1280  # channels of MobileNetV2's last feature map


@exercise("Exercise 1: another base (MobileNetV2)")
def exercise_1(
    verdict: Verdict,
    mobile_preprocess: Any,
    mobile_train: Any,
    mobile_val: Any,
    n_train: int,
    n_val: int,
) -> None:
    """Check MobileNetV2's preprocessing function and the pooled features of both sets."""
    if not callable(mobile_preprocess):
        verdict.fail("`mobile_preprocess` should be a function, MobileNetV2's preprocess_input")
    else:
        # MobileNetV2 expects pixels scaled from 0..255 to -1..1 (RGB order kept).
        pixels = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
        out = np.asarray(mobile_preprocess(pixels.copy()), dtype=float).ravel()
        verdict.expect(
            np.allclose(out, [-1.0, 0.0, 1.0], atol=1e-3),
            "`mobile_preprocess` should scale pixels from 0..255 to -1..1, as "
            f"MobileNetV2 was trained; it maps 0, 127.5, 255 to {np.round(out, 3).tolist()}. "
            "Use the preprocess_input of keras.applications.mobilenet_v2, not VGG16's",
        )
    for name, features, n in (
        ("mobile_train", mobile_train, n_train),
        ("mobile_val", mobile_val, n_val),
    ):
        shape = np.shape(features)
        verdict.expect_shape(
            shape, (n, MOBILENET_V2_FEATURES), f"shape of `{name}`", ("photos", "features")
        )
        if len(shape) == 2 and not np.all(np.isfinite(features)):
            verdict.fail(f"`{name}` holds NaN or infinite values")


@exercise("Exercise 2: unfreeze more blocks")
def exercise_2(verdict: Verdict, deeper: Any) -> None:
    """Check a VGG16 base whose blocks 4 and 5 are trainable and blocks 1 to 3 frozen."""
    names = [layer.name for layer in getattr(deeper, "layers", [])]
    if not verdict.expect(
        "block5_conv3" in names and "block1_conv1" in names,
        "`deeper` should be a VGG16 base, e.g. from vgg16_base(...)",
    ):
        return
    if not verdict.expect(
        deeper.trainable,
        "`deeper.trainable` is False, which freezes every layer whatever their own setting; "
        "set it back to True and choose layer by layer",
    ):
        return
    convs = [layer for layer in deeper.layers if layer.weights]
    late = {layer.name for layer in convs if layer.name.split("_")[0] in ("block4", "block5")}
    wrong_frozen = [layer.name for layer in convs if layer.name in late and not layer.trainable]
    wrong_trained = [layer.name for layer in convs if layer.name not in late and layer.trainable]
    verdict.expect(not wrong_frozen, f"these layers should be trainable: {', '.join(wrong_frozen)}")
    verdict.expect(
        not wrong_trained,
        f"these layers should stay frozen (blocks 1 to 3): {', '.join(wrong_trained)}",
    )


@exercise("Exercise 3: a Keras head for the flowers")
def exercise_3(verdict: Verdict, flower_head: Any, n_features: int) -> None:
    """Check a compiled softmax classifier of 17 classes on flattened VGG16 features."""
    verdict.expect_shape(
        model_input_shape(flower_head), (None, n_features), "input shape", (None, "features")
    )
    verdict.expect_shape(
        model_output_shape(flower_head), (None, 17), "output shape", (None, "classes")
    )
    activation = final_activation(flower_head)
    verdict.expect(
        activation == "softmax",
        f"the last activation should be softmax (one probability per class), yours is {activation}",
    )
    loss = getattr(flower_head, "loss", None)
    if not verdict.expect(loss is not None, "compile `flower_head` before training it"):
        return
    # A loss is given by name ("sparse_categorical_crossentropy" or the class name), as a loss
    # object or as a function of keras.losses.
    loss_name = (
        loss
        if isinstance(loss, str)
        else getattr(loss, "name", getattr(loss, "__name__", type(loss).__name__))
    )
    verdict.expect(
        "sparsecategoricalcrossentropy" in re.sub(r"[\W_]", "", str(loss_name).lower()),
        "the labels are integers 0..16: use loss='sparse_categorical_crossentropy', "
        f"not {loss_name}",
    )
    from_logits = hasattr(loss, "get_config") and loss.get_config().get("from_logits")
    verdict.expect(
        not (from_logits and activation == "softmax"),
        "the softmax already gives probabilities: leave from_logits=False in the loss",
    )
