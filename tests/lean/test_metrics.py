"""Accuracy figures computed one way for training, export and benchmarks."""

import numpy as np

from runtime.metrics import classification_metrics


def test_per_class_confusion_and_accuracy():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 0]]
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert m["accuracy"] == 0.6
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    b = m["per_class"][1]
    assert b["recall"] == 1.0 and b["precision"] == round(2 / 3, 4)


def test_gender_reports_each_class_and_age_bands():
    y = np.array([0, 0, 1, 1, 1, 0])
    pred = np.array([0, 1, 1, 1, 0, 0])
    age = np.array([5, 30, 40, 15, 8, 60])
    m = classification_metrics(y, np.eye(2)[pred], ["woman", "man"], {"age": age})
    assert m["accuracy_by_class"] == {"woman": round(2 / 3, 4), "man": round(2 / 3, 4)}
    assert m["woman_man_gap"] == 0.0
    assert m["by_age"]["under_13"] == {"n": 2, "accuracy": 0.5, "accuracy_woman": 1.0, "accuracy_man": 0.0}
    assert m["by_age"]["13_17"]["accuracy"] == 1.0
    assert m["by_age"]["adults_18_plus"]["n"] == 3
