"""Self-checks for the labs' exercises: one module per lab, sharing this small core.

A check takes the student's answer, prints one clear verdict (right, or what is wrong) and
never the solution. Write one with :func:`exercise`::

    @exercise("Exercise 1: a small CNN")
    def exercise_1(verdict: Verdict, model) -> None:
        verdict.expect_shape(model_output_shape(model), (None, 10), "output shape")
        verdict.expect(final_activation(model) == "softmax", "the last layer should ...")

Read a model with :func:`model_layers`, :func:`layer_activation` and :func:`final_activation`
rather than ``model.layers`` and ``layer.activation``: they see through how an answer is
spelled (nested or functional models, ``activation="relu"`` or a separate ``ReLU()`` layer, an
activation's name or a callable), so that every correct spelling gets the same grade.
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
    "layer_activation",
    "model_input_shape",
    "model_layers",
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
        return self.expect(problem is None, str(problem))

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

    The self-check reports answers still ``None`` (or a :class:`NotAnswered`) as not answered
    yet, and an error raised while checking as a problem, since a malformed answer must not end
    in a traceback (:class:`WrongAnswer` says itself what is malformed); it prints the verdict
    and returns it (``bool(verdict)``: passed). nbgrader scores a test cell by whether it
    raises, so ``check.require(*answers)`` is the graded form, for the labs' hidden tests: silent
    when the answer passes, else an ``AssertionError`` with the same verdict.
    """

    def decorate(check: Callable[..., None]) -> Callable[..., Verdict]:
        signature = inspect.signature(check)
        answer_names = list(signature.parameters)[1:]

        def judge(*args: Any, **kwargs: Any) -> Verdict:
            verdict = Verdict(title)
            bound = signature.bind(verdict, *args, **kwargs)
            bound.apply_defaults()
            missing = [name for name in answer_names if bound.arguments.get(name) is None]
            if missing:
                names = ", ".join(f"`{name}`" for name in missing)
                verdict.not_answered(f"{names} {'is' if len(missing) == 1 else 'are'} still None")
                return verdict
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
            return verdict

        @functools.wraps(check)
        def self_check(*args: Any, **kwargs: Any) -> Verdict:
            return judge(*args, **kwargs).report()

        def require(*args: Any, **kwargs: Any) -> None:
            verdict = judge(*args, **kwargs)
            if not verdict.passed:
                raise AssertionError(verdict.message())

        # The wrapped function takes the answers only; hide the verdict from help().
        answers_only = signature.replace(parameters=list(signature.parameters.values())[1:])
        self_check.__signature__ = answers_only  # type: ignore[attr-defined]
        require.__signature__ = answers_only  # type: ignore[attr-defined]
        require.__doc__ = f"Raise AssertionError unless the answers pass: {title}."
        self_check.require = require  # type: ignore[attr-defined]
        self_check.title = title  # type: ignore[attr-defined]
        return self_check

    return decorate


def shape_problem(
    actual: Sequence[int | None] | None,
    expected: Sequence[int | None],
    what: str = "shape",
    axis_names: Sequence[str | None] | None = None,
) -> str | None:
    """Describe how ``actual`` differs from ``expected`` (where None accepts any size), or return
    None; with ``axis_names`` a single wrong axis is named: "... should have 16 channels"."""
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


def model_layers(model: Any, *kinds: str) -> list[Any]:
    """A Keras model's layers in the order they run, nested models opened at any depth; with
    ``kinds`` (class names such as "Dense", "Conv2D") only the layers of those kinds."""
    if not hasattr(model, "layers"):
        raise TypeError(f"expected a Keras model, got {type(model).__name__}")
    flat: list[Any] = []
    for layer in model.layers:  # a functional model lists them in topological order
        if hasattr(layer, "layers"):  # a nested Sequential or functional model
            flat += model_layers(layer)
        elif type(layer).__name__ != "InputLayer":  # functional models list their inputs
            flat.append(layer)
    return [layer for layer in flat if not kinds or type(layer).__name__ in kinds]


def _model_shape(model: Any, end: str) -> tuple[int | None, ...] | None:
    """A Keras model's ``end`` ("input" or "output") shape, or None when it is not known."""
    if not hasattr(model, "layers"):
        raise TypeError(f"expected a Keras model, got {type(model).__name__}")
    try:
        shape = getattr(model, f"{end}_shape")
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):  # several inputs or outputs: not what our exercises ask
        raise ValueError(f"the model has {len(shape)} {end}s, the exercise asks for one")
    return tuple(shape)


def model_input_shape(model: Any) -> tuple[int | None, ...] | None:
    """A Keras model's input shape, or None when it is not known (model not built)."""
    return _model_shape(model, "input")


def model_output_shape(model: Any) -> tuple[int | None, ...] | None:
    """A Keras model's output shape, or None when it is not known (model not built)."""
    return _model_shape(model, "output")


# The common activations are told apart by their values on a few logits, so that every
# spelling of one ("softmax", keras.activations.softmax, tf.nn.softmax, a lambda) gets one name.
_PROBE = np.array([[-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 7.0]], dtype="float32")
_PROBED_ACTIVATIONS = {
    "linear": _PROBE,
    "relu": np.maximum(_PROBE, 0),
    "sigmoid": 1 / (1 + np.exp(-_PROBE)),
    "softmax": np.exp(_PROBE) / np.exp(_PROBE).sum(axis=-1, keepdims=True),
    "tanh": np.tanh(_PROBE),
}

# Keras layers that are an activation function, by class name.
_ACTIVATION_LAYERS = {
    "ELU": "elu",
    "LeakyReLU": "leaky_relu",
    "PReLU": "prelu",
    "ReLU": "relu",
    "Softmax": "softmax",
}


def _activation_name(activation: Callable[..., Any]) -> str:
    """The name of an activation function: "relu", "softmax", ... however it was given."""
    import keras

    try:
        values = keras.ops.convert_to_numpy(activation(keras.ops.convert_to_tensor(_PROBE)))
        values = np.asarray(values, dtype=float)
    except Exception:  # noqa: BLE001 - a student's function may fail on any input
        values = None
    for name, expected in _PROBED_ACTIVATIONS.items():
        if values is not None and values.shape == expected.shape and np.allclose(values, expected):
            return name
    return getattr(activation, "__name__", type(activation).__name__)


def _own_activation(layer: Any) -> str | None:
    """The activation ``layer`` applies, "linear" for a weighted layer without one, None for a
    layer that applies none (Dropout, Flatten, pooling, BatchNormalization)."""
    kind = type(layer).__name__
    if kind == "ReLU" and layer.negative_slope:  # ReLU(negative_slope=...) is a leaky ReLU
        return "leaky_relu"
    if kind in _ACTIVATION_LAYERS:
        return _ACTIVATION_LAYERS[kind]
    if kind == "Lambda":
        return _activation_name(layer.function)
    if hasattr(layer, "activation"):  # Dense, Conv2D, ... and Activation layers
        return _activation_name(layer.activation)
    return "linear" if hasattr(layer, "kernel") else None


def _is_weighted(layer: Any) -> bool:
    """Whether ``layer`` computes new values from weights, like Dense and Conv2D."""
    # A kernel exists once the layer is built; the activation argument even before.
    own_argument = hasattr(layer, "activation") and type(layer).__name__ != "Activation"
    return hasattr(layer, "kernel") or own_argument


def _applied_activation(layers: Sequence[Any]) -> str | None:
    """The activation applied to the output of ``layers[0]`` before the next weighted layer, or
    None: the last one applied counts, "linear" (which changes nothing) only if it is alone."""
    applied = None
    for i, layer in enumerate(layers):
        if i and _is_weighted(layer):
            break
        name = _own_activation(layer)
        if name is not None and (applied is None or name != "linear"):
            applied = name
    return applied


def layer_activation(model: Any, layer: Any) -> str:
    """The activation applied to ``layer``'s output, its own or a separate layer's after it:
    ``Conv2D(8, 3, activation="relu")``, or ``Conv2D(8, 3)`` then ``ReLU()``, give "relu"."""
    flat = model_layers(model)
    start = next((i for i, other in enumerate(flat) if other is layer), None)
    if start is None:
        raise ValueError(f"{layer.name} is not a layer of {model.name}")
    return _applied_activation(flat[start:]) or "linear"


def final_activation(model: Any) -> str | None:
    """Name of the activation applied last in a Keras model ("softmax", "relu", ...)."""
    flat = model_layers(model)
    weighted = [i for i, layer in enumerate(flat) if _is_weighted(layer)]
    return _applied_activation(flat[weighted[-1] if weighted else 0 :])
