"""A tilted head is turned upright before it is classified (eye keypoints -> roll)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="runs in the runtime environment (make test-runtime)")

from runtime.blazeface import FaceDetector
from runtime.detection import eye_roll
from runtime.preprocess import CropRule, upright_crop

ASTRONAUT = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.png"
RULE = CropRule(scale_x=1.2, scale_y=1.2, shift_y=-0.1)


def test_eye_roll_sign():
    assert eye_roll((10, 10), (30, 10)) == pytest.approx(0)
    assert eye_roll((10, 10), (30, 30)) == pytest.approx(45)  # right side lower: clockwise
    assert eye_roll((10, 30), (30, 10)) == pytest.approx(-45)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = (
        cv2.cvtColor(cv2.resize(x, (64, 64)), cv2.COLOR_BGR2GRAY).astype(np.float32).ravel() for x in (a, b)
    )
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("angle", [-30, 25])
def test_a_rotated_face_comes_out_upright(angle):
    portrait = cv2.imread(str(ASTRONAUT))
    h, w = portrait.shape[:2]
    with FaceDetector("short") as det:
        (upright,) = det.detect(portrait)
        reference = upright_crop(portrait, upright.box, RULE, upright.roll)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        tilted_img = cv2.warpAffine(portrait, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        (tilted,) = det.detect(tilted_img)
    # cv2 turns the picture counter-clockwise by `angle`; the measured roll undoes it
    assert tilted.roll - upright.roll == pytest.approx(-angle, abs=10)  # keypoints are coarse
    aligned = upright_crop(tilted_img, tilted.box, RULE, tilted.roll)
    unaligned = upright_crop(tilted_img, tilted.box, RULE, 0.0)
    assert similarity(aligned, reference) > 0.6
    assert similarity(aligned, reference) > similarity(unaligned, reference) + 0.2


def test_no_roll_is_the_plain_crop():
    portrait = cv2.imread(str(ASTRONAUT))
    from runtime.preprocess import Box, crop, expand_box

    box = Box(170, 60, 120, 130)
    assert np.array_equal(upright_crop(portrait, box, RULE, 0.0), crop(portrait, expand_box(box, RULE)))
