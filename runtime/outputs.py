"""What a model's output means, and what follows from it: one class per kind of output.

A card names its kind (``output.kind``): ``softmax``, probabilities over its labels (emotion,
gender), or ``regression``, one value in a unit (an age in years). The engine's output
clean-up, what a face's record and overlay line say, and how an export is compared with
its source all dispatch on it, so a task with a new kind of output is a new class here
and its entry in ``OUTPUT_KINDS``, not edits across the runtime.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class Softmax:
    """Probabilities over the card's labels; the label shown is the most probable one."""

    name: ClassVar[str] = "softmax"
    min_labels: ClassVar[int] = 2
    max_labels: ClassVar[int | None] = None

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def clean(self, out: np.ndarray) -> np.ndarray:
        """int8 outputs come in steps of 1/256 and need not sum to 1: renormalise so every
        consumer (smoothing, JSON) gets a distribution."""
        probs = np.maximum(out, 0.0)
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)

    def label(self, labels: list[str], values: np.ndarray) -> str:
        return labels[int(np.argmax(values))]

    def confidence(self, values: np.ndarray) -> float | None:
        return float(np.max(values))

    def record(self, labels: list[str], values: np.ndarray, raw: np.ndarray | None) -> dict[str, Any]:
        return {
            "label": self.label(labels, values),
            "confidence": round(float(np.max(values)), 4),
            "probs": {k: round(float(v), 5) for k, v in zip(labels, values)},
            "raw": None if raw is None else {k: round(float(v), 5) for k, v in zip(labels, raw)},
        }

    def text(self, labels: list[str], values: np.ndarray) -> str:
        """The overlay's line, e.g. ``happy 87%``."""
        return f"{self.label(labels, values)} {float(np.max(values)):.0%}"

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        """How closely an export's outputs follow its source's on the same faces."""
        return {
            "top1_agreement": float((reference.argmax(1) == other.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(reference - other).max()) if len(reference) else 0.0,
        }


class Regression:
    """One value per face in ``unit`` (the card's single label names the quantity), shown
    with ``format`` (``{value}`` and ``{unit}``; default ``{value:.0f} {unit}``)."""

    name: ClassVar[str] = "regression"
    min_labels: ClassVar[int] = 1
    max_labels: ClassVar[int | None] = 1

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.unit = str(spec.get("unit", ""))
        self.format = str(spec.get("format", "{value:.0f} {unit}"))

    def clean(self, out: np.ndarray) -> np.ndarray:
        return np.asarray(out, np.float32).reshape(len(out), -1)[:, :1]

    def label(self, labels: list[str], values: np.ndarray) -> str:
        return self.format.format(value=float(values[0]), unit=self.unit).strip()

    def confidence(self, values: np.ndarray) -> float | None:
        return None

    def record(self, labels: list[str], values: np.ndarray, raw: np.ndarray | None) -> dict[str, Any]:
        return {
            "label": self.label(labels, values),
            "value": round(float(values[0]), 3),
            "unit": self.unit,
            "confidence": None,
            "probs": None,
            "raw": None if raw is None else round(float(raw[0]), 3),
        }

    def text(self, labels: list[str], values: np.ndarray) -> str:
        return self.label(labels, values)

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        diff = np.abs(reference[:, 0] - other[:, 0]) if len(reference) else np.zeros(1)
        return {"mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max())}


OutputKind = Softmax | Regression
OUTPUT_KINDS: dict[str, type[Softmax] | type[Regression]] = {"softmax": Softmax, "regression": Regression}


def output_kind(spec: dict[str, Any] | None) -> OutputKind:
    """The output kind a card's ``output`` section names (softmax when it names none)."""
    spec = dict(spec or {"kind": "softmax"})
    name = spec.get("kind", "softmax")
    if name not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {name!r}; choose {', '.join(OUTPUT_KINDS)}")
    return OUTPUT_KINDS[name](spec)
