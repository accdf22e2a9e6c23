"""``POST /analyze``'s workers: a few Analyzers of their own (one per thread: an Analyzer is
not thread-safe), behind a bounded admission so that load queues a known number of
requests and turns the rest away (503) instead of exhausting memory."""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ..api import Analyzer
from ..options import RuntimeConfig
from ..overlay import draw
from ..records import FrameResult


class Busy(Exception):
    """Every place in the queue is taken."""


class StillWorkers:
    def __init__(self, cfg: RuntimeConfig, workers: int, queue_size: int) -> None:
        self.limit = queue_size
        self._free: queue.Queue[Analyzer] = queue.Queue()
        for _ in range(workers):
            self._free.put(Analyzer(cfg))
        self._all = list(self._free.queue)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="analyze")
        self._admitted = 0
        self._lock = threading.Lock()

    def admit(self) -> Admission:
        with self._lock:
            if self._admitted >= self.limit:
                raise Busy
            self._admitted += 1
        return Admission(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    @property
    def in_flight(self) -> int:
        return self._admitted

    async def analyze(
        self, frame: np.ndarray, annotated: bool, quality: int
    ) -> tuple[list[dict], bytes | None]:
        """The faces' records (the JSON-line schema) and, if asked, the annotated JPEG."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._work, frame, annotated, quality)

    def _work(self, frame: np.ndarray, annotated: bool, quality: int) -> tuple[list[dict], bytes | None]:
        analyzer = self._free.get()
        try:
            result: FrameResult = analyzer.analyze_frame(frame)
        finally:
            self._free.put(analyzer)
        records = result.records()
        if not annotated:
            return records, None
        ok, buf = cv2.imencode(".jpg", draw(frame, result), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode the annotated image")
        return records, buf.tobytes()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for analyzer in self._all:
            analyzer.close()


class Admission:
    """A place in the queue, given back on leaving the ``with`` block."""

    def __init__(self, workers: StillWorkers) -> None:
        self._workers = workers

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc: object) -> None:
        self._workers._release()
