"""The Python API: emotion and gender of every face, in one call, from your own program.

    import edge_face
    with edge_face.Analyzer(tier="accurate") as analyzer:
        for face in analyzer.analyze("photo.jpg"):
            print(face.box, face.emotion.label, face.gender.label)

``analyze`` treats each image as a still of its own (every face, small ones searched by
tiles, no history); ``stream`` follows faces through a video with tracking and smoothing,
exactly as the CLI does: the CLI runs on this class. An Analyzer is not thread-safe (it
keeps its tracker and reusable buffers): use one per thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .options import RuntimeConfig, config_with
from .pipeline import Pipeline
from .records import FrameResult
from .sources import open_source, read_image


@dataclass(frozen=True)
class TaskResult:
    """One task's answer for a face: the label shown, its confidence, every class's
    probability (smoothed over the track in a stream) and this frame's raw output; for a
    regression or an expected value (age; runtime/outputs.py) the ``value`` in its ``unit``
    instead of the confidence and probabilities, and the ``band`` it falls in where the
    task has bands."""

    label: str
    confidence: float | None
    probs: dict[str, float] | None
    raw: dict[str, float] | float | None
    value: float | None = None
    unit: str | None = None
    band: str | None = None

    def to_dict(self) -> dict:
        out = {"label": self.label, "confidence": self.confidence, "probs": self.probs, "raw": self.raw}
        if self.value is not None:
            out.update(value=self.value, unit=self.unit)
        if self.band is not None:
            out["band"] = self.band
        return out


@dataclass(frozen=True)
class Face:
    """A face: its box ``(x, y, w, h)`` in pixels, the detector's score, its track (or, on a
    still, its number in the image) and one ``TaskResult`` per task."""

    box: tuple[int, int, int, int]
    score: float
    track_id: int
    results: dict[str, TaskResult]
    record: dict  # the same dict as this face's --json line

    @property
    def emotion(self) -> TaskResult | None:
        return self.results.get("emotion")

    @property
    def gender(self) -> TaskResult | None:
        return self.results.get("gender")

    def to_dict(self) -> dict:
        """Exactly the CLI's JSON line for this face."""
        return dict(self.record)


def faces_of(result: FrameResult) -> list[Face]:
    """A frame's results as API records (one conversion, shared with the JSON lines)."""
    out = []
    for face, record in zip(result.faces, result.records()):
        results = {task: TaskResult(**record[task]) for task in face.predictions}
        x, y, w, h = face.box.as_list()  # plain ints, as in the JSON line
        out.append(Face((x, y, w, h), record["detector_score"], face.track_id, results, record))
    return out


ImageLike = np.ndarray | str | Path | Any  # a BGR array, a path, or a PIL image


def as_bgr(image: ImageLike) -> np.ndarray:
    """A BGR uint8 frame from an array (BGR, gray or BGRA), a file path or a PIL image."""
    if isinstance(image, str | Path):
        return read_image(image)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL, without importing it
        return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    frame = np.asarray(image)
    if (
        frame.dtype != np.uint8
        or frame.ndim not in (2, 3)
        or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4))
    ):
        raise ValueError(
            "an image array must be uint8 (H, W), (H, W, 3) BGR or (H, W, 4) BGRA, "
            f"not {frame.dtype} {frame.shape}"
        )
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR) if frame.shape[2] == 4 else frame


class Analyzer:
    """Loads the detector and the classifiers once; then ``analyze`` stills or ``stream``
    videos. Use it as a context manager (or call ``close``) to release them."""

    def __init__(
        self,
        config: RuntimeConfig | None = None,
        *,
        live: bool = False,
        fps: float | None = None,
        **options: Any,
    ) -> None:
        """``options`` are any settings of :class:`runtime.options.RuntimeConfig` by name
        (``tier="nano"``, ``tasks=("emotion",)``, ``detector="full"``, ...), applied over
        ``config`` or the defaults; there is no window."""
        self.config = config_with(config, **({"show": False} if config is None else {}), **options)
        self.pipeline = Pipeline(self.config, live=live, fps=fps)
        self._stills = 0

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.pipeline.classifiers)

    def process(
        self, frame: np.ndarray, index: int, timestamp: float, still: bool, file: str | None = None
    ) -> FrameResult:
        """One frame through detection, tracking and classification (the CLI's loop calls
        this too). A ``still`` is its own analysis and searches tiles unless told not to."""
        tile = still if self.config.tile is None else self.config.tile
        return self.pipeline.process(frame, index, timestamp, tile, still=still, file=file)

    def analyze(self, image: ImageLike) -> list[Face]:
        """Every face of one picture (a BGR array, a path or a PIL image), with no history."""
        return faces_of(self.analyze_frame(image))

    def analyze_frame(self, image: ImageLike) -> FrameResult:
        """``analyze``'s whole result, as the overlay and the JSON lines take it."""
        file = str(image) if isinstance(image, str | Path) else None
        result = self.process(as_bgr(image), self._stills, 0.0, still=True, file=file)
        self._stills += 1
        return result

    def stream(
        self, source: str | Path, max_frames: int | None = None
    ) -> Iterator[tuple[np.ndarray, list[Face]]]:
        """Frames and their faces from a video file, camera index, stream URL, image folder
        or ``demo``, with tracking and smoothing as in the CLI (stills stay stills)."""
        with open_source(str(source)) as src:
            self.pipeline.start_video(src.live, src.fps)
            for n, frame in enumerate(src.frames()):
                if max_frames is not None and n >= max_frames:
                    break
                result = self.process(frame.image, frame.index, frame.timestamp, src.still, frame.file)
                yield frame.image, faces_of(result)

    def close(self) -> None:
        self.pipeline.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
