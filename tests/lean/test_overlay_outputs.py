"""What users see: labels stay inside the frame, stills carry no frame rate, and --output
writes the kind of file its name says, at the source's exact size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_cli import run_runtime

from runtime.geometry import Box
from runtime.overlay import LABEL_COLOURS, _overlap, _scale, _tag_size, draw, place_tags, status_text
from runtime.records import FaceResult, FrameResult, Prediction

ROOT = Path(__file__).resolve().parents[2]
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
LINES = ["#1", "happy 90%", "woman 80%"]


def happy_face(box: Box) -> FaceResult:
    probs = np.eye(7, dtype=np.float32)[3]
    return FaceResult(
        1,
        box,
        0.9,
        {
            "emotion": Prediction(EMOTIONS, probs, probs),
            "gender": Prediction(["woman", "man"], np.array([0.8, 0.2]), None),
        },
    )


@pytest.mark.parametrize(
    "box",
    [
        Box(100, 60, 80, 80),  # room below
        Box(100, 160, 80, 80),  # touches the bottom edge
        Box(100, 0, 80, 240),  # fills the frame's height
        Box(300, 200, 81, 40),
    ],
)  # bottom-right corner
def test_every_label_lands_inside_the_frame(box):
    img = np.zeros((240, 381, 3), np.uint8)
    x, tops = place_tags(img, LINES, box, [])
    sizes = [_tag_size(t, _scale(img)) for t in LINES]
    heights = [h for _, h in sizes]
    for top, (w, h) in zip(tops, sizes):
        assert top >= 0 and top + h <= img.shape[0] and x >= 0 and x + w <= img.shape[1]
    assert tops == sorted(tops)  # the lines keep their order
    if box.y + box.h + sum(heights) > img.shape[0] and box.y >= sum(heights):
        assert tops[-1] + heights[-1] <= box.y  # moved above the box, not onto the face


def test_tags_of_faces_side_by_side_do_not_cover_each_other():
    """A crowd: faces in a row, each one's tags placed where no other face's tags are
    (below the first, then wherever is still free), all inside the frame."""
    img = np.zeros((240, 381, 3), np.uint8)
    taken: list = []
    boxes = [Box(10, 150, 60, 60), Box(40, 160, 60, 60), Box(70, 140, 60, 60), Box(320, 190, 60, 50)]
    for box in boxes:
        place_tags(img, LINES, box, taken)
    assert len(taken) == len(boxes)
    for i, a in enumerate(taken):
        assert a[0] >= 0 and a[2] <= img.shape[1] and a[1] >= 0 and a[3] <= img.shape[0]
        assert all(_overlap(a, b) == 0 for b in taken[i + 1 :]), (a, taken)


def test_a_face_at_the_bottom_edge_still_shows_its_labels():
    img = np.zeros((240, 381, 3), np.uint8)
    box = Box(100, 170, 80, 70)  # its bottom is the frame's
    draw(img, FrameResult(0, 0.0, [happy_face(box)], fps=12.0))
    colour = np.array(LABEL_COLOURS["happy"], np.uint8)
    tag = np.all(img == colour, axis=2)
    tag[box.y - 1 :, box.x - 1 : box.x + box.w + 2] = False  # the box outline itself
    assert tag[: box.y].sum() > 300  # the filled tags, drawn above the box


def test_stills_and_unmeasured_frames_show_no_frame_rate():
    face = happy_face(Box(10, 10, 50, 50))
    assert status_text(FrameResult(0, 0.0, [face], fps=0.0, file="a.jpg")) == "1 face(s)"
    assert status_text(FrameResult(3, 0.0, [face], fps=25.0, file="a.jpg")) == "1 face(s)"
    assert status_text(FrameResult(0, 0.0, [face], fps=0.0)) == "1 face(s)"
    assert status_text(FrameResult(9, 0.3, [face], fps=25.04)) == "25.0 FPS  1 face(s)"


@pytest.fixture(scope="module")
def odd_still(tmp_path_factory) -> Path:
    """The demo portrait on a 381 x 301 canvas (odd sizes are where encoders round)."""
    pytest.importorskip("mediapipe", reason="runs in the runtime environment")
    portrait = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))
    assert portrait is not None, "run 'make setup-runtime' to fetch the test assets"
    canvas = np.full((301, 381, 3), 90, np.uint8)
    canvas[:, 60:361] = cv2.resize(portrait, (301, 301))
    path = tmp_path_factory.mktemp("odd") / "odd.jpg"
    cv2.imwrite(str(path), canvas)
    return path


@pytest.mark.parametrize("name, magic", [("out.png", b"\x89PNG"), ("out.jpg", b"\xff\xd8\xff")])
def test_output_to_an_image_name_writes_that_image_at_full_size(odd_still, tmp_path, name, magic):
    out = tmp_path / name
    r = run_runtime("--source", str(odd_still), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "MJPG" not in r.stderr and "FFMPEG" not in r.stderr
    assert out.read_bytes().startswith(magic)
    img = cv2.imread(str(out))
    assert img.shape == (301, 381, 3)
    assert not np.array_equal(img, cv2.imread(str(odd_still)))  # annotated
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_folder_source_writes_each_annotated_image_into_an_output_folder(odd_still, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(src / name), cv2.imread(str(odd_still)))
    r = run_runtime("--source", str(src), "--output", str(tmp_path / "annotated"))
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in (tmp_path / "annotated").iterdir())
    assert written == ["a.jpg", "b.png"]
    assert (tmp_path / "annotated" / "b.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "source, output, message",
    [
        ("folder", "one.png", "is one image but the source is 2 images"),
        ("demo", "frames", "is a folder but the source is a video"),
        ("demo", "out.gif", "unknown kind of file '.gif'"),
    ],
)
def test_an_output_that_does_not_fit_the_source_is_one_line(odd_still, tmp_path, source, output, message):
    if source == "folder":
        source = str(tmp_path / "in")
        Path(source).mkdir()
        for name in ("a.jpg", "b.jpg"):
            cv2.imwrite(str(Path(source) / name), cv2.imread(str(odd_still)))
    r = run_runtime("--source", source, "--max-frames", "2", "--output", str(tmp_path / output))
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / output).exists()


def test_a_video_of_odd_sized_frames_keeps_every_pixel(odd_still, tmp_path):
    """MPEG-4 needs even sides: the frame is padded by one replicated pixel, never cropped."""
    out = tmp_path / "out.mp4"
    r = run_runtime("--source", str(odd_still), "--output", str(out))
    assert r.returncode == 0, r.stderr
    ok, frame = cv2.VideoCapture(str(out)).read()
    assert ok and frame.shape == (302, 382, 3)
