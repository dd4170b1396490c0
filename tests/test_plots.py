"""Tests of labhelpers.plots: what was drawn, checked without training anything."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from labhelpers import plots  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

CLASSES = ["car", "rocket", "airplane"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def scored_sample(n=300, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_history_training_solid_validation_dashed_and_runs_overlaid():
    run = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.7, 0.8]}
    other = {"loss": [0.9, 0.4, 0.2], "val_loss": [1.0, 0.8, 0.9], "accuracy": [0.6, 0.8, 0.9]}
    axes = plots.plot_history({"small": run, "large": other})
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    lines = axes[0].get_lines()
    assert [line.get_label() for line in lines] == [
        "small training",
        "small validation",
        "large training",
        "large validation",
    ]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    np.testing.assert_array_equal(lines[1].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), [1.1, 0.7, 0.6])
    # Several runs share one legend, on the last panel.
    assert axes[0].get_legend() is None
    legend = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert legend == ["small training", "large training"]  # this history has no val_accuracy


def test_history_accepts_a_keras_history_like_object_and_given_axes():
    class History:
        history = {"loss": [2.0, 1.0], "val_loss": [2.5, 1.5]}

    _, ax = plt.subplots()
    axes = plots.plot_history(History(), axes=[ax])
    assert axes[0] is ax and len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="metric 'accuracy' is not in the history"):
        plots.plot_history(History(), metrics=["accuracy"])
    with pytest.raises(ValueError, match="keras History"):
        plots.plot_history([1, 2, 3])


def test_confusion_matrix_cells_are_sklearn_counts_and_normalised_rows():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 1, 2, 0, 2, 2]
    ax = plots.plot_confusion_matrix(y_true, y_pred, CLASSES)
    cells = [int(t.get_text()) for t in ax.texts]
    assert cells == skm.confusion_matrix(y_true, y_pred).ravel().tolist()
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    _, given = plt.subplots()
    ax = plots.plot_confusion_matrix(y_true, y_pred, CLASSES, normalize="true", ax=given)
    assert ax is given
    assert [t.get_text() for t in ax.texts][:3] == ["0.33", "0.67", "0.00"]


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="y_pred has label 5"):
        plots.plot_confusion_matrix([0, 1], [0, 5], CLASSES)
    with pytest.raises(ValueError, match="normalize must be"):
        plots.plot_confusion_matrix([0, 1], [0, 1], CLASSES, normalize="rows")


def test_multiclass_roc_has_a_curve_per_class_and_averages_with_auc():
    y, probs = scored_sample()
    ax = plots.plot_roc_curves(y, probs, CLASSES)
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 1 + 3 + 2  # chance, three classes, micro and macro
    expected = skm.roc_auc_score(y == 1, probs[:, 1])
    assert f"rocket ({expected:.3f})" in labels
    macro = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert f"macro average ({macro:.3f})" in labels
    rocket = ax.get_lines()[2]
    fpr, tpr, _ = skm.roc_curve(y == 1, probs[:, 1])
    np.testing.assert_allclose(rocket.get_xdata(), fpr)
    np.testing.assert_allclose(rocket.get_ydata(), tpr)


def test_binary_roc_and_pr_take_sigmoid_scores():
    y, probs = scored_sample(k=2)
    sigmoid = probs[:, 1:]  # shape (n, 1), as model.predict returns it
    ax = plots.plot_roc_curves(y, sigmoid, ["cat", "dog"])
    auc = skm.roc_auc_score(y, probs[:, 1])
    assert f"dog (AUC = {auc:.3f})" in [line.get_label() for line in ax.get_lines()]
    ax = plots.plot_precision_recall_curves(y, sigmoid, ["cat", "dog"])
    ap = skm.average_precision_score(y, probs[:, 1])
    assert f"dog (AP = {ap:.3f})" in [line.get_label() for line in ax.get_lines()]


def test_multiclass_precision_recall_curves_have_ap_per_class():
    y, probs = scored_sample()
    ax = plots.plot_precision_recall_curves(y, probs, CLASSES)
    labels = [line.get_label() for line in ax.get_lines()]
    ap = skm.average_precision_score(y == 2, probs[:, 2])
    assert f"airplane ({ap:.3f})" in labels and labels[-1].startswith("micro average")


def test_curves_reject_scores_of_the_wrong_shape():
    y, probs = scored_sample()
    with pytest.raises(ValueError, match="expected \\(300, 3\\)"):
        plots.plot_roc_curves(y, probs[:, :2], CLASSES)
    with pytest.raises(ValueError, match="expected \\(300, 3\\)"):
        plots.plot_precision_recall_curves(y, probs[:-1], CLASSES)


def test_image_grid_titles_mark_right_and_wrong_predictions():
    images = np.zeros((5, 8, 8), dtype=np.uint8)
    fig, axes = plots.plot_images(images, [0, 1, 2, 0, 1], CLASSES, predicted=[0, 2, 2, 0, 1])
    assert axes.shape == (1, 5)
    assert axes[0, 0].get_title() == "car" and axes[0, 0].title.get_color() == plots.RIGHT
    assert axes[0, 1].get_title() == "airplane\n(rocket)"
    assert axes[0, 1].title.get_color() == plots.WRONG
    fig, axes = plots.plot_images(np.zeros((10, 8, 8, 3)), ncols=4)
    assert axes.shape == (3, 4) and not axes[2, 3].get_visible()


def test_predictions_show_probability_bars():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    fig, axes = plots.plot_predictions(np.zeros((2, 8, 8)), probs, [0, 1], CLASSES, ncols=2)
    bars = axes[0, 1].patches
    assert [b.get_height() for b in bars] == pytest.approx([0.7, 0.2, 0.1])
    assert axes[0, 0].get_title() == "car 70%\n(true: car)"
    assert axes[0, 2].title.get_color() == plots.WRONG
    with pytest.raises(ValueError, match="probabilities have shape"):
        plots.plot_predictions(np.zeros((2, 8, 8)), probs[:, :2], [0, 1], CLASSES)


def test_feature_maps_and_filters_one_panel_each():
    maps = np.random.default_rng(0).random((1, 10, 10, 6))
    fig, axes = plots.plot_feature_maps(maps, ncols=4)
    assert sum(ax.get_visible() for ax in axes.flat) == 6
    np.testing.assert_array_equal(axes[0, 2].images[0].get_array(), maps[0, ..., 2])
    fig, axes = plots.plot_filters(np.random.default_rng(1).normal(size=(3, 3, 3, 16)))
    assert sum(ax.get_visible() for ax in axes.flat) == 16
    rgb = axes[0, 0].images[0].get_array()
    assert rgb.shape == (3, 3, 3) and rgb.min() == 0 and rgb.max() == 1
    with pytest.raises(ValueError, match="height, width, channels"):
        plots.plot_feature_maps(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="in_channels"):
        plots.plot_filters(np.zeros((3, 3, 8)))


def test_signed_feature_maps_are_centred_on_zero_with_a_colour_bar():
    maps = np.stack([np.linspace(-1, 3, 16).reshape(4, 4), np.zeros((4, 4))], axis=-1)
    fig, axes = plots.plot_feature_maps(maps, signed=True)
    image = axes[0, 0].images[0]
    assert image.get_clim() == (-3.0, 3.0)  # symmetric around zero, from the largest |value|
    assert image.get_cmap().name == "RdBu_r"
    assert axes[0, 1].images[0].get_clim() == (-1.0, 1.0)  # an all-zero map still draws
    assert len(fig.axes) > axes.size  # one colour bar per map
    _, axes = plots.plot_feature_maps(maps)  # the default is unchanged: one-sided viridis
    assert axes[0, 0].images[0].get_cmap().name == "viridis"


def test_plots_never_show(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() was called"))
    y, probs = scored_sample()
    plots.plot_roc_curves(y, probs, CLASSES)
    plots.plot_confusion_matrix(y, probs.argmax(1), CLASSES)
    plots.plot_history({"loss": [1, 0.5]})
