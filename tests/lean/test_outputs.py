"""Each kind of model output says how it is cleaned, recorded, shown and compared."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.card import CardError, ModelCard, card_from_json, card_to_json
from runtime.outputs import Regression, Softmax, output_kind
from runtime.preprocess import InputSpec, Normalization
from runtime.records import Prediction

SPEC = InputSpec(8, 8, 1, "gray", Normalization.minus_one_to_one())


def test_softmax_outputs_become_distributions_and_keep_the_json_they_always_had():
    kind = output_kind({"kind": "softmax"})
    probs = kind.clean(np.array([[0.5, 0.3, -0.01], [0.2, 0.2, 0.2]], np.float32))
    assert np.allclose(probs.sum(axis=1), 1) and probs.min() >= 0
    p = Prediction(["a", "b", "c"], np.array([0.1, 0.7, 0.2]), None)  # softmax by default
    assert p.as_dict() == {
        "label": "b",
        "confidence": 0.7,
        "probs": {"a": 0.1, "b": 0.7, "c": 0.2},
        "raw": None,
    }
    assert p.text == "b 70%" and p.confidence == 0.7
    agree = kind.agreement(np.eye(3), np.eye(3)[[0, 1, 0]])
    assert agree["top1_agreement"] == pytest.approx(2 / 3)


def test_a_regression_is_a_value_in_a_unit():
    kind = output_kind({"kind": "regression", "unit": "years", "format": "~{value:.0f} y"})
    assert isinstance(kind, Regression)
    values = kind.clean(np.array([[31.4], [7.0]], np.float32))
    assert values.shape == (2, 1)
    p = Prediction(["age"], values[0], np.array([30.9]), kind)
    assert p.label == "~31 y" and p.confidence is None and p.text == "~31 y"
    assert p.as_dict() == {
        "label": "~31 y",
        "value": 31.4,
        "unit": "years",
        "confidence": None,
        "probs": None,
        "raw": 30.9,
    }
    assert kind.agreement(np.array([[30.0], [40.0]]), np.array([[30.5], [39.0]]))[
        "mean_abs_diff"
    ] == pytest.approx(0.75)


def test_cards_name_their_output_kind_and_are_checked_against_it():
    old = ModelCard(name="m", task="emotion", labels=["a", "b"], input=SPEC)
    assert isinstance(old.kind, Softmax) and "output" not in card_to_json(old)  # old cards unchanged
    age = ModelCard(
        name="a", task="age", labels=["age"], input=SPEC, output={"kind": "regression", "unit": "years"}
    )
    assert card_from_json(card_to_json(age)).kind.unit == "years"
    with pytest.raises(CardError, match="unknown output kind 'ordinal'"):
        ModelCard(name="x", task="age", labels=["age"], input=SPEC, output={"kind": "ordinal"})
    with pytest.raises(CardError, match="labels must be 1 distinct name"):
        ModelCard(name="x", task="age", labels=["a", "b"], input=SPEC, output={"kind": "regression"})
    with pytest.raises(CardError, match="2 or more"):
        ModelCard(name="x", task="emotion", labels=["a"], input=SPEC)


AGE_OUTPUT = {
    "kind": "expectation",
    "unit": "years",
    "format": "~{value:.0f} y",
    "bands": [[12, "0-12"], [19, "13-19"], [29, "20-29"]],
    "last_band": "30+",
}


def test_an_age_is_the_expected_value_of_its_year_bins_with_its_band():
    from runtime.card import AGE_LABELS

    kind = output_kind(AGE_OUTPUT)
    labels = list(AGE_LABELS)
    probs = np.zeros(101, np.float32)
    probs[[30, 32]] = 0.5  # expected value 31
    p = Prediction(labels, probs, probs, kind)
    assert p.label == "~31 y" and p.text == "~31 y" and p.confidence is None
    record = p.as_dict()
    assert record == {
        "label": "~31 y",
        "value": 31.0,
        "unit": "years",
        "band": "30+",
        "confidence": None,
        "probs": None,  # 101 bins stay out of the JSON lines
        "raw": 31.0,
    }
    # bands hold their upper bound, as the estimate is shown (rounded)
    assert [kind.band(v) for v in (0.0, 12.4, 12.6, 19.0, 29.49, 29.5, 85.0)] == [
        "0-12", "0-12", "13-19", "13-19", "20-29", "30+", "30+"
    ]  # fmt: skip
    # int8 outputs need not sum to 1: the estimate is renormalised
    assert kind.value(labels, probs * 0.9) == pytest.approx(31.0)
    older = np.zeros((2, 101), np.float32)
    older[0, 30], older[1, 60] = 1, 1
    newer = np.zeros((2, 101), np.float32)
    newer[0, 31], newer[1, 60] = 1, 1
    agree = kind.agreement(older, newer)
    assert agree == {"mean_abs_diff": pytest.approx(0.5), "max_abs_diff": pytest.approx(1.0)}


def test_a_face_smoothed_over_its_track_smooths_its_age():
    """The tracker blends distributions; the expected value of the blend is the blend of the
    expected values, so an age follows its track as smoothly as the other tasks."""
    kind = output_kind(AGE_OUTPUT)
    a, b = np.zeros(101, np.float32), np.zeros(101, np.float32)
    a[20], b[40] = 1, 1
    labels = [str(i) for i in range(101)]
    assert kind.value(labels, 0.65 * a + 0.35 * b) == pytest.approx(27.0)


def test_age_errors_are_reported_overall_and_per_band():
    from runtime.metrics import estimate_metrics

    truth = np.array([5, 10, 25, 40, 70])
    est = np.array([8, 10, 20, 41, 60])
    m = estimate_metrics(truth, est, [(12, "0-12"), (29, "13-29")], "30+", within=5)
    assert m["n"] == 5 and m["mae"] == pytest.approx(19 / 5) and m["within_5"] == pytest.approx(0.8)
    assert m["bias"] == pytest.approx(-11 / 5)
    assert m["by_band"]["0-12"] == {"n": 2, "mae": 1.5, "within_5": 1.0, "bias": 1.5}
    assert m["by_band"]["30+"]["mae"] == pytest.approx(5.5) and m["by_band"]["13-29"]["n"] == 1
