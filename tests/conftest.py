"""Small, learnable face-like datasets that the tests write in the shared .npz layouts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def pattern_images(labels: np.ndarray, size: int, channels: int, seed: int) -> np.ndarray:
    """Class c = a bright disc at one of several fixed places, on noise: easy but not trivial."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    imgs = rng.integers(30, 90, (n, size, size, channels), dtype=np.uint8)
    n_classes = int(labels.max()) + 1
    for i, c in enumerate(labels):
        angle = 2 * np.pi * c / n_classes
        cx = int(size / 2 + size * 0.28 * np.cos(angle))
        cy = int(size / 2 + size * 0.28 * np.sin(angle))
        cv2.circle(imgs[i], (cx, cy), max(2, size // 8), (230,) * channels, -1)
    return imgs[..., 0] if channels == 1 else imgs


def age_images(groups: np.ndarray, size: int, n_groups: int, seed: int) -> np.ndarray:
    """Group g = a bright disc on the vertical centre line, lower for higher g (a mirror
    image keeps it: training flips faces left to right)."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(30, 90, (len(groups), size, size, 3), dtype=np.uint8)
    for i, g in enumerate(groups):
        cy = int(size * (0.2 + 0.6 * g / max(1, n_groups - 1)))
        cv2.circle(imgs[i], (size // 2, cy), max(2, size // 8), (230, 230, 230), -1)
    return imgs


def write_raw_npz(path: Path, split: str, n: int, n_classes: int = 7, seed: int = 0) -> Path:
    """FER-like file: x_<split> (N,48,48) uint8, y_<split>, class_names."""
    labels = np.arange(n) % n_classes
    np.random.default_rng(seed).shuffle(labels)
    x = pattern_images(labels, 48, 1, seed)
    names = np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
    np.savez_compressed(
        path, **{f"x_{split}": x, f"y_{split}": labels.astype(np.uint8), "class_names": names}
    )
    return path


def write_blob_npz(path: Path, n: int, seed: int = 0, age_groups: int = 0) -> Path:
    """Gender-like file: RGB JPEG blobs with offsets, y (0 woman, 1 man) and ages. With
    ``age_groups``, the disc's place tells the age too (group g: 10 + 20 g years, +-2), so
    an age model can learn it; otherwise ages are random."""
    rng = np.random.default_rng(seed)
    groups = np.arange(n) % max(2, age_groups)
    rng.shuffle(groups)
    labels = groups % 2
    imgs = age_images(groups, 96, age_groups, seed) if age_groups else pattern_images(labels, 96, 3, seed)
    ages = 10 + 20 * groups + rng.integers(-2, 3, n) if age_groups else rng.integers(1, 80, n)
    blobs = [cv2.imencode(".jpg", im[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1] for im in imgs]
    off = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    np.savez_compressed(
        path,
        jpeg_blob=np.concatenate(blobs).astype(np.uint8),
        jpeg_offsets=off,
        y=labels.astype(np.uint8),
        age=ages.astype(np.int16),
        race=rng.integers(0, 5, n).astype(np.int8),
        class_names=np.array(["woman", "man"]),
    )
    return path


@pytest.fixture(scope="session")
def age_npz(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("age")
    return {
        "train": write_blob_npz(d / "a_train.npz", 1200, seed=5, age_groups=4),
        "val": write_blob_npz(d / "a_val.npz", 120, seed=6, age_groups=4),
    }


@pytest.fixture(scope="session")
def emotion_npz(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("emotion")
    return {
        "train": write_raw_npz(d / "emo_train.npz", "train", 1400, seed=1),
        "test": write_raw_npz(d / "emo_test.npz", "publictest", 210, seed=2),
    }


@pytest.fixture(scope="session")
def gender_npz(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gender")
    return {
        "train": write_blob_npz(d / "g_train.npz", 400, seed=3),
        "val": write_blob_npz(d / "g_val.npz", 120, seed=4),
    }
