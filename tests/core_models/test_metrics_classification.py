"""Classification metrics: rows are the truth, sensitivity is not precision."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core_models.errors import InputError
from core_models.metrics import CLASSIFIER_CLASSES, classification_report, confusion_matrix


def test_confusion_matrix_rows_are_true_classes() -> None:
    matrix = confusion_matrix([2, 2, 0], [1, 2, 0])
    assert matrix[2, 1] == 1 and matrix[1, 2] == 0
    assert matrix[2, 2] == 1 and matrix[0, 0] == 1
    assert matrix.sum() == 3


def test_sensitivity_and_precision_are_not_swapped() -> None:
    # every COVID-19 slice is found, but one control slice is also called COVID-19
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 2, 1, 1, 2, 2, 2, 2]
    classes = classification_report(y_true, y_pred)["classes"]
    assert classes["COVID-19"]["sensitivity"] == 1.0  # 4 found of 4 truly COVID-19
    assert classes["COVID-19"]["precision"] == pytest.approx(4 / 5)  # 4 right of 5 called COVID-19
    assert classes["Control"]["sensitivity"] == pytest.approx(2 / 3)
    assert classes["Control"]["precision"] == 1.0
    assert classes["COVID-19"]["specificity"] == pytest.approx(4 / 5)  # 5 non-COVID, 1 called COVID
    assert classes["COVID-19"]["f1"] == pytest.approx(2 * 1.0 * 0.8 / 1.8)


def test_accuracy_support_and_balanced_accuracy() -> None:
    y_true = [0, 0, 0, 0, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 0]
    report = classification_report(y_true, y_pred)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert [report["classes"][n]["support"] for n in CLASSIFIER_CLASSES] == [4, 1, 1]
    assert report["mean_sensitivity"] == pytest.approx((3 / 4 + 1 + 0) / 3)
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred).tolist()


def test_absent_class_rates_are_nan_and_skipped() -> None:
    report = classification_report([0, 0, 2], [0, 0, 2])
    assert math.isnan(report["classes"]["Common pneumonia"]["sensitivity"])
    assert math.isnan(report["classes"]["Common pneumonia"]["precision"])
    assert report["mean_sensitivity"] == 1.0
    assert math.isnan(classification_report([], [])["accuracy"])


def test_numpy_inputs_and_whole_floats_are_accepted() -> None:
    matrix = confusion_matrix(np.array([0.0, 1.0, 2.0]), np.array([0, 1, 1], dtype=np.int8))
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "needle"),
    [
        ([0, 1], [0], "2 true classes but 1"),
        ([0, 3], [0, 1], "expected 0 to 2"),
        ([0, -1], [0, 1], "class -1"),
        ([0.5], [0], "whole class indices"),
        (["covid"], [0], "numbers"),
        ([[0, 1]], [[0, 1]], "flat list"),
    ],
)
def test_bad_class_input_raises_input_error(y_true: list, y_pred: list, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        confusion_matrix(y_true, y_pred)
