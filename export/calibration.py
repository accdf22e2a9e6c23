"""Calibration faces for int8 quantization, drawn from the model's own training split.

They go through ``train.data.to_arrays`` (hence ``runtime.preprocess``) with no
augmentation, so the quantizer sees exactly what the runtime will feed the model.
Only the training part of the carved split is used (rebuilt from the card by
``train.data.card_split``, the rule training used): the validation faces that selected
the checkpoint stay unseen, and the evaluation splits are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.card import ModelCard
from train.data import PART, card_split, to_arrays


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


def _draw(rng: np.random.Generator, rows: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    """``size`` of ``rows``, stratified by class: a rare class (disgust) must not fall outside
    the calibrated range."""
    per_class = {c: rng.permutation(rows[labels[rows] == c]) for c in np.unique(labels[rows])}
    share = _allocate(size, {c: len(v) for c, v in per_class.items()})
    return np.concatenate([v[: share[c]] for c, v in per_class.items()])


def calibration_set(card: ModelCard, size: int = 512, seed: int = 0, fmt: str = "auto") -> Calibration:
    """``size`` faces from the training part of the split the model was trained on; a card
    that cannot say which split that was (or whose data no longer match it) is refused.

    With several training sources each gets an equal share, stratified by class within it:
    drawn in proportion, a small source (ExpW beside FER2013's 28 000 faces) contributes too
    few faces for its activations' range, and int8 then disagrees with the float model on
    that source's faces first (emotion_edge_vgg_wild: 97.1 % on ExpW val)."""
    ds, split = card_split(card, fmt)
    data = card.training["data"]
    train_idx = split.train
    rng = np.random.default_rng(seed)
    parts = ds.meta.get(PART)
    groups = [train_idx] if parts is None else [train_idx[parts[train_idx] == k] for k in np.unique(parts)]
    even = [size // len(groups) + (k < size % len(groups)) for k in range(len(groups))]
    idx = np.sort(
        np.concatenate([_draw(rng, g, ds.labels, min(even[k], len(g))) for k, g in enumerate(groups)])
    )
    arrays = to_arrays(ds, card.input, idx)
    rule = "stratified by class"
    if len(groups) > 1:
        rule = f"equal shares of the {len(groups)} sources, {rule} within each"
    return Calibration(
        arrays.x,
        {
            "data": list(data),
            "split": "training part of the carved split",
            "draw": rule,
            "size": int(len(idx)),
            "seed": seed,
            "augmentation": "none",
        },
    )
