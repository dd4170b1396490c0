"""Tests of labhelpers.metrics against scikit-learn and hand-counted examples."""

from __future__ import annotations

from labhelpers.metrics import (
    check_scores,
    classification_table,
    most_confused_pairs,
    runs_table,
)

import numpy as np
import pytest
from sklearn import metrics as skm

CLASSES = ["car", "rocket", "airplane"]
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 1])


def test_table_matches_scikit_learn_and_hand_counts():
    table = classification_table(Y_TRUE, Y_PRED, CLASSES)
    report = skm.classification_report(Y_TRUE, Y_PRED, output_dict=True, zero_division=0)
    for i, name in enumerate(CLASSES):
        assert table.loc[name, "precision"] == pytest.approx(report[str(i)]["precision"])
        assert table.loc[name, "recall"] == pytest.approx(report[str(i)]["recall"])
        assert table.loc[name, "f1"] == pytest.approx(report[str(i)]["f1-score"])
    assert table["support"].tolist() == [4, 3, 3, 10, 10, 10]
    # "car": TP 2, FP 1 (a rocket), FN 2, TN 5, so specificity 5 / 6.
    assert table.loc["car", "specificity"] == pytest.approx(5 / 6)
    assert table.loc["macro avg", "f1"] == pytest.approx(report["macro avg"]["f1-score"])
    assert table.loc["weighted avg", "recall"] == pytest.approx(report["weighted avg"]["recall"])
    # Single-label micro averages all equal accuracy (6 of 10 right).
    assert table.loc["micro avg", ["precision", "recall", "f1"]].tolist() == pytest.approx(
        [0.6] * 3
    )
    # Micro specificity pools TN and FP over classes: 16 / (16 + 4).
    assert table.loc["micro avg", "specificity"] == pytest.approx(16 / 20)


def test_most_confused_pairs_are_counted_and_ordered():
    y_true = [0] * 5 + [1] * 5
    y_pred = [1, 1, 1, 0, 0] + [0, 1, 1, 1, 1]
    pairs = most_confused_pairs(y_true, y_pred, ["a", "b"])
    assert pairs.to_dict("records") == [
        {"true": "a", "predicted": "b", "count": 3},
        {"true": "b", "predicted": "a", "count": 1},
    ]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1, 2], [0, 1], "y_true has 3 labels but y_pred has 2"),
        ([0, 1, 3], [0, 1, 2], "y_true has label 3, outside the 3 classes"),
        ([0, 1, 2], [0, -1, 2], "y_pred has label -1"),
        ([0, 1, 2], [0.2, 0.9, 0.1], "integer class indices"),
    ],
)
def test_bad_labels_get_a_clear_value_error(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        classification_table(y_true, y_pred, CLASSES)


def test_scores_of_the_wrong_shape_are_rejected():
    with pytest.raises(ValueError, match=r"shape \(3, 2\), expected \(3, 3\)"):
        check_scores([0, 1, 2], np.ones((3, 2)), CLASSES)
    # Two classes accept a sigmoid's column or a softmax's two columns.
    assert check_scores([0, 1], [[0.2], [0.9]], ["cat", "dog"]).tolist() == [0.2, 0.9]
    assert check_scores([0, 1], [[0.8, 0.2], [0.1, 0.9]], ["cat", "dog"]).tolist() == [0.2, 0.9]


def test_runs_table_summarises_histories():
    baseline = {"accuracy": [0.6, 0.8, 0.95], "val_accuracy": [0.6, 0.7, 0.65]}

    class History:  # what model.fit returns: the curves are in .history
        history = {"accuracy": [0.5, 0.7], "val_accuracy": [0.55, 0.68]}

    table = runs_table({"baseline": baseline, "dropout": History()}, seconds={"baseline": 12.34})

    assert list(table.index) == ["baseline", "dropout"]
    assert table.loc["baseline", "best val accuracy"] == 0.7
    assert table.loc["baseline", "best epoch"] == 2
    assert table.loc["baseline", "final val accuracy"] == 0.65
    assert abs(table.loc["baseline", "train-val gap"] - 0.30) < 1e-9
    assert table.loc["dropout", "epochs"] == 2
    assert table.loc["baseline", "seconds"] == 12.3 and np.isnan(table.loc["dropout", "seconds"])


def test_runs_table_says_which_curve_is_missing():
    with pytest.raises(ValueError, match=r"run 'x' has no 'accuracy'.*validation data"):
        runs_table({"x": {"loss": [1.0], "val_loss": [1.0]}})
