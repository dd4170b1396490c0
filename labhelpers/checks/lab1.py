"""Self-checks for Lab 1, classifying clothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labhelpers.checks import (
    NotAnswered,
    Verdict,
    exercise,
    final_activation,
    layer_activation,
    model_input_shape,
    model_layers,
    model_output_shape,
)

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3", "exercise_4"]


@exercise("Exercise 1: the sigmoid by hand")
def exercise_1(verdict: Verdict, sigmoid: Callable[[np.ndarray], Any]) -> None:
    """Check a hand-written sigmoid on logits of several signs, sizes and shapes."""
    for z in [np.array([-5.0, -1.0, 0.0, 0.5, 3.0]), np.linspace(-8, 8, 12).reshape(3, 4)]:
        try:
            result = sigmoid(z)
        except TypeError as error:
            verdict.fail(
                f"your sigmoid fails on a NumPy array ({error}): use np.exp, which works on "
                "whole arrays, rather than math.exp"
            )
            return
        if result is None:
            raise NotAnswered("`sigmoid` returns None: write its body")
        result = np.asarray(result, dtype=float)
        if not verdict.expect(
            result.shape == z.shape,
            f"for an array of shape {z.shape} your sigmoid returns shape {result.shape}: "
            "apply the formula to every element (NumPy does that when you use np.exp)",
        ):
            return
        expected = 1 / (1 + np.exp(-z))
        if np.allclose(result, expected, atol=1e-6):
            continue
        if np.allclose(result, 1 - expected, atol=1e-6):
            verdict.fail("your sigmoid falls as z grows: check the sign in the exponent")
        elif np.allclose(result, np.exp(-z), atol=1e-6) or np.allclose(result, np.exp(z)):
            verdict.fail("that is an exponential, not yet 1 / (1 + e^(-z))")
        else:
            verdict.fail(
                "some values are wrong: the sigmoid of 0 is 0.5, and every value lies in (0, 1)"
            )
        return


@exercise("Exercise 2: binary cross-entropy by hand")
def exercise_2(verdict: Verdict, bce: float, probabilities: Any, labels: Any) -> None:
    """Check the mean binary cross-entropy of ``probabilities`` (P(class 1)) for ``labels``."""
    p = np.asarray(probabilities, dtype=float).ravel()
    y = np.asarray(labels, dtype=float).ravel()
    terms = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    value = float(np.asarray(bce, dtype=float).squeeze()) if np.size(bce) == 1 else None
    if value is None:
        verdict.fail(f"give one number, the mean over the samples; yours has {np.size(bce)}")
    elif np.isclose(value, terms.mean(), rtol=1e-4):
        return
    elif np.isclose(value, terms.sum(), rtol=1e-4):
        verdict.fail("that is the sum over the samples: take the mean")
    elif np.isclose(value, -np.mean(y * np.log(p)), rtol=1e-4):
        verdict.fail(
            "only the samples of class 1 count in your value: a sample of class 0 costs "
            "something too, by the probability the model gives class 0 (reread the formula)"
        )
    elif np.isclose(value, -terms.mean(), rtol=1e-4):
        verdict.fail("the sign is wrong: a loss is positive, so it is minus the mean log")
    else:
        verdict.fail(f"{value:.4g} is not the mean binary cross-entropy of these samples")


@exercise("Exercise 3: a deeper dense network")
def exercise_3(verdict: Verdict, deeper: Any) -> None:
    """Check a Fashion-MNIST classifier with hidden Dense layers of 256 then 128 ReLU units."""
    verdict.expect_shape(
        model_output_shape(deeper), (None, 10), "output shape", axis_names=(None, "classes")
    )
    verdict.expect(
        final_activation(deeper) == "softmax",
        f"the last activation is {final_activation(deeper)}: end with a softmax, so that the "
        "outputs are probabilities",
    )
    input_shape = model_input_shape(deeper)
    verdict.expect(
        input_shape == (None, 28, 28),
        f"the input shape is {input_shape}: the model takes 28 x 28 images, keras.Input((28, 28))",
    )
    dense = model_layers(deeper, "Dense")
    hidden = [(layer.units, layer_activation(deeper, layer)) for layer in dense[:-1]]
    units = [u for u, _ in hidden]
    if units != [256, 128]:
        verdict.fail(f"the hidden Dense layers have {units} units: the exercise asks for 256, 128")
    elif any(activation != "relu" for _, activation in hidden):
        verdict.fail("give the hidden layers a ReLU activation, activation='relu'")


@exercise("Exercise 4: precision and recall of one class")
def exercise_4(
    verdict: Verdict,
    coat_precision: float,
    coat_recall: float,
    y_true: Any,
    y_pred: Any,
    coat: int = 4,
) -> None:
    """Check the precision and recall of class ``coat`` computed from ``y_true``, ``y_pred``."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    tp = np.sum((y_true == coat) & (y_pred == coat))
    precision = tp / max(1, np.sum(y_pred == coat))
    recall = tp / max(1, np.sum(y_true == coat))
    p, r = (float(np.asarray(v, dtype=float).squeeze()) for v in (coat_precision, coat_recall))
    if np.isclose(p, precision) and np.isclose(r, recall):
        return
    if np.isclose(p, recall) and np.isclose(r, precision):
        verdict.fail(
            "precision and recall are swapped: precision divides by the images *predicted* "
            "coat, recall by the images that *are* coats"
        )
        return
    for name, value, expected, denominator in [
        ("coat_precision", p, precision, "TP + FP, the images predicted coat"),
        ("coat_recall", r, recall, "TP + FN, the coats in the test set"),
    ]:
        if not np.isclose(value, expected):
            hint = " (a ratio lies between 0 and 1)" if not 0 <= value <= 1 else ""
            verdict.fail(f"`{name}` is not right{hint}: it is TP divided by {denominator}")
