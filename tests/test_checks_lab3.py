"""Lab 3's self-checks pass on the solutions' answers and fail helpfully on typical mistakes."""

from __future__ import annotations

from labhelpers.checks import lab3

import keras
import numpy as np
import pytest
from giveaways import assert_none_given_away
from keras import layers


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def conv_net(batch_norm: bool, head=("sigmoid", 1)) -> keras.Sequential:
    stack = [keras.Input(shape=(64, 64, 3)), layers.Rescaling(1 / 255)]
    for n in (8, 16):
        stack.append(layers.Conv2D(n, 3, activation=None if batch_norm else "relu"))
        if batch_norm:  # after the ReLU this time: the check accepts either order
            stack += [layers.Activation("relu"), layers.BatchNormalization()]
        stack.append(layers.MaxPooling2D(2))
    activation, units = head
    return keras.Sequential([*stack, layers.Flatten(), layers.Dense(units, activation=activation)])


def test_exercise_1_accepts_batch_norm_after_every_convolution(capsys):
    assert lab3.exercise_1(conv_net(batch_norm=True))
    assert "correct" in capsys.readouterr().out


def test_exercise_1_names_the_convolutions_without_batch_norm(capsys):
    assert not lab3.exercise_1(conv_net(batch_norm=False))
    out = capsys.readouterr().out
    assert "add a BatchNormalization layer after every convolution" in out
    assert "conv2d" in out


def test_exercise_1_wrong_head_and_blank(capsys):
    assert not lab3.exercise_1(conv_net(batch_norm=True, head=("softmax", 2)))
    out = capsys.readouterr().out
    assert "output shape" in out and "sigmoid" in out
    assert not lab3.exercise_1(None)
    assert "not answered yet" in capsys.readouterr().out


def photo() -> np.ndarray:
    """A batch of one 64 x 64 photo-like image: smooth gradients with a bright square."""
    y, x = np.mgrid[0:64, 0:64]
    image = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype("float32")
    image[20:40, 24:44] = 255
    return image[None]


def section_5_augment() -> keras.Sequential:
    """A mild pipeline, like the lab's section 5 ``augment``: the bar to clear."""
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.05),
            layers.RandomZoom(0.15),
            layers.RandomTranslation(0.1, 0.1),
            layers.RandomContrast(0.1),
        ]
    )


def test_exercise_2_accepts_a_stronger_augmentation(capsys):
    strong = keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.25),
            layers.RandomZoom(0.4),
            layers.RandomTranslation(0.25, 0.25),
            layers.RandomBrightness(0.4, value_range=(0, 255)),
        ]
    )
    assert lab3.exercise_2(strong, photo(), section_5_augment())
    assert "correct" in capsys.readouterr().out


def test_exercise_2_rejects_a_weak_augmentation_and_a_crop(capsys):
    augment = section_5_augment()
    assert not lab3.exercise_2(augment, photo(), augment)  # no stronger than itself
    assert "make yours clearly stronger" in capsys.readouterr().out

    assert not lab3.exercise_2(layers.RandomCrop(32, 32), photo(), augment)
    assert "keep the photo's shape" in capsys.readouterr().out


def test_exercise_3_accepts_any_correct_sweep(capsys):
    assert lab3.exercise_3([0.003, 0.03, 0.3, 3.0], [0.6, 0.8, 0.85, 0.1], 0.3)
    assert lab3.exercise_3(np.logspace(-4, 0, 5), [0.2, 0.5, 0.8, 0.84, 0.83], 0.1)
    assert capsys.readouterr().out.count("correct") == 2


def test_exercise_3_explains_what_is_wrong(capsys):
    assert not lab3.exercise_3([0.01, 0.1, 1.0, 2.0], [0.7, 0.85, 0.6, 0.1], 1.0)
    assert "highest accuracy in your sweep is at 0.1" in capsys.readouterr().out
    assert not lab3.exercise_3([0.05, 0.1, 0.2], [0.8, 0.85, 0.84], 0.1)
    out = capsys.readouterr().out
    assert "at least four" in out and "two orders of" in out
    assert not lab3.exercise_3(None, None, None)
    assert "not answered yet" in capsys.readouterr().out


def test_no_message_hands_over_an_answer():
    """Every verdict the tests above drew from the checks names no line or call of a solution."""
    assert_none_given_away(__name__)
