"""The record every loader returns, whatever the native format was."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.preprocess import ChannelOrder


class DatasetError(ValueError):
    """A dataset file or folder is missing or not in the expected format."""


def read_csv_rows(path: Path, what: str) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of a csv file; ``what`` names the expected file in error messages."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} not found; pass the path of {what}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r]  # blank lines are not data rows
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path} is not a readable csv file ({e})") from e
    if not rows:
        raise DatasetError(f"{path} is empty; expected {what} with a header row")
    return [h.strip() for h in rows[0]], rows[1:]


@dataclass
class FaceDataset:
    """Face crops with integer labels; label names are explicit, never implied by a dataset name.

    ``images`` is (N, H, W) or (N, H, W, C) uint8 in channel ``order``, or a list of
    such arrays when sizes differ (image folders). ``soft`` holds per-class target
    distributions where the source has them (FER+ votes). ``meta`` holds per-image
    arrays such as age or race, each of length N.
    """

    name: str
    images: np.ndarray | list[np.ndarray]
    labels: np.ndarray
    label_names: list[str]
    order: ChannelOrder
    soft: np.ndarray | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != n:
            raise DatasetError(f"{self.name}: {n} images but {len(self.labels)} labels")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.label_names)):
            raise DatasetError(f"{self.name}: labels outside 0..{len(self.label_names) - 1}")
        if self.soft is not None and len(self.soft) != n:
            raise DatasetError(f"{self.name}: soft targets have {len(self.soft)} rows for {n} images")
        for k, v in self.meta.items():
            if len(v) != n:
                raise DatasetError(f"{self.name}: meta {k!r} has {len(v)} entries for {n} images")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray, name: str | None = None) -> FaceDataset:
        idx = np.asarray(idx)
        if idx.dtype == bool:  # a mask: lists cannot be indexed by it, so turn it into positions
            if len(idx) != len(self):
                raise DatasetError(f"{self.name}: mask of {len(idx)} for {len(self)} images")
            idx = np.flatnonzero(idx)
        images = self.images[idx] if isinstance(self.images, np.ndarray) else [self.images[i] for i in idx]
        return FaceDataset(
            name or self.name,
            images,
            self.labels[idx],
            list(self.label_names),
            self.order,
            None if self.soft is None else self.soft[idx],
            {k: v[idx] for k, v in self.meta.items()},
        )

    def only_classes(self, names: list[str]) -> FaceDataset:
        """The faces of the classes ``names`` (all of them among this set's), relabelled in that
        order: a source with a class the task lacks (CK+'s contempt) scores or teaches a model of
        the others. Soft targets cannot be cut so (their mass would have to go somewhere)."""
        missing = [n for n in names if n not in self.label_names]
        if missing or self.soft is not None:
            raise DatasetError(f"{self.name} has labels {self.label_names}; it cannot be narrowed to {names}")
        keep = np.isin(self.labels, [self.label_names.index(n) for n in names])
        out = self.subset(keep)
        old_to_new = {self.label_names.index(n): i for i, n in enumerate(names)}
        out.labels = np.array([old_to_new[int(v)] for v in out.labels], np.int64)
        out.label_names = list(names)
        return out

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.label_names))
