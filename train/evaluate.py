"""Score a trained model, Keras or any exported file, on any dataset, through its card's
preprocessing: exported files run on the runtime's own engines, so the figure is the
runtime's."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.card import ModelCard, card_path_for, read_card, verify_file
from runtime.metrics import classification_metrics, estimate_metrics
from runtime.model_folder import card_path, keras_path
from runtime.outputs import Expectation
from runtime.preprocess import prepare_batch
from train.datasets import load_dataset
from train.datasets.base import DatasetError, FaceDataset
from train.datasets.ferplus import majority


@dataclass
class Scored:
    card: ModelCard
    data: FaceDataset
    probs: np.ndarray
    metrics: dict


def split_name(spec: str) -> str:
    """A short key for a data source: ``.../fer2013_publictest.npz`` -> ``fer2013_publictest``."""
    path, _, split = str(spec).partition("::")
    stem = re.sub(r"_\d+of\d+$", "", Path(path).name.removesuffix(".npz"))
    stem = stem.removesuffix(".csv")
    return f"{stem}_{split.lower()}" if split else stem


def load_keras_model(path: Path):
    """Load a model with safe_mode after checking its file against the card's checksum."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} not found; train one with 'make train' first")
    card = read_card(card_path_for(path))
    verify_file(card, path)
    return keras.models.load_model(path, safe_mode=True, compile=False), card


Forward = Callable[[np.ndarray], np.ndarray]  # normalised batch -> probabilities
EXPORTED = (".onnx", ".tflite")


def open_forward(model: Path, threads: int = 0) -> tuple[Forward, ModelCard]:
    """Any model the project makes, as a batch -> probabilities function and its card: a run
    folder or ``.keras`` through Keras, an ``.onnx`` / ``.tflite`` through the runtime's
    classifier (the same engine, checks and renormalisation as a live run)."""
    path = keras_path(model)
    if not path.is_file():
        raise FileNotFoundError(
            f"model {path} not found; give a run folder, its model.keras or "
            f"an exported file ('make train', 'make export')"
        )
    if path.suffix in EXPORTED:
        from runtime.classifier import FaceClassifier

        clf = FaceClassifier.open(path, threads=max(1, threads))
        return clf.infer, clf.card
    if path.suffix != ".keras":
        raise ValueError(
            f"{path}: not a model; give a run folder, a .keras model or an exported "
            f"{' / '.join(EXPORTED)} file"
        )
    keras_model, card = load_keras_model(path)
    return keras_model.predict_on_batch, card


def predict(
    forward: Forward, card: ModelCard, ds: FaceDataset, batch: int = 512, progress: bool = False
) -> np.ndarray:
    """Probabilities for every image, preparing it in chunks to bound memory.

    ``forward`` is a Keras model's ``predict_on_batch`` or an exported file's engine:
    every format is scored through the same preparation and the same metrics.
    """
    out = np.empty((len(ds), len(card.labels)), np.float32)
    buf = np.empty((batch, *card.input.shape), np.float32)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ds), desc=f"{card.name} on {ds.name}", unit="face", leave=False)
    for s in range(0, len(ds), batch):
        e = min(len(ds), s + batch)
        images = ds.images[s:e]
        x = prepare_batch(images, card.input, ds.order, buf[: e - s])
        out[s:e] = forward(x)
        if bar is not None:
            bar.update(e - s)
    if bar is not None:
        bar.close()
    return out


def load_for(card: ModelCard, spec: str, fmt: str = "auto") -> FaceDataset:
    ds = load_dataset(spec, task=card.task, fmt=fmt)
    if ds.label_names != card.labels:
        raise DatasetError(
            f"{spec} has labels {ds.label_names}, the model {card.labels}; pass data of the {card.task} task"
        )
    return ds


def metrics_of(card: ModelCard, ds: FaceDataset, probs: np.ndarray) -> dict:
    kind = card.kind
    if isinstance(kind, Expectation):  # an age: errors in years, not a 101-class confusion
        within = float(card.output.get("within", 5))
        return estimate_metrics(ds.labels, kind.estimates(probs), kind.bands, kind.last_band, within)
    metrics = classification_metrics(ds.labels, probs, card.labels, ds.meta)
    if ds.soft is not None:  # FER+ votes are there: also score against the crowd majority
        maj = majority(ds.soft)
        ok = maj >= 0
        if ok.any():
            metrics["ferplus_majority_accuracy"] = round(float((probs[ok].argmax(1) == maj[ok]).mean()), 4)
            metrics["ferplus_n"] = int(ok.sum())
    return metrics


def carved_part(card: ModelCard, spec: str, fmt: str = "auto") -> FaceDataset:
    """The faces of ``spec``, one of the run's training sources (``card`` is the run's), that
    the run carved out for validation and so never trained on (whole people, for a source
    carved by person such as CK+48): the held-out figure a source the model trained on can
    still give, and the faces to score another model on beside it."""
    from train.data import PART, card_split, source_keys

    sources = source_keys(list(card.training.get("data") or []))
    key = source_keys([spec])[0]
    if key not in sources:
        raise DatasetError(f"{spec} is not one of {card.name}'s training sources; score it without --carved")
    ds, split = card_split(card, fmt)
    rows = split.val[ds.meta[PART][split.val] == sources.index(key)]
    return ds.subset(rows, name=f"{split_name(spec)} (carved)")


def score(
    forward: Forward,
    card: ModelCard,
    spec: str,
    fmt: str = "auto",
    progress: bool = False,
    carved_by: ModelCard | None = None,
) -> Scored:
    """``forward``'s metrics on ``spec`` (only on the part ``carved_by``'s run held out, if given)."""
    if carved_by is not None and carved_by.labels != card.labels:
        raise DatasetError(
            f"{carved_by.name} has labels {carved_by.labels}, the model {card.labels}; "
            "--carved takes a run of the same task"
        )
    ds = carved_part(carved_by, spec, fmt) if carved_by is not None else load_for(card, spec, fmt)
    probs = predict(forward, card, ds, progress=progress)
    return Scored(card, ds, probs, metrics_of(card, ds, probs))


def evaluate_model(
    model_path: Path,
    specs: list[str],
    fmt: str = "auto",
    threads: int = 0,
    progress: bool = False,
    carved_by: Path | None = None,
) -> dict[str, dict]:
    """Metrics of one model (any format) on each data source, keyed by the source (with
    ``carved_by``, a run folder or model file, only on the part of each of that run's training
    sources it held out: ``carved_part``)."""
    forward, card = open_forward(model_path, threads)
    run = None if carved_by is None else read_card(card_path(carved_by))
    return {spec: score(forward, card, spec, fmt, progress, run).metrics for spec in specs}
