"""Keras -> ONNX (tf2onnx) and TFLite (float32, float16, full-integer int8) as bytes.

Conversion only: nothing here touches the disk. ``export.pipeline`` verifies the
bytes with the engine that will run them before any file takes a real name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from export.tflite_ranges import TFLITE_PERCENTILE, narrow_ranges, percentile_ranges
from runtime.card import ModelCard

ONNX_OPSET = 17  # tf2onnx 1.17 goes to 18; 17 keeps older onnxruntime builds (Pi OS) happy
INPUT_NAME = "image"


def _serving_function(model, card: ModelCard):
    """A traced inference function with a free batch dimension and a stable input name."""
    import tensorflow as tf

    spec = (tf.TensorSpec((None, *card.input.shape), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(image):
        return {"probabilities": model(image, training=False)}

    return serve, spec


def to_onnx(model, card: ModelCard, opset: int = ONNX_OPSET):
    """The ONNX ModelProto of a Keras model (call ``check_onnx_graph`` on it before use)."""
    import tf2onnx

    serve, spec = _serving_function(model, card)
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    return proto


def to_tflite(
    model,
    card: ModelCard,
    precision: str,
    calibration: Callable[[], Iterator[np.ndarray]] | None = None,
    *,
    float_convs: int,
) -> bytes:
    """TFLite flatbuffer. ``int8`` needs ``calibration``: a callable yielding single prepared
    faces of shape (1, H, W, C). Its body is int8; the dense layers and the Softmax stay
    float (TFLite's selective quantization), so probabilities are smooth rather than
    multiples of 1/256, and it agrees with float on 98.6 % of FER2013 PublicTest instead of
    98.4 % (the verification floor is 98.5 %); so do the first ``float_convs`` convolutions,
    as in the ONNX recipe (``TFLITE_INT8_RECIPE``); activation ranges are clipped at a
    percentile of the calibration faces' activations (``export.tflite_ranges``); input and
    output are float32."""
    import tempfile

    import tensorflow as tf

    # Through a SavedModel: converting a traced Keras 3 function directly keeps its
    # weights as resource variables, which the TFLite interpreter cannot read.
    with tempfile.TemporaryDirectory(prefix="tflite-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if precision == "int8":
            float_model = tf.lite.TFLiteConverter.from_saved_model(tmp).convert()
            kept = conv_tensors(float_model)[:float_convs]
            return _int8_float_head(conv, calibration, kept, float_model)
        return _configure(conv, precision, calibration).convert()


FLOAT_TFLITE_OPS = ["SOFTMAX", "FULLY_CONNECTED"]
# What stays float in an int8 TFLite file; recorded in its card, with how many leading
# convolutions stay float (``Int8Recipe.float_convs``: one count for both engines). The first
# convolution sees the raw normalised pixels (a single channel for gray models): rounding them
# to 8 bits was the largest single loss, as in the ONNX recipe (export.quantize.Int8Recipe), and it costs
# under 1 % of the multiply-adds. Kept float, emotion_edge_vgg_wild's int8 file agreed with
# Keras on 98.04 % of ExpW val instead of 97.13 %, and on 99.58 % of FER2013 PublicTest
# instead of 99.41 %.
TFLITE_INT8_RECIPE = {
    "tool": "tf.lite.TFLiteConverter (representative dataset, selective quantization)",
    "float_ops": FLOAT_TFLITE_OPS,
    "method": "percentile",
    "percentile": TFLITE_PERCENTILE,
}


def conv_tensors(float_tflite: bytes) -> list[str]:
    """The output tensor names of a float TFLite model's CONV_2D operators, in graph order:
    the nodes TFLite's selective quantization can keep float (``denylisted_nodes``)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=float_tflite)
    names = {t["index"]: t["name"] for t in it.get_tensor_details()}
    ops = it._get_ops_details()  # the only API that lists the graph's operators
    return [names[op["outputs"][0]] for op in ops if op["op_name"] == "CONV_2D"]


def _int8_float_head(conv, calibration, float_nodes: list[str], float_model: bytes) -> bytes:
    """Integer convolutions, float dense layers and Softmax (and ``float_nodes``), with
    activation ranges at the recipe's percentile of ``float_model``'s activations."""
    import tensorflow as tf

    if calibration is None:
        raise ValueError("int8 TFLite needs calibration faces")
    drawn = np.concatenate([x.astype(np.float32) for x in calibration()])

    def faces():
        return ([x[None]] for x in drawn)

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = faces
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_ops=FLOAT_TFLITE_OPS, denylisted_nodes=float_nodes
    )
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=conv, debug_dataset=faces, debug_options=options
    )
    ranges = percentile_ranges(float_model, drawn, TFLITE_PERCENTILE)
    debugger.calibrated_model, _ = narrow_ranges(debugger.calibrated_model, ranges)
    return debugger.get_nondebug_quantized_model()


def _configure(conv, precision: str, calibration):
    import tensorflow as tf

    if precision == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision != "float32":
        raise ValueError(f"unknown TFLite precision {precision!r}")
    return conv
