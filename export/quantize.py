"""Static int8 quantization of an ONNX model with onnxruntime (QDQ format).

Static, not dynamic: dynamic quantization leaves a CNN's convolutions in float.
Weights are int8 per output channel, activations uint8 with ranges calibrated on
training faces: the U8S8 QDQ layout onnxruntime's CPU kernels run fastest.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from export.calibration import Calibration


def onnx_int8(float_model: bytes, calibration: Calibration, method: str = "percentile") -> bytes:
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

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    with tempfile.TemporaryDirectory(prefix="onnx-int8-") as tmp:
        src, pre, out = Path(tmp, "f.onnx"), Path(tmp, "p.onnx"), Path(tmp, "q.onnx")
        src.write_bytes(float_model)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        import onnx

        name = onnx.load(str(pre)).graph.input[0].name
        quantize_static(
            str(pre), str(out), Reader(name), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=methods[method],
            extra_options={"CalibPercentile": 99.999, "CalibTensorRangeSymmetric": False},
        )
        return out.read_bytes()
