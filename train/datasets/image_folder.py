"""Folder-per-class image trees: a generic one, and Kaggle's image-folder FER2013.

Files are read with ``cv2.imdecode(np.fromfile(...))`` so that non-ASCII paths
work on every platform. Channel order is decided once per dataset: gray only
when every image is single-channel, otherwise RGB (OpenCV's BGR is flipped here).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from runtime.card import EMOTION_LABELS
from runtime.preprocess import to_colour
from train.datasets.base import DatasetError, FaceDataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
ORDERS = ("auto", "gray", "rgb")
# IMREAD_ANYCOLOR keeps a single-channel file single-channel (the IMREAD_UNCHANGED test) but,
# unlike IMREAD_UNCHANGED, always gives 8 bits, drops alpha and applies EXIF orientation.
_DECODE_FLAGS = {"auto": cv2.IMREAD_ANYCOLOR, "gray": cv2.IMREAD_GRAYSCALE, "rgb": cv2.IMREAD_COLOR}


def image_files(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (by extension, any case), sorted by name."""
    return sorted(
        p
        for p in Path(folder).iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """Decode one file; None when it is missing, empty or not a decodable image."""
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    try:
        return cv2.imdecode(buf, flags)
    except cv2.error:
        return None


def to_rgb(image: np.ndarray) -> np.ndarray:
    """An OpenCV-decoded image (gray, BGR or BGRA) as RGB, via the shared colour conversion."""
    if image.ndim == 2 or image.shape[2] == 1:
        return to_colour(image, "rgb", "gray")
    return to_colour(image, "rgb", "bgra" if image.shape[2] == 4 else "bgr")


def stack_if_same(images: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """One (N, ...) array when every image has the same shape, else the list itself."""
    if images and len({im.shape for im in images}) == 1:
        return np.stack(images)
    return images


def warn_skipped(where: Path, count: int, what: str, example: str) -> None:
    if count:
        warnings.warn(f"{where}: skipped {count} {what} (e.g. {example})", stacklevel=3)


def load_image_folder(root: Path, label_names: list[str] | None = None, order: str = "auto") -> FaceDataset:
    """``root/<class>/*.jpg`` -> dataset; classes sorted by name unless ``label_names`` is given.

    With ``label_names`` every class folder must be one of them (case-insensitive), and
    labels are positions in that list, so a split missing a class keeps the same ids.
    """
    root = Path(root)
    if order not in ORDERS:
        raise DatasetError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; pass a folder laid out as <root>/<class>/*.jpg")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"{root} has no class sub-folders; lay it out as <root>/<class>/*.jpg")
    if label_names is None:
        names = [d.name for d in class_dirs]
        ids = {d.name: i for i, d in enumerate(class_dirs)}
    else:
        names = list(label_names)
        lookup = {n.casefold(): i for i, n in enumerate(names)}
        unknown = [d.name for d in class_dirs if d.name.casefold() not in lookup]
        if unknown:
            raise DatasetError(
                f"{root}: folder(s) {', '.join(unknown)} are not among the labels "
                f"{', '.join(names)}; rename or remove them"
            )
        ids = {d.name: lookup[d.name.casefold()] for d in class_dirs}

    images, labels, paths, skipped = [], [], [], []
    for d in class_dirs:
        for f in image_files(d):
            img = read_image(f, _DECODE_FLAGS[order])
            if img is None:
                skipped.append(f.relative_to(root).as_posix())
                continue
            images.append(img)
            labels.append(ids[d.name])
            paths.append(f.relative_to(root).as_posix())
    if not images:
        what = (
            f"none of the {len(skipped)} image files could be decoded"
            if skipped
            else f"no {'/'.join(IMAGE_EXTENSIONS)} files in its class folders"
        )
        raise DatasetError(f"{root}: {what}; nothing to load")
    warn_skipped(root, len(skipped), "unreadable image file(s)", skipped[0] if skipped else "")

    if order == "auto":
        order = "gray" if all(im.ndim == 2 for im in images) else "rgb"
    if order == "rgb":
        images = [to_rgb(im) for im in images]
    return FaceDataset(
        root.name,
        stack_if_same(images),
        np.array(labels, np.int64),
        names,
        order,
        None,
        {"path": np.array(paths, dtype=np.str_)},
    )


def load_fer_folder(root: Path, split: str = "train") -> FaceDataset:
    """Kaggle's FER2013 image folders (``root/<split>/<emotion>/*.jpg``), gray, FER2013 label ids.

    Folder names map by name onto EMOTION_LABELS (angry 0 ... neutral 6), not alphabetically,
    so the ids match fer2013.csv and every emotion model card.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root} is not a folder; pass the FER2013 image folder "
            "(with train/<emotion>/ and test/<emotion>/)"
        )
    base = root / split
    if not base.is_dir():
        have = sorted(d.name for d in root.iterdir() if d.is_dir())
        raise DatasetError(
            f"{root} has no {split!r} folder (has: {', '.join(have) or 'none'}); "
            f"name one with {root}::<split>"
        )
    ds = load_image_folder(base, label_names=list(EMOTION_LABELS), order="gray")
    ds.name = f"{root.name}_{split}"
    return ds
