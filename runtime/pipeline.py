"""The per-frame engine: frame -> faces -> crops -> predictions -> tracks, with per-stage timers.

It knows no front end: the API (runtime/api.py) wraps it, and the applications (the CLI's
run to the end of a source, runtime/app.py; later a server or a batch runner) sit above
the API. Its tasks are the models it is given and its detector the one the settings name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import model_folder
from .classifier import FaceClassifier
from .detection import Detection, Detector
from .detector import detector_sources, open_detector, still_detector_name
from .metrics import latency_summary
from .model_folder import task_files
from .motion import BoxFlow
from .options import RuntimeConfig
from .preprocess import applied_rolls
from .records import FaceResult, FrameResult, Prediction
from .stride import stride_policy
from .tracker import Tracker

# The stages of a frame, in the order a report lists them; each task's engine is a stage of
# its own, between preprocessing and tracking (``stage_order``).
STAGES_BEFORE_TASKS = ("read", "detect", "preprocess")
STAGES_AFTER_TASKS = ("track", "draw", "output")


def stage_order(tasks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (*STAGES_BEFORE_TASKS, *tasks, *STAGES_AFTER_TASKS)


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
    tasks: tuple[str, ...] = ()  # task stages, listed between preprocess and track

    # Called with (stage, seconds) on every sample: the server feeds its latency histograms.
    observer: Callable[[str, float], None] | None = None

    def add(self, stage: str, seconds: float) -> None:
        if self.observer is not None:
            self.observer(stage, seconds)
        window = self.stages.get(stage)
        if window is None:
            window = self.stages[stage] = StageWindow()
        window.add(seconds * 1000)

    def summary(self) -> dict[str, dict[str, float]]:
        order = {s: i for i, s in enumerate(stage_order(self.tasks))}
        return {
            stage: w.summary()
            for stage, w in sorted(self.stages.items(), key=lambda kv: order.get(kv[0], 99))
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
        files = task_files(cfg.tasks, cfg.tier, cfg.models, cfg.backend, cfg.precision)
        self.classifiers: dict[str, FaceClassifier] = {}
        for task in cfg.tasks:
            clf = FaceClassifier.open(files[task], cfg.threads, detectors=self.crop_sources(cfg))
            if clf.task != task:
                raise ValueError(f"the {task} model given is a {clf.task} model")
            self.classifiers[task] = clf
        self.detector: Detector = open_detector(cfg.detector, cfg.min_score)
        self._still_detector: Detector | None = None  # opened on the first still
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
        self.times = StageTimes(tasks=tuple(self.classifiers))

    @staticmethod
    def crop_sources(cfg: RuntimeConfig) -> tuple[str, ...]:
        """Every detector whose boxes this run may crop: the video one first, then the stills'."""
        still = still_detector_name(cfg.detector, cfg.still_detector)
        return tuple(dict.fromkeys([*detector_sources(cfg.detector), *detector_sources(still)]))

    def detector_for(self, still: bool) -> Detector:
        """The video detector, or for a still the stills' one (opened when first needed, so a
        webcam never loads it)."""
        name = still_detector_name(self.cfg.detector, self.cfg.still_detector)
        if not still or name == self.cfg.detector:
            return self.detector
        if self._still_detector is None:
            self._still_detector = open_detector(name, self.cfg.min_score)
        return self._still_detector

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
        dets = self._find_faces(image, index, tile, still)
        t1 = time.perf_counter()
        tracks = self.tracker.update([d.box for d in dets], [d.score for d in dets], single=still)
        shown = [(d, t) for d, t in zip(dets, tracks) if t.confirmed]
        for d, t in shown:
            t.roll, t.source = d.roll, d.source
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
                for task, clf in self.classifiers.items():
                    track.smooth(task, raw[task][i], alpha, mean=clf.kind.per_track == "mean")
            preds = {
                task: Prediction(clf.labels, track.probs[task], raw[task].get(i), clf.kind)
                for task, clf in self.classifiers.items()
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
        sources = [d.source for d in dets]
        batches = {
            task: clf.prepare(image, boxes, rolls=rolls, sources=sources)
            for task, clf in self.classifiers.items()
        }
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

    def _find_faces(self, image, index: int, tile: bool, still: bool = False) -> list[Detection]:
        """The detector every ``detect_every`` frames (and whenever no confirmed face is
        tracked); in between, the confirmed tracks' boxes moved by optical flow (a candidate
        track must earn its confirmation from the detector, not from the flow)."""
        every = max(1, self.cfg.detect_every)
        live = [t for t in self.tracker.tracks if t.missed == 0 and t.confirmed]
        if still or every == 1 or tile or not live or index - self.last_detect >= every:
            self.last_detect = index
            if every > 1:
                self.flow.reset(image)
            det = self.detector_for(still)
            return [d if d.source else d.with_source(det.name) for d in det.detect(image, tile=tile)]
        moved = self.flow.move(image, [t.box for t in live])
        return [Detection(b, t.score, t.roll, t.source) for b, t in zip(moved, live)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.detector.close()
        if self._still_detector is not None:
            self._still_detector.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
