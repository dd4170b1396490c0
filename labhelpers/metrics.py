"""Classification metrics as tables, computed with scikit-learn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

__all__ = [
    "check_labels",
    "check_scores",
    "classification_table",
    "most_confused_pairs",
    "runs_table",
]


def check_labels(
    y_true: np.ndarray, y_pred: np.ndarray | None, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return integer label arrays, or raise ValueError saying what is wrong with them."""
    y_true = np.asarray(y_true).ravel()
    arrays = [("y_true", y_true)]
    if y_pred is not None:
        y_pred = np.asarray(y_pred).ravel()
        if len(y_pred) != len(y_true):
            raise ValueError(
                f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; "
                "pass one prediction per sample."
            )
        arrays.append(("y_pred", y_pred))
    for name, labels in arrays:
        if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0):
            raise ValueError(
                f"{name} must hold integer class indices, got values like {labels[:3]}; "
                "for probabilities use argmax (multi-class) or > 0.5 (binary)."
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            bad = labels[(labels < 0) | (labels >= len(class_names))][0]
            raise ValueError(
                f"{name} has label {bad}, outside the {len(class_names)} classes "
                f"{list(class_names)} (valid: 0 to {len(class_names) - 1})."
            )
    return y_true.astype(int), None if y_pred is None else y_pred.astype(int)


def check_scores(y_true: np.ndarray, scores: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Return scores as (n,) for two classes or (n, classes) otherwise, else ValueError."""
    scores = np.asarray(scores, dtype=float)
    n, k = len(np.asarray(y_true).ravel()), len(class_names)
    if k == 2 and scores.ndim == 2 and scores.shape[1] in (1, 2):
        scores = scores[:, -1]  # a sigmoid's (n, 1), or softmax's (n, 2): P(second class)
    expected = (n,) if k == 2 else (n, k)
    if scores.shape != expected:
        raise ValueError(
            f"scores have shape {scores.shape}, expected {expected} for {n} samples and "
            f"{k} classes: one score per sample for two classes, else one column per class."
        )
    return scores


def classification_table(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """Per-class precision, recall, specificity, F1 and support, plus three averages: "macro"
    treats every class alike, "weighted" weights them by support, "micro" pools all decisions."""
    y_true, y_pred = check_labels(y_true, y_pred, class_names)
    labels = np.arange(len(class_names))
    kwargs = {"labels": labels, "zero_division": 0}
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, average=None, **kwargs
    )
    # Each class's 2x2 matrix [[TN, FP], [FN, TP]]; specificity is TN / (TN + FP).
    cms = skm.multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = cms[:, 0, 0], cms[:, 0, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        specificity = np.where(tn + fp > 0, tn / (tn + fp), 0.0)
    table = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "specificity": specificity,
            "f1": f1,
            "support": support,
        },
        index=list(class_names),
    )
    weights = support / support.sum() if support.sum() else np.zeros_like(support, float)
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, **kwargs)
        spec = {
            "macro": specificity.mean(),
            "micro": tn.sum() / (tn.sum() + fp.sum()),
            "weighted": (specificity * weights).sum(),
        }[average]
        table.loc[f"{average} avg"] = [p, r, spec, f, support.sum()]
    table["support"] = table["support"].astype(int)
    return table


def most_confused_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], top: int = 5
) -> pd.DataFrame:
    """The ``top`` (true class, predicted class) pairs with the most mistakes."""
    y_true, y_pred = check_labels(y_true, y_pred, class_names)
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(len(class_names)))
    np.fill_diagonal(cm, 0)
    order = np.argsort(-cm, axis=None, kind="stable")[:top]
    rows = [np.unravel_index(i, cm.shape) for i in order]
    return pd.DataFrame(
        [
            {"true": class_names[t], "predicted": class_names[p], "count": int(cm[t, p])}
            for t, p in rows
            if cm[t, p] > 0
        ]
    )


def runs_table(
    runs: Mapping[str, Any], seconds: Mapping[str, float] | None = None, *, metric: str = "accuracy"
) -> pd.DataFrame:
    """Summarise training runs side by side, one row per run, from their histories.

    ``runs`` maps a run's name to its Keras ``History`` (or its ``.history`` dict), ``seconds``
    to its training time if measured. A row holds the best validation ``metric`` and its epoch,
    the final one, the train-validation gap at the final epoch, the epochs run, and seconds.
    """
    rows = {}
    for name, history in runs.items():
        curves = getattr(history, "history", history)
        if metric not in curves or f"val_{metric}" not in curves:
            raise ValueError(
                f"run {name!r} has no {metric!r} and 'val_{metric}' curves (it has "
                f"{sorted(curves)}); train with validation data and metrics=[{metric!r}]."
            )
        train, val = np.asarray(curves[metric]), np.asarray(curves[f"val_{metric}"])
        rows[name] = {
            f"best val {metric}": val.max(),
            "best epoch": int(val.argmax()) + 1,
            f"final val {metric}": val[-1],
            "train-val gap": train[-1] - val[-1],
            "epochs": len(val),
        }
        if seconds is not None and name in seconds:
            rows[name]["seconds"] = round(float(seconds[name]), 1)
    return pd.DataFrame.from_dict(rows, orient="index")
