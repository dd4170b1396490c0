"""Lab 4's self-checks pass on the solutions' answers and fail helpfully on typical mistakes."""

from __future__ import annotations

from labhelpers.checks import lab4

import keras
import numpy as np
import pytest
from giveaways import assert_none_given_away
from keras import layers


@pytest.fixture(scope="module")
def vgg16():
    """VGG16's base with random weights (nothing downloaded), at a small input size."""
    return keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))


def test_exercise_1_accepts_mobilenet_preprocessing_and_pooled_features(capsys):
    features = np.random.default_rng(0).normal(size=(6, 1280))
    preprocess = keras.applications.mobilenet_v2.preprocess_input
    assert lab4.exercise_1(preprocess, features, features[:4], 6, 4)
    assert "correct" in capsys.readouterr().out


def test_exercise_1_rejects_vgg16_preprocessing_and_unpooled_features(capsys):
    unpooled = np.zeros((6, 4, 4, 1280))
    verdict = lab4.exercise_1(
        keras.applications.vgg16.preprocess_input, unpooled, np.zeros((4, 1280)), 6, 4
    )
    out = capsys.readouterr().out
    assert not verdict
    assert "-1..1" in out and "mobilenet_v2" in out and "mobile_train" in out


def test_exercise_1_unanswered_is_friendly(capsys):
    assert not lab4.exercise_1(None, None, None, 6, 4)
    assert "not answered yet" in capsys.readouterr().out


def test_exercise_2_accepts_blocks_4_and_5_trainable(vgg16, capsys):
    vgg16.trainable = True
    for layer in vgg16.layers:
        layer.trainable = layer.name.startswith(("block4", "block5"))
    assert lab4.exercise_2(vgg16)


def test_exercise_2_names_the_layers_in_the_wrong_state(vgg16, capsys):
    vgg16.trainable = True
    for layer in vgg16.layers:
        layer.trainable = layer.name.startswith("block5")  # only the last block
    assert not lab4.exercise_2(vgg16)
    assert "should be trainable: block4_conv1" in capsys.readouterr().out
    for layer in vgg16.layers:
        layer.trainable = True  # everything
    assert not lab4.exercise_2(vgg16)
    assert "should stay frozen (blocks 1 to 3): block1_conv1" in capsys.readouterr().out


def test_exercise_2_explains_a_frozen_model(vgg16, capsys):
    for layer in vgg16.layers:
        layer.trainable = layer.name.startswith(("block4", "block5"))
    vgg16.trainable = False
    assert not lab4.exercise_2(vgg16)
    assert "`deeper.trainable` is False" in capsys.readouterr().out
    vgg16.trainable = True


def flower_head(units=17, activation="softmax", loss="sparse_categorical_crossentropy"):
    model = keras.Sequential(
        [keras.Input((64,)), layers.Dropout(0.5), layers.Dense(units, activation=activation)]
    )
    if loss:
        model.compile(optimizer="adam", loss=loss)
    return model


def test_exercise_3_accepts_a_compiled_softmax_head(capsys):
    assert lab4.exercise_3(flower_head(), 64)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (flower_head(units=10), "should have 17 classes"),
        (flower_head(activation="sigmoid"), "should be softmax"),
        (flower_head(loss="categorical_crossentropy"), "sparse_categorical_crossentropy"),
        (flower_head(loss=None), "compile `flower_head`"),
    ],
)
def test_exercise_3_rejects_typical_mistakes(head, message, capsys):
    assert not lab4.exercise_3(head, 64)
    assert message in capsys.readouterr().out


def test_no_message_hands_over_an_answer():
    """Every verdict the tests above drew from the checks names no line or call of a solution."""
    assert_none_given_away(__name__)
