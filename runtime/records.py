"""What the pipeline produces per face and per frame: the data overlay and sinks consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import Box
from .outputs import OutputKind, output_kind


@dataclass
class Prediction:
    labels: list[str]
    probs: np.ndarray  # smoothed over the face's track (probabilities, or the regressed value)
    raw: np.ndarray | None  # this frame's output; None when the face was not classified now
    kind: OutputKind = field(default_factory=lambda: output_kind(None))  # what the numbers mean

    @property
    def label(self) -> str:
        return self.kind.label(self.labels, self.probs)

    @property
    def confidence(self) -> float | None:
        return self.kind.confidence(self.probs)

    @property
    def text(self) -> str:
        """The overlay's line for this task, e.g. ``happy 87%``."""
        return self.kind.text(self.labels, self.probs)

    def as_dict(self) -> dict:
        return self.kind.record(self.labels, self.probs, self.raw)


@dataclass
class FaceResult:
    track_id: int
    box: Box
    score: float  # detector confidence
    predictions: dict[str, Prediction] = field(default_factory=dict)  # task -> prediction


@dataclass
class FrameResult:
    index: int
    timestamp: float
    faces: list[FaceResult]
    fps: float = 0.0  # pipeline throughput, smoothed
    file: str | None = None  # the image this frame came from (image and folder sources)

    def records(self) -> list[dict]:
        """One JSON-ready record per face (the --json line format); a frame read from an
        image file names it, and there ``track_id`` numbers the faces of that image."""
        where = {"file": self.file} if self.file is not None else {}
        return [
            {
                "frame": self.index,
                **where,
                "timestamp": round(self.timestamp, 4),
                "track_id": f.track_id,
                "box": f.box.as_list(),
                "detector_score": round(f.score, 4),
                **{task: p.as_dict() for task, p in f.predictions.items()},
            }
            for f in self.faces
        ]

    def image_row(self) -> dict:
        """One image's whole result (the --per-image format): its file and every face."""
        return {
            "file": self.file,
            "faces": [
                {
                    "box": f.box.as_list(),
                    "detector_score": round(f.score, 4),
                    **{
                        task: {k: v for k, v in p.as_dict().items() if k != "raw"}
                        for task, p in f.predictions.items()
                    },
                }
                for f in self.faces
            ],
        }
