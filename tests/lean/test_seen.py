"""A run ends with what it saw: per track its time on screen and its dominant labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runtime_cli import run_runtime

from runtime.geometry import Box
from runtime.records import FaceResult, FrameResult, Prediction
from runtime.seen import SeenLog

ROOT = Path(__file__).resolve().parents[2]
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def face(track: int, emotion: str, gender: str) -> FaceResult:
    e = np.eye(7, dtype=np.float32)[EMOTIONS.index(emotion)]
    g = np.array([1.0, 0.0] if gender == "woman" else [0.0, 1.0], np.float32)
    return FaceResult(
        track,
        Box(0, 0, 10, 10),
        0.9,
        {"emotion": Prediction(EMOTIONS, e, e), "gender": Prediction(["woman", "man"], g, g)},
    )


def test_tracks_get_their_span_and_the_label_shown_most():
    log = SeenLog()
    for i in range(10):  # 0.1 s apart; track 2 appears at frame 6
        faces = [face(1, "happy" if i < 7 else "sad", "woman")]
        if i >= 6:
            faces.append(face(2, "neutral", "man"))
        log.add(FrameResult(i, i / 10, faces))
    one, two = log.to_list()
    assert one == {
        "track_id": 1,
        "first_frame": 0,
        "last_frame": 9,
        "frames": 10,
        "seconds": 0.9,
        "emotion": {"label": "happy", "share": 0.7},
        "gender": {"label": "woman", "share": 1.0},
    }
    assert (two["first_frame"], two["frames"], two["emotion"]["label"]) == (6, 4, "neutral")
    line = log.describe()
    assert line.startswith("seen: #1 0.9 s (10 frames): happy 70%, woman 100%; #2 0.3 s")


def test_images_are_listed_by_file_and_faceless_ones_counted():
    log = SeenLog()
    log.add(FrameResult(0, 0.0, [face(1, "happy", "man"), face(2, "sad", "woman")], file="a/x.jpg"))
    log.add(FrameResult(1, 1.0, [], file="a/empty.jpg"))
    log.add(FrameResult(2, 2.0, [face(1, "fear", "woman")], file="a/y.png"))
    assert log.describe() == (
        "seen: x.jpg: #1 happy man, #2 sad woman; y.png: #1 fear woman; 1 image(s) without a face"
    )
    assert [r["file"] for r in log.to_list()] == ["a/x.jpg", "a/x.jpg", "a/y.png"]
    assert log.images_without_faces == ["a/empty.jpg"]


def test_a_long_list_is_cut_on_the_terminal_only():
    log = SeenLog()
    for t in range(12):
        log.add(FrameResult(t, t, [face(t + 1, "happy", "man")]))
    assert "4 more (--summary-json lists every one)" in log.describe()
    assert len(log.to_list()) == 12


@pytest.mark.slow
def test_the_cli_ends_with_the_tracks_in_its_summary_line_and_json(tmp_path):
    pytest.importorskip("mediapipe", reason="runs in the runtime environment")
    out = tmp_path / "summary.json"
    r = run_runtime("--source", "demo", "--max-frames", "12", "--summary-json", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads(out.read_text())
    (track,) = summary["seen"]
    assert track["frames"] == 12 and track["seconds"] > 0
    assert track["emotion"]["label"] in EMOTIONS and track["gender"]["label"] in ("woman", "man")
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("seen: #1 ") and track["emotion"]["label"] in last


def test_an_age_is_summed_up_as_its_median_over_the_track():
    """A number changes a little every frame: the summary gives its median, not the share
    of frames that showed one exact value."""
    from runtime.outputs import output_kind

    kind = output_kind({"kind": "expectation", "unit": "years", "format": "~{value:.0f} y"})
    labels = [str(a) for a in range(101)]
    log = SeenLog()
    for i, years in enumerate([30, 31, 33, 60, 32]):  # one frame's outlier
        p = np.zeros(101, np.float32)
        p[years] = 1
        f = face(1, "happy", "woman")
        f.predictions["age"] = Prediction(labels, p, p, kind)
        log.add(FrameResult(i, i / 10, [f]))
    (one,) = log.to_list()
    assert one["age"] == {"label": "~32 y", "value": 32.0}
    assert log.describe().endswith("happy 100%, woman 100%, ~32 y")
