"""Quantization-aware training: the shipped weights are the ones the int8 ONNX file stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from train.quant_aware import LEVELS, snap

ROOT = Path(__file__).resolve().parents[2]


def test_snap_puts_each_output_channel_on_its_own_grid_and_is_idempotent():
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 3, 5, 4)).astype(np.float32) * np.array([0.01, 1.0, 30.0, 0.0], np.float32)
    s = snap(k)
    assert s.dtype == k.dtype and s.shape == k.shape
    for c in range(3):  # live channels: integers in [-64, 64] times max|w| / 64, max kept
        scale = np.abs(k[..., c]).max() / LEVELS
        q = s[..., c] / scale
        assert np.allclose(q, np.round(q), atol=1e-4) and np.abs(q).max() == pytest.approx(LEVELS)
        assert np.abs(s[..., c] - k[..., c]).max() <= scale / 2 + 1e-6
    assert not s[..., 3].any()  # an all-zero channel stays zero (no division by zero)
    assert np.array_equal(snap(s), s)
    dense = rng.normal(size=(20, 6)).astype(np.float32)  # Dense: (inputs, outputs)
    assert np.allclose(np.abs(snap(dense)).max(axis=0), np.abs(dense).max(axis=0))


def fit_qat(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["--task", "emotion", "--data", str(data), "--output", str(out), "--model", "tiny"]
    args += ["--recipe", "smoke", "--epochs", "3", "--threads", "1", "--quiet", "--no-report"]
    return subprocess.run(
        [sys.executable, "-m", "train", "fit", *args, "--quantization-aware", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def qat_run(emotion_npz, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qat") / "run"
    r = fit_qat(emotion_npz["train"], out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.slow
def test_a_paused_quantization_aware_run_resumes_where_it_stopped(qat_run, emotion_npz, tmp_path):
    import pandas as pd

    out = tmp_path / "paused"
    assert fit_qat(emotion_npz["train"], out, "--stop-after", "1").returncode == 0
    assert not (out / "model.keras").exists()
    r = fit_qat(emotion_npz["train"], out)
    assert r.returncode == 0, r.stderr
    assert f"resuming {out} after epoch 1" in r.stdout
    paused, straight = (pd.read_csv(d / "log.csv").drop(columns="seconds") for d in (out, qat_run))
    assert paused.epoch.tolist() == [1, 2, 3]
    # the epoch before the pause is the same computation; later ones differ by the noise any
    # resumed run has (tests/train/test_training.py)
    pd.testing.assert_frame_equal(paused.iloc[:1], straight.iloc[:1])
    import keras

    from train.quant_aware import WeightGrid

    resumed = keras.models.load_model(out / "model.keras")
    assert WeightGrid.of(resumed).on_grid()
    assert json.loads((out / "model.card.json").read_text())["training"]["quantization_aware"]


@pytest.mark.slow
def test_a_quantization_aware_run_ships_snapped_weights_and_keeps_float_ones_to_resume(qat_run):
    import keras

    from train.quant_aware import WeightGrid, grid_layers

    model = keras.models.load_model(qat_run / "model.keras")
    names = [la.name for la in grid_layers(model)]
    assert len(names) == 4  # tiny: 4 convolutions (first stays float) and 2 dense (last stays float)
    assert WeightGrid.of(model).on_grid()
    card = json.loads((qat_run / "model.card.json").read_text())
    assert card["training"]["quantization_aware"]["layers"] == names
    # the checkpoint a resume starts from keeps the float weights behind the grid
    last = keras.models.load_model(qat_run / "checkpoints" / "last.keras")
    assert not WeightGrid.of(last).on_grid()
    # untouched layers: the first convolution is not snapped
    first = next(la for la in model.layers if isinstance(la, keras.layers.Conv2D))
    assert not np.allclose(first.kernel.numpy(), snap(first.kernel.numpy()), atol=1e-6)


@pytest.mark.slow
def test_the_int8_onnx_file_stores_the_snapped_weights_exactly(qat_run, emotion_npz):
    """What the run ships is what onnxruntime's quantizer keeps: after BatchNorm folding
    (into convolutions by onnxruntime, into the dense layer by the recipe), every int8 weight
    times its scale equals the float graph's weight."""
    import keras
    import onnx
    from onnx import numpy_helper

    from export.calibration import Calibration
    from export.convert import to_onnx
    from export.quantize import fold_dense_norm, onnx_int8
    from runtime.card import read_card
    from runtime.preprocess import prepare_batch
    from train.evaluate import load_for

    card = read_card(qat_run / "model.card.json")
    ds = load_for(card, str(emotion_npz["train"])).subset(np.arange(32))
    calib = Calibration(prepare_batch(ds.images, card.input, ds.order), {})

    def worst_rounding(keras_model) -> float:
        """The largest rounding of a weight by the int8 file, in grid steps (0: stored exactly)."""
        float_graph = to_onnx(keras_model, card)
        q = onnx.load_from_string(onnx_int8(float_graph.SerializeToString(), calib))
        fold_dense_norm(float_graph)  # as the recipe does: per channel, so the grid scales with it
        weights = {i.name: numpy_helper.to_array(i) for i in float_graph.graph.initializer}
        init = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
        worst, seen = 0.0, 0
        for dq in q.graph.node:
            name = dq.input[0].removesuffix("_quantized")
            if dq.op_type != "DequantizeLinear" or name == dq.input[0] or init[dq.input[0]].dtype != np.int8:
                continue  # not a weight (activations), or a bias (int32, not on the grid)
            ints, scale = init[dq.input[0]].astype(np.float64), init[dq.input[1]].astype(np.float64)
            shape = [1] * ints.ndim
            shape[next((a.i for a in dq.attribute if a.name == "axis"), 1)] = -1
            steps = np.abs(weights[name] / scale.reshape(shape) - ints)
            worst, seen = max(worst, float(steps.max())), seen + 1
        assert seen == 4  # every snapped layer is an int8 one
        return worst

    assert worst_rounding(keras.models.load_model(qat_run / "model.keras")) < 1e-3
    # the float weights behind the grid (the resume checkpoint) are rounded as usual
    assert worst_rounding(keras.models.load_model(qat_run / "checkpoints" / "last.keras")) > 0.2
