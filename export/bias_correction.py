"""Empirical bias correction of a QDQ int8 ONNX graph.

Rounding weights and activations to 8 bits moves each layer's output by an error whose
mean over faces is not zero: a small shift per output channel, the same on every face,
which the next layers carry on. On a face whose two best classes are close, a shift of a
hundredth in one logit is enough to change the answer. The shift is measured on the
calibration faces (the float graph against the quantized one, each layer's output before
its activation) and taken out of the layer's bias, one layer at a time from the input, so
each correction sees the layers before it corrected (Nagel et al., "Data-Free Quantization
Through Weight Equalization and Bias Correction", 2019, the empirical variant). The graph
keeps its shape and its speed: only bias values change.
"""

from __future__ import annotations

import numpy as np

COMPUTE_OPS = ("Conv", "Gemm")  # the layers with a bias (input 2)


def _channel_means(proto, outputs: list[str], x: np.ndarray, batch: int = 64) -> list[np.ndarray]:
    """Mean of each named tensor over the faces and every axis but the channel axis (1).

    The graph runs unfused (QDQ simulated in float), which gives the integer kernels'
    answers to the face (docs/results.md) and keeps every intermediate tensor."""
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in dict.fromkeys(outputs) if n not in known)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = model.graph.input[0].name
    sums: list = [0.0] * len(outputs)
    count = [0] * len(outputs)
    for start in range(0, len(x), batch):
        for i, v in enumerate(session.run(outputs, {name: x[start : start + batch].astype(np.float32)})):
            v = np.moveaxis(v.astype(np.float64), 1, -1).reshape(-1, v.shape[1])
            sums[i] = sums[i] + v.sum(axis=0)
            count[i] += len(v)
    return [s / n for s, n in zip(sums, count)]


def _layers(proto) -> list:
    """The graph's Conv and Gemm nodes that have a bias, in graph (topological) order."""
    return [n for n in proto.graph.node if n.op_type in COMPUTE_OPS and len(n.input) > 2 and n.input[2]]


def _shift_bias(inits: dict, producer: dict, node, delta: np.ndarray) -> None:
    """Add ``delta`` to the node's bias: a float initializer, or an int32 one behind a
    DequantizeLinear (rounded to its per-channel scale). ``inits`` and ``producer`` index
    the graph's initializers and nodes by name (built once per graph)."""
    from onnx import numpy_helper

    name, scale = node.input[2], None
    dq = producer.get(name)
    if dq is not None and dq.op_type == "DequantizeLinear":
        name, scale = dq.input[0], numpy_helper.to_array(inits[dq.input[1]])
    if name not in inits:
        return  # a computed bias: left alone
    init = inits[name]
    bias = numpy_helper.to_array(init)
    if scale is None:
        new = (bias + delta).astype(bias.dtype)
    else:
        step = np.rint(delta / scale.astype(np.float64))
        new = np.clip(bias.astype(np.int64) + step.astype(np.int64), -(2**31), 2**31 - 1).astype(bias.dtype)
    init.CopyFrom(numpy_helper.from_array(new.reshape(bias.shape), name))


def correct_biases(quantized, reference, x: np.ndarray) -> int:
    """Take each layer's mean output shift on the faces ``x`` out of its bias, in place.

    ``quantized`` and ``reference`` are the QDQ graph and the float graph it was quantized
    from (the quantizer keeps node names). Returns how many layers were corrected."""
    ref_nodes = {n.name: n for n in reference.graph.node}
    pairs = [(n, ref_nodes[n.name]) for n in _layers(quantized) if n.name in ref_nodes]
    if not pairs:
        return 0
    targets = _channel_means(reference, [r.output[0] for _, r in pairs], x)
    inits = {i.name: i for i in quantized.graph.initializer}
    producer = {o: n for n in quantized.graph.node for o in n.output}
    for (node, _), target in zip(pairs, targets):
        (mean,) = _channel_means(quantized, [node.output[0]], x)
        _shift_bias(inits, producer, node, target - mean)
    return len(pairs)
