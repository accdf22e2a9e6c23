"""Stable face IDs across frames, track confirmation, and per-face probability smoothing.

Each track owns its own smoothing state, so one face's history never leaks into
another's (the reference demo kept one shared window for every face on screen).
Matching is greedy on box overlap, best pairs first: at a handful of faces per frame
it gives the Hungarian answer in practice, at a fraction of the code.

A detection alone is weak evidence in video: street-light bokeh, a dark backdrop or a
waving hand score 0.50-0.62 for one to three frames, while real faces either score
higher at once or keep being found (a half-lit face in an audience: 0.52-0.64 for 20
frames). So a new track stays tentative, unseen and unclassified, until a detection
scores ``sure_score`` or it has been found ``confirm_hits`` times within its first
``confirm_window`` frames; otherwise it is dropped. Still images have no second frame:
there every detection counts (``single=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import Box, iou


@dataclass
class Track:
    id: int  # 0 while tentative; numbered in order of confirmation, so shown IDs have no gaps
    box: Box
    probs: dict[str, np.ndarray] = field(default_factory=dict)  # task -> smoothed probabilities
    observed: dict[str, int] = field(default_factory=dict)  # task -> classifications so far
    hits: int = 1
    missed: int = 0
    age: int = 0  # frames since the track started
    confirmed: bool = False
    classified_at: float = float("-inf")  # frame index of the last classification
    score: float = 0.0  # detector confidence at the last detection
    roll: float = 0.0  # eye-line roll at the last detection (degrees)
    source: str = ""  # the detector of the last detection (its crop rule cuts the face)

    def smooth(self, task: str, probs: np.ndarray, alpha: float, mean: bool = False) -> np.ndarray:
        """Exponential moving average; the first observation is taken as is. With ``mean``,
        the running mean of every observation instead (``alpha`` 1, smoothing off, still
        turns it off)."""
        prev = self.probs.get(task)
        n = self.observed.get(task, 0)
        if mean and alpha < 1.0:
            alpha = 1.0 / (n + 1)
        cur = probs.astype(np.float32) if prev is None else (1 - alpha) * prev + alpha * probs
        self.probs[task] = cur
        self.observed[task] = n + 1
        return cur


@dataclass
class Tracker:
    iou_threshold: float = 0.3
    max_missed: int = 15  # frames a face may vanish (a blink of the detector) and keep its ID
    alpha: float = 0.35  # weight of the newest probabilities; 1.0 turns smoothing off
    sure_score: float = 0.7  # a detection this confident confirms its track at once
    confirm_hits: int = 4  # otherwise: this many detections ...
    confirm_window: int = 8  # ... within the track's first frames
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1

    @property
    def confirmed_count(self) -> int:
        """Tracks confirmed so far: the faces a user was shown."""
        return self.next_id - 1

    def update(
        self, boxes: list[Box], scores: list[float] | None = None, single: bool = False
    ) -> list[Track]:
        """The track of each box, in the order of ``boxes`` (new faces get new IDs); check
        ``Track.confirmed`` before showing one. ``single``: a still image, every box counts."""
        scores = list(scores) if scores is not None else [1.0] * len(boxes)
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
            reverse=True,
        )
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
            t.age += 1
            if ti not in used:
                t.missed += 1
        for bi, b in enumerate(boxes):
            if bi in track_of:
                t = track_of[bi]
                t.box, t.hits, t.missed = b, t.hits + 1, 0
            else:
                t = Track(0, b)
                self.tracks.append(t)
                track_of[bi] = t
            t.score = scores[bi]
            if not t.confirmed and (
                single or self.confirm_hits <= 1 or t.score >= self.sure_score or t.hits >= self.confirm_hits
            ):
                t.confirmed, t.id = True, self.next_id
                self.next_id += 1
        self.tracks = [
            t
            for t in self.tracks
            if t.missed <= self.max_missed and (t.confirmed or t.age < self.confirm_window)
        ]
        return [track_of[i] for i in range(len(boxes))]
