"""Checks an exported file must pass before it gets a real name.

A converter that returns without error has not proved anything: tf2onnx keeps
going past TensorFlow ops it cannot map, and a quantizer can clip a layer into
noise. Each file is loaded back with the engine that will run it and compared
with the Keras model, image by image, on held-out faces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from runtime.outputs import OutputKind

STANDARD_DOMAINS = {"", "ai.onnx", "com.microsoft"}  # what onnxruntime's CPU provider runs


class ExportError(RuntimeError):
    """An export failed a check; the previous good file (if any) is left as it was."""


@dataclass(frozen=True)
class Limits:
    """What an exported file may differ from Keras by (None: not checked for this precision)."""

    min_top1_agreement: float | None = None
    max_abs_diff: float | None = None
    max_accuracy_drop: float | None = None  # accuracy points, on each evaluation split


# fp32 must be the same model. fp16 stores weights in half precision (11-bit
# mantissa, about 5e-4 relative per weight), so it is held to the same top-1 rule and a
# looser probability bound. int8 must give the same answer as Keras on at least 98.5 % of
# faces and cost at most 0.3 points on every split; its probabilities differ by more than
# a float file's (up to about 0.15 measured), so they are not bounded one by one. Passing
# here says little about other CPUs, whose int8 kernels differ: ``check_int8_graph`` refuses
# the graphs known to answer differently elsewhere.
LIMITS = {  # by precision: runtime.model_folder.PRECISIONS
    "fp32": Limits(min_top1_agreement=0.999, max_abs_diff=1e-4),
    "fp16": Limits(min_top1_agreement=0.995, max_abs_diff=5e-3, max_accuracy_drop=0.3),
    "int8": Limits(min_top1_agreement=0.985, max_accuracy_drop=0.3),
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


@dataclass(frozen=True)
class RegressionComparison:
    """A regression export against Keras: how far its values stray, in the output's unit."""

    n: int
    mean_abs_diff: float
    max_abs_diff: float
    mae: float  # this file against the labels
    reference_mae: float  # the Keras model, same images

    def to_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


# A regression's int8 values may stray by 0.5 units on average (an age: half a year), its
# float files by what their precision allows.
REGRESSION_LIMITS = {"fp32": 1e-3, "fp16": 0.05, "int8": 0.5}  # mean absolute difference, in units


def compare(
    reference: np.ndarray, probs: np.ndarray, labels: np.ndarray, kind: OutputKind | None = None
) -> Comparison | RegressionComparison:
    """The export's outputs against Keras's on the same faces, as the output kind compares
    them (top-1 and accuracy for a softmax; absolute differences of the estimates for a
    regression or an expected value)."""
    if kind is not None and kind.is_value:
        if reference.shape != probs.shape or not np.all(np.isfinite(probs)):
            raise ExportError(
                f"exported model outputs {probs.shape} (or non-finite values), Keras {reference.shape}"
            )
        a = kind.agreement(reference, probs)
        truth = np.asarray(labels, np.float64)
        return RegressionComparison(
            n=int(len(truth)),
            mean_abs_diff=a["mean_abs_diff"],
            max_abs_diff=a["max_abs_diff"],
            mae=float(np.abs(kind.estimates(probs) - truth).mean()) if len(truth) else 0.0,
            reference_mae=float(np.abs(kind.estimates(reference) - truth).mean()) if len(truth) else 0.0,
        )
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


def failures(precision: str, c: Comparison | RegressionComparison, split: str) -> list[str]:
    """Human-readable reasons this comparison fails its precision's limits (empty: passes)."""
    if isinstance(c, RegressionComparison):
        limit = REGRESSION_LIMITS[precision]
        if c.mean_abs_diff > limit:
            return [
                f"values differ from Keras by {c.mean_abs_diff:.3g} on average on {split} (limit {limit:g})"
            ]
        return []
    lim = LIMITS[precision]
    out = []
    if lim.min_top1_agreement is not None and c.top1_agreement < lim.min_top1_agreement:
        out.append(
            f"top-1 agrees with Keras on {c.top1_agreement:.2%} of {split} "
            f"(needs {lim.min_top1_agreement:.1%})"
        )
    if lim.max_abs_diff is not None and c.max_abs_diff > lim.max_abs_diff:
        out.append(
            f"probabilities differ from Keras by up to {c.max_abs_diff:.2g} on {split} "
            f"(limit {lim.max_abs_diff:g})"
        )
    if lim.max_accuracy_drop is not None and c.accuracy_drop > lim.max_accuracy_drop:
        out.append(
            f"accuracy on {split} is {100 * c.accuracy:.2f} %, {c.accuracy_drop:.2f} points "
            f"below Keras (limit {lim.max_accuracy_drop:g})"
        )
    return out


def check_onnx_graph(proto) -> None:
    """Refuse a graph that is malformed or still holds ops outside the standard domains."""
    import onnx

    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"ONNX checker rejects the graph: {str(e).splitlines()[0]}") from e
    foreign = sorted(
        {f"{n.domain}:{n.op_type}" for n in proto.graph.node if n.domain not in STANDARD_DOMAINS}
    )
    if foreign:
        raise ExportError(
            f"tf2onnx left {len(foreign)} unconverted op type(s): "
            f"{', '.join(foreign[:5])}; the ONNX file would not run"
        )


# onnxruntime's x86-64 U8S8 kernels without VNNI multiply with vpmaddubsw: two uint8 x int8
# products summed into a saturating int16. With weights within [-64, 64] the sum stays in
# range (255 * 64 * 2 = 32640 <= 32767); with full 8-bit weights it does not, and the file
# answers differently on AVX2-only CPUs than on the VNNI or ARM CPU that verified it.
SAFE_U8S8_WEIGHT = 64
COMPUTE_OPS = {
    "Conv",
    "ConvTranspose",
    "MatMul",
    "Gemm",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
}
# Ops that pass values to the graph output without computing new ones from weights: a
# quantized tensor behind them makes the output itself come in steps.
PASS_THROUGH = {
    "Softmax",
    "LogSoftmax",
    "Identity",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Cast",
    "Add",
    "Mul",
    "Sub",
    "Relu",
    "Sigmoid",
    "Clip",
    "Max",
    "Min",
    "Concat",
}


Quantized = tuple[np.dtype, np.ndarray | None]  # integer type; weight values, None for an activation


class _Graph:
    """Lookups into an ONNX graph: its constants (initializers and Constant nodes) and the
    node that produces each tensor."""

    def __init__(self, proto) -> None:
        g = proto.graph
        self.nodes = g.node
        self.outputs = g.output
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        self.const = {
            n.output[0]: n.attribute[0].t
            for n in g.node
            if n.op_type == "Constant" and n.attribute and n.attribute[0].type == 4
        }

    def tensor(self, name: str) -> np.ndarray | None:
        """A constant's values; None for a computed tensor."""
        from onnx import numpy_helper

        t = self.inits.get(name) or self.const.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def quantized(self, name: str) -> Quantized | None:
        """(integer dtype, weight values or None for an activation) of a DQ-fed input."""
        node = self.producer.get(name)
        if node is None or node.op_type != "DequantizeLinear":
            return None
        data = self.tensor(node.input[0])
        if data is not None:
            return data.dtype, data
        zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
        zero = self.tensor(zp) if zp else None
        return (zero.dtype if zero is not None else np.dtype(np.uint8)), None


def _compute_inputs(g: _Graph, node) -> list[Quantized]:
    """The quantized inputs of a compute node (activation and weights), whatever its form:
    QLinear ops, integer ops, or a float op fed by DequantizeLinear (QDQ)."""
    if node.op_type in ("QLinearConv", "QLinearMatMul"):  # x, x_scale, x_zp, w, ...
        zx = g.tensor(node.input[2]) if len(node.input) > 2 else None
        w = g.tensor(node.input[3])
        ins: list[Quantized] = [((zx.dtype if zx is not None else np.dtype(np.uint8)), None)]
        return [*ins, (w.dtype, w)] if w is not None else ins
    if node.op_type in ("ConvInteger", "MatMulInteger"):
        tensors = [g.tensor(i) for i in node.input[:2]]
        return [(w.dtype, w) if w is not None else (np.dtype(np.uint8), None) for w in tensors]
    return [q for q in (g.quantized(i) for i in node.input[:2]) if q is not None]


def _saturating_weights(node, ins: list[Quantized]) -> list[str]:
    """The int8 weights of one node that exceed SAFE_U8S8_WEIGHT and meet 8-bit activations."""
    # int8 activations count too: on x86-64 onnxruntime shifts them to uint8 and runs the
    # same U8S8 kernels (S8S8 measured at 88.7 % agreement under an emulated Haswell)
    activation_8bit = any(w is None and d in (np.uint8, np.int8) for d, w in ins)
    problems = []
    for d, w in ins:
        if w is not None and d == np.int8 and activation_8bit:
            worst = int(np.abs(w.astype(np.int32)).max()) if w.size else 0
            if worst > SAFE_U8S8_WEIGHT:
                problems.append(f"{node.op_type} {node.name or node.output[0]} (int8 weights up to {worst})")
    return problems


def _check_saturation(g: _Graph) -> None:
    problems = [
        p
        for node in g.nodes
        if node.op_type in COMPUTE_OPS
        for p in _saturating_weights(node, _compute_inputs(g, node))
    ]
    if problems:
        raise ExportError(
            f"int8 weights outside [-{SAFE_U8S8_WEIGHT}, {SAFE_U8S8_WEIGHT}] meet 8-bit "
            f"activations in {len(problems)} layer(s), e.g. {problems[0]}: onnxruntime's U8S8 "
            "kernels saturate on x86-64 CPUs with AVX2 and no VNNI, so the file would answer "
            "differently there; quantize with 7-bit weights (reduce_range)"
        )


def _check_output(g: _Graph, out) -> None:
    """A graph output must be float and not come, through pass-through ops only, from a
    dequantized activation."""
    from onnx import TensorProto

    if out.type.tensor_type.elem_type not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
        raise ExportError(
            f"graph output {out.name} is an integer tensor: probabilities "
            "would come in steps; keep the output in float"
        )
    seen, stack = set(), [out.name]
    while stack:
        name = stack.pop()
        node = g.producer.get(name)
        if node is None or name in seen:
            continue
        seen.add(name)
        if (
            node.op_type == "DequantizeLinear" and name not in g.inits and g.tensor(node.input[0]) is None
        ):  # an activation, not a weight
            raise ExportError(
                f"graph output {out.name} is computed from the quantized tensor "
                f"{node.input[0]}: probabilities would come in steps of its scale; keep the "
                "Softmax and the last dense layer in float (export.quantize float_head)"
            )
        if node.op_type in PASS_THROUGH:
            stack += [i for i in node.input if i]


def check_int8_graph(proto) -> None:
    """Refuse an int8 ONNX graph whose answers would depend on the CPU or come in steps.

    * 8-bit activations multiplied by int8 weights outside [-64, 64] (the U8S8 kernels of
      x86-64 CPUs with AVX2 and no VNNI saturate on them; quantize with 7-bit weights);
      uint8 weights (U8U8) do not saturate and pass;
    * a graph output (the probabilities) or the logits before its Softmax dequantized from
      8 bits: they would come in steps of the output scale (1/256 for a Softmax).
    """
    g = _Graph(proto)
    _check_saturation(g)
    for out in g.outputs:
        _check_output(g, out)
