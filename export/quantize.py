"""Static int8 quantization of an ONNX model with onnxruntime (QDQ format).

Static, not dynamic: dynamic quantization leaves a CNN's convolutions in float.
Activations are uint8 with ranges calibrated on training faces, weights int8 per output
channel: the U8S8 layout onnxruntime's CPU kernels run fastest. Two choices make the
file give the same answers on every CPU class, not only on the one it was verified on:

* **7-bit weights** (``reduce_range``: int8 weights within [-64, 64]). On x86-64 with
  AVX2 but without VNNI, onnxruntime's U8S8 kernels multiply with ``vpmaddubsw``, whose
  16-bit sum of two uint8 x int8 products saturates once it passes 32767; full-range
  weights (255 x 127 x 2 = 64770) do, and the shipped emotion model agreed with its
  float twin on 92.2 % of FER2013 PublicTest there against 99.2 % on a VNNI CPU. 7-bit
  weights cannot (255 x 64 x 2 = 32640). ``export.verify.check_int8_graph`` refuses a
  graph that could.
* **A float head**: the last classifier layer (MatMul/Gemm and its bias) and the Softmax
  stay float, on dequantized int8 activations, so probabilities are smooth instead of
  multiples of 1/256, and the logits are not rounded to a coarse grid before the
  Softmax. It costs one small float matrix product per face.

S8S8 is no way out (onnxruntime shifts int8 activations to uint8 on x86-64 and the same
kernels saturate: 88.7 % agreement under an emulated Haswell); U8U8 does not saturate but
runs 3-7x slower than U8S8 on x86-64. 7-bit weights cost some agreement (FER2013 PublicTest
98.4 % against 99.2 % with 8-bit weights, on every CPU); calibrating activations at the
99.9999th percentile instead of the 99.999th wins part of it back (98.7 %). The
measurements: docs/results.md, "int8 agreement per CPU class".
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from export.bias_correction import correct_biases
from export.calibration import Calibration

HEAD_OPS = {"MatMul", "Gemm", "Add", "Softmax", "Identity", "Reshape", "Flatten", "Squeeze"}


@dataclass(frozen=True)
class Int8Recipe:
    activations: str = "uint8"  # uint8 | int8
    weights: str = "int8"  # int8 | uint8
    reduce_range: bool = True  # 7-bit weights: no vpmaddubsw saturation on AVX2 without VNNI
    float_head: bool = True  # the last dense layer and the Softmax stay float
    # The first convolutions stay float (1 by default). The first sees the raw normalised
    # pixels through a single input channel (0.7 M of 118 M multiply-adds for 48x48 gray,
    # 1.6 M of 120 M for 64x64 RGB), so it costs nothing measurable, and rounding its input
    # to 8 bits was the largest single loss: emotion agreement 98.72 -> 98.86 % on FER2013
    # PublicTest, detector crops of the shared clips 97.56 -> 98.03 %. A narrow model may
    # need the second too (``python -m export --float-convs 2``): it reads the first ReLU at
    # full resolution through few channels (the nano emotion model, docs/results.md).
    float_convs: int = 1
    method: str = "percentile"  # minmax | percentile | entropy
    percentile: float = 99.9999
    # A batch norm after a dense layer reaches ONNX as MatMul -> Mul -> Add: quantized as it
    # stands, its per-channel scale is rounded to one 8-bit grid for the whole vector and the
    # features are rounded three times. Folded into the weights first (exact in float), the
    # scale is rounded per output channel with them and the features once.
    fold_dense_norm: bool = True
    # Rounding shifts each layer's mean output a little, the same way on every face; the
    # shift is measured on the calibration faces and taken back out of the layer's bias,
    # layer by layer from the input (Nagel et al. 2019, empirical bias correction).
    bias_correction: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_RECIPE = Int8Recipe()


def head_nodes(proto) -> list[str]:
    """Names of the nodes from the last MatMul/Gemm to the graph output (the Softmax, the
    bias Add, any reshapes): the classifier head that stays float."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    out, seen = [], set()
    stack = [o.name for o in proto.graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen or node.op_type not in HEAD_OPS:
            continue
        seen.add(node.name)
        out.append(node.name)
        if node.op_type in ("MatMul", "Gemm"):
            continue  # the head ends at the dense layer itself
        if node.op_type == "Add":  # the bias: follow the branch that is not a constant
            stack += [i for i in node.input if i in producer]
        else:
            stack += [i for i in node.input[:1] if i in producer]
    if not any(n.op_type in ("MatMul", "Gemm") for n in proto.graph.node if n.name in seen):
        raise ValueError(
            "no dense layer found between the graph output and the network body; "
            "cannot keep the classifier head in float"
        )
    return out


def float_nodes(proto, recipe: Int8Recipe) -> list[str]:
    """The nodes the recipe keeps in float: the classifier head, the first convolutions."""
    out = head_nodes(proto) if recipe.float_head else []
    return out + [n.name for n in proto.graph.node if n.op_type == "Conv"][: recipe.float_convs]


def fold_dense_norm(proto) -> int:
    """Fold a per-channel Mul that follows a dense layer (a batch norm's scale) into the
    layer's weights, in place; returns how many were folded. Exact in float."""
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    consumers: dict[str, list] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in proto.graph.output}
    folded = []
    for matmul in proto.graph.node:
        if matmul.op_type != "MatMul" or matmul.input[1] not in inits or matmul.output[0] in outputs:
            continue
        users = consumers.get(matmul.output[0], [])
        if len(users) != 1 or users[0].op_type != "Mul" or len(consumers[matmul.input[1]]) != 1:
            continue
        mul = users[0]
        (scale_name,) = [i for i in mul.input if i != matmul.output[0]] or [None]
        weights = numpy_helper.to_array(inits[matmul.input[1]])
        if scale_name not in inits or weights.ndim != 2:
            continue
        scale = numpy_helper.to_array(inits[scale_name])
        if scale.size != weights.shape[1] or scale.shape[-1] != weights.shape[1]:
            continue
        inits[matmul.input[1]].CopyFrom(
            numpy_helper.from_array((weights * scale.reshape(1, -1)).astype(weights.dtype), matmul.input[1])
        )
        for node in consumers.get(mul.output[0], []):
            node.input[:] = [matmul.output[0] if i == mul.output[0] else i for i in node.input]
        for out in proto.graph.output:
            if out.name == mul.output[0]:
                out.name = matmul.output[0]
        folded.append(mul)
    for mul in folded:
        proto.graph.node.remove(mul)
    return len(folded)


def onnx_int8(float_model: bytes, calibration: Calibration, recipe: Int8Recipe = DEFAULT_RECIPE) -> bytes:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, name: str) -> None:  # one face per call: the histogram
            # calibrators stack per-call outputs and need equal shapes
            self.it = ({name: x.astype(np.float32)} for x in calibration.batches(1))

        def get_next(self):
            return next(self.it, None)

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    with tempfile.TemporaryDirectory(prefix="onnx-int8-") as tmp:
        src, pre, out = Path(tmp, "f.onnx"), Path(tmp, "p.onnx"), Path(tmp, "q.onnx")
        source = onnx.load_from_string(float_model)
        if recipe.fold_dense_norm:
            fold_dense_norm(source)
        onnx.save(source, str(src))
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        proto = onnx.load(str(pre))
        name = proto.graph.input[0].name
        quantize_static(
            str(pre),
            str(out),
            Reader(name),
            quant_format=QuantFormat.QDQ,
            activation_type=types[recipe.activations],
            weight_type=types[recipe.weights],
            per_channel=True,
            reduce_range=recipe.reduce_range,
            nodes_to_exclude=float_nodes(proto, recipe) or None,
            calibrate_method=methods[recipe.method],
            extra_options={"CalibPercentile": recipe.percentile, "CalibTensorRangeSymmetric": False},
        )
        if not recipe.bias_correction:
            return out.read_bytes()
        quantized = onnx.load(str(out))
        correct_biases(quantized, proto, calibration.x)
        return quantized.SerializeToString()
