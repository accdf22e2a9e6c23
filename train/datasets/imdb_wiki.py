"""IMDB-WIKI face crops (``imdb_crop/`` + ``imdb.mat`` or ``wiki_crop/`` + ``wiki.mat``).

The .mat holds one 1x1 MATLAB struct (``imdb`` or ``wiki``) whose fields are 1xN
arrays. Its gender codes 1 = male, 0 = female, NaN = unknown; our labels are
GENDER_LABELS (0 woman, 1 man), mapped through IMDB_GENDER_TO_LABEL. The usual
cleaning applies: one confident face (face_score >= min, no second face) and a known gender.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from runtime.card import GENDER_LABELS
from runtime.preprocess import resize
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.image_folder import read_image, stack_if_same, to_rgb, warn_skipped

STRUCT_NAMES = ("imdb", "wiki")
# IMDB-WIKI gender code -> index into GENDER_LABELS ("woman", "man").
IMDB_GENDER_TO_LABEL = {0: GENDER_LABELS.index("woman"), 1: GENDER_LABELS.index("man")}
MAX_AGE = 100
MATLAB_DAYS_BEFORE_YEAR_1 = 366  # datenum 1 is 1 Jan of year 0; Python's ordinal 1 is 1 Jan 0001


def datenum_year(datenum: float) -> int | None:
    """Calendar year of a MATLAB datenum, None when it is not a valid date."""
    if not np.isfinite(datenum):
        return None
    try:
        return (datetime.fromordinal(int(datenum)) - timedelta(days=MATLAB_DAYS_BEFORE_YEAR_1)).year
    except (ValueError, OverflowError):
        return None


def load_imdb_wiki(
    root: Path, mat: Path | None = None, min_face_score: float = 1.0, size: int | None = 96
) -> FaceDataset:
    """Gender-labelled crops of ``root`` (the crop folder) that pass the usual filters; RGB.

    meta: age (photo year - birth year, -1 outside 0..100 or unknown), path (relative to root).
    Crops keep their wide margin; ``size`` resizes them (INTER_AREA) so they stack.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; pass the imdb_crop or wiki_crop folder")
    if size is not None and size < 1:
        raise DatasetError(f"size must be a positive number of pixels, not {size}")
    mat = _find_mat(root) if mat is None else Path(mat)
    key, fields = _read_struct(mat)
    n = len(fields["full_path"])
    gender, score, second = fields["gender"], fields["face_score"], fields["second_face_score"]
    keep = (
        np.isfinite(score)
        & (score >= min_face_score)
        & np.isnan(second)
        & np.isin(gender, list(IMDB_GENDER_TO_LABEL))
    )
    if not keep.any():
        raise DatasetError(
            f"{mat}: none of its {n} entries passes the filters (face_score >= "
            f"{min_face_score}, no second face, known gender)"
        )

    images, labels, ages, paths, missing = [], [], [], [], []
    for i in np.flatnonzero(keep):
        rel = fields["full_path"][i]
        img = read_image(root / rel, cv2.IMREAD_COLOR) if rel else None
        if img is None:
            missing.append(rel or f"entry {i}")
            continue
        img = to_rgb(img)
        if size is not None and img.shape[:2] != (size, size):
            img = resize(img, size, size)
        images.append(img)
        labels.append(IMDB_GENDER_TO_LABEL[int(gender[i])])
        ages.append(_age(fields["dob"][i], fields["photo_taken"][i]))
        paths.append(rel)
    if not images:
        raise DatasetError(
            f"{root}: none of the {len(missing)} images that pass the filters "
            f"could be read (e.g. {missing[0]}); is {root} the crop folder of {mat}?"
        )
    warn_skipped(root, len(missing), "missing or unreadable image file(s)", missing[0] if missing else "")
    meta = {"age": np.array(ages, np.int16), "path": np.array(paths, dtype=np.str_)}
    return FaceDataset(
        key, stack_if_same(images), np.array(labels, np.int64), list(GENDER_LABELS), "rgb", None, meta
    )


def _age(dob: float, photo_taken: float) -> int:
    born = datenum_year(dob)
    if born is None or not np.isfinite(photo_taken):
        return -1
    age = int(photo_taken) - born
    return age if 0 <= age <= MAX_AGE else -1


def _find_mat(root: Path) -> Path:
    for name in STRUCT_NAMES:
        if (root / f"{name}.mat").is_file():
            return root / f"{name}.mat"
    mats = sorted(root.glob("*.mat"))
    if len(mats) == 1:
        return mats[0]
    raise DatasetError(
        f"{root} has {'no' if not mats else 'several'} .mat file(s) and no imdb.mat "
        "or wiki.mat; pass the metadata file with mat="
    )


def _read_struct(mat: Path) -> tuple[str, dict[str, np.ndarray | list[str]]]:
    """The struct's fields as flat arrays (full_path as a list of str)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    if not mat.is_file():
        raise DatasetError(f"{mat} not found; pass the imdb.mat / wiki.mat of the crop folder")
    try:
        data = loadmat(mat)
    except NotImplementedError as e:  # MATLAB v7.3 files are HDF5
        raise DatasetError(
            f"{mat} is a MATLAB v7.3 file, which scipy cannot read; re-save it with -v7"
        ) from e
    except (MatReadError, ValueError, OSError, TypeError) as e:
        raise DatasetError(f"{mat} is not a readable .mat file ({e})") from e
    key = next((k for k in STRUCT_NAMES if k in data), None)
    if key is None:
        found = ", ".join(k for k in data if not k.startswith("__"))
        raise DatasetError(f"{mat} holds no 'imdb' or 'wiki' struct (has: {found})")
    struct = data[key]
    names = struct.dtype.names or ()
    wanted = ("dob", "photo_taken", "full_path", "gender", "face_score", "second_face_score")
    missing = [w for w in wanted if w not in names]
    if struct.size != 1 or missing:
        raise DatasetError(
            f"{mat}: struct {key!r} lacks field(s) {', '.join(missing) or '?'} or is "
            "not 1x1; expected the IMDB-WIKI metadata layout"
        )
    s = struct.flat[0]
    fields: dict[str, np.ndarray | list[str]] = {}
    for w in wanted:
        if w == "full_path":
            fields[w] = [_cell_str(c) for c in np.ravel(s[w])]
        else:
            try:
                fields[w] = np.ravel(s[w]).astype(np.float64)
            except (TypeError, ValueError) as e:
                raise DatasetError(f"{mat}: field {w!r} is not numeric ({e})") from e
    n = len(fields["full_path"])
    bad = [w for w in wanted if len(fields[w]) != n]
    if bad:
        raise DatasetError(
            f"{mat}: field(s) {', '.join(bad)} do not have one entry per full_path ({n}); the file is corrupt"
        )
    return key, fields


def _cell_str(cell: object) -> str:
    """A MATLAB cell holding one string (loadmat gives a 1-element array) as str; '' when empty."""
    a = np.ravel(np.asarray(cell))
    return str(a[0]).strip() if a.size else ""
