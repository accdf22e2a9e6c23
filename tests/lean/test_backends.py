"""The lean engines' wrapper: int8 encoding and clear errors (no TensorFlow here)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.backends import BackendError, Quantization, open_classifier


@given(st.floats(1e-3, 0.1), st.integers(-128, 127), st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=50))
def test_int8_round_trip_is_within_half_a_step_inside_the_range(scale, zero, values):
    q = Quantization("int8", scale, zero)
    x = np.array(values, np.float32)
    back = q.dequantize(q.quantize(x))
    lo, hi = q.dequantize(np.array([-128, 127], np.int8))
    inside = (x >= lo) & (x <= hi)
    assert np.all(np.abs(back - x)[inside] <= scale / 2 + 1e-6)
    assert np.all((back >= lo - 1e-6) & (back <= hi + 1e-6))  # outside the range: clipped


def test_uint8_uses_its_own_range():
    q = Quantization("uint8", 1 / 255, 0)
    assert q.quantize(np.array([-1.0, 0.5, 2.0])).tolist() == [0, 128, 255]


def test_missing_and_unknown_files_are_clear(tmp_path):
    with pytest.raises(BackendError, match="make export"):
        open_classifier(tmp_path / "none.onnx")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(BackendError, match="expected .onnx or .tflite"):
        open_classifier(tmp_path / "m.pt")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(BackendError, match="onnxruntime cannot load"):
        open_classifier(tmp_path / "bad.onnx")
