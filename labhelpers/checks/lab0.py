"""Self-checks for Lab 0, how a network learns: the loss, its gradient, a descent step,
iterations per epoch, and the backward pass of a ReLU layer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from labhelpers.checks import NotAnswered, Verdict, WrongAnswer, exercise

import numpy as np

__all__ = ["exercise_1", "exercise_2", "exercise_3", "exercise_4", "exercise_5"]


def _numbers(value: Any, what: str) -> np.ndarray:
    """``value`` as a float array, or NotAnswered/WrongAnswer saying what is wrong with it."""
    if value is None:
        raise NotAnswered(f"{what} is None: the function returns nothing yet")
    if isinstance(value, str | bytes):
        raise WrongAnswer(f"{what} should be a number, not str: leave out the quotes")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise WrongAnswer(
            f"{what} should be a number or an array of numbers, not {type(value).__name__}"
        ) from None
    if not np.all(np.isfinite(array)):
        raise WrongAnswer(f"{what} holds nan or infinity: look for a division by zero")
    return array


def _pair(value: Any, what: str) -> tuple[float, float]:
    """Two numbers, from a tuple or list of two, or NotAnswered/WrongAnswer."""
    if value is None:
        raise NotAnswered(f"{what} returns None: write its body")
    if not isinstance(value, tuple | list | np.ndarray) or len(value) != 2:
        raise WrongAnswer(f"{what} should return a pair of two numbers, like (1.5, -0.2)")
    first, second = (float(_numbers(v, what).squeeze()) for v in value)
    return first, second


@exercise("Exercise 1: mean squared error")
def exercise_1(verdict: Verdict, mse: Callable[[Any, Any], Any]) -> None:
    """Check ``mse(y_true, y_pred)`` on lists and on arrays of several shapes."""
    rng = np.random.default_rng(0)
    cases = [
        ([3.0, -1.0, 2.0], [2.5, 0.0, 2.0]),
        (rng.normal(size=7), rng.normal(size=7)),
        (rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
    ]
    for y_true, y_pred in cases:
        value = float(_numbers(mse(y_true, y_pred), "mse(...)").squeeze())
        errors = np.asarray(y_pred) - np.asarray(y_true)
        if np.isclose(value, np.mean(errors**2)):
            continue
        if np.isclose(value, np.mean(errors)) or np.isclose(value, -np.mean(errors)):
            verdict.fail("that is the mean of the errors, where + and - cancel: square them first")
        elif np.isclose(value, np.sum(errors**2)):
            verdict.fail("that is the sum of the squared errors: take the mean")
        elif np.isclose(value, np.sqrt(np.mean(errors**2))):
            verdict.fail("that is the root of the mean squared error (RMSE): leave out the root")
        elif np.isclose(value, np.mean(np.abs(errors))):
            verdict.fail("that is the mean absolute error: square the errors instead")
        elif np.isclose(value, np.mean(errors) ** 2):
            verdict.fail("you squared the mean error; square each error, then take the mean")
        else:
            verdict.fail(f"for {np.size(y_true)} values your mse gives {value:.4g}, not the MSE")
        return


def _line_gradient(w: float, b: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    error = w * x + b - y
    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])


def _case(seed: int = 1) -> tuple[float, float, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=20)
    return 1.5, -0.5, x, 3 * x + 2 + rng.normal(0, 0.3, size=20)


@exercise("Exercise 2: the gradient of the MSE")
def exercise_2(verdict: Verdict, mse_gradient: Callable[..., Any]) -> None:
    """Check ``mse_gradient(w, b, x, y)`` against the derivatives of the line's MSE."""
    w, b, x, y = _case()
    dw, db = _pair(mse_gradient(w, b, x, y), "mse_gradient")
    expected_dw, expected_db = _line_gradient(w, b, x, y)
    if np.isclose(dw, expected_dw) and np.isclose(db, expected_db):
        return
    if np.isclose(dw, expected_db) and np.isclose(db, expected_dw):
        verdict.fail("the two are swapped: return (dL/dw, dL/db), in that order")
    elif np.isclose(dw, -expected_dw) and np.isclose(db, -expected_db):
        verdict.fail("the signs are flipped: use the error as prediction minus label")
    elif np.isclose(dw, expected_dw / 2) and np.isclose(db, expected_db / 2):
        verdict.fail("both are half the right size: the derivative of e^2 is 2e")
    elif np.isclose(dw, expected_dw * len(x)) and np.isclose(db, expected_db * len(x)):
        verdict.fail("both are sums over the examples: the loss is a mean, so are its derivatives")
    else:
        verdict.expect(
            np.isclose(db, expected_db),
            "dL/db is not right: it is 2 times the mean of the errors (prediction - label)",
        )
        verdict.expect(
            np.isclose(dw, expected_dw),
            "dL/dw is not right: each error is multiplied by its x before taking the mean",
        )


@exercise("Exercise 3: one step of gradient descent")
def exercise_3(verdict: Verdict, gd_step: Callable[..., Any]) -> None:
    """Check ``gd_step(w, b, x, y, learning_rate)`` against one step against the gradient.

    A ``gd_step`` that calls the notebook's ``mse_gradient`` is judged with the true gradient
    in its place: a mistake of exercise 2 must not cost exercise 3 too.
    """
    w, b, x, y = _case(seed=2)
    namespace = getattr(gd_step, "__globals__", {})
    own = namespace.get("mse_gradient")
    if callable(own):
        namespace["mse_gradient"] = _line_gradient
    try:
        _judge_step(verdict, gd_step, w, b, x, y)
    finally:
        if callable(own):
            namespace["mse_gradient"] = own


def _judge_step(verdict: Verdict, gd_step: Callable[..., Any], w, b, x, y) -> None:
    for rate in (0.1, 0.01):
        new_w, new_b = _pair(gd_step(w, b, x, y, rate), "gd_step")
        dw, db = _line_gradient(w, b, x, y)
        if np.isclose(new_w, w - rate * dw) and np.isclose(new_b, b - rate * db):
            continue
        if np.isclose(new_w, w + rate * dw) and np.isclose(new_b, b + rate * db):
            verdict.fail("that step goes uphill: subtract the gradient, do not add it")
        elif np.isclose(new_w, w - dw) and np.isclose(new_b, b - db):
            verdict.fail("the learning rate is missing: step by learning_rate times the gradient")
        elif np.isclose(new_w, rate * dw) or np.isclose(new_w, -rate * dw):
            verdict.fail("return the new parameters (old value minus the step), not the step")
        elif np.isclose(new_b, b):
            verdict.fail("b did not move: update both parameters")
        else:
            verdict.fail(f"with learning rate {rate} the new (w, b) is not one step down the slope")
        return


@exercise("Exercise 4: iterations per epoch")
def exercise_4(verdict: Verdict, iterations: Any, n_train: int, batch_size: int = 32) -> None:
    """Check the number of batches that one epoch over ``n_train`` examples takes."""
    value = _numbers(iterations, "`iterations`")
    if value.size != 1:
        raise WrongAnswer(f"give one number, yours has {value.size}")
    value = float(value.squeeze())
    expected = math.ceil(n_train / batch_size)
    if value == expected:
        return
    if value == n_train // batch_size:
        verdict.fail(
            "almost: the examples left over after the last full batch make one more, smaller "
            "batch (round up)"
        )
    elif np.isclose(value, n_train / batch_size):
        verdict.fail("an epoch takes a whole number of iterations: round the division")
    elif value == n_train * batch_size:
        verdict.fail("divide the number of examples by the batch size, do not multiply")
    elif value == n_train:
        verdict.fail("that is one iteration per example: each iteration takes a whole batch")
    else:
        verdict.fail(
            f"{value:g} is not the number of batches of {batch_size} in {n_train} examples"
        )


def _relu_layer_case(seed: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 5)), rng.normal(0, 0.5, size=5)
    return x, w, b, rng.normal(size=(6, 5))


@exercise("Exercise 5: backpropagate through a ReLU layer")
def exercise_5(verdict: Verdict, relu_layer_backward: Callable[..., Any]) -> None:
    """Check ``relu_layer_backward(x, w, b, grad_a)`` against automatic differentiation."""
    import tensorflow as tf

    x, w, b, grad_a = _relu_layer_case()
    answer = relu_layer_backward(x, w, b, grad_a)
    if answer is None:
        raise NotAnswered("relu_layer_backward returns None: write its body")
    if not isinstance(answer, tuple | list) or len(answer) != 3:
        verdict.fail("return three gradients, (grad_w, grad_b, grad_x)")
        return
    variables = [tf.Variable(v) for v in (x, w, b)]
    with tf.GradientTape() as tape:
        a = tf.nn.relu(variables[0] @ variables[1] + variables[2])
        loss = tf.reduce_sum(a * grad_a)  # so that dL/da is grad_a
    grad_x, grad_w, grad_b = (g.numpy() for g in tape.gradient(loss, variables))
    z_positive = x @ w + b > 0
    for name, value, expected, of, without_relu in [
        ("grad_w", answer[0], grad_w, "w", x.T @ grad_a),
        ("grad_b", answer[1], grad_b, "b", grad_a.sum(axis=0)),
        ("grad_x", answer[2], grad_x, "x", grad_a @ w.T),
    ]:
        got = _numbers(value, f"`{name}`")
        if name == "grad_b" and got.shape == grad_a.shape:
            verdict.fail("`grad_b` has one row per example: the bias gets their sum (axis 0)")
            continue
        if got.shape != expected.shape:
            verdict.fail(
                f"`{name}` has shape {got.shape}, but {of} has shape {expected.shape}: a "
                "gradient has the shape of what it is the gradient of (look at the transposes)"
            )
            continue
        if np.allclose(got, expected):
            continue
        if np.allclose(got, without_relu):
            verdict.fail(
                f"`{name}` ignores ReLU's slope: first multiply grad_a by 1 where "
                "x @ w + b > 0 and by 0 elsewhere"
            )
        elif name == "grad_b" and np.allclose(got, (grad_a * z_positive).mean(axis=0)):
            verdict.fail("`grad_b` is a mean over the examples: the bias gets their sum")
        else:
            verdict.fail(f"`{name}` has the right shape but not the right values")
