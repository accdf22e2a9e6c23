"""Which tracks a clip produces, shown and hidden: for counting false faces by eye.

Runs the runtime's pipeline over each clip twice: every detection shown at once
(``--confirm-hits 1``, the behaviour before track confirmation) and with the defaults.
For each track it lists the frames it was shown, its detector scores and its labels, and
writes a contact sheet (the track's first shown crop, its number and first frame) so a
person can tell real faces from bokeh, backdrops and hands. Which tracks are false is a
human judgement recorded in docs/results.md, not something this script decides.

    python -m benchmarks.tracks --source ../shared/media/fer_test.mp4 --output /tmp/tracks
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from runtime.cli import OneLineParser
from runtime.options import RuntimeConfig
from runtime.pipeline import Pipeline
from runtime.preprocess import Box, crop
from runtime.sources import open_source


@dataclass
class TrackLog:
    id: int
    frames: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)  # task -> label shown per frame
    first_crop: np.ndarray | None = None

    def labels_shown(self) -> list[tuple[str, str]]:
        """(task, the label shown on most of the track's frames), task by task."""
        return [(task, max(set(shown), key=shown.count)) for task, shown in self.labels.items()]

    def summary(self) -> dict:
        return {
            "id": self.id,
            "first_frame": self.frames[0],
            "last_frame": self.frames[-1],
            "frames_shown": len(self.frames),
            "max_score": round(max(self.scores), 3),
            **dict(self.labels_shown()),
        }


def track_clip(source: str, confirm_hits: int) -> list[TrackLog]:
    """Every shown track of the clip, with the runtime's defaults but ``confirm_hits``."""
    logs: dict[int, TrackLog] = {}
    with open_source(source) as src:
        pipe = Pipeline(
            RuntimeConfig(source=source, show=False, confirm_hits=confirm_hits), live=src.live, fps=src.fps
        )
        try:
            for frame in src.frames():
                result = pipe.process(frame.image, frame.index, frame.timestamp)
                for face in result.faces:
                    log = logs.setdefault(face.track_id, TrackLog(face.track_id))
                    log.frames.append(frame.index)
                    log.scores.append(face.score)
                    for task, pred in face.predictions.items():
                        log.labels.setdefault(task, []).append(pred.label)
                    if log.first_crop is None:
                        b = face.box
                        big = Box(b.x - b.w // 4, b.y - b.h // 4, b.w * 3 // 2, b.h * 3 // 2)
                        log.first_crop = cv2.resize(crop(frame.image, big), (120, 120))
        finally:
            pipe.close()
    return list(logs.values())


def contact_sheet(logs: list[TrackLog], path: Path) -> None:
    tiles = []
    for log in logs:
        tile = log.first_crop.copy()
        cv2.putText(
            tile,
            f"#{log.id} f{log.frames[0]}",
            (3, 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 255, 255),
            1,
            cv2.LINE_AA,
        )
        tiles.append(tile)
    if tiles:
        cv2.imwrite(str(path), np.hstack(tiles))


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(
        prog="python -m benchmarks.tracks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", nargs="+", required=True, help="video files")
    p.add_argument("--output", type=Path, required=True, help="folder for JSON and contact sheets")
    a = p.parse_args(argv)
    a.output.mkdir(parents=True, exist_ok=True)
    report = {}
    for source in a.source:
        name = Path(source).stem
        report[name] = {}
        for label, hits in (("every_detection", 1), ("confirmed", RuntimeConfig.confirm_hits)):
            logs = track_clip(source, hits)
            contact_sheet(logs, a.output / f"{name}_{label}.png")
            report[name][label] = [log.summary() for log in logs]
            print(
                f"{name}, {label}: {len(logs)} track(s): "
                + "; ".join(
                    f"#{s['id']} frames {s['first_frame']}-{s['last_frame']} ({s['frames_shown']} "
                    f"shown, max score {s['max_score']}, "
                    f"{', '.join(label for _, label in log.labels_shown())})"
                    for s, log in zip(report[name][label], logs)
                )
            )
    (a.output / "tracks.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
