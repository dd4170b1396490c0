"""Self-checks for the labs' exercises: one module per lab, sharing this small core.

A check takes the student's answer, prints one clear verdict (right, or what is wrong) and
never the solution. Write one with :func:`exercise`::

    @exercise("Exercise 1: a small CNN")
    def exercise_1(verdict: Verdict, model) -> None:
        verdict.expect_shape(model_output_shape(model), (None, 10), "output shape",
                             axis_names=(None, "classes"))
        verdict.expect(final_activation(model) == "softmax", "the last layer should ...")

The decorator handles an answer left as ``None`` (a friendly "not answered yet"; a check can
also raise :class:`NotAnswered`, e.g. when a function to write still returns None), turns an
error raised while checking into a message instead of a traceback (a check raises
:class:`WrongAnswer` to say itself what is malformed), prints the verdict and returns it;
``bool(verdict)`` says whether the answer passed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "NotAnswered",
    "Verdict",
    "WrongAnswer",
    "exercise",
    "final_activation",
    "model_output_shape",
    "shape_problem",
]

PASS, FAIL, TODO = "✅", "❌", "✏️"


class NotAnswered(Exception):
    """Raised by a check that finds the answer still blank (a function that returns None)."""


class WrongAnswer(Exception):
    """Raised by a check that finds an answer malformed (a wrong type or shape, nan); its
    message, phrased for the student, is the verdict."""


class Verdict:
    """Collects what is wrong with one answer, then prints one verdict."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.problems: list[str] = []
        self.unanswered: list[str] = []

    @property
    def passed(self) -> bool:
        """True when the answer was given and nothing is wrong with it."""
        return not self.problems and not self.unanswered

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"Verdict({self.title!r}, passed={self.passed})"

    def _ipython_display_(self) -> None:
        # The verdict was printed when the check ran; showing the returned object again as the
        # cell's Out[] would only add noise under the student's answer.
        pass

    def fail(self, message: str) -> None:
        """Record one thing wrong with the answer, phrased for the student."""
        self.problems.append(message)

    def expect(self, condition: bool, message: str) -> bool:
        """Record ``message`` when ``condition`` is false; return the condition."""
        if not condition:
            self.fail(message)
        return bool(condition)

    def expect_shape(
        self,
        actual: Sequence[int | None] | None,
        expected: Sequence[int | None],
        what: str = "shape",
        axis_names: Sequence[str | None] | None = None,
    ) -> bool:
        """Record a mismatch between two shapes (``None`` in ``expected`` matches any size)."""
        problem = shape_problem(actual, expected, what, axis_names)
        if problem:
            self.fail(problem)
        return problem is None

    def expect_close(
        self,
        actual: Any,
        expected: Any,
        what: str = "value",
        *,
        rtol: float = 1e-4,
        atol: float = 1e-6,
    ) -> bool:
        """Record that a number or array is not close to the expected one (or has another shape)."""
        actual_array = np.asarray(actual, dtype=float)
        expected_array = np.asarray(expected, dtype=float)
        if actual_array.shape != expected_array.shape:
            self.fail(
                f"{what} should have shape {expected_array.shape}, yours has {actual_array.shape}"
            )
            return False
        close = np.isclose(actual_array, expected_array, rtol=rtol, atol=atol)
        if close.all():
            return True
        if actual_array.ndim == 0:
            self.fail(f"{what} is {float(actual_array):.6g}, which is not the expected value")
        else:
            self.fail(f"{what}: {int((~close).sum())} of {close.size} values are not as expected")
        return False

    def not_answered(self, reason: str) -> None:
        """Record that the answer is still blank, e.g. "`model` is still None"."""
        self.unanswered.append(reason)

    def message(self) -> str:
        """The verdict as the student sees it."""
        if self.unanswered:
            return (
                f"{TODO} {self.title}: not answered yet ({'; '.join(self.unanswered)}). "
                "Write your answer in the exercise cell, run it, then run this check again."
            )
        if not self.problems:
            return f"{PASS} {self.title}: correct, well done."
        lines = [f"{FAIL} {self.title}: not quite. What to look at:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    def report(self) -> Verdict:
        """Print the verdict and return self."""
        print(self.message())
        return self


def exercise(title: str) -> Callable[[Callable[..., None]], Callable[..., Verdict]]:
    """Turn ``check(verdict, *answers)`` into a self-check ``check(*answers) -> Verdict``.

    The self-check reports answers still ``None`` as not answered, reports an error raised
    while checking as a problem (a malformed answer must not end in a traceback), prints the
    verdict and returns it.
    """

    def decorate(check: Callable[..., None]) -> Callable[..., Verdict]:
        signature = inspect.signature(check)
        answer_names = list(signature.parameters)[1:]

        @functools.wraps(check)
        def self_check(*args: Any, **kwargs: Any) -> Verdict:
            verdict = Verdict(title)
            bound = signature.bind(verdict, *args, **kwargs)
            bound.apply_defaults()
            missing = [name for name in answer_names if bound.arguments.get(name) is None]
            if missing:
                names = ", ".join(f"`{name}`" for name in missing)
                verdict.not_answered(f"{names} {'is' if len(missing) == 1 else 'are'} still None")
                return verdict.report()
            try:
                check(*bound.args, **bound.kwargs)
            except NotAnswered as blank:
                verdict.not_answered(str(blank))
            except WrongAnswer as problem:
                verdict.fail(str(problem))
            except Exception as error:  # noqa: BLE001 - any malformed answer lands here
                verdict.fail(
                    f"checking your answer raised {type(error).__name__}: {error}. "
                    "Is it the kind of object the exercise asks for?"
                )
            return verdict.report()

        # The wrapped function takes the answers only; hide the verdict from help().
        self_check.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[1:]
        )
        return self_check

    return decorate


def shape_problem(
    actual: Sequence[int | None] | None,
    expected: Sequence[int | None],
    what: str = "shape",
    axis_names: Sequence[str | None] | None = None,
) -> str | None:
    """Describe how ``actual`` differs from ``expected``, or return None when it matches.

    ``None`` in ``expected`` accepts any size (the batch axis). With ``axis_names`` a single
    wrong axis is named: "the output shape should have 16 channels, yours has 32".
    """
    if actual is None:
        return f"the {what} is unknown: give the model an input shape, e.g. keras.Input(...)"
    actual, expected = tuple(actual), tuple(expected)
    if len(actual) != len(expected):
        return (
            f"the {what} should have {len(expected)} axes, like {expected}, "
            f"yours has {len(actual)}: {actual}"
        )
    wrong = [
        i for i, (a, e) in enumerate(zip(actual, expected, strict=True)) if e is not None and a != e
    ]
    if not wrong:
        return None
    if len(wrong) == 1 and axis_names is not None and axis_names[wrong[0]]:
        i = wrong[0]
        return f"the {what} should have {expected[i]} {axis_names[i]}, yours has {actual[i]}"
    return f"the {what} should be {expected}, yours is {actual}"


def model_output_shape(model: Any) -> tuple[int | None, ...] | None:
    """A Keras model's output shape, or None when it is not known (model not built)."""
    if not hasattr(model, "layers"):
        raise TypeError(f"expected a Keras model, got {type(model).__name__}")
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):  # a model with several outputs: not what our exercises ask
        raise ValueError(f"the model has {len(shape)} outputs, the exercise asks for one")
    return tuple(shape)


def final_activation(model: Any) -> str | None:
    """Name of the activation applied last in a Keras model ("softmax", "relu", ...)."""
    if not hasattr(model, "layers"):
        raise TypeError(f"expected a Keras model, got {type(model).__name__}")
    for layer in reversed(model.layers):
        if type(layer).__name__ == "Softmax":
            return "softmax"
        activation = getattr(layer, "activation", None)
        if activation is not None:
            return getattr(activation, "__name__", str(activation))
        if hasattr(layer, "kernel"):  # a weighted layer without activation ends the search
            return "linear"
    return None
