"""The pipeline evaluation: the real runtime over a labelled folder, scored as users see it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.pipeline_eval import NO_FACE, EvalError, read_labels, score

ASTRONAUT = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.png"


def test_scores_count_a_missing_face_as_wrong():
    labels = ("woman", "man")
    s = score(["woman", "woman", "man", "man"], ["woman", NO_FACE, "man", "woman"], labels)
    assert s["n"] == 4 and s["detection_rate"] == 0.75 and s["accuracy"] == 0.5
    assert s["recall"] == {"woman": 0.5, "man": 0.5} and s["balanced_accuracy"] == 0.5
    assert s["confusion"]["counts"] == [[1, 0, 1], [1, 1, 0]]


def test_labels_must_name_existing_images(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label\nmissing.jpg,happy\n")
    with pytest.raises(EvalError, match="missing.jpg"):
        read_labels(tmp_path)


def test_runs_the_runtime_over_a_labelled_folder(tmp_path):
    pytest.importorskip("mediapipe", reason="runs in the runtime environment")
    from benchmarks.pipeline_eval import main

    portrait = cv2.imread(str(ASTRONAUT))
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), portrait)
    cv2.imwrite(str(tmp_path / "images" / "b.jpg"), cv2.flip(portrait, 1))
    cv2.imwrite(str(tmp_path / "images" / "c.jpg"), np.full_like(portrait, 80))  # no face
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,woman\nb.jpg,man\nc.jpg,woman\n")
    out = tmp_path / "report"
    assert main(["--data", str(tmp_path), "--pad", "20", "--output", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    s = result["scores"]
    assert (
        result["task"] == "gender" and s["n"] == 3 and s["detection_rate"] == pytest.approx(2 / 3, abs=1e-3)
    )
    predicted = [r["predicted"] for r in result["per_image"]]
    assert predicted[2] == NO_FACE and predicted[0] == predicted[1] == "woman"
    assert s["accuracy"] == pytest.approx(1 / 3, abs=1e-3)  # a right, b labelled man, c no face
    assert "| detection rate |" in out.with_suffix(".md").read_text()
