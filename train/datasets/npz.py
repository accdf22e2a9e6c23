"""The compact .npz layouts of the shared data folder (see its README).

Two layouts: raw arrays ``x_<split>``/``y_<split>`` (FER2013 with FER+ votes) and
JPEG blobs ``jpeg_blob``/``jpeg_offsets``/``y`` (UTKFace gender). A split may be
spread over several files (``*_1of2.npz``, ``*_2of2.npz``); they are concatenated.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from train.config import task_labels
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.ferplus import FERPLUS_COLUMNS, ferplus_to_fer_soft

BLOB_META = ("age", "race", "source", "group", "label_conflict", "identity", "fer2013_copy")
# Raw files: FER2013's csv rows and votes, and what train.reframe keeps of a blob source.
RAW_META = ("row", "ferplus", *BLOB_META, "detected", "subject")


def _open(path: Path) -> np.lib.npyio.NpzFile:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} not found; pass the path of a .npz file in the shared layout")
    # Checked first: np.load leaks its file handle when a zip-looking file fails to open.
    if not zipfile.is_zipfile(path):
        raise DatasetError(
            f"{path} is not a readable .npz file (not a zip archive: truncated, "
            "or not written by np.savez); re-copy or re-export it"
        )
    try:
        d = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path} is not a readable .npz file ({e})") from e
    if not isinstance(d, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path} holds a single array, not the keyed arrays of the shared layout")
    return d


def expand_parts(path: Path) -> list[Path]:
    """``x_1of2.npz`` stands for all its parts; a name without a part number stands alone.

    A glob-free stem like ``fer2013_train`` also works when its parts exist.
    """
    path = Path(path)
    m = re.match(r"(.*)_(\d+)of(\d+)\.npz$", path.name)
    if m:
        stem, total = m.group(1), int(m.group(3))
        return [path.with_name(f"{stem}_{i}of{total}.npz") for i in range(1, total + 1)]
    if not path.exists():
        parts = sorted(path.parent.glob(f"{path.name.removesuffix('.npz')}_*of*.npz"))
        if parts:
            return expand_parts(parts[0])
    return [path]


def _class_names(d: np.lib.npyio.NpzFile, default: tuple[str, ...]) -> list[str]:
    return [str(s) for s in d["class_names"]] if "class_names" in d.files else list(default)


def _raw_split(d: np.lib.npyio.NpzFile) -> str | None:
    """The key suffix of a raw-array file: ``_<split>`` (x_train, y_train), ``""`` for plain
    x / y (CK+48), None when the file holds neither."""
    for k in d.files:
        if k.startswith("x_") and f"y_{k[2:]}" in d.files:
            return f"_{k[2:]}"
    return "" if {"x", "y"} <= set(d.files) else None


def load_npz(path: Path, task: str | None = None) -> FaceDataset:
    """Load any shared-layout .npz (and its sibling parts) as one dataset."""
    parts = expand_parts(Path(path))
    loaded = [_load_one(p, task) for p in parts]
    if len(loaded) == 1:
        return loaded[0]
    first = loaded[0]
    for other in loaded[1:]:
        if other.label_names != first.label_names or other.order != first.order:
            raise DatasetError(f"parts of {path} disagree on labels or colour")
        if other.images.shape[1:] != first.images.shape[1:]:
            raise DatasetError(
                f"parts of {path} disagree on image size "
                f"({first.images.shape[1:]} vs {other.images.shape[1:]})"
            )
        if (other.soft is None) != (first.soft is None):
            raise DatasetError(f"parts of {path} disagree on having FER+ votes")
    meta_keys = set.intersection(*(set(d.meta) for d in loaded))
    return FaceDataset(
        name=first.name,
        images=np.concatenate([d.images for d in loaded]),
        labels=np.concatenate([d.labels for d in loaded]),
        label_names=first.label_names,
        order=first.order,
        soft=None if first.soft is None else np.concatenate([d.soft for d in loaded]),
        meta={k: np.concatenate([d.meta[k] for d in loaded]) for k in sorted(meta_keys)},
    )


def _load_one(path: Path, task: str | None) -> FaceDataset:
    """One file; member-level damage (bad zip entry, pickled array) becomes a DatasetError."""
    with _open(path) as d:
        try:
            return _load_opened(d, path, task)
        except DatasetError:
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
            raise DatasetError(f"{path} is damaged or not in the shared layout ({e})") from e


def _load_opened(d: np.lib.npyio.NpzFile, path: Path, task: str | None) -> FaceDataset:
    name = re.sub(r"_\d+of\d+$", "", path.stem)
    if "jpeg_blob" in d.files:
        return _load_blobs(d, name, path, task)
    split = _raw_split(d)
    if split is None:
        raise DatasetError(
            f"{path} has neither x_<split>/y_<split> arrays nor jpeg_blob/"
            f"jpeg_offsets/y: not a shared-layout file (keys: {', '.join(d.files)})"
        )
    x = d[f"x{split}"]
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise DatasetError(f"{path}: x{split} must be uint8 (N,H,W[,C]), got {x.dtype} {x.shape}")
    y = d[f"y{split}"].astype(np.int64)
    names = _class_names(d, task_labels(task))
    meta = {k: d[f"{k}{split}"] for k in RAW_META if f"{k}{split}" in d.files}
    soft = None
    if "ferplus" in meta:
        cols = (
            [str(c) for c in d["ferplus_columns"]] if "ferplus_columns" in d.files else list(FERPLUS_COLUMNS)
        )
        soft = ferplus_to_fer_soft(meta["ferplus"], cols)
    order = "gray" if x.ndim == 3 or x.shape[-1] == 1 else "rgb"
    return FaceDataset(name, x, y, names, order, soft, meta)


def decode_jpeg(buf: np.ndarray) -> np.ndarray:
    """JPEG bytes to an RGB uint8 image (OpenCV decodes BGR; we flip once, here)."""
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError("a JPEG blob could not be decoded; the .npz is corrupt")
    return img[:, :, ::-1]


def _load_blobs(d: np.lib.npyio.NpzFile, name: str, path: Path, task: str | None) -> FaceDataset:
    blob, off = d["jpeg_blob"], d["jpeg_offsets"].astype(np.int64)
    if "y" not in d.files:
        raise DatasetError(f"{path} has jpeg_blob but no y labels")
    y = d["y"].astype(np.int64)
    n = len(off) - 1
    if n < 1:
        raise DatasetError(f"{path} holds no images (jpeg_offsets has {len(off)} entries)")
    if n != len(y) or off[0] != 0 or off[-1] != len(blob) or np.any(np.diff(off) <= 0):
        raise DatasetError(f"{path}: jpeg_offsets do not match jpeg_blob and y; the file is corrupt")
    first = decode_jpeg(blob[off[0] : off[1]])
    images = np.empty((n, *first.shape), np.uint8)
    images[0] = first
    for i in range(1, n):
        img = decode_jpeg(blob[off[i] : off[i + 1]])
        if img.shape != first.shape:
            raise DatasetError(f"{path}: image {i} is {img.shape}, expected {first.shape}")
        images[i] = img
    meta = {k: d[k] for k in BLOB_META if k in d.files}
    return FaceDataset(name, images, y, _class_names(d, task_labels(task, "gender")), "rgb", None, meta)
