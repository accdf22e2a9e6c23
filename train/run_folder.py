"""A run folder on disk: what a run has done so far, and every file it writes.

Layout::

    config.json          resolved TrainConfig (a resumed run must match it)
    state.json           epochs done, best validation score, LR-plateau state (RunState)
    checkpoints/last.keras   model + optimizer after the last finished epoch
    best.weights.h5      weights of the best epoch on the validation split
    log.csv              one row per epoch
    model.keras          the selected model, without optimizer (written at the end)
    model.card.json      its card

Everything is written to a temporary name and renamed, so a kill at any moment leaves
the previous epoch's files intact; state.json is written last and is what a resume
trusts.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.card import atomic_write_bytes
from runtime.model_folder import KERAS
from train.config import TrainConfig

REPORT_ONLY = ("eval_data", "name")  # settings a resumed run may change: they shape no weight
LOG_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class ResumeMismatch(RuntimeError):
    """The run folder holds a different configuration than the one asked for."""


def _finite_or_none(value: Any) -> Any:
    """Standard JSON has no Infinity or NaN: such a float is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


@dataclass
class RunState:
    epochs_done: int = 0
    best_val_accuracy: float = -1.0
    best_epoch: int = 0
    lr: float = 0.0  # plateau schedule: current rate
    plateau_best_loss: float = math.inf  # written as null while no epoch has set it
    plateau_wait: int = 0
    train_seconds: float = 0.0
    finished: bool = False
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)

    def save(self, path: Path) -> None:
        text = json.dumps(_finite_or_none(self.__dict__), indent=2, allow_nan=False)
        atomic_write_bytes(path, (text + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> RunState:
        """Read a state file; older ones hold ``Infinity`` where newer ones hold null."""
        d = json.loads(Path(path).read_text())
        if d.get("plateau_best_loss") is None:
            d["plateau_best_loss"] = math.inf
        d["history"] = [
            {k: math.nan if v is None else v for k, v in row.items()} for row in d.get("history", [])
        ]
        return cls(**d)


def save_model_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def save_weights_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.name.removesuffix('.weights.h5')}.tmp.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, path)


class RunFolder:
    """The files of one run (``cfg.output``), opened fresh or resumed."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.config = self.out / "config.json"
        self.state = self.out / "state.json"
        self.last = self.out / "checkpoints" / "last.keras"
        self.best_weights = self.out / "best.weights.h5"
        self.log = self.out / "log.csv"
        self.model = self.out / KERAS
        self.card = self.out / "model.card.json"

    def open(self, cfg: TrainConfig, restart: bool) -> tuple[RunState, bool]:
        """(state, resuming): a previous run is discarded (``restart``) or must have been
        asked with the same settings; the configuration is saved either way."""
        self.last.parent.mkdir(parents=True, exist_ok=True)
        if restart:
            for f in (self.state, self.last, self.log, self.best_weights):
                f.unlink(missing_ok=True)
        resuming = self.state.exists() and self.last.exists()
        if resuming:
            self._check_same_settings(cfg)
            state = RunState.load(self.state)
        else:
            state = RunState(lr=cfg.recipe.learning_rate)
        cfg.save(self.config)
        return state, resuming

    def _check_same_settings(self, cfg: TrainConfig) -> None:
        saved = TrainConfig.load(self.config).to_dict()
        asked = cfg.to_dict()
        diff = sorted(k for k in asked if k not in REPORT_ONLY and saved.get(k) != asked[k])
        if diff:
            raise ResumeMismatch(
                f"{self.out} holds a run with different settings ({', '.join(diff)}); "
                f"use another --output or pass --restart to discard it"
            )

    def save_epoch(self, model, state: RunState, row: dict, improved: bool) -> None:
        """One finished epoch: best weights (if it improved), checkpoint, log row, then the state."""
        if improved:
            save_weights_atomic(model, self.best_weights)
        save_model_atomic(model, self.last)
        self._append_log(row)
        state.save(self.state)

    def _append_log(self, row: dict) -> None:
        new = not self.log.exists()
        with open(self.log, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: row[k] for k in LOG_FIELDS})
            f.flush()
            os.fsync(f.fileno())

    def sync_log(self, history: list[dict]) -> None:
        """Make log.csv agree with the state after a resume (a kill can land between the two writes)."""
        text = (
            ",".join(LOG_FIELDS)
            + "\n"
            + "".join(",".join(str(h[k]) for k in LOG_FIELDS) + "\n" for h in history)
        )
        atomic_write_bytes(self.log, text.encode())
