"""How often each tracked face is classified: every frame unless the machine cannot keep up.

Files and folders have no clock, so every frame is classified (``FixedStride(1)``). A
live source delivers frames at its own rate; while the whole per-frame work fits in that
frame budget every face is classified on every frame, and only when it does not is the
classification of known faces spread over several frames, just enough to fit
(``AdaptiveStride``). New faces are always classified at once (the pipeline's rule).
``--classify-every N`` forces a fixed stride.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class FixedStride:
    every: int = 1

    def observe(self, work_s: float, classify_s: float, classified: int, faces: int) -> None:
        """A fixed stride ignores timings."""


@dataclass
class AdaptiveStride:
    """The smallest stride whose predicted frame time fits ``headroom`` of the budget.

    Two running means are kept: the frame's work without classification (detection,
    tracking, drawing, output) and the cost of classifying one face. With ``n`` faces a
    stride ``s`` costs ``base + n * per_face / s`` per frame.
    """

    budget_s: float  # one frame of the source: 1 / FPS
    max_every: int = 6  # at 30 FPS a face is still classified 5 times a second
    headroom: float = 0.85  # leave a margin for jitter, the capture thread and the display
    decay: float = 0.1  # weight of the newest timing in the running means
    every: int = 1
    base_s: float | None = None
    per_face_s: float | None = None

    def _mean(self, old: float | None, new: float) -> float:
        return new if old is None else (1 - self.decay) * old + self.decay * new

    def observe(self, work_s: float, classify_s: float, classified: int, faces: int) -> None:
        """One frame's timings: its total work, the part spent classifying, how many faces
        were classified and how many are tracked."""
        self.base_s = self._mean(self.base_s, max(0.0, work_s - classify_s))
        if classified:
            self.per_face_s = self._mean(self.per_face_s, classify_s / classified)
        if self.per_face_s is None or faces == 0:
            return
        spare = self.headroom * self.budget_s - self.base_s
        demand = faces * self.per_face_s
        need = self.max_every if spare <= 0 else math.ceil(demand / spare - 1e-9)
        self.every = max(1, min(self.max_every, need))


LIVE_FPS_GUESS = 30.0  # a camera or stream that does not say its rate


def stride_policy(
    classify_every: int | None, live: bool, fps: float | None = None
) -> FixedStride | AdaptiveStride:
    """An explicit stride wins; a live source adapts to its frame rate; anything else
    (files, folders, stills) is classified on every frame."""
    if classify_every is not None:
        if classify_every < 1:
            raise ValueError(f"--classify-every must be 1 or more, not {classify_every}")
        return FixedStride(classify_every)
    if live:
        return AdaptiveStride(budget_s=1.0 / (fps or LIVE_FPS_GUESS))
    return FixedStride(1)
