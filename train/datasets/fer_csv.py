"""Kaggle's fer2013.csv (``emotion,pixels,Usage``), optionally with FER+ votes aligned by row.

The csv is the original FER2013 release: one 48x48 gray face per row as 2304
space-separated integers. Microsoft's FER+ ``fer2013new.csv`` has exactly one
row per fer2013.csv row, in the same order, so votes are joined by row number
(never by the ``ferNNNNNNN.png`` name, whose number is wrong for many rows).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from runtime.card import EMOTION_LABELS
from train.datasets.base import DatasetError, FaceDataset, read_csv_rows
from train.datasets.ferplus import ferplus_to_fer_soft, read_ferplus_csv

SIDE = 48
N_PIXELS = SIDE * SIDE
FERPLUS_NAME = "fer2013new.csv"
CHUNK_ROWS = 4096  # pixel strings parsed per numpy call: bounds the joined-string memory


def load_fer2013_csv(path: Path, usage: str | None = "Training", ferplus: Path | None = None) -> FaceDataset:
    """Rows of fer2013.csv whose Usage is ``usage`` (None or "all": every row).

    FER+ votes are read from ``ferplus`` or, when not given, from a fer2013new.csv
    next to the csv; they become ``soft`` and ``meta["ferplus"]``.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    col = _columns(path, header, need_usage=not _all(usage))
    n_total = len(rows)
    if n_total == 0:
        raise DatasetError(f"{path} has a header but no data rows")
    for i, row in enumerate(rows):
        if len(row) < len(header):
            raise DatasetError(
                f"{path}: data row {i} has {len(row)} fields, the header has "
                f"{len(header)}; the file is truncated or malformed"
            )
    if _all(usage):
        sel = np.arange(n_total)
        name = path.stem
    else:
        sel = _select_usage(path, rows, col["usage"], str(usage))
        name = f"{path.stem}_{usage}"
    labels = _labels(path, rows, col["emotion"], sel)
    images = _pixels(path, rows, col["pixels"], sel)
    meta = {"row": sel.astype(np.int32)}
    soft = None
    votes_path = Path(ferplus) if ferplus is not None else path.with_name(FERPLUS_NAME)
    if ferplus is not None or (votes_path.is_file() and path.name != FERPLUS_NAME):
        votes = _aligned_votes(path, votes_path, rows, col.get("usage"))
        meta["ferplus"] = votes[sel]
        soft = ferplus_to_fer_soft(meta["ferplus"])
    return FaceDataset(name, images, labels, list(EMOTION_LABELS), "gray", soft, meta)


def _all(usage: str | None) -> bool:
    return usage is None or usage.strip().casefold() == "all"


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    return read_csv_rows(path, "Kaggle's fer2013.csv (columns emotion,pixels,Usage)")


def _columns(path: Path, header: list[str], need_usage: bool) -> dict[str, int]:
    """Column positions by name (case and surrounding spaces ignored: variants differ there)."""
    folded = [h.casefold() for h in header]
    wanted = ("emotion", "pixels") + (("usage",) if need_usage else ())
    missing = [w for w in wanted if w not in folded]
    if missing:
        raise DatasetError(
            f"{path} lacks column(s) {', '.join(missing)} (has: {', '.join(header)}); "
            "expected Kaggle's fer2013.csv with columns emotion,pixels,Usage"
        )
    col = {w: folded.index(w) for w in wanted}
    if "usage" in folded:
        col["usage"] = folded.index("usage")
    return col


def _select_usage(path: Path, rows: list[list[str]], col: int, usage: str) -> np.ndarray:
    values = np.array([r[col].strip() for r in rows])
    sel = np.flatnonzero(np.char.lower(values) == usage.strip().casefold())
    if len(sel) == 0:
        found = ", ".join(sorted(set(values.tolist())))
        raise DatasetError(
            f"{path} has no rows with Usage {usage!r} (it has: {found}); pick one of those, or 'all'"
        )
    return sel


def _labels(path: Path, rows: list[list[str]], col: int, sel: np.ndarray) -> np.ndarray:
    labels = np.empty(len(sel), np.int64)
    for k, i in enumerate(sel):
        try:
            labels[k] = int(rows[i][col])
        except ValueError:
            raise DatasetError(
                f"{path}: data row {int(i)} has emotion {rows[i][col]!r}, expected an integer 0..6"
            ) from None
    out = np.flatnonzero((labels < 0) | (labels >= len(EMOTION_LABELS)))
    if len(out):
        i = int(sel[out[0]])
        raise DatasetError(
            f"{path}: data row {i} has emotion {labels[out[0]]}, outside 0..6 "
            f"({', '.join(EMOTION_LABELS)}); {len(out)} such row(s)"
        )
    return labels


def _pixels(path: Path, rows: list[list[str]], col: int, sel: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8, parsed a chunk of rows at a time by numpy's C text parser."""
    images = np.empty((len(sel), SIDE, SIDE), np.uint8)
    for start in range(0, len(sel), CHUNK_ROWS):
        chunk = sel[start : start + CHUNK_ROWS]
        text = " ".join(rows[i][col] for i in chunk)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy warns, then stops, at a bad token
                values = np.fromstring(text, dtype=np.int32, sep=" ")
        except ValueError:
            values = np.empty(0, np.int32)
        if values.size != len(chunk) * N_PIXELS:
            _raise_bad_row(path, rows, col, chunk)
        if values.min() < 0 or values.max() > 255:
            bad = int(
                chunk[np.flatnonzero(((values < 0) | (values > 255)).reshape(len(chunk), -1).any(axis=1))[0]]
            )
            raise DatasetError(f"{path}: data row {bad} has pixel values outside 0..255")
        images[start : start + len(chunk)] = values.reshape(-1, SIDE, SIDE)
    return images


def _raise_bad_row(path: Path, rows: list[list[str]], col: int, chunk: np.ndarray) -> None:
    """Slow path, only on error: find the first row whose pixel field is not 2304 integers."""
    for i in chunk:
        tokens = rows[i][col].split()
        if len(tokens) != N_PIXELS:
            raise DatasetError(
                f"{path}: data row {int(i)} has {len(tokens)} pixel values, "
                f"expected {N_PIXELS} (a {SIDE}x{SIDE} gray image)"
            )
        if not all(t.isdigit() for t in tokens):
            raise DatasetError(
                f"{path}: data row {int(i)} has a pixel value that is not a non-negative integer"
            )
    raise DatasetError(f"{path}: pixel fields could not be parsed; the file is malformed")


def _aligned_votes(path: Path, votes_path: Path, rows: list[list[str]], usage_col: int | None) -> np.ndarray:
    """FER+ votes for every fer2013.csv row; refuses a file that does not line up row for row."""
    votes, votes_usage, _ = read_ferplus_csv(votes_path)
    if len(votes) != len(rows):
        raise DatasetError(
            f"{votes_path} has {len(votes)} rows but {path} has {len(rows)}; FER+ "
            "votes align by row, so both must be the full original files"
        )
    if usage_col is not None:
        ours = np.char.lower(np.array([r[usage_col].strip() for r in rows]))
        theirs = np.char.lower(np.array(votes_usage))
        diff = np.flatnonzero(ours != theirs)
        if len(diff):
            i = int(diff[0])
            raise DatasetError(
                f"{votes_path} row {i} is Usage {votes_usage[i]!r} but {path} row {i} "
                f"is {rows[i][usage_col].strip()!r} ({len(diff)} rows differ); the "
                "files do not line up row for row"
            )
    return votes
