"""One loader per native dataset format; each returns a :class:`FaceDataset`.

``load_dataset`` picks the loader from the path (or ``fmt``). A split of a
multi-split source is named after ``::``, e.g. ``fer2013.csv::PublicTest`` or
``fer2013_images::test``.
"""

from __future__ import annotations

from pathlib import Path

from train.datasets.base import DatasetError, FaceDataset

FORMATS = ("npz", "fer_csv", "fer_folder", "utkface", "imdb_wiki", "folder")


def detect_format(path: Path) -> str:
    """Guess a source's format from what is on disk."""
    if path.suffix.lower() == ".npz" or any(path.parent.glob(f"{path.name}_*of*.npz")):
        return "npz"
    if path.suffix.lower() == ".csv":
        return "fer_csv"
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if {"train", "test"} & names and any((path / s / "happy").is_dir() for s in ("train", "test")):
            return "fer_folder"
        if any(n.endswith(".mat") for n in names):
            return "imdb_wiki"
        from train.datasets.utkface import looks_like_utkface

        if looks_like_utkface(path):
            return "utkface"
        return "folder"
    if not path.exists():
        raise DatasetError(f"{path} not found; pass an existing dataset file or folder")
    raise DatasetError(f"cannot tell the format of {path}; pass --format one of {', '.join(FORMATS)}")


def load_dataset(spec: str | Path, task: str | None = None, fmt: str = "auto") -> FaceDataset:
    """The faces of one source, labelled for ``task`` (age: from the ``age`` each face of a
    gender file carries, ``train.datasets.age``)."""
    ds = _load_native(spec, task, fmt)
    if task == "age":
        from train.datasets.age import age_dataset

        return age_dataset(ds)
    return _task_classes(ds, task)


def _task_classes(ds: FaceDataset, task: str | None) -> FaceDataset:
    """A source with every class of ``task`` and more (CK+48: the seven emotions and contempt)
    narrowed to the task's classes; any other source as it is (a mismatch is the caller's error)."""
    from train.config import task_labels

    if task is None:
        return ds
    names = list(task_labels(task))
    if ds.label_names == names or not set(names) < set(ds.label_names):
        return ds
    return ds.only_classes(names)


def _load_native(spec: str | Path, task: str | None, fmt: str) -> FaceDataset:
    text = str(spec)
    path_text, _, split = text.partition("::")
    path = Path(path_text)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "npz":
        from train.datasets.npz import load_npz

        return load_npz(path, None if task == "age" else task)
    if fmt == "fer_csv":
        from train.datasets.fer_csv import load_fer2013_csv

        return load_fer2013_csv(path, usage=split or "Training")
    if fmt == "fer_folder":
        from train.datasets.image_folder import load_fer_folder

        return load_fer_folder(path, split=split or "train")
    if fmt == "utkface":
        from train.datasets.utkface import load_utkface

        return load_utkface(path)
    if fmt == "imdb_wiki":
        from train.datasets.imdb_wiki import load_imdb_wiki

        return load_imdb_wiki(path)
    if fmt == "folder":
        from train.datasets.image_folder import load_image_folder

        return load_image_folder(path / split if split else path)
    raise DatasetError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


__all__ = ["FORMATS", "DatasetError", "FaceDataset", "detect_format", "load_dataset"]
