"""The face-detection benchmark: its matching rule, the hard cases it makes, and a quick run
on a folder built here from the demo portrait (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.detection import (
    LEVELS,
    Case,
    Face,
    edge_cut,
    generated_cases,
    labelled_cases,
    main,
    match,
    parse_args,
    row_of,
    run,
)
from runtime.detection import Detection
from runtime.geometry import Box

ASTRONAUT = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.png"
ASTRONAUT_FACE = [180, 78, 90, 104]  # drawn by hand on the 512x512 portrait, chin to mid-forehead


def test_iou_and_the_face_centre_rule_match_one_to_one():
    truth = Box(0, 0, 100, 100)
    assert match([Box(20, 0, 100, 100)], [truth]) == ([True], 0)  # IoU 0.67
    assert match([Box(25, 25, 50, 50)], [truth]) == ([True], 0)  # IoU 0.25, centre in, 0.25x the area
    assert match([Box(-50, -50, 200, 200)], [truth]) == ([True], 0)  # IoU 0.25, centre in, 4x the area
    assert match([Box(30, 30, 40, 40)], [truth]) == ([False], 1)  # centre in but 0.16x the area
    assert match([Box(-60, -60, 220, 220)], [truth]) == ([False], 1)  # centre in but 4.8x
    assert match([Box(70, 0, 100, 100)], [truth]) == ([False], 1)  # IoU 0.18, centre outside
    # One detection per face: the second box on the same face is a false face.
    assert match([Box(0, 0, 100, 100), Box(10, 10, 90, 90)], [truth]) == ([True], 1)
    # Greedy by IoU: the box goes to the face it overlaps most, the other face stays missed.
    two = [Box(0, 0, 100, 100), Box(60, 0, 100, 100)]
    assert match([Box(50, 0, 100, 100)], two) == ([False, True], 0)
    assert match([Box(0, 0, 100, 100), Box(60, 0, 100, 100)], two) == ([True, True], 0)
    assert match([], [truth]) == ([False], 0) and match([truth], []) == ([], 1)


def test_an_edge_cut_of_40_percent_clips_the_truth_box():
    image = np.arange(300 * 400 * 3, dtype=np.uint32).reshape(300, 400, 3).astype(np.uint8)
    face = Box(100, 80, 100, 120)
    crop, truth = edge_cut(image, face, "left", 40)  # 40 px of the face's 100 px width cut off
    assert crop.shape[:2] == (300, 260) and np.array_equal(crop, image[:, 140:])
    assert truth == Box(0, 80, 60, 120)
    crop, truth = edge_cut(image, face, "right", 40)
    assert crop.shape[:2] == (300, 160) and truth == Box(100, 80, 60, 120)
    crop, truth = edge_cut(image, face, "top", 40)  # 48 px of the face's 120 px height
    assert crop.shape[:2] == (172, 400) and truth == Box(100, 0, 100, 72)
    crop, truth = edge_cut(image, face, "bottom", 40)
    assert crop.shape[:2] == (152, 400) and truth == Box(100, 80, 100, 72)

    cases = {c.name: c for c in generated_cases(image, face, "x.png")}
    assert cases["edge_cut/left/40"].faces[0].box == Box(0, 80, 60, 120)
    assert row_of("edge_cut/left/40") == "edge_cut/<=40" and row_of("edge_cut/top/50") == "edge_cut/50"
    small = cases["small/20"]
    assert small.image.shape == (480, 640, 3) and small.faces[0].box.h == 20
    assert cases["enlarged/60"].image.shape[:2] == (200, 200)  # the face is 120 of 200 px
    assert cases["rotated/30"].faces[0].box == face  # turned about the face centre
    assert cases["dark/3.0"].image.mean() < image.mean() and cases["blur/17"].faces[0].box == face
    assert "enlarged/100" in cases and len(cases) == sum(len(v) for v in LEVELS.values()) + 3 * 4


class Oracle:
    """A stand-in detector: one fixed box, on stills a second one (as tiles can add)."""

    name, min_score = "oracle", 0.5

    def detect(self, frame, tile=False):
        found = [Detection(Box(*ASTRONAUT_FACE), 0.9)]
        return [*found, Detection(Box(0, 0, 30, 30), 0.8)] if tile else found

    def close(self):
        pass


def test_detectors_come_from_the_registry(monkeypatch):
    from runtime import detector

    monkeypatch.setitem(detector.DETECTORS, "oracle", lambda min_score: Oracle())
    assert parse_args([]).detectors == list(detector.detector_names())
    image = np.full((512, 512, 3), 90, np.uint8)
    cases = [Case("labelled", "a.png", image, (Face(Box(*ASTRONAUT_FACE), frozenset({"cut"}), "her"),))]
    out = run(["oracle"], cases, [], LEVELS)
    assert out["settings"] == ["oracle/still", "oracle/video"]
    still, video = (out["labelled"]["results"][s]["all"] for s in out["settings"])
    assert (
        still["recall"] == video["recall"] == 1.0
        and out["labelled"]["results"]["oracle/still"]["cut"]["faces"] == 1
    )
    assert (still["false_per_image"], video["false_per_image"]) == (1.0, 0.0)


def write_shared(root: Path) -> Path:
    """A shared folder: two hand-labelled images (the portrait and a blank one, each with one
    face to find) and a labelled folder of portraits to make hard cases from."""
    portrait = cv2.imread(str(ASTRONAUT))
    assert portrait is not None, "runtime/assets/astronaut.png is fetched by make setup-runtime"
    (root / "media").mkdir(parents=True)
    cv2.imwrite(str(root / "media" / "astronaut.png"), portrait)
    cv2.imwrite(str(root / "media" / "blank.png"), np.full_like(portrait, 128))
    images = {
        f"media/{name}": {
            "width": 512,
            "height": 512,
            "faces": [{"box": ASTRONAUT_FACE, "cut": False, "occluded": False, "profile": False, "note": n}],
        }
        for name, n in (("astronaut.png", "astronaut"), ("blank.png", "nobody"))
    }
    (root / "face_boxes.json").write_text(json.dumps({"rule": "test", "images": images}))
    gender = root / "data" / "pipeline_dev" / "gender" / "images"
    gender.mkdir(parents=True)
    cv2.imwrite(str(gender / "a.jpg"), portrait)
    cv2.imwrite(str(gender / "b.jpg"), cv2.flip(portrait, 1))
    cv2.imwrite(str(gender / "c.jpg"), np.full_like(portrait, 128))  # no face: never chosen
    (gender.parent / "labels.csv").write_text("file,label\na.jpg,woman\nb.jpg,woman\nc.jpg,man\n")
    return root / "face_boxes.json"


def test_the_portrait_is_found_and_a_blank_image_is_not(tmp_path):
    pytest.importorskip("mediapipe", reason="runs in the runtime environment")
    fixture = write_shared(tmp_path)
    cases, missing = labelled_cases(fixture, tmp_path)
    assert missing == [] and [c.source for c in cases] == ["media/astronaut.png", "media/blank.png"]
    out = run(["short"], cases, [], LEVELS)
    for setting in ("short/still", "short/video"):
        portrait, blank = out["labelled"]["per_image"][setting]
        assert (portrait["found"], portrait["faces"], portrait["false"]) == (1, 1, 0), setting
        assert (blank["found"], blank["false"], blank["missed"]) == (0, 0, [{"index": 0, "note": "nobody"}])
        assert out["labelled"]["results"][setting]["all"]["recall"] == 0.5


def test_a_quick_run_writes_json_and_markdown(tmp_path, capsys):
    pytest.importorskip("mediapipe", reason="runs in the runtime environment")
    fixture = write_shared(tmp_path / "shared")
    out = tmp_path / "out"
    argv = ["--shared", str(tmp_path / "shared"), "--fixture", str(fixture), "--quick", "--photos", "3"]
    assert main([*argv, "--detectors", "short", "--output", str(out)]) == 0
    result = json.loads((out / "detection.json").read_text())
    md = (out / "detection.md").read_text()
    assert result["settings"] == ["short/still", "short/video"] and result["machine"]["cpu"]
    gen = result["generated"]
    assert sorted(p["file"] for p in gen["photos"]) == ["a.jpg", "b.jpg"]
    assert gen["cases"] == 2 * 18 and "only 2" in result["skipped"]["photos"]  # c.jpg has no face
    assert gen["per_case"]["short/video"]["dark/2.2"]["recall"] == 1.0
    assert gen["per_case"]["short/video"]["edge_cut/left/40"]["images"] == 2
    assert result["labelled"]["results"]["short/video"]["all"]["recall"] == 0.5
    assert result["best"] in result["settings"]
    assert "## short/video" in md and "Match rule:" in md and "edge cut ≤ 40 %" in md and "#0 nobody" in md
    assert md in capsys.readouterr().out
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # written whole, then renamed


def test_missing_data_and_bad_flags_are_one_line_errors(tmp_path, capsys):
    assert main(["--shared", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the shared folder")
    for bad in (["--detectors", "nope"], ["--photos", "-1"], ["--bogus"]):
        with pytest.raises(SystemExit) as e:
            main(bad)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), bad
