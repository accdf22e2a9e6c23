"""Stable face IDs across frames and per-face smoothing of class probabilities.

Each track owns its own smoothing state, so one face's history never leaks into
another's (the reference demo kept one shared window for every face on screen).
Matching is greedy on box overlap, best pairs first: at a handful of faces per frame
it gives the Hungarian answer in practice, at a fraction of the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.detector import iou
from runtime.preprocess import Box


@dataclass
class Track:
    id: int
    box: Box
    probs: dict[str, np.ndarray] = field(default_factory=dict)  # task -> smoothed probabilities
    hits: int = 1
    missed: int = 0
    classified_at: float = float("-inf")  # frame index of the last classification
    score: float = 0.0  # detector confidence at the last detection

    def smooth(self, task: str, probs: np.ndarray, alpha: float) -> np.ndarray:
        """Exponential moving average; the first observation is taken as is."""
        prev = self.probs.get(task)
        cur = probs.astype(np.float32) if prev is None else (1 - alpha) * prev + alpha * probs
        self.probs[task] = cur
        return cur


@dataclass
class Tracker:
    iou_threshold: float = 0.3
    max_missed: int = 15  # frames a face may vanish (a blink of the detector) and keep its ID
    alpha: float = 0.35  # weight of the newest probabilities; 1.0 turns smoothing off
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1

    def update(self, boxes: list[Box]) -> list[Track]:
        """The track of each box, in the order of ``boxes`` (new faces get new IDs)."""
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks)
                        for bi, b in enumerate(boxes)), reverse=True)
        track_of: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < self.iou_threshold:
                break
            if ti in used or bi in track_of:
                continue
            used.add(ti)
            track_of[bi] = self.tracks[ti]
        for ti, t in enumerate(self.tracks):
            if ti not in used:
                t.missed += 1
        for bi, b in enumerate(boxes):
            if bi in track_of:
                t = track_of[bi]
                t.box, t.hits, t.missed = b, t.hits + 1, 0
            else:
                t = Track(self.next_id, b)
                self.next_id += 1
                self.tracks.append(t)
                track_of[bi] = t
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return [track_of[i] for i in range(len(boxes))]
