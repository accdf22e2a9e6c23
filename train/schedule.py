"""The learning-rate schedule of a recipe, per batch and at the end of each epoch.

``cosine``: linear warm-up, then cosine decay to zero; a function of the step alone.
``plateau``: the rate in ``RunState.lr``, divided by 10 (down to 1e-6) after
``patience // 4`` epochs without a better validation loss; the state is saved with every
epoch, so a resumed run continues the schedule where it stopped.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from train.config import TrainConfig

if TYPE_CHECKING:
    from train.run_folder import RunState

PLATEAU_MIN_DELTA = 1e-4  # a validation loss must beat the best by this much to count
PLATEAU_FACTOR = 0.1
PLATEAU_MIN_LR = 1e-6


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int, state: RunState) -> float:
    """The rate for global batch ``step``."""
    r = cfg.recipe
    if r.schedule == "plateau":
        return state.lr or r.learning_rate
    warm = r.warmup_epochs * steps_per_epoch
    total = max(1, r.epochs * steps_per_epoch)
    if step < warm:
        return r.learning_rate * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return r.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def end_of_epoch(cfg: TrainConfig, state: RunState, val_loss: float) -> None:
    """Advance the plateau schedule after an epoch with this validation loss (cosine: nothing)."""
    r = cfg.recipe
    if r.schedule != "plateau":
        return
    if val_loss < state.plateau_best_loss - PLATEAU_MIN_DELTA:
        state.plateau_best_loss, state.plateau_wait = val_loss, 0
        return
    state.plateau_wait += 1
    if state.plateau_wait >= max(1, r.patience // 4):
        state.lr, state.plateau_wait = max(state.lr * PLATEAU_FACTOR, PLATEAU_MIN_LR), 0
