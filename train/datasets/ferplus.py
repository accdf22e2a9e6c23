"""FER+ crowd votes (Microsoft's fer2013new.csv), mapped onto FER2013's seven classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from train.datasets.base import DatasetError, read_csv_rows

FERPLUS_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
# FER+ column -> FER2013 class id; contempt, unknown and NF have no FER2013 class.
FERPLUS_TO_FER = {
    "anger": 0,
    "disgust": 1,
    "fear": 2,
    "happiness": 3,
    "sadness": 4,
    "surprise": 5,
    "neutral": 6,
}


def ferplus_to_fer_soft(
    votes: np.ndarray, columns: list[str] | tuple[str, ...] = FERPLUS_COLUMNS
) -> np.ndarray:
    """Vote counts (N, 10) to FER2013-ordered distributions (N, 7); rows with no usable vote are 0."""
    votes = np.asarray(votes, dtype=np.float32)
    columns = list(columns)
    missing = [c for c in FERPLUS_TO_FER if c not in columns]
    if missing or votes.ndim != 2 or votes.shape[1] != len(columns):
        raise DatasetError(
            f"FER+ votes of shape {votes.shape} with columns {columns} do not hold "
            f"one count per column of {', '.join(FERPLUS_COLUMNS)}"
        )
    out = np.zeros((len(votes), 7), np.float32)
    for col, fer in FERPLUS_TO_FER.items():
        out[:, fer] = votes[:, columns.index(col)]
    total = out.sum(axis=1, keepdims=True)
    np.divide(out, total, out=out, where=total > 0)
    return out


def majority(soft: np.ndarray) -> np.ndarray:
    """Majority label per row (ties to the lowest id), -1 where a row has no usable vote."""
    lab = soft.argmax(axis=1)
    lab[soft.sum(axis=1) == 0] = -1
    return lab


def read_ferplus_csv(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Votes (N, 10) uint8 in FERPLUS_COLUMNS order, plus each row's Usage and Image name.

    Every row is kept, blank Image names included: the file aligns with fer2013.csv by row,
    so dropping a row would shift every later vote onto the wrong face.
    """
    path = Path(path)
    raw_header, body = read_csv_rows(path, "Microsoft's FER+ fer2013new.csv")
    header = [h.casefold() for h in raw_header]
    wanted = ("usage", "image name", *(c.casefold() for c in FERPLUS_COLUMNS))
    missing = [w for w in wanted if w not in header]
    if missing:
        raise DatasetError(
            f"{path} lacks column(s) {', '.join(missing)}; expected Microsoft's "
            f"fer2013new.csv header (Usage, Image name, {', '.join(FERPLUS_COLUMNS)})"
        )
    cols = [header.index(w) for w in wanted]
    votes = np.zeros((len(body), len(FERPLUS_COLUMNS)), np.uint8)
    usage, names = [], []
    for i, row in enumerate(body):
        if len(row) < len(header):
            raise DatasetError(
                f"{path}: data row {i} has {len(row)} fields, the header has "
                f"{len(header)}; the file is truncated or malformed"
            )
        try:
            v = [int(row[c]) for c in cols[2:]]
        except ValueError:
            raise DatasetError(
                f"{path}: data row {i} has a non-integer vote count; the file is malformed"
            ) from None
        if min(v) < 0 or max(v) > 255:
            raise DatasetError(f"{path}: data row {i} has a vote count outside 0..255")
        votes[i] = v
        usage.append(row[cols[0]].strip())
        names.append(row[cols[1]].strip())
    return votes, usage, names


def load_ferplus_votes(path: Path) -> tuple[np.ndarray, list[str]]:
    """FER+ votes of every row of fer2013new.csv, and their column names (FERPLUS_COLUMNS order)."""
    votes, _, _ = read_ferplus_csv(path)
    return votes, list(FERPLUS_COLUMNS)
