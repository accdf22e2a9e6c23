"""The edge runtime end to end, on real faces (scikit-image's astronaut, fetched at set-up).

Clips, stills, folders and group photos are generated here from that one portrait; the
models are the shipped exports in trained_models/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")

from runtime_cli import run_runtime

from runtime.geometry import Box
from runtime.model_folder import card_path, export_path, shipped_models
from runtime.tracker import Tracker

ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "runtime" / "assets" / "astronaut.png"
FACE = Box(170, 60, 120, 130)  # where the astronaut's face is in the 512x512 portrait


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    image = cv2.imread(str(ASTRONAUT))
    assert image is not None, "run 'make setup-runtime' to fetch the test assets"
    return image


@pytest.fixture(scope="module")
def clip(portrait, tmp_path_factory) -> Path:
    """20 frames of the portrait, still, as an .mp4 (what a static webcam scene looks like)."""
    path = tmp_path_factory.mktemp("clip") / "still.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (512, 512))
    for _ in range(20):
        writer.write(portrait)
    writer.release()
    return path


def overlap(a: list[int], b: Box) -> float:
    x0, y0 = max(a[0], b.x), max(a[1], b.y)
    x1, y1 = min(a[0] + a[2], b.x + b.w), min(a[1] + a[3], b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b.w * b.h - inter)


def test_video_gives_one_stable_face_per_frame_with_full_distributions(clip, tmp_path):
    out_json, out_video = tmp_path / "faces.jsonl", tmp_path / "annotated.mp4"
    r = run_runtime("--source", str(clip), "--json", str(out_json), "--output", str(out_video))
    assert r.returncode == 0, r.stderr
    recs = records(out_json)
    assert [x["frame"] for x in recs] == list(range(20))  # one face in every frame
    assert {x["track_id"] for x in recs} == {1}  # a static face keeps its ID
    for x in recs:
        assert overlap(x["box"], FACE) > 0.5, x["box"]
        for task, n in (("emotion", 7), ("gender", 2)):
            probs = x[task]["probs"]
            assert len(probs) == n and abs(sum(probs.values()) - 1) < 1e-3
            assert x[task]["label"] == max(probs, key=probs.get)
    assert recs[0]["gender"]["label"] == "woman"  # Eileen Collins
    assert recs[-1]["timestamp"] == pytest.approx(1.9, abs=1e-3)  # frame 19 at 10 fps
    cap = cv2.VideoCapture(str(out_video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    ok, frame = cap.read()
    assert ok and frame.shape == (512, 512, 3)
    assert "20 frames" in r.stderr and "FPS" in r.stderr


@pytest.mark.slow
def test_image_and_folder_sources_and_a_single_task(portrait, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), portrait)
    cv2.imwrite(str(folder / "b.jpg"), cv2.flip(portrait, 1))
    (folder / "notes.txt").write_text("not an image, ignored")
    out = tmp_path / "folder.jsonl"
    r = run_runtime("--source", str(folder), "--tasks", "gender", "--json", str(out))
    assert r.returncode == 0, r.stderr
    recs = records(out)
    assert [x["frame"] for x in recs] == [0, 1]
    assert all("gender" in x and "emotion" not in x for x in recs)

    out = tmp_path / "image.jsonl"
    r = run_runtime("--source", str(folder / "a.png"), "--backend", "tflite", "--json", str(out))
    assert r.returncode == 0, r.stderr
    (rec,) = records(out)
    assert overlap(rec["box"], FACE) > 0.5 and set(rec) >= {"emotion", "gender"}


@pytest.mark.slow
def test_each_image_of_a_folder_is_its_own_analysis(portrait, tmp_path):
    """Unrelated photos with a face at the same place: no track, smoothing or stride may
    carry one image's labels into the next, so a folder run gives what each image alone
    gives; every line names its file, and --per-image writes one row per image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    dark = cv2.convertScaleAbs(portrait, alpha=0.55, beta=0)
    smiling_less = cv2.GaussianBlur(portrait, (0, 0), 2.5)
    images = {
        "1.png": portrait,
        "2.png": dark,
        "3.png": smiling_less,
        "4.png": portrait,
        "5.png": np.full_like(portrait, 90),
    }  # no face at all
    for name, image in images.items():
        cv2.imwrite(str(folder / name), image)
    out, table = tmp_path / "folder.jsonl", tmp_path / "rows.csv"
    r = run_runtime("--source", str(folder), "--json", str(out), "--per-image", str(table))
    assert r.returncode == 0, r.stderr
    recs = records(out)
    assert [Path(x["file"]).name for x in recs] == ["1.png", "2.png", "3.png", "4.png"]
    assert all(x["track_id"] == 1 for x in recs)  # numbered per image
    for name, rec in zip(["1.png", "2.png", "3.png", "4.png"], recs):
        alone = tmp_path / f"alone-{name}.jsonl"
        r = run_runtime("--source", str(folder / name), "--json", str(alone))
        assert r.returncode == 0, r.stderr
        (single,) = records(alone)
        for task in ("emotion", "gender"):
            assert rec[task]["raw"] is not None  # classified in its own frame, not carried
            assert rec[task]["probs"] == pytest.approx(single[task]["probs"], abs=1e-6)
    # the three images differ, so had labels been carried over this would have caught it
    assert recs[0]["emotion"]["probs"] != recs[1]["emotion"]["probs"]
    import csv

    rows = list(csv.DictReader(table.open()))
    assert [Path(x["file"]).name for x in rows] == list(images)
    assert [int(x["faces"]) for x in rows] == [1, 1, 1, 1, 0]
    assert rows[0]["gender"] == recs[0]["gender"]["label"]
    assert rows[1]["emotion"] == recs[1]["emotion"]["label"]
    r = run_runtime("--source", str(folder), "--per-image", str(tmp_path / "rows.json"))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [len(x["faces"]) for x in rows] == [1, 1, 1, 1, 0]
    assert rows[3]["faces"][0]["box"] == recs[3]["box"]
    bad = run_runtime("--source", str(folder), "--per-image", str(tmp_path / "rows.txt"))
    assert bad.returncode == 2 and "csv or .json" in bad.stderr


def test_files_are_classified_on_every_frame_by_default(clip, tmp_path):
    out = tmp_path / "every.jsonl"
    r = run_runtime("--source", str(clip), "--json", str(out))
    assert r.returncode == 0, r.stderr
    recs = records(out)
    assert len(recs) == 20 and all(x["emotion"]["raw"] is not None for x in recs)


@pytest.mark.slow
def test_group_photo_small_faces_are_found_by_tiling(portrait, tmp_path):
    """Twelve 90-pixel faces on a 1600x1200 canvas: too small for the detector's 128-pixel
    view of the whole image, found in tiles."""
    face = cv2.resize(portrait[40:220, 150:330], (90, 90), interpolation=cv2.INTER_AREA)
    canvas = np.full((1200, 1600, 3), 120, np.uint8)
    spots = [(100 + 400 * c + 60 * (r % 2), 150 + 330 * r) for r in range(3) for c in range(4)]
    for x, y in spots:
        canvas[y : y + 90, x : x + 90] = face
    path = tmp_path / "group.png"
    cv2.imwrite(str(path), canvas)
    counts = {}
    for tile in ("off", "on"):
        out = tmp_path / f"group_{tile}.jsonl"
        r = run_runtime("--source", str(path), "--tile", tile, "--tasks", "emotion", "--json", str(out))
        assert r.returncode == 0, r.stderr
        counts[tile] = records(out) if out.stat().st_size else []
    found = counts["on"]
    assert len(found) >= 10 > len(counts["off"])
    hit = set()
    for x in found:  # each found face sits in a pasted portrait, one face per portrait
        cx, cy = x["box"][0] + x["box"][2] / 2, x["box"][1] + x["box"][3] / 2
        (spot,) = [i for i, (sx, sy) in enumerate(spots) if sx < cx < sx + 90 and sy < cy < sy + 90]
        hit.add(spot)
    assert len(hit) == len(found)


def test_tracker_keeps_ids_and_each_face_its_own_history():
    tracker = Tracker(alpha=0.5)
    a, b = Box(10, 10, 50, 50), Box(200, 10, 50, 50)
    ids = [t.id for t in tracker.update([a, b])]
    for step in range(1, 6):  # both drift right; the order of detections swaps each frame
        boxes = [Box(200 + 3 * step, 10, 50, 50), Box(10 + 3 * step, 10, 50, 50)]
        tracks = tracker.update(boxes)
        assert [t.id for t in tracks] == ids[::-1]
    ta, tb = tracker.update([a, b])
    ta.smooth("emotion", np.eye(7)[3], 0.5)
    tb.smooth("emotion", np.eye(7)[0], 0.5)
    second = ta.smooth("emotion", np.eye(7)[3], 0.5)
    assert second[3] == pytest.approx(1.0) and second[0] == 0.0  # b's history never leaks into a
    tracker.update([])  # a face gone for a frame keeps its ID when it comes back
    assert tracker.update([a])[0].id == ids[0]
    new = tracker.update([a, Box(400, 400, 40, 40)])[1]
    assert new.id == max(ids) + 1


@pytest.mark.slow
def test_errors_are_one_line_and_outputs_stay_complete(portrait, tmp_path):
    def one_line_error(r: subprocess.CompletedProcess, text: str) -> None:
        assert r.returncode == 2, r.stderr
        assert text in r.stderr and "Traceback" not in r.stderr
        assert len([ln for ln in r.stderr.splitlines() if ln.startswith("error:")]) == 1

    one_line_error(run_runtime("--source", str(tmp_path / "none.mp4")), "no such file")
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    one_line_error(run_runtime("--source", str(fake)), "fake.mp4")

    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), portrait)
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "partial.jsonl"
    r = run_runtime("--source", str(folder), "--json", str(out))
    one_line_error(r, "b.png")
    assert len(records(out)) == 1  # the good frame's line is there, whole

    models = tmp_path / "models"
    gender = shipped_models()["gender"]
    shutil.copytree(gender, models / "gender", ignore=shutil.ignore_patterns("*.keras", "*.h5"))
    onnx = export_path(models / "gender", "onnx", "int8")
    data = bytearray(onnx.read_bytes())
    data[-10] ^= 0xFF
    onnx.write_bytes(bytes(data))
    one_line_error(
        run_runtime(
            "--source", str(folder / "a.png"), "--tasks", "gender", "--gender-model", str(models / "gender")
        ),
        "does not match its card",
    )

    shutil.copy(export_path(gender, "onnx", "int8"), onnx)
    card_file = card_path(onnx)
    card = json.loads(card_file.read_text())
    card["labels"] = ["man", "woman"]  # swapped: the file's own card says otherwise
    card_file.write_text(json.dumps(card))
    one_line_error(
        run_runtime(
            "--source", str(folder / "a.png"), "--tasks", "gender", "--gender-model", str(models / "gender")
        ),
        "does not match the card",
    )


@pytest.mark.slow
def test_demo_source_runs_without_tensorflow(tmp_path):
    code = (
        "import sys; from runtime.__main__ import main\n"
        "rc = main(['--source', 'demo', '--no-show', '--max-frames', '5'])\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')]\n"
        "print('loaded:', bad); sys.exit(rc or (1 if bad else 0))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "loaded: []" in r.stdout and "5 frames" in r.stderr


@pytest.mark.slow
def test_classification_stride_classifies_every_nth_frame_and_keeps_labels_between(clip, tmp_path):
    out = tmp_path / "strided.jsonl"
    r = run_runtime("--source", str(clip), "--classify-every", "4", "--smoothing", "0.5", "--json", str(out))
    assert r.returncode == 0, r.stderr
    recs = records(out)
    fresh = [x["frame"] for x in recs if x["emotion"]["raw"] is not None]
    assert fresh == [0, 4, 8, 12, 16]
    assert all(x["gender"]["raw"] is not None for x in recs if x["frame"] in fresh)
    for x in recs:  # between classifications the smoothed labels carry over, whole
        assert abs(sum(x["emotion"]["probs"].values()) - 1) < 1e-3
    assert recs[1]["emotion"]["probs"] == recs[0]["emotion"]["probs"]

    # Smoothing forgets per frame: four frames on, the new output weighs 1 - 0.5^4 (on the
    # moving demo face, whose raw outputs change from one classification to the next).
    moving = tmp_path / "moving.jsonl"
    r = run_runtime(
        "--source",
        "demo",
        "--max-frames",
        "40",
        "--classify-every",
        "4",
        "--smoothing",
        "0.5",
        "--tasks",
        "gender",
        "--json",
        str(moving),
    )
    assert r.returncode == 0, r.stderr
    recs = records(moving)
    w = 1 - 0.5**4
    changed = 0
    for before, now in zip(recs[0:36:4], recs[4:40:4]):
        for k, prev in before["gender"]["probs"].items():
            raw = now["gender"]["raw"][k]
            assert now["gender"]["probs"][k] == pytest.approx((1 - w) * prev + w * raw, abs=2e-4)
            changed += abs(raw - prev) > 0.01
    assert changed  # the check above was not vacuous


@pytest.mark.slow
def test_detection_stride_follows_the_face_between_detections(tmp_path):
    out = tmp_path / "detect3.jsonl"
    r = run_runtime("--source", "demo", "--max-frames", "60", "--detect-every", "3", "--json", str(out))
    assert r.returncode == 0, r.stderr
    recs = records(out)
    assert [x["frame"] for x in recs] == list(range(60)) and {x["track_id"] for x in recs} == {1}
    ref = tmp_path / "detect1.jsonl"
    assert run_runtime("--source", "demo", "--max-frames", "60", "--json", str(ref)).returncode == 0
    for a, b in zip(records(ref), recs):  # the demo face pans and zooms: flow keeps up
        assert overlap(a["box"], Box(*b["box"])) > 0.6


def test_profile_sets_defaults_and_explicit_flags_win():
    from runtime.__main__ import parse_args

    a = parse_args(["--profile", "pi"])
    assert (a.tier, a.backend, a.precision, a.threads, a.detect_every, a.classify_every) == (
        "nano",
        "tflite",
        "int8",
        2,
        2,
        None,
    )  # classification strides only if the Pi falls behind
    a = parse_args(["--profile", "pi", "--backend", "onnx", "--classify-every", "1"])
    assert (a.backend, a.classify_every, a.detect_every) == ("onnx", 1, 2)
    assert parse_args([]).backend == "onnx" and parse_args([]).classify_every is None
    assert parse_args([]).tier == "accurate"


@pytest.mark.parametrize("fps, strided", [(2.0, False), (5000.0, True)])
def test_a_live_source_strides_only_when_the_machine_falls_behind(fps, strided):
    """The real pipeline on the moving demo face, as a live source of a given frame rate:
    at 2 FPS every frame fits its budget, at 5000 FPS (0.2 ms a frame) nothing does."""
    from runtime.options import RuntimeConfig
    from runtime.pipeline import Pipeline
    from runtime.sources import DemoSource

    pipe = Pipeline(RuntimeConfig(show=False), live=True, fps=fps)
    classified = []
    try:
        for frame in DemoSource(frames=40).frames():
            t0 = time.perf_counter()
            result = pipe.process(frame.image, frame.index, frame.timestamp)
            pipe.end_frame(time.perf_counter() - t0)
            classified += [f.predictions["emotion"].raw is not None for f in result.faces]
    finally:
        pipe.close()
    assert len(classified) == 40
    if strided:
        assert pipe.stride.every == pipe.stride.max_every and sum(classified) < 20
    else:
        assert pipe.stride.every == 1 and all(classified)


def test_a_pipeline_is_a_context_manager_that_closes_its_detector():
    from runtime.detection import DetectorError
    from runtime.options import RuntimeConfig
    from runtime.pipeline import Pipeline

    frame = np.zeros((480, 640, 3), np.uint8)
    with Pipeline(RuntimeConfig(tasks=("emotion",))) as pipe:
        assert pipe.detector.detect(frame) == []
    with pytest.raises(DetectorError, match="closed"):
        pipe.detector.detect(frame)


@pytest.mark.slow
def test_the_pi_profile_runs_the_nano_tier(tmp_path):
    from runtime.__main__ import config_from_args, parse_args
    from runtime.model_folder import shipped_index
    from runtime.pipeline import Pipeline

    cfg = config_from_args(parse_args(["--profile", "pi"]), show=False)
    pipe = Pipeline(cfg)
    try:
        names = {task: clf.card.name for task, clf in pipe.classifiers.items()}
        assert names == shipped_index()["nano"]
        assert all(clf.card.architecture["macs"] <= 25_000_000 for clf in pipe.classifiers.values())
    finally:
        pipe.close()
    out = tmp_path / "pi.jsonl"
    r = run_runtime("--source", "demo", "--max-frames", "10", "--profile", "pi", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert len(records(out)) == 10 and all("emotion" in x and "gender" in x for x in records(out))
