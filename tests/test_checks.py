"""Self-checks: right answers pass, typical wrong ones fail helpfully, blanks are welcomed."""

from __future__ import annotations

import importlib
import inspect
import math
import re
from pathlib import Path

from labhelpers.checks import Verdict, exercise, lab1, lab2, shape_problem

import keras
import nbformat
import numpy as np
import pytest
from giveaways import assert_none_given_away

ROOT = Path(__file__).parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
MODULES = sorted((ROOT / "labhelpers" / "checks").glob("lab[0-9]*.py"))


def verdict_of(capsys, result: Verdict) -> str:
    printed = capsys.readouterr().out
    assert printed.strip() == result.message()
    return printed


def passes(capsys, result: Verdict) -> None:
    printed = verdict_of(capsys, result)
    assert result and printed.startswith("✅"), printed


def fails(capsys, result: Verdict, *fragments: str) -> str:
    printed = verdict_of(capsys, result)
    assert not result and printed.startswith("❌"), printed
    for fragment in fragments:
        assert fragment in printed, f"{fragment!r} not in {printed!r}"
    return printed


def blank(capsys, result: Verdict) -> None:
    printed = verdict_of(capsys, result)
    assert not result and printed.startswith("✏️") and "not answered yet" in printed, printed


# The shared core ------------------------------------------------------------------------


def test_shape_problem_names_the_wrong_axis():
    assert shape_problem((None, 26, 26, 16), (None, 26, 26, 16)) is None
    assert shape_problem((32, 10), (None, 10)) is None  # None accepts any batch size
    names = (None, None, None, "channels")
    message = shape_problem((None, 26, 26, 32), (None, 26, 26, 16), "output shape", names)
    assert message == "the output shape should have 16 channels, yours has 32"
    assert "should have 2 axes" in shape_problem((None, 4, 4), (None, 10))
    assert "keras.Input" in shape_problem(None, (None, 10))


def test_exercise_decorator_turns_errors_into_messages(capsys):
    @exercise("Exercise 9")
    def check(verdict, answer):
        verdict.expect(answer.upper() == "YES", "say yes")

    passes(capsys, check("yes"))
    fails(capsys, check("no"), "say yes")
    fails(capsys, check(42), "raised AttributeError", "kind of object")
    blank(capsys, check(None))
    assert list(inspect.signature(check).parameters) == ["answer"]


def test_the_graded_form_raises_the_same_verdict_and_prints_nothing(capsys):
    @exercise("Exercise 9")
    def check(verdict, answer):
        verdict.expect(answer.upper() == "YES", "say yes")

    assert check.require("yes") is None
    for answer, words in [("no", "say yes"), (42, "raised AttributeError"), (None, "not answered")]:
        with pytest.raises(AssertionError, match=words) as error:
            check.require(answer)
        assert str(error.value) == check(answer).message()  # the message the student saw
    capsys.readouterr()
    with pytest.raises(AssertionError):
        check.require("no")
    assert capsys.readouterr().out == ""
    assert list(inspect.signature(check.require).parameters) == ["answer"]


# Lab 1 ----------------------------------------------------------------------------------


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_lab1_exercise_1_sigmoid(capsys):
    passes(capsys, lab1.exercise_1(sigmoid))
    passes(capsys, lab1.exercise_1(lambda z: np.exp(z) / (1 + np.exp(z))))  # another right form
    passes(capsys, lab1.exercise_1(lambda z: keras.ops.convert_to_numpy(keras.ops.sigmoid(z))))
    fails(capsys, lab1.exercise_1(lambda z: 1 / (1 + np.exp(z))), "sign in the exponent")
    fails(capsys, lab1.exercise_1(lambda z: 1 / (1 + math.exp(-z))), "np.exp")
    fails(capsys, lab1.exercise_1(lambda z: sigmoid(z).mean()), "returns shape ()")
    blank(capsys, lab1.exercise_1(lambda z: None))  # the student version's body: pass
    blank(capsys, lab1.exercise_1(None))


def test_lab1_exercise_2_binary_cross_entropy(capsys):
    p, y = np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0])
    right = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    keras_value = float(keras.losses.BinaryCrossentropy()(y.astype("float32"), p))
    passes(capsys, lab1.exercise_2(right, p, y))
    passes(capsys, lab1.exercise_2(keras_value, p, y))
    fails(capsys, lab1.exercise_2(-np.mean(y * np.log(p)), p, y), "class 0 costs something too")
    fails(capsys, lab1.exercise_2(3 * right, p, y), "the sum")
    fails(capsys, lab1.exercise_2(-right, p, y), "sign")
    fails(capsys, lab1.exercise_2([right, right], p, y), "one number")
    blank(capsys, lab1.exercise_2(None, p, y))


def dense_model(hidden, activation="relu", last="softmax", rescale=True):
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            *([keras.layers.Rescaling(1 / 255)] if rescale else []),
            keras.layers.Flatten(),
            *[keras.layers.Dense(units, activation=activation) for units in hidden],
            keras.layers.Dense(10, activation=last),
        ]
    )


def test_lab1_exercise_3_deeper_network(capsys):
    passes(capsys, lab1.exercise_3(dense_model((256, 128))))
    passes(capsys, lab1.exercise_3(dense_model((256, 128), rescale=False)))
    fails(capsys, lab1.exercise_3(dense_model((256,))), "[256] units")
    fails(capsys, lab1.exercise_3(dense_model((128, 256))), "[128, 256] units")
    fails(capsys, lab1.exercise_3(dense_model((256, 128), activation="sigmoid")), "ReLU")
    fails(capsys, lab1.exercise_3(dense_model((256, 128), last=None)), "softmax")
    fails(capsys, lab1.exercise_3("build_dense((256, 128))"), "expected a Keras model")
    blank(capsys, lab1.exercise_3(None))


def test_lab1_exercise_4_precision_and_recall(capsys):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500))
    tp = np.sum((y_true == 4) & (y_pred == 4))
    precision, recall = tp / np.sum(y_pred == 4), tp / np.sum(y_true == 4)
    passes(capsys, lab1.exercise_4(precision, recall, y_true, y_pred))
    fails(capsys, lab1.exercise_4(recall, precision, y_true, y_pred), "swapped")
    fails(capsys, lab1.exercise_4(precision, tp, y_true, y_pred), "`coat_recall`", "TP + FN")
    blank(capsys, lab1.exercise_4(None, None, y_true, y_pred))
    blank(capsys, lab1.exercise_4(precision, None, y_true, y_pred))


# Lab 2 ----------------------------------------------------------------------------------

RIGHT_PREDICTIONS = [
    ((28, 28, 16), 416),
    ((15, 15, 16), 160),
    ((16, 16, 16), 160),
    ((30, 30, 64), 640),
]


def test_lab2_exercise_1_shapes_and_parameters(capsys):
    passes(capsys, lab2.exercise_1(RIGHT_PREDICTIONS))
    with_batch = [((None, *shape), params) for shape, params in RIGHT_PREDICTIONS]
    passes(capsys, lab2.exercise_1([[list(shape), params] for shape, params in with_batch]))
    no_bias = [(shape, params - shape[-1]) for shape, params in RIGHT_PREDICTIONS]
    fails(capsys, lab2.exercise_1(no_bias), "layer 1, Conv2D(16, 5): the parameter count forgets")
    wrong = list(RIGHT_PREDICTIONS)
    wrong[2] = ((15, 15, 16), 160)  # "same" padding forgotten
    printed = fails(
        capsys, lab2.exercise_1(wrong), 'layer 3, Conv2D(16, 3, strides=2, padding="same")'
    )
    assert "layer 1" not in printed and "(16, 16" not in printed  # never shows the answer
    fails(capsys, lab2.exercise_1(RIGHT_PREDICTIONS[:3]), "give 4")
    fails(capsys, lab2.exercise_1([416, 160, 160, 640]), "give a pair")
    blank(capsys, lab2.exercise_1(None))


def fashion_cnn(kernel1=3, kernel2=5, padding="same"):
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, kernel1, padding=padding, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, kernel2, padding=padding, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_lab2_exercise_2_bigger_kernel(capsys):
    passes(capsys, lab2.exercise_2(fashion_cnn()))
    passes(capsys, lab2.exercise_2(fashion_cnn(kernel2=(5, 5))))
    fails(capsys, lab2.exercise_2(fashion_cnn(kernel1=5, kernel2=3)), "conv2 should have a 5 x 5")
    fails(capsys, lab2.exercise_2(fashion_cnn(padding="valid")), "shape before Flatten")
    blank(capsys, lab2.exercise_2(None))


# Every lab, including those added later -------------------------------------------------


def check_modules():
    return [importlib.import_module(f"labhelpers.checks.{path.stem}") for path in MODULES]


def exercises(module):
    return [
        (name, function)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("exercise_") and function.__module__ == module.__name__
    ]


@pytest.mark.parametrize("module", check_modules(), ids=lambda m: m.__name__)
def test_every_check_welcomes_a_blank_answer(module, capsys):
    assert exercises(module), f"{module.__name__} has no exercise_N checks"
    for _, function in exercises(module):
        answers = [None] * len(inspect.signature(function).parameters)
        blank(capsys, function(*answers))


@pytest.mark.parametrize("module", check_modules(), ids=lambda m: m.__name__)
def test_every_check_is_tested(module):
    """Each check has a test here (test_labN_exercise_K_...) or in tests/test_checks_labN.py."""
    lab = module.__name__.rsplit(".", 1)[1]
    own_file = ROOT / "tests" / f"test_checks_{lab}.py"
    own_text = own_file.read_text(encoding="utf-8") if own_file.exists() else ""
    for name, _ in exercises(module):
        here = any(test.startswith(f"test_{lab}_{name}_") for test in globals())
        assert here or re.search(rf"\b{name}\b", own_text), f"{module.__name__}.{name} untested"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_check_a_lab_calls_exists(source):
    text = "\n".join(c.source for c in nbformat.read(source, as_version=4).cells)
    imported = re.search(r"from labhelpers\.checks import (lab\d+) as check", text)
    calls = set(re.findall(r"check\.(\w+)\(", text))
    if not imported:
        assert not calls, f"{source.name} calls checks but never imports them"
        return
    module = importlib.import_module(f"labhelpers.checks.{imported[1]}")
    missing = sorted(name for name in calls if not hasattr(module, name))
    assert not missing, f"{source.name} calls checks that {module.__name__} lacks: {missing}"


def test_the_checks_are_installed_with_the_package():
    # Colab installs labhelpers from git (not in editable mode): an explicit package list
    # that omits labhelpers.checks would leave students with an ImportError in every setup cell.
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r"^packages\s*=\s*\[([^\]]*)\]", text, re.MULTILINE)
    if packages:  # an explicit list (no list: setuptools finds subpackages itself)
        assert '"labhelpers.checks"' in packages[1], "list labhelpers.checks in packages"


def test_no_message_hands_over_an_answer():
    """Every verdict the tests above drew from the checks names no line or call of a solution."""
    assert_none_given_away(__name__)
