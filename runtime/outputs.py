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
    # How a track averages its outputs: "ema" (the runtime's --smoothing: a face's expression
    # changes) or "mean" (every frame of the track alike: an age does not).
    per_track: str = "ema"
    # True for kinds whose answer is a number (an age): compared, scored and selected on
    # by their estimates (``estimates``), not by top-1.
    is_value: ClassVar[bool] = False
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

    def estimate(self, labels: list[str], values: np.ndarray) -> float:
        """Only kinds whose answer is a number (``is_value``) have one."""
        raise TypeError(f"a {self.name} output names a label, not a value")

    def shown(self, value: float) -> str:
        raise TypeError(f"a {self.name} output names a label, not a value")

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


class _Valued:
    """What every kind whose answer is a number shares: its unit and how it is shown, no
    confidence, and agreement as differences of the estimates. A subclass gives
    ``estimates`` (a batch of outputs -> one value each)."""

    is_value: ClassVar[bool] = True
    spec: dict[str, Any]

    def _read_value_spec(self, spec: dict[str, Any], per_track: str) -> None:
        self.unit = str(spec.get("unit", ""))
        self.format = str(spec.get("format", "{value:.0f} {unit}"))
        self.per_track = str(spec.get("per_track", per_track))  # see Softmax.per_track

    def estimates(self, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def estimate(self, labels: list[str], values: np.ndarray) -> float:
        """One face's value (its outputs, smoothed or raw)."""
        return float(self.estimates(np.asarray(values).reshape(1, -1))[0])

    def shown(self, value: float) -> str:
        """How a value reads on the overlay and in the summary, e.g. ``~31 y``."""
        return self.format.format(value=value, unit=self.unit).strip()

    def label(self, labels: list[str], values: np.ndarray) -> str:
        return self.shown(self.estimate(labels, values))

    def text(self, labels: list[str], values: np.ndarray) -> str:
        return self.label(labels, values)

    def confidence(self, values: np.ndarray) -> float | None:
        return None

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        """Compared as values: an export's estimates against its source's."""
        if not len(reference):
            return {"mean_abs_diff": 0.0, "max_abs_diff": 0.0}
        diff = np.abs(self.estimates(reference) - self.estimates(other))
        return {"mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max())}


class Regression(_Valued):
    """One value per face in ``unit`` (the card's single label names the quantity), shown
    with ``format`` (``{value}`` and ``{unit}``; default ``{value:.0f} {unit}``)."""

    name: ClassVar[str] = "regression"
    min_labels: ClassVar[int] = 1
    max_labels: ClassVar[int | None] = 1

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._read_value_spec(spec, "ema")

    def clean(self, out: np.ndarray) -> np.ndarray:
        return np.asarray(out, np.float32).reshape(len(out), -1)[:, :1]

    def estimates(self, out: np.ndarray) -> np.ndarray:
        """The value per face of a batch of outputs."""
        return np.asarray(out, np.float64)[:, 0]

    def record(self, labels: list[str], values: np.ndarray, raw: np.ndarray | None) -> dict[str, Any]:
        return {
            "label": self.label(labels, values),
            "value": round(float(values[0]), 3),
            "unit": self.unit,
            "confidence": None,
            "probs": None,
            "raw": None if raw is None else round(float(raw[0]), 3),
        }


class Expectation(_Valued, Softmax):
    """Probabilities over ordered values (the card's labels are the numbers 0, 1, ... n-1,
    e.g. one bin per year of age); the estimate is their expected value, in ``unit``, shown
    with ``format`` and named by its band (``bands``: [upper bound, name] pairs in order,
    then ``last_band``). Smoothing a track's distributions smooths its expected value with
    them. Cleaned (renormalised) as a softmax."""

    name: ClassVar[str] = "expectation"

    def __init__(self, spec: dict[str, Any]) -> None:
        Softmax.__init__(self, spec)
        # A person's age is the same on every frame of a track: average them all (a frame's
        # estimate swings by years with pose and expression), unless the card says "ema".
        self._read_value_spec(spec, "mean")
        self.bands = [(float(upper), str(name)) for upper, name in spec.get("bands", [])]
        self.last_band = str(spec.get("last_band", ""))

    def estimates(self, out: np.ndarray) -> np.ndarray:
        """The expected value per face of a batch of distributions (renormalised: int8
        outputs need not sum to 1)."""
        p = np.asarray(out, np.float64)
        return p @ np.arange(p.shape[1]) / np.maximum(p.sum(1), 1e-12)

    def value(self, labels: list[str], probs: np.ndarray) -> float:
        return self.estimate(labels, probs)

    def band(self, value: float) -> str:
        """The band an estimate falls in (rounded to whole units first, as it is shown)."""
        shown = round(value)
        return next((name for upper, name in self.bands if shown <= upper), self.last_band)

    def record(self, labels: list[str], values: np.ndarray, raw: np.ndarray | None) -> dict[str, Any]:
        """Value and band; the 101 bin probabilities stay out of every line of JSON."""
        v = self.estimate(labels, values)
        return {
            "label": self.shown(v),
            "value": round(v, 2),
            "unit": self.unit,
            "band": self.band(v),
            "confidence": None,
            "probs": None,
            "raw": None if raw is None else round(self.estimate(labels, raw), 2),
        }


OutputKind = Softmax | Regression | Expectation
OUTPUT_KINDS: dict[str, type[Softmax] | type[Regression] | type[Expectation]] = {
    "softmax": Softmax,
    "regression": Regression,
    "expectation": Expectation,
}


def output_kind(spec: dict[str, Any] | None) -> OutputKind:
    """The output kind a card's ``output`` section names (softmax when it names none)."""
    spec = dict(spec or {"kind": "softmax"})
    name = spec.get("kind", "softmax")
    if name not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {name!r}; choose {', '.join(OUTPUT_KINDS)}")
    return OUTPUT_KINDS[name](spec)
