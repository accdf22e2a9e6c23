"""Run an exported classifier with the lean engines only: onnxruntime or the LiteRT interpreter.

Both take the float, normalised batch that ``runtime.preprocess`` produces and return
class probabilities, so export verification, benchmarks and the live runtime call the
very same code. An int8 TFLite file with integer input is fed through the scale and
zero point stored in the file itself (the card repeats them for other consumers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .quiet import native_banners_filtered


class BackendError(RuntimeError):
    """A model file cannot be opened by the engine its extension names."""


class Classifier(Protocol):
    path: Path

    @property
    def input_shape(self) -> tuple:
        """(H, W, C) the file expects (the batch dimension left out)."""
        ...

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, C) float32 normalised -> (N, classes) float32 probabilities."""
        ...


@dataclass
class OnnxClassifier:
    path: Path
    session: Any
    input_name: str

    @classmethod
    def open(cls, path: Path, threads: int = 1) -> OnnxClassifier:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(0, threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise BackendError(f"onnxruntime cannot load {path}: {str(e).splitlines()[0]}") from e
        return cls(Path(path), sess, sess.get_inputs()[0].name)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.session.get_inputs()[0].shape[1:])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]


@dataclass(frozen=True)
class Quantization:
    """Affine int8/uint8 encoding of one tensor: real = scale * (q - zero_point)."""

    dtype: str  # int8 | uint8 | float32
    scale: float = 1.0
    zero_point: int = 0

    @property
    def is_integer(self) -> bool:
        return self.dtype in ("int8", "uint8")

    def quantize(self, x: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((q.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)

    def to_dict(self) -> dict:
        return {"dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


def _quantization(detail: dict) -> Quantization:
    dtype = np.dtype(detail["dtype"]).name
    scale, zero = detail.get("quantization", (0.0, 0))
    if dtype in ("int8", "uint8") and scale:
        return Quantization(dtype, float(scale), int(zero))
    return Quantization(dtype)


@dataclass
class LiteRTClassifier:
    path: Path
    interpreter: Any
    input_q: Quantization
    output_q: Quantization
    _batch: int = 0

    @classmethod
    def open(cls, path: Path, threads: int = 1) -> LiteRTClassifier:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise BackendError(
                "TFLite files need the ai-edge-litert package "
                "(pip install ai-edge-litert), or use the .onnx export"
            ) from e
        try:
            interp = Interpreter(model_path=str(path), num_threads=max(1, threads))
        except (ValueError, RuntimeError) as e:
            raise BackendError(f"LiteRT cannot load {path}: {str(e).splitlines()[0]}") from e
        return cls(
            Path(path),
            interp,
            _quantization(interp.get_input_details()[0]),
            _quantization(interp.get_output_details()[0]),
        )

    @property
    def input_shape(self) -> tuple:
        return tuple(int(v) for v in self.interpreter.get_input_details()[0]["shape"][1:])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        inp = self.interpreter.get_input_details()[0]
        if batch.shape[0] != self._batch:  # the file's batch is 1: resize once per new size
            with native_banners_filtered():  # the first allocation announces XNNPACK
                self.interpreter.resize_tensor_input(inp["index"], list(batch.shape))
                self.interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        x = (
            self.input_q.quantize(batch)
            if self.input_q.is_integer
            else np.ascontiguousarray(batch, np.float32)
        )
        self.interpreter.set_tensor(inp["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.interpreter.get_output_details()[0]["index"])
        return self.output_q.dequantize(y) if self.output_q.is_integer else y.astype(np.float32)


def single_face_ms(clf: Classifier, face: np.ndarray, repeats: int = 200) -> float:
    """Median time of one single-face call (``face`` shaped (H, W, C)): what the runtime pays
    per tracked face. Export reports and the frontier table both time files this way."""
    import statistics
    import time

    x = np.ascontiguousarray(face[None], np.float32)
    for _ in range(10):
        clf.predict(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        clf.predict(x)
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 4)


def open_classifier(path: Path, threads: int = 1) -> Classifier:
    """Pick the engine from the file extension."""
    path = Path(path)
    if not path.is_file():
        raise BackendError(f"model file {path} not found; run 'make export' to create it")
    if path.suffix == ".onnx":
        return OnnxClassifier.open(path, threads)
    if path.suffix == ".tflite":
        return LiteRTClassifier.open(path, threads)
    raise BackendError(f"{path.name}: unknown model format; expected .onnx or .tflite")
