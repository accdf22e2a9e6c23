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
