"""BlazeFace on LiteRT (the engine where MediaPipe's build cannot run, e.g. a Raspberry Pi 4)
against MediaPipe itself on the same files and images: same faces, same boxes within a pixel
or two, same scores, so the crop rules measured with MediaPipe hold for both."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.asset_files import asset
from runtime.blazeface import BlazeFace, mediapipe_runs_here
from runtime.blazeface_litert import SCHEMES, anchors, weighted_nms

MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"


def scenes() -> dict[str, np.ndarray]:
    """The demo portrait; it and a half-size copy on a wide grey canvas (letterbox padding
    above and below); a tall crop (padding beside); and, where ../shared/media is present, its
    real photos of two and more people (the weighted suppression between faces)."""
    portrait = cv2.imread(str(asset("astronaut.png")))
    wide = np.full((560, 900, 3), 120, np.uint8)
    wide[24:536, 20:532] = portrait
    wide[150:406, 600:856] = cv2.resize(portrait, (256, 256))
    out = {"portrait": portrait, "wide": wide, "tall": np.ascontiguousarray(portrait[:, 100:400])}
    for name in ("deepface_couple.jpg", "deepface_selfie-many-people.jpg", "face_recognition_two_people.jpg"):
        if (MEDIA / name).is_file():
            out[name] = cv2.imread(str(MEDIA / name))
    return out


@pytest.mark.parametrize("variant", ["short", "full"])
def test_litert_engine_finds_what_mediapipe_finds(variant: str) -> None:
    with BlazeFace(variant, engine="mediapipe") as mp, BlazeFace(variant, engine="litert") as lr:
        for name, image in scenes().items():
            a = sorted(mp.detect(image), key=lambda d: d.box.x)
            b = sorted(lr.detect(image), key=lambda d: d.box.x)
            assert a or name.endswith(".jpg"), f"MediaPipe finds no face in {name}: the scene is wrong"
            assert len(a) == len(b), (name, a, b)
            for x, y in zip(a, b):
                assert max(abs(x.box.x - y.box.x), abs(x.box.y - y.box.y)) <= 2, (name, x, y)
                assert max(abs(x.box.w - y.box.w), abs(x.box.h - y.box.h)) <= 2, (name, x, y)
                assert abs(x.score - y.score) < 0.01 and abs(x.roll - y.roll) < 2.0, (name, x, y)


def test_anchor_counts_match_the_networks() -> None:
    assert len(anchors(SCHEMES["short"])) == 896 and len(anchors(SCHEMES["full"])) == 2304
    a = anchors(SCHEMES["short"])
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])  # 2 per cell
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8])  # the 8x8 grid after the 16x16 one


def test_weighted_nms_merges_overlaps_and_keeps_the_best_score() -> None:
    coords = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    out = weighted_nms(coords, np.array([0.9, 0.6, 0.8]))
    assert [s for _, s in out] == [0.9, 0.8]
    assert np.allclose(out[0][0], (coords[0] * 0.9 + coords[1] * 0.6) / 1.5)


def test_mediapipe_is_skipped_only_on_arm_cores_without_atomics(tmp_path) -> None:
    a72, a76 = tmp_path / "a72", tmp_path / "a76"
    a72.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n")
    a76.write_text("processor\t: 0\nFeatures\t: fp asimd aes pmull sha1 sha2 crc32 atomics fphp asimddp\n")
    assert not mediapipe_runs_here(a72, "aarch64")
    assert mediapipe_runs_here(a76, "aarch64")
    assert mediapipe_runs_here(a72, "x86_64")
