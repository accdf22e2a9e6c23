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


def calibration_set(card: ModelCard, size: int = 512, seed: int = 0, fmt: str = "auto") -> Calibration:
    """``size`` faces from the training part of the split the model was trained on; a card
    that cannot say which split that was (or whose data no longer match it) is refused."""
    ds, split = card_split(card, fmt)
    data = card.training["data"]
    train_idx = split.train
    # Stratified too: a rare class (disgust) must not fall outside the calibrated range.
    rng = np.random.default_rng(seed)
    per_class = {
        c: rng.permutation(train_idx[ds.labels[train_idx] == c]) for c in np.unique(ds.labels[train_idx])
    }
    share = _allocate(size, {c: len(v) for c, v in per_class.items()})
    idx = np.sort(np.concatenate([v[: share[c]] for c, v in per_class.items()]))
    arrays = to_arrays(ds, card.input, idx)
    return Calibration(
        arrays.x,
        {
            "data": list(data),
            "split": "training part of the carved split",
            "size": int(len(idx)),
            "seed": seed,
            "augmentation": "none",
        },
    )
