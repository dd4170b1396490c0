"""Lab 0's self-checks: every correct way of writing an answer passes, typical wrong answers
get a message that says what to look at, and malformed answers (blank, nan, wrong type or
shape) get a message, never a traceback."""

from __future__ import annotations

import math

from labhelpers.checks import lab0

import numpy as np
import pytest
from giveaways import assert_none_given_away


def verdict(capsys, result) -> str:
    printed = capsys.readouterr().out
    assert printed.strip() == result.message()
    return printed


def passes(capsys, result) -> None:
    printed = verdict(capsys, result)
    assert result and printed.startswith("✅"), printed


def fails(capsys, result, *fragments: str) -> None:
    printed = verdict(capsys, result)
    assert not result and printed.startswith("❌"), printed
    assert "Traceback" not in printed and "raised" not in printed, printed
    for fragment in fragments:
        assert fragment in printed, f"{fragment!r} not in {printed!r}"


def blank(capsys, result) -> None:
    printed = verdict(capsys, result)
    assert not result and "not answered yet" in printed, printed


# Exercise 1 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mse",
    [
        lambda y, p: np.mean((np.asarray(p) - np.asarray(y)) ** 2),
        lambda y, p: np.mean(np.square(np.subtract(y, p))),
        lambda y, p: float(((np.asarray(y) - np.asarray(p)) ** 2).sum() / np.size(y)),
        lambda y, p: (
            sum((a - b) ** 2 for a, b in zip(np.ravel(y), np.ravel(p), strict=True)) / np.size(y)
        ),
    ],
    ids=["numpy", "np.square", "sum over size", "plain python"],
)
def test_exercise_1_accepts_every_way_of_writing_the_mse(mse, capsys):
    passes(capsys, lab0.exercise_1(mse))


@pytest.mark.parametrize(
    ("mse", "fragment"),
    [
        (lambda y, p: np.mean(np.asarray(p) - np.asarray(y)), "+ and - cancel"),
        (lambda y, p: np.sum((np.asarray(p) - np.asarray(y)) ** 2), "take the mean"),
        (lambda y, p: np.sqrt(np.mean((np.asarray(p) - np.asarray(y)) ** 2)), "RMSE"),
        (lambda y, p: np.mean(np.abs(np.asarray(p) - np.asarray(y))), "mean absolute error"),
        (lambda y, p: np.mean(np.asarray(p) - np.asarray(y)) ** 2, "squared the mean"),
    ],
    ids=["signed", "sum", "rmse", "mae", "square of mean"],
)
def test_exercise_1_explains_typical_mistakes(mse, fragment, capsys):
    fails(capsys, lab0.exercise_1(mse), fragment)


def test_exercise_1_blank_nan_and_wrong_type(capsys):
    def unanswered(y_true, y_pred):
        pass

    blank(capsys, lab0.exercise_1(unanswered))
    blank(capsys, lab0.exercise_1(None))
    fails(capsys, lab0.exercise_1(lambda y, p: float("nan")), "nan")
    fails(capsys, lab0.exercise_1(lambda y, p: "0.5"), "not str")


# Exercise 2 -------------------------------------------------------------------------------


def gradient(w, b, x, y):
    error = w * x + b - y
    return 2 * np.mean(error * x), 2 * np.mean(error)


@pytest.mark.parametrize(
    "answer",
    [
        gradient,
        lambda w, b, x, y: [2 / len(x) * np.sum((w * x + b - y) * x), 2 * np.mean(w * x + b - y)],
        lambda w, b, x, y: np.array(gradient(w, b, x, y)),
        lambda w, b, x, y: (-2 * np.mean((y - w * x - b) * x), -2 * np.mean(y - w * x - b)),
    ],
    ids=["tuple", "list of sums", "array", "label minus prediction"],
)
def test_exercise_2_accepts_correct_gradients(answer, capsys):
    passes(capsys, lab0.exercise_2(answer))


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda w, b, x, y: gradient(w, b, x, y)[::-1], "swapped"),
        (lambda w, b, x, y: tuple(-g for g in gradient(w, b, x, y)), "signs are flipped"),
        (lambda w, b, x, y: tuple(g / 2 for g in gradient(w, b, x, y)), "half"),
        (lambda w, b, x, y: tuple(g * len(x) for g in gradient(w, b, x, y)), "sums"),
        (lambda w, b, x, y: (2 * np.mean(w * x + b - y), 2 * np.mean(w * x + b - y)), "its x"),
        (lambda w, b, x, y: gradient(w, b, x, y)[0], "pair"),
    ],
    ids=["swapped", "sign", "no 2", "sum", "no x", "one number"],
)
def test_exercise_2_explains_typical_mistakes(answer, fragment, capsys):
    fails(capsys, lab0.exercise_2(answer), fragment)


def test_exercise_2_blank(capsys):
    blank(capsys, lab0.exercise_2(lambda w, b, x, y: None))


# Exercise 3 -------------------------------------------------------------------------------


def step(w, b, x, y, learning_rate):
    dw, db = gradient(w, b, x, y)
    return w - learning_rate * dw, b - learning_rate * db


def test_exercise_3_accepts_a_step_down_the_slope(capsys):
    passes(capsys, lab0.exercise_3(step))
    passes(capsys, lab0.exercise_3(lambda *args: list(step(*args))))


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (
            lambda w, b, x, y, r: (
                w + r * gradient(w, b, x, y)[0],
                b + r * gradient(w, b, x, y)[1],
            ),
            "uphill",
        ),
        (
            lambda w, b, x, y, r: (w - gradient(w, b, x, y)[0], b - gradient(w, b, x, y)[1]),
            "learning rate",
        ),
        (lambda w, b, x, y, r: tuple(r * g for g in gradient(w, b, x, y)), "not the step"),
        (lambda w, b, x, y, r: (step(w, b, x, y, r)[0], b), "b did not move"),
    ],
    ids=["ascent", "no rate", "the step", "only w"],
)
def test_exercise_3_explains_typical_mistakes(answer, fragment, capsys):
    fails(capsys, lab0.exercise_3(answer), fragment)


def test_exercise_3_blank(capsys):
    blank(capsys, lab0.exercise_3(lambda *args: None))


# Exercise 4 -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [12, 12.0, np.int64(12), math.ceil(353 / 32), -(-353 // 32)])
def test_exercise_4_accepts_the_number_in_any_numeric_type(answer, capsys):
    passes(capsys, lab0.exercise_4(answer, 353, batch_size=32))


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (11, "round up"),
        (353 / 32, "whole number"),
        (353 * 32, "do not multiply"),
        (353, "one iteration per example"),
        (7, "not the number of batches"),
        ([12, 12], "one number"),
        ("12", "not str"),
        (float("nan"), "nan"),
    ],
)
def test_exercise_4_explains_typical_mistakes(answer, fragment, capsys):
    fails(capsys, lab0.exercise_4(answer, 353, batch_size=32), fragment)


def test_exercise_4_blank(capsys):
    blank(capsys, lab0.exercise_4(None, 353, batch_size=32))


# Exercise 5 -------------------------------------------------------------------------------


def relu_backward(x, w, b, grad_a):
    grad_z = grad_a * (x @ w + b > 0)
    return x.T @ grad_z, grad_z.sum(axis=0), grad_z @ w.T


@pytest.mark.parametrize(
    "answer",
    [
        relu_backward,
        lambda x, w, b, g: (
            np.einsum("ni,nk->ik", x, g * np.heaviside(x @ w + b, 0)),
            np.sum(g * np.heaviside(x @ w + b, 0), axis=0),
            (g * np.heaviside(x @ w + b, 0)) @ w.T,
        ),
        lambda x, w, b, g: [np.asarray(a).tolist() for a in relu_backward(x, w, b, g)],
    ],
    ids=["matmul", "einsum and heaviside", "lists"],
)
def test_exercise_5_accepts_correct_backward_passes(answer, capsys):
    passes(capsys, lab0.exercise_5(answer))


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda x, w, b, g: (x.T @ g, g.sum(axis=0), g @ w.T), "ReLU's slope"),
        (
            lambda x, w, b, g: ((g * (x @ w + b > 0)).T @ x, *relu_backward(x, w, b, g)[1:]),
            "shape",
        ),
        (
            lambda x, w, b, g: (
                relu_backward(x, w, b, g)[0],
                g * (x @ w + b > 0),
                relu_backward(x, w, b, g)[2],
            ),
            "sum (axis 0)",
        ),
        (lambda x, w, b, g: relu_backward(x, w, b, g)[:2], "three gradients"),
    ],
    ids=["no relu", "transposed", "bias not summed", "two gradients"],
)
def test_exercise_5_explains_typical_mistakes(answer, fragment, capsys):
    fails(capsys, lab0.exercise_5(answer), fragment)


def test_exercise_5_blank(capsys):
    blank(capsys, lab0.exercise_5(lambda x, w, b, g: None))


def test_exercise_3_is_judged_with_the_true_gradient_not_exercise_2s(capsys):
    """A wrong exercise 2 (a gradient half as large) costs exercise 2 only."""
    namespace = {"gradient": gradient}
    exec(  # the notebook's cells: exercise 2's function, and exercise 3's that calls it
        "def mse_gradient(w, b, x, y):\n"
        "    dw, db = gradient(w, b, x, y)\n"
        "    return dw / 2, db / 2\n"
        "def gd_step(w, b, x, y, learning_rate):\n"
        "    dw, db = mse_gradient(w, b, x, y)\n"
        "    return w - learning_rate * dw, b - learning_rate * db\n",
        namespace,
    )
    wrong = namespace["mse_gradient"]
    passes(capsys, lab0.exercise_3(namespace["gd_step"]))
    assert namespace["mse_gradient"] is wrong  # the student's own function is back


def test_no_message_hands_over_an_answer():
    """Every verdict the tests above drew from the checks names no line or call of a solution."""
    assert_none_given_away(__name__)
