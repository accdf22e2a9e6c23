"""Checks an exported file must pass before it gets a real name.

A converter that returns without error has not proved anything: tf2onnx keeps
going past TensorFlow ops it cannot map, and a quantizer can clip a layer into
noise. Each file is loaded back with the engine that will run it and compared
with the Keras model, image by image, on held-out faces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

STANDARD_DOMAINS = {"", "ai.onnx", "com.microsoft"}  # what onnxruntime's CPU provider runs


class ExportError(RuntimeError):
    """An export failed a check; the previous good file (if any) is left as it was."""


@dataclass(frozen=True)
class Limits:
    """What an exported file may differ from Keras by (None: not checked for this precision)."""

    min_top1_agreement: float | None = None
    max_abs_diff: float | None = None
    max_accuracy_drop: float | None = None  # accuracy points, on each evaluation split


# float32 must be the same model. float16 stores weights in half precision (11-bit
# mantissa, about 5e-4 relative per weight), so it is held to the same top-1 rule and a
# looser probability bound. int8 is judged by what users see: accuracy on held-out data.
LIMITS = {
    "float32": Limits(min_top1_agreement=0.999, max_abs_diff=1e-4),
    "float16": Limits(min_top1_agreement=0.995, max_abs_diff=5e-3, max_accuracy_drop=0.3),
    "int8": Limits(max_accuracy_drop=1.0),
}


@dataclass(frozen=True)
class Comparison:
    n: int
    top1_agreement: float
    max_abs_diff: float
    accuracy: float  # this file
    reference_accuracy: float  # the Keras model, same images

    @property
    def accuracy_drop(self) -> float:
        """In accuracy points (percent)."""
        return 100.0 * (self.reference_accuracy - self.accuracy)

    def to_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def compare(reference: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> Comparison:
    if reference.shape != probs.shape:
        raise ExportError(f"exported model outputs {probs.shape}, Keras {reference.shape}")
    if not np.all(np.isfinite(probs)):
        raise ExportError("exported model outputs NaN or infinity")
    return Comparison(
        n=int(len(labels)),
        top1_agreement=float((reference.argmax(1) == probs.argmax(1)).mean()),
        max_abs_diff=float(np.abs(reference - probs).max()),
        accuracy=float((probs.argmax(1) == labels).mean()),
        reference_accuracy=float((reference.argmax(1) == labels).mean()),
    )


def failures(precision: str, c: Comparison, split: str) -> list[str]:
    """Human-readable reasons this comparison fails its precision's limits (empty: passes)."""
    lim = LIMITS[precision]
    out = []
    if lim.min_top1_agreement is not None and c.top1_agreement < lim.min_top1_agreement:
        out.append(f"top-1 agrees with Keras on {c.top1_agreement:.2%} of {split} "
                   f"(needs {lim.min_top1_agreement:.1%})")
    if lim.max_abs_diff is not None and c.max_abs_diff > lim.max_abs_diff:
        out.append(f"probabilities differ from Keras by up to {c.max_abs_diff:.2g} on {split} "
                   f"(limit {lim.max_abs_diff:g})")
    if lim.max_accuracy_drop is not None and c.accuracy_drop > lim.max_accuracy_drop:
        out.append(f"accuracy on {split} is {100 * c.accuracy:.2f} %, {c.accuracy_drop:.2f} points "
                   f"below Keras (limit {lim.max_accuracy_drop:g})")
    return out


def check_onnx_graph(proto) -> None:
    """Refuse a graph that is malformed or still holds ops outside the standard domains."""
    import onnx

    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"ONNX checker rejects the graph: {str(e).splitlines()[0]}") from e
    foreign = sorted({f"{n.domain}:{n.op_type}" for n in proto.graph.node
                      if n.domain not in STANDARD_DOMAINS})
    if foreign:
        raise ExportError(f"tf2onnx left {len(foreign)} unconverted op type(s): "
                          f"{', '.join(foreign[:5])}; the ONNX file would not run")
