"""A new task and a new detector are a model folder (or a module) and a registration away:
no code of the runtime changes for them (issue M).

The task is a made-up regression ``tilt`` (a tiny ONNX model, made here, whose value is the
face crop's mean brightness in "points"), run beside the shipped emotion and gender models;
the detector is a fixed box in the middle of the frame.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx", reason="runs in the runtime environment (make test-runtime)")
pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")

from onnx import TensorProto, helper, numpy_helper

import runtime.detector as detector_registry
from runtime.__main__ import build_parser, main
from runtime.api import Analyzer
from runtime.card import CardError, ModelCard, file_entry, read_card, write_card
from runtime.detection import Detection
from runtime.geometry import Box
from runtime.model_folder import SHIPPED_INDEX, card_path, shipped_index, shipped_models
from runtime.preprocess import CropRule, InputSpec, Normalization

ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "runtime" / "assets" / "astronaut.png"


def tilt_model(folder: Path) -> Path:
    """An 8x8 gray 'model' answering 50 + 50 * mean(input) (input in [-1, 1]), with its card."""
    folder.mkdir(parents=True)
    w = numpy_helper.from_array(np.full((64, 1), 50.0 / 64, np.float32), "w")
    b = numpy_helper.from_array(np.array([50.0], np.float32), "b")
    shape = numpy_helper.from_array(np.array([-1, 64], np.int64), "shape")
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["y"]),
        ],
        "tilt",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8, 8, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])],
        [w, b, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "model.int8.onnx"
    path.write_bytes(model.SerializeToString())
    spec = InputSpec(8, 8, 1, "gray", Normalization.minus_one_to_one(), CropRule(scale_x=1.2, scale_y=1.2))
    card = ModelCard(
        name="tilt_tiny",
        task="tilt",
        labels=["tilt"],
        input=spec,
        output={"kind": "regression", "unit": "points", "format": "~{value:.0f} pt"},
        files={path.name: file_entry(path, "onnx", "int8")},
    )
    write_card(card, card_path(path))
    return path


@pytest.fixture()
def models_with_tilt(tmp_path, monkeypatch) -> Path:
    """A models folder: the shipped accurate models and the new task, named in shipped.json."""
    root = tmp_path / "models"
    root.mkdir()
    index = {"accurate": {}}
    for task, folder in shipped_models("accurate").items():
        (root / folder.name).symlink_to(folder.resolve())
        index["accurate"][task] = folder.name
    tilt_model(root / "tilt_tiny")
    index["accurate"]["tilt"] = "tilt_tiny"
    (root / SHIPPED_INDEX).write_text(json.dumps(index))
    monkeypatch.setenv("EDGE_FACE_MODELS", str(root))
    return root


def test_a_new_task_runs_through_the_cli_json_overlay_and_summary(models_with_tilt, tmp_path, capsys):
    assert shipped_index()["accurate"]["tilt"] == "tilt_tiny"
    assert "--tilt-model" in build_parser().format_help()  # a flag of its own, derived
    out = tmp_path / "out"
    out.mkdir()
    args = ["--source", str(ASTRONAUT), "--no-show", "--json", str(out / "faces.jsonl")]
    args += ["--output", str(out / "all.png"), "--per-image", str(out / "rows.csv")]
    assert main([*args, "--summary-json", str(out / "summary.json")]) == 0
    (line,) = [json.loads(x) for x in (out / "faces.jsonl").read_text().splitlines()]
    assert {"emotion", "gender", "tilt"} <= set(line)
    tilt = line["tilt"]
    assert tilt["unit"] == "points" and tilt["confidence"] is None and tilt["probs"] is None
    assert 0 < tilt["value"] < 100 and tilt["label"] == f"~{tilt['value']:.0f} pt"
    assert set(line["emotion"]["probs"]) >= {"happy", "neutral"}  # the others are unchanged
    stages = json.loads((out / "summary.json").read_text())["stages"]
    assert list(stages)[:5] == ["read", "detect", "preprocess", "emotion", "gender"] and "tilt" in stages
    with open(out / "rows.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["tilt"] == tilt["label"] and row["tilt_confidence"] == ""
    assert "tilt" in capsys.readouterr().err  # the end-of-run line names what was seen

    # The overlay draws one more line per face than the same run without the new task.
    assert main([*args[:3], "--output", str(out / "two.png"), "--tasks", "emotion,gender"]) == 0
    drawn, two = cv2.imread(str(out / "all.png")), cv2.imread(str(out / "two.png"))
    rows_changed = np.flatnonzero(np.any(drawn != two, axis=(1, 2)))
    assert len(rows_changed) > 10  # the extra tag, below the others


def test_a_new_task_through_the_api_and_pipeline_eval(models_with_tilt, tmp_path):
    with Analyzer(tasks=("tilt",)) as analyzer:
        (face,) = analyzer.analyze(str(ASTRONAUT))
    result = face.results["tilt"]
    assert set(face.results) == {"tilt"} and result.unit == "points" and 0 < result.value < 100
    assert face.to_dict()["tilt"]["value"] == result.value

    from benchmarks.pipeline_eval import evaluate, markdown

    folder = tmp_path / "labelled"
    folder.mkdir()
    shutil.copy(ASTRONAUT, folder / "a.png")
    (folder / "labels.csv").write_text(f"file,label\na.png,{result.value + 3:.3f}\n")
    scores = evaluate(folder, [], task="tilt", log=lambda _: None)
    assert scores["kind"] == "regression" and scores["scores"]["detection_rate"] == 1.0
    assert scores["scores"]["mae"] == pytest.approx(3.0, abs=0.01) and scores["scores"]["within_5"] == 1.0
    assert "mae" in markdown(scores)


class FixedBox:
    """A 'detector' that reports one face, the middle half of every frame."""

    name = "fixed"

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score
        self.closed = False

    def detect(self, frame_bgr: np.ndarray, tile: bool = False) -> list[Detection]:
        h, w = frame_bgr.shape[:2]
        return [Detection(Box(w // 4, h // 4, w // 2, h // 2), 0.99)]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FixedBox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_a_new_detector_is_a_registration(models_with_tilt, tmp_path, monkeypatch):
    monkeypatch.setattr(detector_registry, "DETECTORS", dict(detector_registry.DETECTORS))
    detector_registry.register_detector("fixed", FixedBox)
    assert "fixed" in build_parser().format_help()
    jsonl = tmp_path / "faces.jsonl"
    args = ["--source", str(ASTRONAUT), "--no-show", "--still-detector", "fixed", "--tasks", "tilt"]
    assert main([*args, "--json", str(jsonl)]) == 0
    (line,) = [json.loads(x) for x in jsonl.read_text().splitlines()]
    h, w = cv2.imread(str(ASTRONAUT)).shape[:2]
    assert line["box"] == [w // 4, h // 4, w // 2, h // 2] and line["detector_score"] == 0.99
    with Analyzer(tasks=("tilt",), detector="fixed", still_detector="fixed") as analyzer:
        (face,) = analyzer.analyze(np.zeros((40, 60, 3), np.uint8))
        assert isinstance(analyzer.pipeline.detector, FixedBox)
    assert face.box == (15, 10, 30, 20) and face.results["tilt"].value == pytest.approx(0.0, abs=0.01)
    assert analyzer.pipeline.detector.closed
    # A calibrated model measured only against BlazeFace refuses the new detector's boxes.
    with pytest.raises(CardError, match="no crop rule measured for the 'fixed' detector") as e:
        Analyzer(tasks=("emotion",), detector="fixed")
    assert len(str(e.value).splitlines()) == 1


def test_crop_rules_are_per_detector():
    card = read_card(card_path(shipped_models("accurate")["emotion"] / "model.int8.onnx"))
    short, full = card.crop_for("short"), card.crop_for("full")
    assert short == card.input.crop and full.calibrated and full != short
    with Analyzer(tasks=("emotion",), detector="full") as analyzer:
        assert analyzer.pipeline.classifiers["emotion"].spec.crop == full


def test_unknown_settings_and_detectors_are_refused_in_one_line():
    with pytest.raises(TypeError, match="unknown setting.*tierr.*the settings are"):
        Analyzer(tierr="nano")
    from runtime.detection import DetectorError

    with pytest.raises(DetectorError, match="unknown detector 'nope'; choose short, full"):
        detector_registry.open_detector("nope")
