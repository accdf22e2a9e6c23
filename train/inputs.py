"""What a run trains and selects on: its label-selected rows, carved split, prepared arrays,
distillation targets and sample weights; and the plain score of a model on such arrays.

Used by the training loop and by ``train.balance`` (which rebuilds a finished run's
validation split to choose its logit offset).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.outputs import Expectation, output_kind
from train.config import TrainConfig
from train.data import PART, Arrays, Split, carve_split, class_weights, source_count, to_arrays, training_set
from train.sources import SourceModel, teacher_source


@dataclass
class Prepared:
    train: Arrays
    val: Arrays
    weights: np.ndarray  # per training sample
    dataset_name: str
    counts: list[int]
    split: Split  # the carved split the arrays come from (its fingerprint goes in the card)
    teachers: list[SourceModel] = field(default_factory=list)  # --teacher models, verified

    @property
    def prior(self) -> np.ndarray:
        """The training targets' class shares (FER+ votes count as their fractions)."""
        mass = np.asarray(self.train.target, np.float64).sum(0)
        return mass / mass.sum()


def prepare(cfg: TrainConfig) -> Prepared:
    ds = training_set(cfg.data, cfg.task, cfg.labels, cfg.data_format, cfg.limit)
    if ds.label_names != cfg.label_names:
        raise ValueError(f"data labels {ds.label_names} do not match the {cfg.task} labels {cfg.label_names}")
    split = carve_split(ds, cfg.recipe.val_fraction, cfg.seed)
    spec = cfg.input_spec
    train = to_arrays(ds, spec, split.train, smoothing_soft=cfg.soft_targets)
    val = to_arrays(ds, spec, split.val, smoothing_soft=cfg.soft_targets)
    teachers = [teacher_source(t, cfg, split) for t in cfg.teachers]
    if teachers:
        w = np.float32(cfg.distill_weight)
        train.target = (1 - w) * train.target + w * teacher_probabilities(teachers, train.x)
    cw = class_weights(train.y, len(cfg.label_names), cfg.recipe.class_weight_power)
    weights = cw[train.y] * source_weights(cfg, ds)[train.index]
    weights = (weights / weights.mean()).astype(np.float32)  # the loss keeps its scale
    return Prepared(train, val, weights, ds.name, ds.class_counts().tolist(), split, teachers)


def source_weights(cfg: TrainConfig, ds) -> np.ndarray:
    """Each row's weight from ``cfg.source_weights`` (one per --data source; none: all 1)."""
    part = ds.meta.get(PART, np.zeros(len(ds), np.int16))
    if not cfg.source_weights:
        return np.ones(len(ds), np.float32)
    n = source_count(cfg.data)
    if len(cfg.source_weights) != n:
        raise ValueError(
            f"--source-weights gives {len(cfg.source_weights)} weight(s) for {n} --data source(s)"
        )
    return np.asarray(cfg.source_weights, np.float32)[part]


def teacher_probabilities(teachers: list[SourceModel], x: np.ndarray) -> np.ndarray:
    """The mean probabilities of the (checked) teacher models on the prepared training faces."""
    import keras

    probs = []
    for t in teachers:
        model = keras.models.load_model(t.path, safe_mode=True, compile=False)
        probs.append(model.predict(x, batch_size=256, verbose=0).astype(np.float32))
    return np.mean(probs, axis=0)


def evaluate_arrays(
    model, arrays: Arrays, batch_size: int = 256, output: dict | None = None
) -> tuple[float, float, np.ndarray]:
    """(loss, score, probabilities) on prepared arrays, no augmentation. The score selects
    the epoch: top-1 accuracy, or for an expected value (age) the share of faces whose
    estimate lies within ``output["within"]`` units of the truth."""
    probs = model.predict(arrays.x, batch_size=batch_size, verbose=0)
    loss = float(-np.log(np.clip(probs[np.arange(len(arrays.y)), arrays.y], 1e-7, 1.0)).mean())
    kind = output_kind(output)
    if isinstance(kind, Expectation):
        within = float((output or {}).get("within", 5))
        return loss, float((np.abs(kind.estimates(probs) - arrays.y) <= within).mean()), probs
    return loss, float((probs.argmax(1) == arrays.y).mean()), probs
