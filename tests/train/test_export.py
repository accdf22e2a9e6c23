"""Export of a tiny real model to every format, verified, and refused when it is wrong."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.model_folder import EXPORT_NAMES

ROOT = Path(__file__).resolve().parents[2]
FILES = EXPORT_NAMES  # model.fp32.onnx, model.int8.onnx, model.fp32.tflite, model.fp16.tflite, ...


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def exported(emotion_npz, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    r = run(
        "train",
        "fit",
        "--task",
        "emotion",
        "--data",
        str(emotion_npz["train"]),
        "--output",
        str(out),
        "--model",
        "tiny",
        "--recipe",
        "smoke",
        "--epochs",
        "8",
        "--threads",
        "1",
        "--quiet",
        "--eval",
        str(emotion_npz["test"]),
        "--no-report",
    )
    assert r.returncode == 0, r.stderr
    r = run("export", "--model", str(out), "--calib-size", "64")
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_format_is_written_with_a_card_that_describes_it(exported):
    from runtime.card import ONNX_CARD_KEY, card_from_json, card_path_for, read_card, verify_file

    keras_card = read_card(exported / "model.card.json")
    for name in FILES:
        path = exported / name
        card = read_card(card_path_for(path))
        verify_file(card, path)  # the checksum in the card is the file's
        assert card.labels == keras_card.labels and card.input == keras_card.input
        assert card.export["source"]["sha256"] == keras_card.files["model.keras"].sha256
        assert card.metrics["emo_test"]["n"] == 210
        if "int8" in name:
            assert card.export["calibration"]["size"] == 64
            assert card.export["calibration"]["split"].startswith("training part")
        # new cards spell precisions as the committed ones do (float32, float16, int8)
        assert card.files[name].precision == card.export["precision"]
        assert card.export["precision"] == {"fp32": "float32", "fp16": "float16"}.get(
            name.split(".")[1], "int8"
        )
    q = read_card(card_path_for(exported / "model.int8.tflite")).files["model.int8.tflite"].extra
    assert q["output_quantization"]["dtype"] == "float32"  # float Softmax: smooth probabilities
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    tensors = Interpreter(model_path=str(exported / "model.int8.tflite")).get_tensor_details()
    int8 = [t for t in tensors if t["dtype"] == np.int8]
    assert len(int8) >= 4  # the convolutions are integer
    tfl = read_card(card_path_for(exported / "model.int8.tflite")).export["quantization"]
    assert tfl["float_convs"] == 1 and "FULLY_CONNECTED" in tfl["float_ops"]
    assert tfl["method"] == "percentile" and 99 < tfl["percentile"] < 100

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(exported / "model.int8.onnx")).metadata_props}
    embedded = card_from_json(meta[ONNX_CARD_KEY])
    assert embedded.labels == keras_card.labels and embedded.export["precision"] == "int8"
    ops = {n.op_type for n in onnx.load(str(exported / "model.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # static QDQ, convolutions included


@pytest.mark.slow
def test_train_evaluate_scores_every_exported_format_on_the_runtime_engines(exported, emotion_npz, capsys):
    """What a user checks after export: each file scored as the runtime runs it, in one call;
    a file that is not a model is a one-line error. (In-process: the CLI's own main.)"""
    from train.__main__ import main

    test = str(emotion_npz["test"])
    keras_acc = None
    for name in ("model.keras", *FILES):
        out = exported / f"eval-{name}.json"
        assert (
            main(["evaluate", "--model", str(exported / name), "--data", test, "--quiet", "--json", str(out)])
            == 0
        )
        err = capsys.readouterr().err
        assert "Traceback" not in err and "TFSMLayer" not in err
        m = json.loads(out.read_text())[test]
        assert m["n"] == 210 and len(m["confusion"]) == 7
        keras_acc = m["accuracy"] if keras_acc is None else keras_acc
        assert abs(m["accuracy"] - keras_acc) <= 0.03, name  # the export check's bound
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", str(exported / "model.card.json"), "--data", test])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a model" in err


@pytest.mark.slow
def test_exports_agree_with_keras_through_the_runtime_engines(exported, emotion_npz):
    from runtime.backends import open_classifier
    from train.evaluate import load_for, load_keras_model, predict

    model, card = load_keras_model(exported / "model.keras")
    ds = load_for(card, str(emotion_npz["test"]))
    ref = predict(model.predict_on_batch, card, ds)
    for name in FILES:
        probs = predict(open_classifier(exported / name, threads=1).predict, card, ds)
        assert probs.shape == ref.shape and np.allclose(probs.sum(1), 1, atol=0.05)
        tol = 1e-4 if "fp32" in name else 5e-3 if "fp16" in name else 0.1
        assert np.abs(probs - ref).max() <= tol, name
        assert (probs.argmax(1) == ref.argmax(1)).mean() >= 0.97, name

    report = json.loads((exported / "export.json").read_text())
    assert [r["file"] for r in report["rows"]] == ["model.keras", *FILES]
    assert all(r["ok"] and r["latency_ms_1_thread"] > 0 for r in report["rows"][1:])
    table = (exported / "export.md").read_text()
    assert table.count("| emotion_tiny |") == 6


@pytest.mark.slow
def test_a_wrong_export_is_refused_and_the_previous_file_survives(exported, emotion_npz, monkeypatch, capsys):
    import export.pipeline as pipeline
    from train.models import build

    before = {n: sha(exported / n) for n in FILES}
    card_before = (exported / "model.fp32.onnx.card.json").read_text()
    real_convert = pipeline._convert

    def convert_other_weights(model, card, target, calib, recipe):  # a mismatched export
        other = build("tiny", card.input.shape, len(card.labels))
        return real_convert(other, card, target, calib, recipe)

    monkeypatch.setattr(pipeline, "_convert", convert_other_weights)
    records, *_ = pipeline.export_model(
        exported,
        [str(emotion_npz["test"])],
        targets=(pipeline.Target("onnx", "fp32"), pipeline.Target("tflite", "int8")),
        calib_size=32,
    )
    assert [r.ok for r in records] == [False, False]
    assert "agrees with Keras" in records[0].error or "differ from Keras" in records[0].error
    assert "below Keras" in records[1].error
    assert "previous file is kept" in capsys.readouterr().out
    assert {n: sha(exported / n) for n in FILES} == before
    assert (exported / "model.fp32.onnx.card.json").read_text() == card_before
    assert not list(exported.glob(".tmp-*"))


def test_onnx_with_unconverted_ops_is_refused():
    import onnx
    from onnx import TensorProto, helper

    from export.verify import ExportError, check_onnx_graph

    node = helper.make_node("FusedBatchNormV3", ["x"], ["y"], domain="ai.onnx.converters.tensorflow")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.converters.tensorflow", 1)],
    )
    with pytest.raises(ExportError, match="unconverted op"):
        check_onnx_graph(proto)
    assert isinstance(proto, onnx.ModelProto)


@pytest.mark.slow
def test_corrupted_keras_model_is_refused_with_one_line(exported, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    data = bytearray((copy / "model.keras").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.keras").write_bytes(bytes(data))
    before = {n: sha(copy / n) for n in FILES}
    r = run("export", "--model", str(copy))
    assert r.returncode == 2 and "does not match its card" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert {n: sha(copy / n) for n in FILES} == before


@pytest.mark.slow
def test_unknown_target_and_missing_eval_data_are_one_line_errors(exported, tmp_path):
    r = run("export", "--model", str(exported), "--only", "onnx:float64")
    assert r.returncode == 2 and "unknown target" in r.stderr and "Traceback" not in r.stderr
    r = run("export", "--model", str(exported), "--eval", str(tmp_path / "none.npz"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_export_killed_midway_leaves_every_file_matching_its_card(exported, tmp_path):
    import os
    import signal
    import time

    from runtime.card import card_path_for, read_card, verify_file

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    proc = subprocess.Popen(
        [sys.executable, "-m", "export", "--model", str(copy), "--calib-size", "32"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(copy.glob(".tmp-*")):
        time.sleep(0.005)
    killed_mid_write = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for name in FILES:  # old or new, every file still agrees with the card beside it
        verify_file(read_card(card_path_for(copy / name)), copy / name)
    # --only still takes the precision as cards spell it (onnx:float32 is onnx:fp32)
    r = run("export", "--model", str(copy), "--only", "onnx:float32", "--calib-size", "32")
    assert r.returncode == 0, r.stderr
    assert not list(copy.glob(".tmp-*"))  # the next export sweeps what the kill left
    assert killed_mid_write or proc.returncode == 0


def test_only_takes_either_spelling_of_a_precision():
    from export.__main__ import parse_targets
    from export.pipeline import TARGETS, Target

    assert parse_targets(["onnx:float32", "tflite:fp16", "tflite:float16"]) == (
        Target("onnx", "fp32"),
        Target("tflite", "fp16"),
        Target("tflite", "fp16"),
    )
    assert [t.filename for t in TARGETS] == list(FILES)
    with pytest.raises(ValueError, match="unknown target.*onnx:float16; choose from onnx:fp32, onnx:int8"):
        parse_targets(["onnx:float16"])


# ---- int8 that answers the same on every CPU class (issue G) ----


def _tiny_calibration(exported, emotion_npz):
    """32 faces of the tiny model's test split, prepared as the runtime does."""
    from export.calibration import Calibration
    from runtime.card import read_card
    from runtime.preprocess import prepare_batch
    from train.evaluate import load_for

    card = read_card(exported / "model.card.json")
    ds = load_for(card, str(emotion_npz["test"])).subset(np.arange(32))
    return Calibration(prepare_batch(ds.images, card.input, ds.order), {})


def _tiny_int8(exported, emotion_npz, **recipe) -> bytes:
    """The tiny model's float ONNX quantized by export.quantize with a changed recipe."""
    from export.quantize import Int8Recipe, onnx_int8

    calib = _tiny_calibration(exported, emotion_npz)
    return onnx_int8((exported / "model.fp32.onnx").read_bytes(), calib, Int8Recipe(**recipe))


@pytest.mark.slow
def test_the_int8_tflite_file_keeps_its_first_convolution_float(exported):
    """The first CONV_2D reads the float input and writes float; every later one is int8."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(exported / "model.int8.tflite"))
    dtype = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    convs = [op for op in it._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert len(convs) >= 2
    first, rest = convs[0], convs[1:]
    assert dtype[first["inputs"][0]] == np.float32 and dtype[first["outputs"][0]] == np.float32
    assert all(dtype[op["inputs"][0]] == np.int8 for op in rest)


def _float_convs_of_onnx(path: Path) -> list[bool]:
    """For each Conv of an int8 ONNX file, in graph order: does it read float weights?"""
    import onnx

    graph = onnx.load(str(path)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return [n.input[1] not in dequantized for n in graph.node if n.op_type == "Conv"]


def _float_convs_of_tflite(path: Path) -> list[bool]:
    """For each CONV_2D of a TFLite file, in graph order: does it compute in float?"""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    dtype = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    ops = [op for op in it._get_ops_details() if op["op_name"] == "CONV_2D"]
    return [dtype[op["inputs"][0]] == np.float32 and dtype[op["outputs"][0]] == np.float32 for op in ops]


@pytest.mark.slow
def test_float_convs_keeps_the_leading_convolutions_float_in_both_int8_files(exported, tmp_path):
    """``--float-convs 2`` (the nano emotion model's setting): the first two convolutions of
    each int8 file compute in float, every later one in int8, and both cards say so."""
    from runtime.card import card_path_for, read_card

    assert _float_convs_of_onnx(exported / "model.int8.onnx")[:2] == [True, False]  # default: 1
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    r = run("export", "--model", str(copy), "--only", "onnx:int8", "tflite:int8", "--float-convs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    onnx_convs = _float_convs_of_onnx(copy / "model.int8.onnx")
    tflite_convs = _float_convs_of_tflite(copy / "model.int8.tflite")
    assert len(onnx_convs) == len(tflite_convs) >= 3
    assert onnx_convs == tflite_convs == [True, True] + [False] * (len(onnx_convs) - 2)
    for name in ("model.int8.onnx", "model.int8.tflite"):
        assert read_card(card_path_for(copy / name)).export["quantization"]["float_convs"] == 2
    r = run("export", "--model", str(copy), "--only", "onnx:int8", "--float-convs", "-1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--float-convs" in r.stderr


@pytest.mark.slow
def test_int8_tflite_ranges_stop_at_a_percentile_of_the_calibration_faces(exported):
    """One odd face must not set a range for every face: the percentile of each activation
    is exact (against every value, sorted), and a calibrated range is only ever narrowed."""
    import tempfile

    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.tools import flatbuffer_utils

    from export.tflite_ranges import narrow_ranges, percentile_ranges
    from train.evaluate import load_keras_model

    model, card = load_keras_model(exported / "model.keras")
    faces = np.random.default_rng(0).uniform(-1, 1, (30, *card.input.shape)).astype(np.float32)
    faces[0] *= 0.05  # a flat face among busy ones
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        float_model = tf.lite.TFLiteConverter.from_saved_model(tmp).convert()
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([f[None]] for f in faces)
        calibrated = tf.lite.experimental.QuantizationDebugger(
            converter=conv, debug_dataset=conv.representative_dataset
        ).calibrated_model

    ranges = percentile_ranges(float_model, faces, 99.0)
    it = Interpreter(model_content=float_model, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    seen: dict[str, list[np.ndarray]] = {name: [] for name in ranges}
    index = {t["name"]: t["index"] for t in it.get_tensor_details()}
    for face in faces:
        it.set_tensor(it.get_input_details()[0]["index"], face[None])
        it.invoke()
        for name in ranges:
            seen[name].append(it.get_tensor(index[name]).ravel())
    assert len(ranges) >= 4
    for name, (low, high) in ranges.items():
        values = np.sort(np.concatenate(seen[name]))
        k = int(values.size * 0.01) + 1
        assert (low, high) == (values[k - 1], values[-k]), name
        assert values[0] <= low <= high <= values[-1]

    narrowed, changed = narrow_ranges(calibrated, ranges)
    assert changed >= 3
    before = {
        t.name: t.quantization
        for t in flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated)).subgraphs[0].tensors
    }
    for t in flatbuffer_utils.convert_bytearray_to_object(bytearray(narrowed)).subgraphs[0].tensors:
        q, old = t.quantization, before[t.name]
        if q is not None and q.min is not None and len(q.min) == 1:
            assert old.min[0] <= q.min[0] <= q.max[0] <= old.max[0]
            assert q.min[0] == old.min[0] or q.min[0] <= 0 <= q.max[0]  # zero stays representable
    wider = {name: (low - 100.0, high + 100.0) for name, (low, high) in ranges.items()}
    assert narrow_ranges(calibrated, wider)[1] == 0  # never widened


@pytest.mark.slow
def test_the_shipped_int8_recipe_passes_the_graph_checks(exported):
    import onnx

    from export.verify import check_int8_graph

    check_int8_graph(onnx.load(str(exported / "model.int8.onnx")))
    card = json.loads((exported / "model.int8.onnx.card.json").read_text())
    assert card["export"]["quantization"]["reduce_range"] is True
    assert card["export"]["quantization"]["float_head"] is True
    assert card["export"]["quantization"]["fold_dense_norm"] is True
    assert card["export"]["quantization"]["bias_correction"] is True


@pytest.mark.slow
def test_int8_weights_that_saturate_avx2_kernels_are_refused(exported, emotion_npz):
    import onnx

    from export.verify import ExportError, check_int8_graph

    full_range = onnx.load_from_string(_tiny_int8(exported, emotion_npz, reduce_range=False))
    with pytest.raises(ExportError, match="saturate on x86-64 CPUs with AVX2"):
        check_int8_graph(full_range)
    s8s8 = onnx.load_from_string(_tiny_int8(exported, emotion_npz, reduce_range=False, activations="int8"))
    with pytest.raises(ExportError, match="saturate"):  # x86 shifts int8 activations to uint8
        check_int8_graph(s8s8)
    check_int8_graph(
        onnx.load_from_string(_tiny_int8(exported, emotion_npz, weights="uint8", reduce_range=False))
    )  # U8U8 cannot


@pytest.mark.slow
def test_quantized_probabilities_are_refused(exported, emotion_npz):
    import onnx

    from export.verify import ExportError, check_int8_graph

    stepped = onnx.load_from_string(_tiny_int8(exported, emotion_npz, float_head=False))
    with pytest.raises(ExportError, match="probabilities would come in steps"):
        check_int8_graph(stepped)


@pytest.mark.slow
def test_export_refuses_a_saturating_int8_graph_and_keeps_the_old_file(exported, emotion_npz, monkeypatch):
    from dataclasses import replace

    import export.pipeline as pipeline
    import export.quantize as quantize

    before = sha(exported / "model.int8.onnx")
    real = quantize.onnx_int8

    def eight_bit_weights(data, calib, recipe):  # the recipe without its 7-bit weights
        return real(data, calib, replace(recipe, reduce_range=False))

    monkeypatch.setattr(quantize, "onnx_int8", eight_bit_weights)
    records, *_ = pipeline.export_model(
        exported,
        [str(emotion_npz["test"])],
        targets=(pipeline.Target("onnx", "int8"),),
        calib_size=32,
        log=lambda _: None,
    )
    assert not records[0].ok and "saturate" in records[0].error
    assert sha(exported / "model.int8.onnx") == before


def test_int8_below_the_agreement_or_accuracy_bound_is_refused_with_the_check_named():
    from export.verify import LIMITS, Comparison, failures

    assert LIMITS["int8"].min_top1_agreement == 0.985 and LIMITS["int8"].max_accuracy_drop == 0.3
    ok = Comparison(n=1000, top1_agreement=0.99, max_abs_diff=0.2, accuracy=0.683, reference_accuracy=0.685)
    assert failures("int8", ok, "fer") == []
    low = Comparison(n=1000, top1_agreement=0.984, max_abs_diff=0.2, accuracy=0.685, reference_accuracy=0.685)
    (msg,) = failures("int8", low, "fer")
    assert "top-1 agrees with Keras on 98.40% of fer" in msg and "needs 98.5%" in msg
    drop = Comparison(n=1000, top1_agreement=0.99, max_abs_diff=0.2, accuracy=0.681, reference_accuracy=0.685)
    (msg,) = failures("int8", drop, "fer")
    assert "0.40 points below Keras (limit 0.3)" in msg


def test_a_regression_export_is_held_to_its_mean_difference_not_top1():
    from export.verify import REGRESSION_LIMITS, RegressionComparison, compare, failures
    from runtime.outputs import output_kind

    kind = output_kind({"kind": "regression", "unit": "years"})
    ref = np.array([[30.0], [40.0], [10.0]], np.float32)
    c = compare(ref, ref + np.array([[0.3], [-0.4], [0.2]], np.float32), np.array([31, 39, 12]), kind)
    assert isinstance(c, RegressionComparison) and c.mean_abs_diff == pytest.approx(0.3, abs=1e-6)
    assert failures("int8", c, "utk") == [] and REGRESSION_LIMITS["int8"] == 0.5
    far = compare(ref, ref + 0.8, np.array([31, 39, 12]), kind)
    (msg,) = failures("int8", far, "utk")
    assert "differ from Keras by 0.8 on average on utk (limit 0.5)" in msg


def _dense_norm_graph(scale_shape: tuple[int, ...] = (4,)):
    """x (N, 8) -> MatMul -> Mul (a batch norm's scale) -> Add -> Relu: tf2onnx's dense + BN."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.uniform(0.5, 2.0, size=scale_shape).astype(np.float32), "s"),
        numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "b"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"], name="dense"),
        helper.make_node("Mul", ["mm", "s"], ["scaled"], name="bn_scale"),
        helper.make_node("Add", ["scaled", "b"], ["shifted"], name="bn_shift"),
        helper.make_node("Relu", ["shifted"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "dense_norm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(proto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_a_dense_layers_batch_norm_scale_is_folded_into_its_weights_exactly():
    from export.quantize import fold_dense_norm

    x = np.random.default_rng(1).normal(size=(16, 8)).astype(np.float32)
    graph = _dense_norm_graph()
    before = _run(graph, x)
    assert fold_dense_norm(graph) == 1
    assert [n.op_type for n in graph.graph.node] == ["MatMul", "Add", "Relu"]
    np.testing.assert_allclose(_run(graph, x), before, rtol=1e-5, atol=1e-6)

    broadcast_over_rows = _dense_norm_graph(scale_shape=(16, 1))  # not a per-channel scale
    assert fold_dense_norm(broadcast_over_rows) == 0
    assert "Mul" in [n.op_type for n in broadcast_over_rows.graph.node]


@pytest.mark.slow
def test_bias_correction_takes_the_int8_files_mean_logit_shift_out(exported, emotion_npz):
    """On the calibration faces, the corrected file's mean log-probabilities match the float
    model's (the float head's bias absorbs what is left); the uncorrected file's do not."""
    import onnx

    x = _tiny_calibration(exported, emotion_npz).x
    reference = np.log(_run(onnx.load(str(exported / "model.fp32.onnx")), x))

    def shift(**recipe) -> float:
        logp = np.log(_run(onnx.load_from_string(_tiny_int8(exported, emotion_npz, **recipe)), x))
        mean = (logp - reference).mean(axis=0)
        return float(np.abs(mean - mean.mean()).max())

    assert shift(bias_correction=False) > 1e-4
    assert shift(bias_correction=True) < 0.1 * shift(bias_correction=False)
