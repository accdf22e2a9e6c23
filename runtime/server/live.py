"""The live view: one capture-and-analyse loop on its own thread, whatever the number of
viewers, publishing only its newest frame.

Viewers (the MJPEG stream, the event stream, the page) wait for the next frame in the
server's event loop and always take the newest one: a slow viewer skips frames, and
nothing a viewer does can hold the loop back. A file or the demo plays in a loop, at its
own frame rate (a folder of images as a slideshow, one a second); a camera or stream that is
lost, or a file that gives no frame, is reopened every few seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..api import Analyzer
from ..options import RuntimeConfig
from ..overlay import draw
from ..pipeline import stage_order
from ..sources import Source, SourceError, open_source
from .metrics import ServerMetrics

REOPEN_S = 3.0  # wait between two attempts to reopen a lost camera or stream
SLIDE_S = 1.0  # each image of a folder source is shown this long


@dataclass
class LiveFrame:
    """One analysed frame: the annotated picture and its event (the JSON-line records)."""

    seq: int
    image: np.ndarray
    event: dict[str, Any]
    _jpeg: bytes | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def jpeg(self, quality: int) -> bytes:
        """Encoded once, by the first viewer that asks, and shared by the rest."""
        with self._lock:
            if self._jpeg is None:
                ok, buf = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if not ok:
                    raise RuntimeError("OpenCV could not encode the frame as JPEG")
                self._jpeg = buf.tobytes()
            return self._jpeg


class Broadcast:
    """The newest frame, and a wake-up for every waiter when the next one arrives. ``publish``
    is called from the loop's thread; ``next`` is awaited in the server's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._latest: LiveFrame | None = None
        self._arrived: asyncio.Future = loop.create_future()
        self.closed = False

    @property
    def latest(self) -> LiveFrame | None:
        return self._latest

    def publish(self, frame: LiveFrame) -> None:
        self._latest = frame
        self._loop.call_soon_threadsafe(self._wake)

    def close(self) -> None:
        self.closed = True
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        arrived, self._arrived = self._arrived, self._loop.create_future()
        if not arrived.done():
            arrived.set_result(None)

    async def next(self, after: int) -> LiveFrame | None:
        """The newest frame later than ``after`` (None once the server stops)."""
        while not self.closed:
            latest = self._latest
            if latest is not None and latest.seq > after:
                return latest
            await asyncio.wait({self._arrived})  # never cancels the shared future
        return None


class LiveView:
    """Runs ``cfg.source`` through an Analyzer on a thread, from ``start`` until ``stop``."""

    def __init__(self, cfg: RuntimeConfig, metrics: ServerMetrics) -> None:
        self.cfg, self.metrics = cfg, metrics
        self.error = ""  # why the source is not giving frames now
        self.frames = 0
        self.fps = 0.0
        self.stage_ms: dict[str, float] = {}  # per stage, smoothed over frames
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Opened here, before the server starts, so that a bad --source or model fails in one line.
        self._source = open_source(cfg.source)
        self.source_name = self._source.name
        try:
            self._analyzer = Analyzer(cfg, live=self._source.live, fps=self._source.fps)
        except BaseException:
            self._source.close()
            raise
        self._analyzer.pipeline.times.observer = self._observe
        self.broadcast: Broadcast | None = None

    def start(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self._thread = threading.Thread(target=self._run, args=(self._source,), name="live-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        else:
            self._source.close()
        self._analyzer.close()
        if self.broadcast is not None:
            self.broadcast.close()

    def stages(self) -> dict[str, float]:
        """Smoothed ms per stage, in the pipeline's order."""
        order = {s: i for i, s in enumerate(stage_order(self._analyzer.tasks))}
        ms = dict(self.stage_ms)  # one copy: the task threads add stages while we read
        return {k: round(ms[k], 2) for k in sorted(ms, key=lambda k: order.get(k, 99))}

    def _observe(self, stage: str, seconds: float) -> None:
        self.metrics.observe_stage(stage, seconds)
        ms = seconds * 1000
        self.stage_ms[stage] = ms if stage not in self.stage_ms else 0.9 * self.stage_ms[stage] + 0.1 * ms

    def _run(self, source: Source) -> None:
        while not self._stop.is_set():
            before = self.frames
            try:
                with source:
                    self._play(source)
                self.error = source.note if source.live else ""
            except SourceError as e:
                self.error = str(e)
            except Exception as e:  # the loop must outlive one bad frame or a lost device
                self.error = f"{type(e).__name__}: {e}"
            if self._stop.is_set():
                break
            if source.live or self.frames == before:  # a lost camera, or a file that gives nothing
                self._stop.wait(REOPEN_S)
            try:
                source = open_source(self.cfg.source)
            except SourceError as e:
                self.error = str(e)
                source = _Nothing()

    def _play(self, source: Source) -> None:
        analyzer = self._analyzer
        assert self.broadcast is not None
        analyzer.pipeline.start_video(source.live, source.fps)
        paced = not source.live and bool(source.fps)  # a file or the demo plays at its own rate
        start = time.perf_counter()
        dropped = 0
        for frame in source.frames():
            if self._stop.is_set():
                return
            if paced:
                wait = start + frame.timestamp - time.perf_counter()
                if wait > 0 and self._stop.wait(wait):
                    return
            t0 = time.perf_counter()
            result = analyzer.process(frame.image, frame.index, frame.timestamp, source.still, frame.file)
            result.fps = self.fps
            draw(frame.image, result)
            work = time.perf_counter() - t0
            analyzer.pipeline.end_frame(work)
            self.fps = 1 / max(work, 1e-6) if self.fps == 0 else 0.9 * self.fps + 0.1 / max(work, 1e-6)
            self.frames += 1
            self.error = ""
            now_dropped = getattr(source, "dropped", 0)
            self.metrics.dropped.inc(now_dropped - dropped)
            dropped = now_dropped
            self.metrics.frames.inc()
            self.metrics.faces.inc(len(result.faces))
            self.metrics.fps.set(self.fps)
            event = {
                "frame": self.frames,
                "timestamp": round(frame.timestamp, 4),
                "fps": round(self.fps, 2),
                "stages_ms": self.stages(),
                "faces": result.records(),
            }
            self.broadcast.publish(LiveFrame(self.frames, frame.image, event))
            if source.still and self._stop.wait(max(0.0, SLIDE_S - (time.perf_counter() - t0))):
                return  # images (a folder) play as a slideshow


class _Nothing(Source):
    """Stands in for a source that could not be reopened: the loop waits and tries again."""

    live = True

    def frames(self):
        return iter(())
