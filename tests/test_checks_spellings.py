"""Every check accepts every correct spelling of a model: flat or nested, Sequential or
functional, activations as arguments, as layers or as callables. Wrong answers, however
spelled, still fail with a message that says what to look at."""

from __future__ import annotations

from labhelpers.checks import (
    final_activation,
    lab1,
    lab2,
    lab3,
    lab4,
    layer_activation,
    model_input_shape,
    model_layers,
)

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def functional(input_shape, *stack) -> keras.Model:
    """The functional-API twin of ``keras.Sequential([keras.Input(input_shape), *stack])``."""
    inputs = outputs = keras.Input(input_shape)
    for layer in stack:
        outputs = layer(outputs)
    return keras.Model(inputs, outputs)


def sequential(*stack) -> keras.Sequential:
    return keras.Sequential(list(stack))


def passes(result, capsys) -> None:
    printed = capsys.readouterr().out
    assert result and printed.startswith("✅"), printed


def fails(result, capsys, *fragments: str) -> None:
    printed = capsys.readouterr().out
    assert not result and printed.startswith("❌"), printed
    for fragment in fragments:
        assert fragment in printed, f"{fragment!r} not in {printed!r}"


# The shared core ------------------------------------------------------------------------

FINAL_SOFTMAX = {
    "argument": lambda: sequential(keras.Input((4,)), layers.Dense(3, activation="softmax")),
    "keras callable": lambda: sequential(
        keras.Input((4,)), layers.Dense(3, activation=keras.activations.softmax)
    ),
    "tf callable": lambda: sequential(keras.Input((4,)), layers.Dense(3, activation=tf.nn.softmax)),
    "lambda": lambda: sequential(
        keras.Input((4,)), layers.Dense(3, activation=lambda x: keras.ops.softmax(x))
    ),
    "Softmax layer": lambda: sequential(keras.Input((4,)), layers.Dense(3), layers.Softmax()),
    "Activation layer": lambda: sequential(
        keras.Input((4,)), layers.Dense(3), layers.Activation("softmax")
    ),
    "Activation of a callable": lambda: sequential(
        keras.Input((4,)), layers.Dense(3), layers.Activation(tf.nn.softmax)
    ),
    "Lambda layer": lambda: sequential(
        keras.Input((4,)), layers.Dense(3), layers.Lambda(keras.activations.softmax)
    ),
    "then Dropout": lambda: sequential(
        keras.Input((4,)), layers.Dense(3, activation="softmax"), layers.Dropout(0.5)
    ),
    "nested Softmax": lambda: sequential(
        keras.Input((4,)), layers.Dense(3), sequential(layers.Softmax())
    ),
    "nested twice": lambda: sequential(
        keras.Input((4,)), sequential(sequential(layers.Dense(3), layers.Activation("softmax")))
    ),
    "functional": lambda: functional((4,), layers.Dense(3), layers.Softmax()),
    "functional in Sequential": lambda: sequential(
        keras.Input((4,)), functional((4,), layers.Dense(3, activation="softmax"))
    ),
}


@pytest.mark.parametrize("build", FINAL_SOFTMAX.values(), ids=FINAL_SOFTMAX.keys())
def test_final_activation_reads_every_spelling_of_softmax(build):
    assert final_activation(build()) == "softmax"


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: sequential(keras.Input((4,)), layers.Dense(3)), "linear"),
        (lambda: sequential(keras.Input((4,)), layers.Softmax(), layers.Dense(3)), "linear"),
        (lambda: sequential(keras.Input((4,)), layers.Dense(3), layers.LeakyReLU()), "leaky_relu"),
        (lambda: sequential(keras.Input((4,)), layers.Dense(3), layers.ReLU()), "relu"),
        (lambda: sequential(keras.Input((4,)), layers.Dense(3, activation="gelu")), "gelu"),
        (lambda: sequential(keras.Input((4,)), layers.Dense(3, activation=tf.sigmoid)), "sigmoid"),
        (lambda: sequential(keras.Input((4,)), layers.Flatten()), None),
    ],
    ids=["no activation", "softmax then Dense", "LeakyReLU", "ReLU", "gelu", "tf.sigmoid", "none"],
)
def test_final_activation_names_other_activations(build, expected):
    assert final_activation(build()) == expected


def test_model_layers_opens_nested_models_in_the_order_they_run():
    block = sequential(layers.Conv2D(2, 3, name="conv"), layers.ReLU(name="relu"))
    head = functional((2,), layers.Dense(3, name="dense"), layers.Softmax(name="softmax"))
    model = functional(
        (6, 6, 1), block, layers.GlobalAveragePooling2D(name="pool"), sequential(head)
    )
    assert [layer.name for layer in model_layers(model)] == [
        "conv",
        "relu",
        "pool",
        "dense",
        "softmax",
    ]
    assert [layer.name for layer in model_layers(model, "Dense", "Conv2D")] == ["conv", "dense"]
    with pytest.raises(TypeError, match="expected a Keras model"):
        model_layers("model")


def test_layer_activation_counts_a_separate_activation_layer():
    model = sequential(
        keras.Input((6, 6, 1)),
        layers.Conv2D(2, 3, name="bn_then_relu"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        sequential(layers.Conv2D(2, 1, name="nested_then_relu")),
        layers.MaxPooling2D(2),
        layers.ReLU(),
        layers.Conv2D(2, 1, name="linear"),
        layers.Conv2D(2, 1, activation="relu", name="own"),
    )
    found = {layer.name: layer_activation(model, layer) for layer in model_layers(model, "Conv2D")}
    assert found == {
        "bn_then_relu": "relu",
        "nested_then_relu": "relu",
        "linear": "linear",
        "own": "relu",
    }


def test_model_input_shape_of_every_spelling():
    assert model_input_shape(sequential(keras.Input((3, 2)), layers.Flatten())) == (None, 3, 2)
    assert model_input_shape(functional((3, 2), layers.Flatten())) == (None, 3, 2)
    nested = sequential(sequential(keras.Input((3, 2)), layers.Flatten()), layers.Dense(1))
    assert model_input_shape(nested) == (None, 3, 2)
    assert model_input_shape(sequential(layers.Flatten(), layers.Dense(1))) is None  # not built


# Lab 1, exercise 3: hidden Dense layers of 256 then 128 ReLU units ------------------------


def lab1_head(relu=lambda: layers.ReLU(), softmax=lambda: layers.Softmax()) -> list:
    return [
        layers.Dense(256),
        relu(),
        layers.Dense(128),
        relu(),
        layers.Dense(10),
        softmax(),
    ]


LAB1_RIGHT = {
    "activation arguments": lambda: sequential(
        keras.Input((28, 28)),
        layers.Rescaling(1 / 255),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ),
    "callables": lambda: sequential(
        keras.Input((28, 28)),
        layers.Flatten(),
        layers.Dense(256, activation=keras.activations.relu),
        layers.Dense(128, activation=tf.nn.relu),
        layers.Dense(10, activation=tf.nn.softmax),
    ),
    "ReLU and Softmax layers": lambda: sequential(
        keras.Input((28, 28)), layers.Flatten(), *lab1_head()
    ),
    "Activation layers": lambda: sequential(
        keras.Input((28, 28)),
        layers.Flatten(),
        *lab1_head(lambda: layers.Activation("relu"), lambda: layers.Activation("softmax")),
    ),
    "nested blocks": lambda: sequential(
        keras.Input((28, 28)),
        layers.Flatten(),
        sequential(layers.Dense(256), layers.ReLU()),
        sequential(layers.Dense(128, activation="relu"), layers.Dropout(0.2)),
        sequential(layers.Dense(10), layers.Activation("softmax")),
    ),
    "functional": lambda: functional((28, 28), layers.Flatten(), *lab1_head()),
    "functional with a nested softmax": lambda: functional(
        (28, 28),
        layers.Rescaling(1 / 255),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        sequential(layers.Dense(10), layers.Softmax()),
    ),
    "input_shape argument": lambda: sequential(
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ),
}


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
@pytest.mark.parametrize("build", LAB1_RIGHT.values(), ids=LAB1_RIGHT.keys())
def test_lab1_exercise_3_accepts_every_spelling(build, capsys):
    passes(lab1.exercise_3(build()), capsys)


LAB1_WRONG = {
    "sigmoid layers": (
        lambda: sequential(
            keras.Input((28, 28)),
            layers.Flatten(),
            *lab1_head(lambda: layers.Activation("sigmoid")),
        ),
        ["ReLU"],
    ),
    "nested, 128 then 256": (
        lambda: sequential(
            keras.Input((28, 28)),
            layers.Flatten(),
            sequential(layers.Dense(128), layers.ReLU()),
            sequential(layers.Dense(256), layers.ReLU()),
            sequential(layers.Dense(10), layers.Softmax()),
        ),
        ["[128, 256] units"],
    ),
    "functional without softmax": (
        lambda: functional(
            (28, 28),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ),
        ["the last activation is linear", "softmax"],
    ),
    "not built": (
        lambda: sequential(layers.Flatten(), *lab1_head()),
        ["output shape is unknown", "the input shape is None"],
    ),
}


@pytest.mark.parametrize(("build", "fragments"), LAB1_WRONG.values(), ids=LAB1_WRONG.keys())
def test_lab1_exercise_3_rejects_wrong_networks_however_spelled(build, fragments, capsys):
    fails(lab1.exercise_3(build()), capsys, *fragments)


# Lab 2, exercise 2: section 7's CNN with a 5 x 5 kernel in conv2 --------------------------


def lab2_cnn(kernel2=5, padding="same", relu=True) -> list:
    """Section 7's layers, spelt as in the lab (without the input)."""
    activation = "relu" if relu else None
    return [
        layers.Rescaling(1 / 255),
        layers.Conv2D(16, 3, padding=padding, activation=activation),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, kernel2, padding=padding, activation=activation),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ]


def lab2_blocks(kernel2=5) -> list:
    """Section 7's layers after Rescaling, each convolution block a nested Sequential."""
    return [
        sequential(layers.Conv2D(16, 3, padding="same"), layers.ReLU(), layers.MaxPooling2D(2)),
        sequential(
            layers.Conv2D(64, kernel2, padding="same"), layers.ReLU(), layers.MaxPooling2D(2)
        ),
        layers.Flatten(),
        sequential(layers.Dense(128), layers.Activation("relu"), layers.Dropout(0.5)),
        layers.Dense(10),
        layers.Softmax(),
    ]


LAB2_RIGHT = {
    "activation arguments": lambda: sequential(keras.Input((28, 28, 1)), *lab2_cnn()),
    "kernel as a tuple, padding in capitals": lambda: sequential(
        keras.Input((28, 28, 1)), *lab2_cnn(kernel2=(5, 5), padding="SAME")
    ),
    "separate activation layers": lambda: sequential(
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(16, (3, 3), padding="same"),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, (5, 5), padding="same"),
        layers.Activation("relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128),
        layers.ReLU(),
        layers.Dropout(0.5),
        layers.Dense(10),
        layers.Activation(keras.activations.softmax),
    ),
    "nested blocks": lambda: sequential(
        keras.Input((28, 28, 1)), layers.Rescaling(1 / 255), *lab2_blocks()
    ),
    "functional": lambda: functional((28, 28, 1), layers.Rescaling(1 / 255), *lab2_blocks()),
    "functional blocks in Sequential": lambda: sequential(
        keras.Input((28, 28, 1)),
        functional((28, 28, 1), layers.Rescaling(1 / 255), *lab2_blocks()[:2]),
        *lab2_blocks()[2:],
    ),
}


@pytest.mark.parametrize("build", LAB2_RIGHT.values(), ids=LAB2_RIGHT.keys())
def test_lab2_exercise_2_accepts_every_spelling(build, capsys):
    passes(lab2.exercise_2(build()), capsys)


LAB2_WRONG = {
    "nested, conv2 still 3 x 3": (
        lambda: sequential(keras.Input((28, 28, 1)), *lab2_blocks(kernel2=3)),
        ["conv2 should have a 5 x 5 kernel, yours is 3 x 3"],
    ),
    "functional, valid padding": (
        lambda: functional((28, 28, 1), *lab2_cnn(padding="valid")),
        ["shape before Flatten", 'padding="same"'],
    ),
    "no ReLU in the convolutions": (
        lambda: sequential(keras.Input((28, 28, 1)), *lab2_cnn(relu=False)),
        ["keep the ReLU"],
    ),
    "no Flatten": (
        lambda: sequential(
            keras.Input((28, 28, 1)),
            *lab2_blocks()[:2],
            layers.GlobalAveragePooling2D(),
            *lab2_blocks()[3:],
        ),
        ["keep the Flatten layer"],
    ),
    "no hidden Dense layer": (
        lambda: sequential(keras.Input((28, 28, 1)), *lab2_blocks()[:3], *lab2_blocks()[4:]),
        ["keep the dense layers of section 7"],
    ),
}


@pytest.mark.parametrize(("build", "fragments"), LAB2_WRONG.values(), ids=LAB2_WRONG.keys())
def test_lab2_exercise_2_rejects_wrong_networks_however_spelled(build, fragments, capsys):
    fails(lab2.exercise_2(build()), capsys, *fragments)


# Lab 3, exercise 1: batch normalisation after every convolution --------------------------


def lab3_block(n, order=("conv", "bn", "relu"), name=None) -> list:
    make = {
        "conv": lambda: layers.Conv2D(n, 3, name=name),
        "conv_relu": lambda: layers.Conv2D(n, 3, activation="relu", name=name),
        "bn": layers.BatchNormalization,
        "relu": layers.ReLU,
        "activation": lambda: layers.Activation("relu"),
    }
    return [*(make[part]() for part in order), layers.MaxPooling2D(2)]


def lab3_head(sigmoid=lambda: layers.Dense(1, activation="sigmoid")) -> list:
    return [layers.Flatten(), layers.Dense(16, activation="relu"), sigmoid()]


LAB3_RIGHT = {
    "BN then Activation (the lab's order)": lambda: sequential(
        keras.Input((64, 64, 3)),
        layers.Rescaling(1 / 255),
        *lab3_block(8, ("conv", "bn", "activation")),
        *lab3_block(16, ("conv", "bn", "activation")),
        *lab3_head(),
    ),
    "ReLU argument, then BN": lambda: sequential(
        keras.Input((64, 64, 3)),
        *lab3_block(8, ("conv_relu", "bn")),
        *lab3_block(16, ("conv_relu", "bn")),
        *lab3_head(),
    ),
    "ReLU layer, then BN": lambda: sequential(
        keras.Input((64, 64, 3)),
        *lab3_block(8, ("conv", "relu", "bn")),
        *lab3_block(16, ("conv", "relu", "bn")),
        *lab3_head(),
    ),
    "nested blocks, sigmoid layer": lambda: sequential(
        keras.Input((64, 64, 3)),
        sequential(*lab3_block(8)),
        sequential(*lab3_block(16)),
        *lab3_head(lambda: sequential(layers.Dense(1), layers.Activation("sigmoid"))),
    ),
    "functional": lambda: functional(
        (64, 64, 3), *lab3_block(8), *lab3_block(16), *lab3_head(), layers.Dropout(0.0)
    ),
}


@pytest.mark.parametrize("build", LAB3_RIGHT.values(), ids=LAB3_RIGHT.keys())
def test_lab3_exercise_1_accepts_every_spelling(build, capsys):
    passes(lab3.exercise_1(build()), capsys)


LAB3_WRONG = {
    "nested, no BN in the second block": (
        lambda: sequential(
            keras.Input((64, 64, 3)),
            sequential(*lab3_block(8)),
            sequential(*lab3_block(16, ("conv", "relu"), name="conv2")),
            *lab3_head(),
        ),
        ["add a BatchNormalization layer after every convolution; conv2 has none"],
    ),
    "BN in the dense head only": (
        lambda: sequential(
            keras.Input((64, 64, 3)),
            *lab3_block(8, ("conv_relu",), name="conv1"),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.BatchNormalization(),
            layers.Dense(1, activation="sigmoid"),
        ),
        ["conv1 has none"],
    ),
    "no ReLU": (
        lambda: functional((64, 64, 3), *lab3_block(8, ("conv", "bn"), name="conv1"), *lab3_head()),
        ["ReLU", "conv1"],
    ),
    "softmax layer over two units": (
        lambda: sequential(
            keras.Input((64, 64, 3)),
            *lab3_block(8),
            *lab3_head(lambda: sequential(layers.Dense(2), layers.Softmax())),
        ),
        ["output shape", "yours is softmax"],
    ),
}


@pytest.mark.parametrize(("build", "fragments"), LAB3_WRONG.values(), ids=LAB3_WRONG.keys())
def test_lab3_exercise_1_rejects_wrong_networks_however_spelled(build, fragments, capsys):
    fails(lab3.exercise_1(build()), capsys, *fragments)


# Lab 3, exercise 2: a stronger augmentation, as any model ---------------------------------


def photo() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    image = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype("float32")
    image[20:40, 24:44] = 255
    return image[None]


def mild() -> list:
    return [layers.RandomFlip("horizontal"), layers.RandomZoom(0.15), layers.RandomContrast(0.1)]


def strong() -> list:
    return [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.25),
        layers.RandomZoom(0.4),
        layers.RandomTranslation(0.25, 0.25),
    ]


LAB3_AUGMENTATIONS = {
    "Sequential": lambda: sequential(*strong()),
    "nested": lambda: sequential(sequential(*strong()[:2]), sequential(*strong()[2:])),
    "functional": lambda: functional((64, 64, 3), *strong()),
}


@pytest.mark.parametrize("build", LAB3_AUGMENTATIONS.values(), ids=LAB3_AUGMENTATIONS.keys())
def test_lab3_exercise_2_accepts_every_spelling(build, capsys):
    passes(lab3.exercise_2(build(), photo(), sequential(*mild())), capsys)
    # The same mild pipeline, however wrapped, is no stronger than itself.
    wrapped = functional((64, 64, 3), sequential(*mild()))
    fails(lab3.exercise_2(wrapped, photo(), wrapped), capsys, "clearly stronger")


# Lab 4, exercises 2 and 3: a VGG16 base's trainable blocks; a flowers head ----------------


@pytest.fixture(scope="module")
def vgg16():
    return keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))


def by_name(base):
    for layer in base.layers:
        layer.trainable = layer.name.startswith(("block4", "block5"))


def by_position(base):
    first_of_block4 = [layer.name for layer in base.layers].index("block4_conv1")
    for layer in base.layers[:first_of_block4]:
        layer.trainable = False


def after_freezing_all(base):
    base.trainable = False
    base.trainable = True  # sets every layer back to trainable
    for layer in base.layers:
        if "block1" in layer.name or "block2" in layer.name or "block3" in layer.name:
            layer.trainable = False


@pytest.mark.parametrize("unfreeze", [by_name, by_position, after_freezing_all])
def test_lab4_exercise_2_accepts_every_spelling(vgg16, unfreeze, capsys):
    vgg16.trainable = True
    unfreeze(vgg16)
    passes(lab4.exercise_2(vgg16), capsys)


def test_lab4_exercise_2_rejects_only_the_top_block_by_position(vgg16, capsys):
    vgg16.trainable = True
    first_of_block5 = [layer.name for layer in vgg16.layers].index("block5_conv1")
    for layer in vgg16.layers[:first_of_block5]:
        layer.trainable = False
    fails(lab4.exercise_2(vgg16), capsys, "should be trainable: block4_conv1")


def compiled(model, loss="sparse_categorical_crossentropy"):
    model.compile(optimizer="adam", loss=loss)
    return model


LAB4_RIGHT = {
    "activation argument": lambda: compiled(
        sequential(keras.Input((64,)), layers.Dropout(0.5), layers.Dense(17, activation="softmax"))
    ),
    "Softmax layer, loss object": lambda: compiled(
        sequential(keras.Input((64,)), layers.Dropout(0.5), layers.Dense(17), layers.Softmax()),
        keras.losses.SparseCategoricalCrossentropy(),
    ),
    "callable, loss function": lambda: compiled(
        sequential(
            keras.Input((64,)),
            layers.Dropout(0.5),
            layers.Dense(17, activation=keras.activations.softmax),
        ),
        keras.losses.sparse_categorical_crossentropy,
    ),
    "functional, loss class name": lambda: compiled(
        functional((64,), layers.Dropout(0.5), layers.Dense(17), layers.Activation("softmax")),
        "SparseCategoricalCrossentropy",
    ),
    "nested softmax": lambda: compiled(
        sequential(
            keras.Input((64,)),
            layers.Dropout(0.5),
            sequential(layers.Dense(17), layers.Activation(tf.nn.softmax)),
        )
    ),
}


@pytest.mark.parametrize("build", LAB4_RIGHT.values(), ids=LAB4_RIGHT.keys())
def test_lab4_exercise_3_accepts_every_spelling(build, capsys):
    passes(lab4.exercise_3(build(), 64), capsys)


LAB4_WRONG = {
    "nested sigmoid": (
        lambda: compiled(
            sequential(
                keras.Input((64,)),
                layers.Dropout(0.5),
                sequential(layers.Dense(17), layers.Activation("sigmoid")),
            )
        ),
        ["should be softmax", "yours is sigmoid"],
    ),
    "softmax, but a loss for logits": (
        lambda: compiled(
            functional((64,), layers.Dropout(0.5), layers.Dense(17), layers.Softmax()),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
        ["from_logits"],
    ),
    "a loss function for one-hot labels": (
        lambda: compiled(
            sequential(keras.Input((64,)), layers.Dense(17, activation="softmax")),
            keras.losses.categorical_crossentropy,
        ),
        ["not categorical_crossentropy"],
    ),
}


@pytest.mark.parametrize(("build", "fragments"), LAB4_WRONG.values(), ids=LAB4_WRONG.keys())
def test_lab4_exercise_3_rejects_wrong_heads_however_spelled(build, fragments, capsys):
    fails(lab4.exercise_3(build(), 64), capsys, *fragments)
