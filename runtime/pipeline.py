"""frame -> faces -> crops -> predictions -> tracks -> overlay / log, with per-stage timers."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import model_folder
from .classifier import FaceClassifier
from .detector import Detection, FaceDetector
from .metrics import latency_summary
from .model_folder import export_path, shipped_models
from .model_folder import models_dir as models_dir  # re-exported: its home is model_folder
from .model_folder import shipped_index as shipped_index  # re-exported likewise
from .motion import BoxFlow
from .overlay import draw
from .preprocess import applied_rolls
from .records import FaceResult, FrameResult, Prediction
from .seen import SeenLog
from .sinks import Outputs
from .sources import Source, open_source
from .stride import stride_policy
from .tracker import Tracker

STAGES = ("read", "detect", "preprocess", "emotion", "gender", "track", "draw", "output")


@dataclass
class RuntimeConfig:
    source: str | None = None  # None: camera 0
    fallback_to_demo: bool = False  # with no --source and no camera, play the demo clip
    detector: str = "short"  # short | full
    min_score: float = 0.5
    tasks: tuple[str, ...] = field(default_factory=model_folder.tasks)  # default: every shipped task
    models: dict[str, Path] = field(default_factory=dict)  # task -> folder or file (default: shipped)
    tier: str = "accurate"  # which shipped models: accurate (laptop) or nano (Raspberry Pi)
    backend: str = "onnx"  # onnx | tflite
    precision: str = "int8"  # fp32 | fp16 (tflite) | int8
    threads: int = 1  # classifier threads
    smoothing: float = 0.35  # EMA weight of the newest classification (1 = off)
    # Classify a tracked face every N frames (new faces at once). None: every frame for
    # files and folders; for live sources every frame while the machine keeps up, striding
    # only as much as the frame budget needs (runtime/stride.py).
    classify_every: int | None = None
    align: bool = True  # turn each face crop upright from the detector's eye keypoints
    # ... when it is tilted at least this much (degrees). BlazeFace's eye keypoints are
    # coarse (a 30 degree turn reads as about 21), so a smaller roll is mostly noise and
    # turning by it only resamples the face: on pipeline_dev gender 95.7 % from 10 degrees
    # against 94.3 % turning every face (docs/results.md).
    align_min_roll: float = 10.0
    # A new video track is shown once a detection scores sure_score or it has been found
    # confirm_hits times in its first frames (runtime/tracker.py); 1 shows every detection.
    confirm_hits: int = 4
    detect_every: int = 1  # run the detector every N frames; optical flow moves boxes between
    parallel_tasks: bool = True  # run the emotion and gender engines side by side
    show: bool = True
    output: Path | None = None  # annotated video
    json: Path | None = None  # JSON lines, one per face per frame
    per_image: Path | None = None  # image and folder sources: one row per image (.csv/.json)
    max_frames: int | None = None
    tile: bool | None = None  # search tiles for small faces; None: on for still images


class StageWindow:
    """One stage's times: the mean over the whole run, percentiles over the newest ``size``
    samples, in a fixed ring buffer (a list of every sample grew by ~200 bytes a frame: 10 MB
    over a 50,000-frame soak)."""

    def __init__(self, size: int = 8192) -> None:
        self.ring = np.zeros(size, np.float64)
        self.count = 0
        self.total = 0.0

    def add(self, ms: float) -> None:
        self.ring[self.count % len(self.ring)] = ms
        self.count += 1
        self.total += ms

    def summary(self) -> dict[str, float]:
        return latency_summary(self.ring[: min(self.count, len(self.ring))], self.total / self.count)


@dataclass
class StageTimes:
    stages: dict[str, StageWindow] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        window = self.stages.get(stage)
        if window is None:
            window = self.stages[stage] = StageWindow()
        window.add(seconds * 1000)

    def summary(self) -> dict[str, dict[str, float]]:
        order = {s: i for i, s in enumerate(STAGES)}
        return {
            stage: w.summary()
            for stage, w in sorted(self.stages.items(), key=lambda kv: order.get(kv[0], 99))
        }


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


class Pipeline:
    """Models load once; per frame: detect, track, classify each task in one batch, smooth.

    ``live``/``fps`` describe the source, for the stride policy: a live source adapts its
    classification stride to its frame budget, anything else is classified every frame."""

    def __init__(self, cfg: RuntimeConfig, live: bool = False, fps: float | None = None) -> None:
        # The shipped tasks (no index: the cards'); a task given its own model is checked by its card.
        known = model_folder.tasks()
        if not known and not cfg.tasks:
            model_folder.shipped_index()  # no index and no cards: says where it looked
        unknown = [t for t in cfg.tasks if t not in known and t not in cfg.models] if known else []
        if unknown or not cfg.tasks:
            raise ValueError(
                f"unknown task(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
            )
        self.cfg = cfg
        folders = {**(shipped_models(cfg.tier) if set(cfg.tasks) - set(cfg.models) else {}), **cfg.models}
        self.classifiers: dict[str, FaceClassifier] = {}
        for task in cfg.tasks:
            clf = FaceClassifier.open(export_path(folders[task], cfg.backend, cfg.precision), cfg.threads)
            if clf.task != task:
                raise ValueError(f"the {task} model given is a {clf.task} model")
            self.classifiers[task] = clf
        self.detector = FaceDetector(cfg.detector, cfg.min_score)
        if cfg.confirm_hits < 1:
            raise ValueError(f"--confirm-hits must be 1 or more, not {cfg.confirm_hits}")
        self.live, self.fps = live, fps
        self.images = 0  # faces of earlier images and videos (each has its own tracker)
        self.tracker = Tracker(alpha=cfg.smoothing, confirm_hits=cfg.confirm_hits)
        self.start_video()
        self._frame_work: tuple[float, int, int] = (0.0, 0, 0)  # classify s, classified, faces
        self.pool = (
            ThreadPoolExecutor(max_workers=len(self.classifiers) - 1, thread_name_prefix="classify")
            if cfg.parallel_tasks and len(self.classifiers) > 1
            else None
        )
        self.times = StageTimes()

    def start_video(self, live: bool | None = None, fps: float | None = None) -> None:
        """Forget every track, the stride and the flow: the next frame starts a new video
        (``live``/``fps`` describe its source; by default the one the pipeline was made for)."""
        self.images += self.tracker.confirmed_count
        self.tracker = Tracker(alpha=self.cfg.smoothing, confirm_hits=self.cfg.confirm_hits)
        self.stride = stride_policy(
            self.cfg.classify_every, self.live if live is None else live, self.fps if fps is None else fps
        )
        self.flow = BoxFlow()
        self.last_detect = -(10**9)

    def process(
        self,
        image,
        index: int,
        timestamp: float,
        tile: bool = False,
        still: bool = False,
        file: str | None = None,
    ) -> FrameResult:
        """Detect every face; classify the confirmed faces that are due (new, or as many
        frames since their last classification as the stride says); every face reports its
        track's smoothed probabilities, and ``raw`` only when it was classified in this
        frame. A ``still`` image is its own analysis: no track, smoothing or stride from
        the images before it."""
        if still:
            self.images += self.tracker.confirmed_count
            self.tracker = Tracker(alpha=1.0)
        t0 = time.perf_counter()
        dets = self._find_faces(image, index, tile)
        t1 = time.perf_counter()
        tracks = self.tracker.update([d.box for d in dets], [d.score for d in dets], single=still)
        shown = [(d, t) for d, t in zip(dets, tracks) if t.confirmed]
        for d, t in shown:
            t.roll = d.roll
        every = 1 if still else self.stride.every
        due = [i for i, (_, t) in enumerate(shown) if index - t.classified_at >= every]
        t2 = time.perf_counter()
        raw = self._classify(image, [shown[i][0] for i in due], due)
        t3 = time.perf_counter()
        faces = []
        classified = set(due)
        for i, (d, track) in enumerate(shown):
            if i in classified:
                # The average forgets per frame, not per classification: after k frames the
                # new output weighs 1 - (1 - alpha)^k, so a stride keeps the same time constant.
                k = min(index - track.classified_at, 1000)
                alpha = 1.0 - (1.0 - self.tracker.alpha) ** k
                track.classified_at = index
                for task in self.classifiers:
                    track.smooth(task, raw[task][i], alpha)
            preds = {
                task: Prediction(self.classifiers[task].labels, track.probs[task], raw[task].get(i))
                for task in self.classifiers
            }
            faces.append(FaceResult(track.id, d.box, d.score, preds))
        t4 = time.perf_counter()
        self.times.add("detect", t1 - t0)
        self.times.add("track", (t2 - t1) + (t4 - t3))
        self._frame_work = (t3 - t2, len(due), len(shown))
        return FrameResult(index, timestamp, faces, file=file)

    def end_frame(self, work_s: float) -> None:
        """The whole frame's work (all but waiting for the source) feeds the stride policy."""
        self.stride.observe(work_s, *self._frame_work)

    @property
    def faces_seen(self) -> int:
        """Distinct faces shown: confirmed tracks in video, faces on still images."""
        return self.images + self.tracker.confirmed_count

    def _classify(self, image, dets: list[Detection], due: list[int]) -> dict[str, dict[int, np.ndarray]]:
        """Each task's probabilities for the due faces. The crops are cut here; with more than
        one task and ``parallel_tasks``, the engines then run side by side (each engine call
        releases the GIL), so two models cost about one on a machine with two free cores."""
        t0 = time.perf_counter()
        boxes = [d.box for d in dets]
        rolls = applied_rolls([d.roll for d in dets], self.cfg.align_min_roll) if self.cfg.align else None
        batches = {task: clf.prepare(image, boxes, rolls=rolls) for task, clf in self.classifiers.items()}
        self.times.add("preprocess", time.perf_counter() - t0)

        def infer(task: str):
            t = time.perf_counter()
            out = self.classifiers[task].infer(batches[task])
            self.times.add(task, time.perf_counter() - t)
            return dict(zip(due, out))

        tasks = list(self.classifiers)
        if self.pool is None or len(tasks) < 2 or not boxes:
            return {task: infer(task) for task in tasks}
        pending = {task: self.pool.submit(infer, task) for task in tasks[1:]}
        results = {tasks[0]: infer(tasks[0])}
        results.update({task: f.result() for task, f in pending.items()})
        return results

    def _find_faces(self, image, index: int, tile: bool) -> list[Detection]:
        """The detector every ``detect_every`` frames (and whenever no confirmed face is
        tracked); in between, the confirmed tracks' boxes moved by optical flow (a candidate
        track must earn its confirmation from the detector, not from the flow)."""
        every = max(1, self.cfg.detect_every)
        live = [t for t in self.tracker.tracks if t.missed == 0 and t.confirmed]
        if every == 1 or tile or not live or index - self.last_detect >= every:
            self.last_detect = index
            if every > 1:
                self.flow.reset(image)
            return self.detector.detect(image, tile=tile)
        moved = self.flow.move(image, [t.box for t in live])
        return [Detection(b, t.score, t.roll) for b, t in zip(moved, live)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.detector.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def run(cfg: RuntimeConfig, log: Callable[[str], None] = print) -> Summary:
    """Run the pipeline over the source until it ends, max_frames, q/Esc in the window, Ctrl-C
    or SIGTERM; every output is closed on the way out and the summary still comes back."""
    with ExitStack() as stack:
        source: Source = stack.enter_context(open_source(cfg.source, cfg.fallback_to_demo))
        if cfg.source is None and source.name.startswith("demo"):
            log(
                "no camera could be opened: playing the built-in demo clip instead "
                "(pass --source to choose a camera, file, folder or stream)"
            )
        from .api import analyzer_for  # the CLI runs on the Python API: one code path

        analyzer = analyzer_for(cfg, live=source.live, fps=source.fps)
        stack.callback(analyzer.close)
        pipe = analyzer.pipeline
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
            pipe.faces_seen,
            seconds,
            pipe.times.summary(),
            stopped=stopped,
            note=source.note,
            seen=outputs.seen,
        )
