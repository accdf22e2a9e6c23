"""train.reframe cuts every face of a source as the runtime would cut it from a frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")

from runtime.blazeface import FaceDetector
from runtime.card import ModelCard, write_card
from runtime.preprocess import Box, CropRule, InputSpec, Normalization, crop, expand_box, prepare_face
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.npz import load_npz
from train.reframe import drop_flagged, main, reframe, save_npz

ASTRONAUT = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.png"
RULE = CropRule(scale_x=1.2, scale_y=1.2, shift_y=-0.1, calibrated=True)
SPEC = InputSpec(48, 48, 1, "gray", Normalization.minus_one_to_one(), RULE)


def chips(n: int = 6) -> tuple[np.ndarray, Box]:
    """Wide RGB chips of one real face at several framings (as ExpW or CelebA frame theirs)."""
    portrait = cv2.imread(str(ASTRONAUT))
    with FaceDetector() as det:
        (face,) = det.detect(portrait)
    out = []
    for i in range(n):
        wide = expand_box(face.box, CropRule(scale_x=1.6 + 0.15 * i, scale_y=1.6 + 0.15 * i))
        out.append(cv2.resize(crop(portrait, wide), (96, 96), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    return np.stack(out), face.box


def test_each_face_comes_out_as_the_runtime_crops_it_from_the_frame():
    images, _ = chips()
    ds = FaceDataset("src", images, np.arange(6) % 7, [f"c{i}" for i in range(7)], "rgb")
    with FaceDetector() as det:
        out = reframe(ds, SPEC, det, min_roll=10.0)
        # The runtime's own path on the first chip, as a frame: detector box, crop rule, resize.
        frame = np.ascontiguousarray(images[0][:, :, ::-1])
        big = cv2.resize(frame, (256, 256))
        canvas = cv2.copyMakeBorder(big, 128, 128, 128, 128, cv2.BORDER_CONSTANT, value=(127,) * 3)
        (d,) = det.detect(canvas)
    assert out.images.shape == (6, 48, 48) and out.order == "gray" and out.meta["detected"].all()
    # Framings that differed by up to 75 % now agree: the same face at the same place.
    spread = np.abs(out.images.astype(float) - out.images.mean(axis=0)).mean()
    raw = np.stack([cv2.resize(cv2.cvtColor(i, cv2.COLOR_RGB2GRAY), (48, 48)) for i in images]).astype(float)
    assert spread < 0.5 * np.abs(raw - raw.mean(axis=0)).mean()
    k = 256 / 96
    box = Box(round((d.box.x - 128) / k), round((d.box.y - 128) / k), round(d.box.w / k), round(d.box.h / k))
    runtime = prepare_face(frame, box, SPEC, "bgr")
    mine = out.images[0].astype(np.float32) * SPEC.normalization.scale + SPEC.normalization.offset
    assert np.abs(runtime[:, :, 0] - mine).mean() < 0.05


def test_a_face_the_detector_misses_gets_the_median_box_and_is_flagged():
    images, _ = chips(5)
    images[2] = 127  # a blank image: no face to find
    ds = FaceDataset("src", images, np.zeros(5, int), ["a", "b"], "rgb")
    with FaceDetector() as det:
        out = reframe(ds, SPEC, det, min_roll=10.0)
    assert out.meta["detected"].tolist() == [True, True, False, True, True]
    blank = np.full((3, 48, 48, 3), 127, np.uint8)
    with FaceDetector() as det, pytest.raises(DatasetError, match="found a face in only 0 of 3"):
        reframe(FaceDataset("flat", blank, np.zeros(3, int), ["a", "b"], "rgb"), SPEC, det, 10.0)


def test_flagged_faces_are_dropped_and_an_unknown_flag_is_refused():
    ds = FaceDataset(
        "s",
        np.zeros((4, 8, 8), np.uint8),
        np.zeros(4, int),
        ["a"],
        "gray",
        meta={"fer2013_copy": np.array([0, 1, 0, 1], bool)},
    )
    assert len(drop_flagged(ds, ["fer2013_copy"])) == 2
    with pytest.raises(DatasetError, match="no per-image flag 'nope'"):
        drop_flagged(ds, ["nope"])


def test_the_command_writes_a_file_training_reads_back(tmp_path, capsys):
    images, _ = chips(4)
    src = FaceDataset(
        "s",
        images,
        np.array([0, 1, 1, 0]),
        ["woman", "man"],
        "rgb",
        meta={"age": np.array([20, 30, 40, 50], np.int16)},
    )
    save_npz(src, "train", tmp_path / "src_train.npz")
    model = tmp_path / "model"
    model.mkdir()
    spec = InputSpec(64, 64, 3, "rgb", Normalization.minus_one_to_one(), RULE)
    write_card(
        ModelCard(name="g", task="gender", labels=["woman", "man"], input=spec), model / "model.card.json"
    )
    (model / "model.keras").write_bytes(b"")
    out = tmp_path / "re" / "src_train.npz"
    assert main(["--data", str(tmp_path / "src_train.npz"), "--model", str(model), "--output", str(out)]) == 0
    back = load_npz(out, task="gender")
    assert back.images.shape == (4, 64, 64, 3) and back.labels.tolist() == [0, 1, 1, 0]
    assert back.meta["age"].tolist() == [20, 30, 40, 50] and back.meta["detected"].all()
    assert "4 faces reframed for g (4 found by BlazeFace)" in capsys.readouterr().out
    emotion = tmp_path / "emo"
    emotion.mkdir()
    write_card(
        ModelCard(name="e", task="emotion", labels=[str(i) for i in range(7)], input=SPEC),
        emotion / "model.card.json",
    )
    (emotion / "model.keras").write_bytes(b"")
    assert (
        main(["--data", str(tmp_path / "src_train.npz"), "--model", str(emotion), "--output", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "labels" in err and len(err.splitlines()) == 1
