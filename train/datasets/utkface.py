"""UTKFace: labels live in the file names ``age_gender_race_datetime.jpg[.chip.jpg]``.

UTKFace codes gender 0 = male, 1 = female; our gender labels are GENDER_LABELS
(0 woman, 1 man), so the code is flipped through UTK_GENDER_TO_LABEL, never used as is.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from runtime.card import GENDER_LABELS
from runtime.preprocess import resize
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.image_folder import image_files, read_image, stack_if_same, to_rgb, warn_skipped

# age _ gender _ race _ datetime, then .jpg (the datetime tail is read leniently: the real set has
# "24_0_1_20170116220224657 .jpg.chip.jpg" and "55_0_0_20170116232725357jpg.chip.jpg").
UTK_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_\d+[^_]*\.jpe?g$", re.IGNORECASE)
# UTKFace gender code -> index into GENDER_LABELS ("woman", "man"); i.e. y = 1 - utk_gender.
UTK_GENDER_TO_LABEL = {0: GENDER_LABELS.index("man"), 1: GENDER_LABELS.index("woman")}
UTK_RACES = ("White", "Black", "Asian", "Indian", "Others")


def parse_utk_name(name: str) -> tuple[int, int, int] | None:
    """(age, our gender label, race) from a UTKFace file name, or None when it is malformed."""
    m = UTK_NAME.match(name)
    if m is None:
        return None
    return int(m.group(1)), UTK_GENDER_TO_LABEL[int(m.group(2))], int(m.group(3))


def looks_like_utkface(folder: Path) -> bool:
    """True when most images directly in ``folder`` carry UTKFace-style names."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    files = image_files(folder)
    if not files:
        return False
    hits = sum(parse_utk_name(f.name) is not None for f in files)
    return hits > len(files) / 2


def load_utkface(folder: Path, size: int | None = None) -> FaceDataset:
    """UTKFace images in ``folder`` (RGB) with gender labels; meta age, race, path.

    ``size`` resizes every face to size x size (INTER_AREA) so they stack; without it
    images of different sizes come back as a list.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder} is not a folder; pass the UTKFace folder of age_gender_race_datetime.jpg files"
        )
    if size is not None and size < 1:
        raise DatasetError(f"size must be a positive number of pixels, not {size}")
    images, labels, ages, races, paths = [], [], [], [], []
    malformed, unreadable = [], []
    for f in image_files(folder):
        parsed = parse_utk_name(f.name)
        if parsed is None:
            malformed.append(f.name)
            continue
        img = read_image(f, cv2.IMREAD_COLOR)
        if img is None:
            unreadable.append(f.name)
            continue
        img = to_rgb(img)
        if size is not None and img.shape[:2] != (size, size):
            img = resize(img, size, size)
        age, label, race = parsed
        images.append(img)
        labels.append(label)
        ages.append(age)
        races.append(race)
        paths.append(f.name)
    if not images:
        raise DatasetError(
            f"{folder}: no readable UTKFace images (age_gender_race_datetime.jpg); "
            f"{len(malformed)} malformed name(s), {len(unreadable)} unreadable file(s)"
        )
    warn_skipped(
        folder,
        len(malformed),
        "file(s) whose names are not age_gender_race_datetime.jpg",
        malformed[0] if malformed else "",
    )
    warn_skipped(folder, len(unreadable), "unreadable image file(s)", unreadable[0] if unreadable else "")
    meta = {
        "age": np.array(ages, np.int16),
        "race": np.array(races, np.int8),
        "path": np.array(paths, dtype=np.str_),
    }
    return FaceDataset(
        folder.name, stack_if_same(images), np.array(labels, np.int64), list(GENDER_LABELS), "rgb", None, meta
    )
