"""From dataset files to model-ready arrays: labels chosen, faces prepared, validation carved.

The carved split has one owner, :func:`carve_split`: training (``train.inputs.prepare``),
int8 calibration (``export.calibration``), crop calibration (``export.calibrate_crop``, in
the lean runtime environment: nothing here may import TensorFlow or Keras) and the
``--init-from`` / ``--teacher`` checks all rebuild it through that one function, on the
same label-selected rows (:func:`training_set`), and compare its fingerprint with the one
the model's card records (``training.split.train_fingerprint``; older cards have none).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runtime.preprocess import InputSpec, prepare_batch
from train.datasets import load_dataset
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.ferplus import majority

if TYPE_CHECKING:
    from runtime.card import ModelCard

SPLIT_FINGERPRINT = "train_fingerprint"  # key in the card's training.split


@dataclass
class Arrays:
    """Prepared inputs with one-hot (or soft) targets; ``index`` points back into the dataset."""

    x: np.ndarray  # (N, H, W, C) float32, normalised
    y: np.ndarray  # (N,) int64 hard labels
    target: np.ndarray  # (N, C) float32 training targets
    index: np.ndarray  # (N,) positions in the source dataset


PART = "part"  # meta key: which of a run's --data sources a row came from (0, 1, ...)
# meta key: the person a face is of, where a source names them (CK+48: several frames of each
# subject's sequences). Such a source is carved by person, so no one is on both sides.
SUBJECT = "subject"


def load_datasets(paths: list[str], task: str, fmt: str = "auto") -> FaceDataset:
    """Load and concatenate several sources of one task (all must share the label names).

    Each row's source is kept in ``meta["part"]``, so that the validation split can be carved
    per source (:func:`carve_split`). Where some sources carry vote distributions (FER+) and
    others one label per face (ExpW), the latter's targets are their one-hot labels."""
    parts = [load_dataset(p, task=task, fmt=fmt) for p in unique_sources(paths)]
    if not parts:
        raise DatasetError("no training data given; pass --data PATH")
    first = parts[0]
    if len(parts) == 1:
        return first
    for p in parts[1:]:
        if p.label_names != first.label_names:
            raise DatasetError(f"{p.name} labels {p.label_names} differ from {first.label_names}")
    images: list[np.ndarray] = []
    for p in parts:
        images.extend(list(p.images))
    same = len({im.shape for im in images}) == 1
    n_classes = len(first.label_names)
    voted = any(p.soft is not None for p in parts)
    meta = {
        k: np.concatenate([p.meta[k] for p in parts]) for k in set.intersection(*(set(p.meta) for p in parts))
    }
    meta[PART] = np.concatenate([np.full(len(p), i, np.int16) for i, p in enumerate(parts)])
    if any(SUBJECT in p.meta for p in parts):  # kept for the sources that name people ("": none)
        meta[SUBJECT] = np.concatenate([p.meta.get(SUBJECT, np.full(len(p), "")).astype(str) for p in parts])
    return FaceDataset(
        name="+".join(p.name for p in parts),
        images=np.stack(images) if same else images,
        labels=np.concatenate([p.labels for p in parts]),
        label_names=first.label_names,
        order=first.order if len({p.order for p in parts}) == 1 else _mixed_order(parts),
        soft=(
            np.concatenate(
                [
                    p.soft if p.soft is not None else np.eye(n_classes, dtype=np.float32)[p.labels]
                    for p in parts
                ]
            )
            if voted
            else None
        ),
        meta=meta,
    )


def source_keys(paths: list[str]) -> list[str]:
    """One key per separate source a --data list names, in order (the parts of one split
    .npz are one source; a repeat counts once)."""
    from train.datasets.npz import expand_parts

    keys: list[str] = []
    for p in paths:
        key = str(expand_parts(Path(p))[0].resolve()) if p.endswith(".npz") else p
        if key not in keys:
            keys.append(key)
    return keys


def source_count(paths: list[str]) -> int:
    """How many separate sources a --data list names."""
    return len(source_keys(paths))


def unique_sources(paths: list[str]) -> list[str]:
    """Drop repeats, including the other parts of a split .npz (one part stands for all)."""
    keys, out = set(), []
    for p, key in zip(paths, (source_keys([p])[0] for p in paths)):
        if key not in keys:
            keys.add(key)
            out.append(p)
    return out


def _mixed_order(parts: list[FaceDataset]) -> str:
    raise DatasetError(
        "cannot mix gray and colour sources in one run; convert them first: "
        + ", ".join(f"{p.name}={p.order}" for p in parts)
    )


def select_labels(ds: FaceDataset, source: str) -> FaceDataset:
    """Apply the label source: FER2013's own labels, FER+ majority / vote distributions, or
    ``fer_ferplus_mix``: every FER2013 image with its own label, the target half its one-hot
    label and half its FER+ vote distribution (one-hot alone where it has no usable vote)."""
    if source == "fer":
        return ds
    if ds.soft is None:
        raise DatasetError(f"{ds.name} has no FER+ votes; use --labels fer")
    if source == "fer_ferplus_mix":
        out = ds.subset(np.arange(len(ds)))
        onehot = np.eye(len(ds.label_names), dtype=np.float32)[ds.labels]
        voted = ds.soft.sum(axis=1, keepdims=True) > 0
        out.soft = np.where(voted, 0.5 * onehot + 0.5 * ds.soft, onehot).astype(np.float32)
        return out
    maj = majority(ds.soft)
    keep = np.flatnonzero(maj >= 0)
    out = ds.subset(keep)
    out.labels = maj[keep]
    if source == "ferplus_majority":
        out.soft = None
    return out


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val), each class split in the same proportion, reproducible from the seed."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) > 1:
            n_val = max(1, n_val)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


@dataclass(frozen=True)
class Split:
    """The carved split of a label-selected training set: positions into it, and a fingerprint."""

    train: np.ndarray  # sorted positions of the training rows
    val: np.ndarray  # sorted positions of the validation rows (checkpoint selection)
    fingerprint: str  # split_fingerprint(train)
    # prefix_fingerprints[k - 1]: the fingerprint of the training rows of the first k sources,
    # i.e. the split a run on those k sources alone carved; lets a run that adds sources warm
    # start from (or distil) a model trained on the first ones without its validation rows
    # ever having been trained on.
    prefix_fingerprints: tuple[str, ...] = ()
    by_person: tuple[int, ...] = ()  # the sources (0, 1, ...) carved by person, not by class


def split_fingerprint(train_idx: np.ndarray) -> str:
    """Short hex sha256 of the sorted training positions (as little-endian int64)."""
    idx = np.sort(np.asarray(train_idx, dtype=np.int64)).astype("<i8")
    return hashlib.sha256(idx.tobytes()).hexdigest()[:16]


def subject_split(subjects: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with whole people on each side: people in a seeded order go to
    validation until it holds ``fraction`` of the faces."""
    people, faces = np.unique(subjects, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(people))
    before = np.cumsum(faces[order]) - faces[order]  # faces already taken when each person comes
    val = np.isin(subjects, people[order][before < int(round(len(subjects) * fraction))])
    return np.flatnonzero(~val), np.flatnonzero(val)


def carve_split(ds: FaceDataset, val_fraction: float, seed: int) -> Split:
    """THE validation split of a run: stratified by ``ds.labels`` within each source
    (``meta["part"]``), reproducible from the seed; a source that names the person of each
    face (``meta["subject"]``) is carved by person instead.

    Carving each source on its own keeps a source's split the same whatever sources follow
    it in ``--data``; a single source gets exactly the split it always had. ``ds`` must be
    the label-selected training set (:func:`training_set`): the label source decides which
    rows exist, hence what the positions mean."""
    part = ds.meta.get(PART, np.zeros(len(ds), np.int16))
    people = ds.meta.get(SUBJECT, np.full(len(ds), ""))
    train_parts, val_parts, prefixes, by_person = [], [], [], []
    for p in np.unique(part):
        rows = np.flatnonzero(part == p)
        subjects = people[rows]
        if (subjects != "").all():
            tr, va = subject_split(subjects, val_fraction, seed)
            by_person.append(int(p))
        else:
            tr, va = stratified_split(ds.labels[rows], val_fraction, seed)
        train_parts.append(rows[tr])
        val_parts.append(rows[va])
        prefixes.append(split_fingerprint(np.concatenate(train_parts)))
    train_idx, val_idx = np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))
    return Split(train_idx, val_idx, split_fingerprint(train_idx), tuple(prefixes), tuple(by_person))


def validation_rule(val_fraction: float, seed: int, sources: int = 1) -> str:
    """How the split was carved, in words (recorded in the card)."""
    where = "the training data" if sources == 1 else f"each of the {sources} training sources"
    return f"stratified {val_fraction:.0%} of {where}, seed {seed}"


def training_set(
    data: list[str], task: str, labels: str, fmt: str = "auto", limit: int | None = None
) -> FaceDataset:
    """The rows a run trains on: its sources, the label source applied, the first ``limit``."""
    ds = select_labels(load_datasets(list(data), task, fmt), labels)
    if limit:
        ds = ds.subset(np.arange(min(limit, len(ds))))
    return ds


def card_split(card: ModelCard, fmt: str = "auto") -> tuple[FaceDataset, Split]:
    """The label-selected training set and carved split a model was trained on, from its card.

    A card that lacks what the split is rebuilt from (data, label source, seed, the recipe's
    val_fraction, the split record) is refused, as is one whose recorded fingerprint the
    rebuilt split does not match: no default could stand in for them without drawing on
    the faces that selected the model."""
    t = card.training
    recipe = t.get("recipe") if isinstance(t.get("recipe"), dict) else {}
    record = t.get("split") if isinstance(t.get("split"), dict) else None
    needed = {
        "training.data": t.get("data") or None,
        "training.labels": t.get("labels"),
        "training.seed": t.get("seed"),
        "training.recipe.val_fraction": recipe.get("val_fraction"),
        "training.split": record,
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise ValueError(
            f"the card of {card.name} lacks {', '.join(missing)}: cannot rebuild its training split"
        )
    ds = training_set(t["data"], card.task, t["labels"], fmt, record.get("limit"))
    split = carve_split(ds, float(recipe["val_fraction"]), int(t["seed"]))
    recorded = record.get(SPLIT_FINGERPRINT)
    if recorded is not None and recorded != split.fingerprint:
        raise ValueError(
            f"the training split of {card.name} rebuilt from {', '.join(t['data'])} does not match "
            f"its card ({SPLIT_FINGERPRINT} {split.fingerprint}, card {recorded}): the data differ "
            "from what it was trained on"
        )
    return ds, split


def to_arrays(
    ds: FaceDataset, spec: InputSpec, idx: np.ndarray | None = None, smoothing_soft: bool = True
) -> Arrays:
    """Prepare the selected faces through the shared preprocessing path."""
    idx = np.arange(len(ds)) if idx is None else np.asarray(idx)
    images = ds.images[idx] if isinstance(ds.images, np.ndarray) else [ds.images[i] for i in idx]
    x = prepare_batch(images, spec, ds.order)
    y = ds.labels[idx]
    n_classes = len(ds.label_names)
    if ds.soft is not None and smoothing_soft:
        target = ds.soft[idx].astype(np.float32)
    else:
        target = np.eye(n_classes, dtype=np.float32)[y]
    return Arrays(x, y, target, idx)


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """(largest / count) ** power per class: 0 gives no weighting, 1 full inverse frequency."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = 1
    w = (counts.max() / counts) ** power
    return (w / np.average(w, weights=counts)).astype(np.float32)
