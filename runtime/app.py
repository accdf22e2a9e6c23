"""An application above the API: run one source to its end, as the CLI does.

Opens the source and the outputs, runs every frame through an :class:`~runtime.api.Analyzer`,
draws and writes it, stops cleanly on the source's end, ``--max-frames``, q/Esc in the
window, Ctrl-C or SIGTERM, and returns the end-of-run :class:`Summary`. The server and the
batch runner are its peers: each builds on the Analyzer, none on another application.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .api import Analyzer
from .options import RuntimeConfig
from .overlay import draw
from .seen import SeenLog
from .sinks import Outputs
from .sources import Source, open_source


@dataclass
class Summary:
    source: str
    frames: int
    faces: int
    tracks: int
    seconds: float
    stages: dict[str, dict[str, float]]
    stopped: str = ""  # why the run ended early: interrupted or terminated
    note: str = ""  # what the source reported on ending (truncated file, lost camera)
    seen: SeenLog = field(default_factory=SeenLog)  # per track: time on screen, labels
    source_fps: float | None = None  # the source's nominal frame rate, where it has one

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "frames": self.frames,
            "faces": self.faces,
            "tracks": self.tracks,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "stages": self.stages,
            "stopped": self.stopped,
            "note": self.note,
            "seen": self.seen.to_list(),
            "images_without_faces": self.seen.images_without_faces,
        }


class StopRequested(Exception):
    """Ctrl-C or SIGTERM while the loop waits for a frame; the reason is the message."""


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM stop the frame loop. While a frame is being worked on
    (``busy``) the signal only records its reason and the loop stops after that frame: an
    exception raised inside a native call (MediaPipe building its image) leaves a half-made
    object whose finaliser prints a traceback. While the loop waits for a frame (a camera or
    a silent stream) it stops at once."""

    REASONS: ClassVar[dict[signal.Signals, str]] = {
        signal.SIGINT: "interrupted (Ctrl-C)",
        signal.SIGTERM: "terminated (SIGTERM)",
    }

    def __init__(self) -> None:
        self.reason = ""
        self.busy = False
        self._previous: dict[signal.Signals, Any] = {}

    def _handler(self, signum, frame) -> None:
        self.reason = self.REASONS[signum]
        if not self.busy:
            raise StopRequested(self.reason)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            self._previous = {s: signal.signal(s, self._handler) for s in self.REASONS}
        return self

    def __exit__(self, *exc) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)


def run(cfg: RuntimeConfig, log: Callable[[str], None] = print, analyzer: Analyzer | None = None) -> Summary:
    """Run the pipeline over the source until it ends, max_frames, q/Esc in the window, Ctrl-C
    or SIGTERM; every output is closed on the way out and the summary still comes back.

    ``analyzer``: one already open (the batch runner's, which opens its models once for many
    files), started afresh for this source and left open; by default one is opened and closed."""
    with ExitStack() as stack:
        source: Source = stack.enter_context(open_source(cfg.source, cfg.fallback_to_demo))
        if cfg.source is None and source.name.startswith("demo"):
            log(
                "no camera could be opened: playing the built-in demo clip instead "
                "(pass --source to choose a camera, file, folder or stream)"
            )
        if analyzer is None:
            analyzer = Analyzer(cfg, live=source.live, fps=source.fps)  # the CLI runs on the API
            stack.callback(analyzer.close)
        else:
            analyzer.pipeline.start_video(source.live, source.fps)
        pipe = analyzer.pipeline
        seen_before = pipe.faces_seen
        outputs = Outputs.open(stack, source, cfg.json, cfg.output, cfg.show, cfg.per_image, cfg.tasks)
        frames = faces = 0
        fps = 0.0
        stopped = ""
        start = time.perf_counter()
        frame_iter = iter(source.frames())
        try:
            with StopSignals() as signals:
                while cfg.max_frames is None or frames < cfg.max_frames:
                    t0 = time.perf_counter()
                    frame = next(frame_iter, None)
                    if frame is None:
                        break
                    t1 = time.perf_counter()
                    signals.busy = True
                    result = analyzer.process(
                        frame.image, frame.index, frame.timestamp, source.still, frame.file
                    )
                    result.fps = fps
                    t2 = time.perf_counter()
                    if outputs.draws:
                        draw(frame.image, result)
                    t3 = time.perf_counter()
                    keep_going = outputs.write(frame.image, result)
                    signals.busy = False
                    t4 = time.perf_counter()
                    pipe.times.add("read", t1 - t0)
                    pipe.times.add("draw", t3 - t2)
                    pipe.times.add("output", t4 - t3)
                    pipe.end_frame(t4 - t1)
                    frames += 1
                    faces += len(result.faces)
                    dt = t4 - t0
                    fps = 1 / dt if fps == 0 else 0.9 * fps + 0.1 / max(dt, 1e-6)
                    if not keep_going or signals.reason:
                        break
            stopped = signals.reason
        except StopRequested as e:
            stopped = str(e)
        except KeyboardInterrupt:  # off the main thread, no handler of ours
            stopped = "interrupted (Ctrl-C)"
        if source.note:
            log(source.note)
        seconds = time.perf_counter() - start
        return Summary(
            source.name,
            frames,
            faces,
            pipe.faces_seen - seen_before,
            seconds,
            pipe.times.summary(),
            stopped=stopped,
            note=source.note,
            seen=outputs.seen,
            source_fps=source.fps,
        )
