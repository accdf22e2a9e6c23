"""What a run saw, face by face: each track's time on screen and its dominant labels.

A headless run otherwise ends with timings only. The log is fed the frame results the
outputs get, so it describes exactly what was shown: confirmed tracks in a video, every
face of every image for stills (keyed by file, as their track IDs restart per image).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .outputs import OutputKind
from .records import FrameResult


@dataclass
class TrackSeen:
    track_id: int
    file: str | None  # the image, for image and folder sources
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    frames: int = 0
    labels: dict[str, Counter] = field(default_factory=dict)  # task -> shown label -> frames
    # A task whose answer is a number (an age): its value per frame, summed up as the median.
    values: dict[str, list[float]] = field(default_factory=dict)
    value_kinds: dict[str, OutputKind] = field(default_factory=dict)  # task -> its output kind

    @property
    def seconds(self) -> float:
        return self.last_time - self.first_time

    def dominant(self, task: str) -> tuple[str, float | None]:
        """The label shown on most of the track's frames, and that share of its frames; for a
        number (an age) the median over its frames, shown as the task shows it (no share)."""
        if task in self.values:
            return self.value_kinds[task].shown(self.median(task)), None
        label, n = self.labels[task].most_common(1)[0]
        return label, n / self.frames

    def median(self, task: str) -> float:
        return float(np.median(self.values[task]))

    def tasks(self) -> list[str]:
        return list(dict.fromkeys([*self.labels, *self.values]))

    def to_dict(self) -> dict:
        where = {"file": self.file} if self.file is not None else {}
        out = {
            "track_id": self.track_id,
            **where,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
        }
        for task in self.tasks():
            label, share = self.dominant(task)
            if share is None:
                out[task] = {"label": label, "value": round(self.median(task), 2)}
            else:
                out[task] = {"label": label, "share": round(share, 3)}
        return out

    def describe(self) -> str:
        """``#2 4.3 s (129 frames): neutral 42%, man 100%``; on an image ``#2 neutral man``."""
        if self.file is not None:
            return " ".join([f"#{self.track_id}", *(self.dominant(t)[0] for t in self.tasks())])
        labels = ", ".join(
            label if share is None else f"{label} {share:.0%}"
            for label, share in map(self.dominant, self.tasks())
        )
        return f"#{self.track_id} {self.seconds:.1f} s ({self.frames} frames): {labels}"


class SeenLog:
    """Accumulates frame results into one record per track (per face of each image)."""

    def __init__(self) -> None:
        self.tracks: dict[tuple[str | None, int], TrackSeen] = {}
        self.images_without_faces: list[str] = []

    def add(self, result: FrameResult) -> None:
        if result.file is not None and not result.faces:
            self.images_without_faces.append(result.file)
        for face in result.faces:
            key = (result.file, face.track_id)
            seen = self.tracks.get(key)
            if seen is None:
                seen = self.tracks[key] = TrackSeen(
                    face.track_id, result.file, result.index, result.index, result.timestamp, result.timestamp
                )
            seen.last_frame, seen.last_time = result.index, result.timestamp
            seen.frames += 1
            for task, pred in face.predictions.items():
                if pred.kind.is_value:
                    seen.values.setdefault(task, []).append(pred.kind.estimate(pred.labels, pred.probs))
                    seen.value_kinds[task] = pred.kind
                else:
                    seen.labels.setdefault(task, Counter())[pred.label] += 1

    def to_list(self) -> list[dict]:
        return [t.to_dict() for t in self.tracks.values()]

    def describe(self, limit: int = 8) -> str:
        """One line for the terminal: the longest tracks first, or images in order with
        their faces; the rest counted (``--summary-json`` has every one)."""
        tracks = list(self.tracks.values())
        if not tracks and not self.images_without_faces:
            return "seen: no face"
        groups: dict[str | None, list[TrackSeen]] = {}
        for t in sorted(tracks, key=lambda t: -t.frames) if all(t.file is None for t in tracks) else tracks:
            groups.setdefault(t.file, []).append(t)
        parts = []
        for file, group in groups.items():
            if file is None:
                parts += [t.describe() for t in group]
            else:
                parts.append(f"{Path(file).name}: " + ", ".join(t.describe() for t in group))
        more = len(parts) - limit
        parts = parts[:limit] + ([f"{more} more (--summary-json lists every one)"] if more > 0 else [])
        if self.images_without_faces:
            parts.append(f"{len(self.images_without_faces)} image(s) without a face")
        return "seen: " + "; ".join(parts)
