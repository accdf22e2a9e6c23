"""What the pipeline produces per face and per frame: the data overlay and sinks consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .preprocess import Box


@dataclass
class Prediction:
    labels: list[str]
    probs: np.ndarray  # smoothed over the face's track
    raw: np.ndarray | None  # this frame's output; None when the face was not classified now

    @property
    def label(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "probs": {k: round(float(v), 5) for k, v in zip(self.labels, self.probs)},
            "raw": None
            if self.raw is None
            else {k: round(float(v), 5) for k, v in zip(self.labels, self.raw)},
        }


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
                        task: {
                            "label": p.label,
                            "confidence": round(p.confidence, 4),
                            "probs": {k: round(float(v), 5) for k, v in zip(p.labels, p.probs)},
                        }
                        for task, p in f.predictions.items()
                    },
                }
                for f in self.faces
            ],
        }
