"""Calibration faces for int8 quantization, drawn from the model's own training split.

They go through ``train.data.to_arrays`` (hence ``runtime.preprocess``) with no
augmentation, so the quantizer sees exactly what the runtime will feed the model.
Only the training part of the carved split is used (rebuilt from the card by
``train.data.card_split``, the rule training used): the validation faces that selected
the checkpoint stay unseen, and the evaluation splits are never touched.

``extra`` sources (training files of other data, never one of the model's evaluation
splits; ``export --calib-extra``) share the draw equally with the model's own faces, for a
model whose own training faces are all of one kind (FER2013's grey, studio-like ones) and
whose ranges would otherwise be set without a face of the kind it meets in the wild. An
option, not the default: with half the faces from ExpW train, emotion_edge_vgg_nano's int8
ONNX agreed with Keras on 98.82 % of ExpW val instead of 98.04 %, but the accurate
emotion model's on 98.04 % instead of 99.02 % (docs/results.md, issue L).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.card import ModelCard
from train.data import card_split, to_arrays


@dataclass
class Calibration:
    x: np.ndarray  # (N, H, W, C) float32, normalised as the card says
    source: dict  # what to record in the card: data, split rule, size, seed

    def batches(self, size: int = 1):
        for s in range(0, len(self.x), size):
            yield self.x[s : s + size]


def _allocate(size: int, counts: dict) -> dict:
    """``size`` faces shared in proportion to class counts (largest remainder), at least 1 each."""
    total = sum(counts.values())
    exact = {c: size * n / total for c, n in counts.items()}
    share = {c: max(1, int(v)) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: exact[c] - int(exact[c]), reverse=True):
        if sum(share.values()) >= size:
            break
        share[c] += 1
    return {c: min(share[c], counts[c]) for c in counts}


def _stratified(labels: np.ndarray, idx: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` of the rows ``idx``, shared by class in proportion (every class at least once):
    a rare class (disgust) must not fall outside the calibrated range."""
    per_class = {c: rng.permutation(idx[labels[idx] == c]) for c in np.unique(labels[idx])}
    share = _allocate(size, {c: len(v) for c, v in per_class.items()})
    return np.sort(np.concatenate([v[: share[c]] for c, v in per_class.items()]))


def calibration_set(
    card: ModelCard, size: int = 512, seed: int = 0, fmt: str = "auto", extra: tuple[str, ...] = ()
) -> Calibration:
    """``size`` faces from the training part of the split the model was trained on, shared
    equally with each ``extra`` source; a card that cannot say which split that was (or whose
    data no longer match it) is refused, and so is an extra source the model is evaluated on."""
    from train.evaluate import load_for, split_name

    ds, split = card_split(card, fmt)
    rng = np.random.default_rng(seed)
    own = size // (1 + len(extra))
    idx = _stratified(ds.labels, split.train, own, rng)
    parts, drawn = [to_arrays(ds, card.input, idx).x], []
    for spec in extra:
        if split_name(spec) in card.metrics:
            raise ValueError(f"{spec} is an evaluation split of {card.name}; calibrate on training data only")
        other = load_for(card, spec, fmt)
        pick = _stratified(other.labels, np.arange(len(other)), (size - own) // len(extra), rng)
        parts.append(to_arrays(other, card.input, pick).x)
        drawn.append({"data": spec, "size": int(len(pick))})
    x = np.concatenate(parts)
    return Calibration(
        x,
        {
            "data": list(card.training["data"]),
            "split": "training part of the carved split",
            "size": int(len(x)),
            "seed": seed,
            "augmentation": "none",
            **({"own_size": int(len(idx)), "extra": drawn} if extra else {}),
        },
    )
