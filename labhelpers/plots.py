"""Plots for the labs. Each takes arrays (never a model), draws on ``ax`` if given, and
returns what it drew: an Axes, or ``(fig, axes)`` for grids. None calls ``plt.show()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labhelpers.metrics import check_labels, check_scores

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn import metrics as skm

__all__ = [
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_images",
    "plot_precision_recall_curves",
    "plot_predictions",
    "plot_roc_curves",
    "setup_display",
]

RIGHT, WRONG = "tab:green", "tab:red"


def setup_display() -> None:
    """Apply the course's display settings; call once in a notebook's setup cell."""
    plt.rcParams.update(
        {"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "axes.titlesize": "medium"}
    )
    np.set_printoptions(precision=4, suppress=True)


def _grid(n: int, ncols: int, cell: float = 1.6) -> tuple[Figure, Any]:
    """A figure with enough axes for ``n`` items, ticks and grid off, spare axes hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i >= n:
            ax.set_visible(False)
    fig.set_layout_engine("constrained")
    return fig, axes


def _displayable(image: np.ndarray) -> np.ndarray:
    """Squeeze a trailing channel of 1, and bring 0-255 float images into 0-1 for imshow."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if np.issubdtype(image.dtype, np.floating) and image.max() > 1:
        image = np.clip(image / 255.0, 0, 1)
    return image


def plot_images(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    *,
    predicted: np.ndarray | None = None,
    ncols: int = 8,
    cmap: str = "gray",
) -> tuple[Figure, np.ndarray]:
    """Show images in a grid, titled with their class; with ``predicted``, right or wrong.

    ``images`` are (n, height, width) or (n, height, width, channels). With ``class_names``,
    ``labels`` (true class indices) are the titles; with ``predicted`` too, a title reads
    "predicted (true)", in green when right and red when wrong.
    """
    images = np.asarray(images)
    if labels is not None and class_names is not None:
        labels, predicted = check_labels(labels, predicted, class_names)
    fig, axes = _grid(len(images), ncols)
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(_displayable(image), cmap=cmap)
        if labels is None or class_names is None:
            continue
        if predicted is None:
            ax.set_title(class_names[labels[i]])
        else:
            right = predicted[i] == labels[i]
            title = class_names[predicted[i]] + ("" if right else f"\n({class_names[labels[i]]})")
            ax.set_title(title, color=RIGHT if right else WRONG)
    return fig, axes


def _as_runs(history: Any) -> dict[str, Mapping[str, Sequence[float]]]:
    """Normalise a History, a dict of lists, or a dict of named runs to {run: {metric: list}}."""
    if hasattr(history, "history"):
        return {"": history.history}
    if isinstance(history, Mapping) and history:
        if all(hasattr(v, "history") or isinstance(v, Mapping) for v in history.values()):
            return {name: getattr(h, "history", h) for name, h in history.items()}
        return {"": history}
    raise ValueError(
        "history must be a keras History, a dict like {'loss': [...]}, or a dict of named "
        f"runs like {{'dense': history}}; got {type(history).__name__}."
    )


def plot_history(
    history: Any, *, metrics: Sequence[str] | None = None, axes: Sequence[Axes] | None = None
) -> np.ndarray:
    """Plot training curves: training solid, validation dashed, one colour per run.

    ``history`` is a Keras ``History``, a dict ``{"loss": [...], "val_loss": [...]}``, or a dict
    of named runs ``{"small": history1, "large": history2}`` to overlay. One panel per metric
    (default: every metric of the first run), drawn on ``axes`` or a new figure; returns the Axes.
    """
    runs = _as_runs(history)
    first = next(iter(runs.values()))
    metrics = list(metrics or [m for m in first if not m.startswith("val_")])
    missing = [m for m in metrics for r in runs.values() if m not in r]
    if missing:
        raise ValueError(f"metric {missing[0]!r} is not in the history; have {sorted(first)}.")
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
        axes = axes[0]
    if len(axes) != len(metrics):
        raise ValueError(f"got {len(axes)} axes for {len(metrics)} metrics {metrics}.")
    for ax, metric in zip(axes, metrics, strict=True):
        for i, (name, run) in enumerate(runs.items()):
            colour = f"C{i}"
            epochs = np.arange(1, len(run[metric]) + 1)
            prefix = f"{name} " if name else ""
            ax.plot(epochs, run[metric], "-", color=colour, label=f"{prefix}training")
            if f"val_{metric}" in run:
                ax.plot(
                    epochs, run[f"val_{metric}"], "--", color=colour, label=f"{prefix}validation"
                )
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(runs) == 1:
            ax.legend()
    if len(runs) > 1:  # one shared legend, outside, so that it hides no curve
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    return np.asarray(axes)


def plot_predictions(
    images: np.ndarray,
    probabilities: np.ndarray,
    y_true: np.ndarray,
    class_names: Sequence[str],
    *,
    ncols: int = 3,
) -> tuple[Figure, np.ndarray]:
    """Show each image beside a bar chart of its predicted probabilities: the predicted class's
    bar red when wrong, green when right, the true class's outlined; axes (rows, 2 * ncols)."""
    images = np.asarray(images)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (len(images), len(class_names)):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}, expected "
            f"{(len(images), len(class_names))}: one row per image, one column per class."
        )
    y_true, predicted = check_labels(y_true, probabilities.argmax(axis=1), class_names)
    n, ncols = len(images), max(1, min(ncols, len(images)))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, 2 * ncols, figsize=(4.2 * ncols, 2.2 * nrows), squeeze=False)
    fig.set_layout_engine("constrained")
    for i, (ax_img, ax_bar) in enumerate(zip(axes.flat[0::2], axes.flat[1::2], strict=True)):
        if i >= n:
            ax_img.set_visible(False)
            ax_bar.set_visible(False)
            continue
        right = predicted[i] == y_true[i]
        colour = RIGHT if right else WRONG
        ax_img.imshow(_displayable(images[i]), cmap="gray")
        ax_img.set(xticks=[], yticks=[])
        ax_img.grid(False)
        ax_img.set_title(
            f"{class_names[predicted[i]]} {probabilities[i, predicted[i]]:.0%}\n"
            f"(true: {class_names[y_true[i]]})",
            color=colour,
            fontsize="small",
        )
        bars = ax_bar.bar(range(len(class_names)), probabilities[i], color="lightgray")
        bars[predicted[i]].set_color(colour)
        bars[y_true[i]].set_edgecolor("black")
        ax_bar.set(ylim=(0, 1), xticks=range(len(class_names)), yticks=[0, 0.5, 1])
        ax_bar.tick_params(axis="x", labelsize="x-small")
    return fig, axes


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the confusion matrix as an annotated heatmap; rows are true, columns predicted.

    ``normalize``: None for counts; "true" for each row to sum to 1 (recall on the diagonal),
    "pred" for columns (precision on the diagonal), "all" for the whole matrix.
    """
    y_true, y_pred = check_labels(y_true, y_pred, class_names)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', not {normalize!r}.")
    cm = skm.confusion_matrix(
        y_true, y_pred, labels=np.arange(len(class_names)), normalize=normalize
    )
    ax = ax or plt.subplots(figsize=(1 + 0.6 * len(class_names),) * 2)[1]
    sns.heatmap(
        cm,
        annot=True,
        fmt=".2f" if normalize else "d",
        cmap="Blues",
        cbar=False,
        square=True,
        xticklabels=class_names,
        yticklabels=class_names,
        annot_kws={"fontsize": "small"},
        ax=ax,
    )
    title = "Confusion matrix" + (f" (normalised over {normalize})" if normalize else "")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.grid(False)
    return ax


def _curve_axes(ax: Axes | None, xlabel: str, ylabel: str, title: str) -> Axes:
    ax = ax or plt.subplots(figsize=(5.5, 5))[1]
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    return ax


def _one_vs_rest(ax: Axes, y_true: np.ndarray, scores: np.ndarray, names, curve, summary) -> list:
    """Draw each class against the rest, then the micro average; return the class curves.
    ``curve(truth, score)`` gives the (x, y) points; ``summary`` scores one curve (AUC, AP)."""
    onehot = np.eye(len(names))[y_true]
    curves = []
    for i, name in enumerate(names):
        x, y = curve(onehot[:, i], scores[:, i])
        ax.plot(x, y, lw=1, label=f"{name} ({summary(onehot[:, i], scores[:, i]):.3f})")
        curves.append((x, y))
    x, y = curve(onehot.ravel(), scores.ravel())
    micro = summary(onehot, scores, average="micro")
    ax.plot(x, y, "k--", lw=2, label=f"micro average ({micro:.3f})")
    return curves


def _roc(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = skm.roc_curve(truth, score)
    return fpr, tpr


def _precision_recall(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    precision, recall, _ = skm.precision_recall_curve(truth, score)
    return recall, precision


def plot_roc_curves(
    y_true: np.ndarray, scores: np.ndarray, class_names: Sequence[str], *, ax: Axes | None = None
) -> Axes:
    """ROC curves with AUC in the legend: one curve for two classes, else one-vs-rest.

    ``scores``: for two classes, P(class 1) per sample (a sigmoid's output); otherwise a
    (samples, classes) array of probabilities, and the plot adds the micro average (all
    decisions pooled) and the macro average (mean of the class curves).
    """
    y_true, _ = check_labels(y_true, None, class_names)
    scores = check_scores(y_true, scores, class_names)
    ax = _curve_axes(ax, "false positive rate", "true positive rate", "ROC curve")
    ax.plot([0, 1], [0, 1], ":", color="gray", label="chance (AUC = 0.5)")
    if scores.ndim == 1:
        fpr, tpr = _roc(y_true, scores)
        ax.plot(fpr, tpr, label=f"{class_names[1]} (AUC = {skm.auc(fpr, tpr):.3f})")
        ax.legend(fontsize="small")
        return ax
    curves = _one_vs_rest(ax, y_true, scores, class_names, _roc, skm.roc_auc_score)
    grid = np.linspace(0, 1, 201)
    mean_tpr = np.mean([np.interp(grid, fpr, tpr) for fpr, tpr in curves], axis=0)
    macro = skm.roc_auc_score(y_true, scores, multi_class="ovr", average="macro")
    ax.plot(grid, mean_tpr, "k:", lw=2, label=f"macro average ({macro:.3f})")
    ax.legend(title="class (AUC)", fontsize="x-small")
    return ax


def plot_precision_recall_curves(
    y_true: np.ndarray, scores: np.ndarray, class_names: Sequence[str], *, ax: Axes | None = None
) -> Axes:
    """Precision-recall curves with average precision (AP) in the legend, ``scores`` as for
    :func:`plot_roc_curves`; for two classes a line marks the precision of guessing."""
    y_true, _ = check_labels(y_true, None, class_names)
    scores = check_scores(y_true, scores, class_names)
    ax = _curve_axes(ax, "recall", "precision", "Precision-recall curve")
    if scores.ndim == 1:
        recall, precision = _precision_recall(y_true, scores)
        ap = skm.average_precision_score(y_true, scores)
        ax.plot(recall, precision, label=f"{class_names[1]} (AP = {ap:.3f})")
        ax.axhline(y_true.mean(), ls=":", color="gray", label="chance")
        ax.legend(fontsize="small")
        return ax
    _one_vs_rest(ax, y_true, scores, class_names, _precision_recall, skm.average_precision_score)
    ax.legend(title="class (AP)", fontsize="x-small")
    return ax


def plot_feature_maps(
    maps: np.ndarray,
    *,
    ncols: int = 8,
    max_maps: int | None = None,
    cmap: str | None = None,
    signed: bool = False,
) -> tuple[Figure, np.ndarray]:
    """Show the channels of one layer's output, (height, width, channels), one per panel.

    ``signed=True`` centres a diverging colour map ("RdBu_r"; else "viridis") on zero, with a
    colour bar, so that negative responses (one side of an edge) read apart from positive ones.
    """
    maps = np.asarray(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(
            f"feature maps must be (height, width, channels) for one image, got {maps.shape}; "
            "pass model(x)[0] for the first image of a batch."
        )
    cmap = cmap or ("RdBu_r" if signed else "viridis")
    n = maps.shape[-1] if max_maps is None else min(max_maps, maps.shape[-1])
    fig, axes = _grid(n, ncols, cell=2.0 if signed else 1.3)
    for c, ax in zip(range(n), axes.flat, strict=False):
        if signed:
            # Symmetric limits put zero at the colour map's neutral middle.
            limit = float(np.abs(maps[..., c]).max()) or 1.0
            image = ax.imshow(maps[..., c], cmap=cmap, vmin=-limit, vmax=limit)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        else:
            ax.imshow(maps[..., c], cmap=cmap)
        ax.set_title(str(c), fontsize="x-small")
    return fig, axes


def plot_filters(kernels: np.ndarray, *, ncols: int = 8) -> tuple[Figure, np.ndarray]:
    """Show a convolution layer's filters, (kh, kw, in_channels, filters), one per panel: in
    colour (each scaled to 0-1) over three input channels, else their first channel in grey."""
    kernels = np.asarray(kernels, dtype=float)
    if kernels.ndim != 4:
        raise ValueError(
            f"kernels must be (height, width, in_channels, filters), got {kernels.shape}; "
            "pass layer.get_weights()[0] of a Conv2D layer."
        )
    fig, axes = _grid(kernels.shape[-1], ncols, cell=1.0)
    for f, ax in zip(range(kernels.shape[-1]), axes.flat, strict=False):
        kernel = kernels[..., f]
        if kernel.shape[-1] == 3:
            span = kernel.max() - kernel.min()
            ax.imshow((kernel - kernel.min()) / (span if span else 1))
        else:
            ax.imshow(kernel[..., 0], cmap="gray")
        ax.set_title(str(f), fontsize="x-small")
    return fig, axes
