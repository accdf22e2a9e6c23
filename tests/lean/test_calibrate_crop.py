"""Crop calibration recovers a known framing from images cropped around a real face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")

from export.calibrate_crop import calibrate
from runtime.blazeface import FaceDetector
from runtime.card import ModelCard
from runtime.preprocess import Box, CropRule, InputSpec, Normalization, crop, expand_box

ASTRONAUT = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.png"


def test_known_framing_is_measured_back():
    portrait = cv2.imread(str(ASTRONAUT))
    with FaceDetector() as det:
        (face,) = det.detect(portrait)
    truth = CropRule(scale_x=1.6, scale_y=1.6, shift_y=0.15)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(30):  # training-style chips: the same framing, with a little jitter
        b = face.box
        jx, jy = rng.integers(-3, 4, 2)
        frame = expand_box(Box(b.x + jx, b.y + jy, b.w, b.h), truth)
        images.append(
            cv2.resize(crop(portrait, frame), (64, 64), interpolation=cv2.INTER_AREA)[:, :, ::-1]
        )  # stored as RGB, like the gender data
    spec = InputSpec(64, 64, 3, "rgb", Normalization.minus_one_to_one(), CropRule(framing="chips"))
    card = ModelCard(name="t", task="gender", labels=["woman", "man"], input=spec)
    rule, stats = calibrate(card, np.stack(images), "rgb", size=30)
    assert rule.calibrated and stats["faces_found"] >= 25
    assert rule.scale_x == pytest.approx(1.6, abs=0.12)
    assert rule.shift_y == pytest.approx(0.15, abs=0.08)  # frame centre below the box centre


def test_too_few_faces_is_refused():
    flat = np.full((40, 48, 48), 128, np.uint8)
    spec = InputSpec(48, 48, 1, "gray", Normalization.minus_one_to_one())
    card = ModelCard(name="t", task="emotion", labels=list("abcdefg"), input=spec)
    with pytest.raises(ValueError, match="found faces in only 0 of 40"):
        calibrate(card, flat, "gray", size=40)


def _card_in(folder: Path, training: dict) -> Path:
    from runtime.card import EMOTION_LABELS, write_card

    spec = InputSpec(48, 48, 1, "gray", Normalization.minus_one_to_one())
    card = ModelCard(name="t", task="emotion", labels=list(EMOTION_LABELS), input=spec, training=training)
    write_card(card, folder / "model.card.json")
    return folder


def test_a_card_without_its_split_recipe_is_refused_in_one_line(emotion_npz, tmp_path, capsys):
    """No default val_fraction or seed: they would measure the crop on validation faces."""
    from export.calibrate_crop import main

    folder = _card_in(tmp_path, {"data": [str(emotion_npz["train"])], "labels": "fer"})
    assert main(["--model", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot rebuild its training split" in err
    assert "training.seed, training.recipe.val_fraction, training.split" in err


def test_a_card_whose_split_fingerprint_does_not_match_the_data_is_refused(emotion_npz, tmp_path, capsys):
    from export.calibrate_crop import main

    training = {
        "data": [str(emotion_npz["train"])],
        "labels": "fer",
        "seed": 1,
        "recipe": {"val_fraction": 0.25},
        "split": {"train_fingerprint": "0123456789abcdef"},  # another split than these data give
    }
    assert main(["--model", str(_card_in(tmp_path, training))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match its card" in err
