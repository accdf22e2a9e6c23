"""Per-stage latency and end-to-end FPS of our pipeline, and of the detector alone.

The detector alone is the floor the pipeline cannot beat; the pipeline's time over the
detector's says how much everything else (crops, classifiers, tracking, drawing) costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

import numpy as np

from benchmarks.frames import FrameSet
from runtime.detector import open_detector, still_detector_name
from runtime.metrics import latency_summary
from runtime.model_folder import EXPORTS
from runtime.options import RuntimeConfig
from runtime.overlay import draw
from runtime.pipeline import Pipeline, StageTimes


@dataclass(frozen=True)
class Setting:
    backend: str = "onnx"
    precision: str = "int8"
    threads: int = 1
    faces: int = 1
    resolution: tuple[int, int] = (640, 480)
    detector: str = "short"
    # The runtime classifies every face on every frame unless the source outpaces the
    # machine (runtime/stride.py), so the headline figures are the every-frame pipeline.
    classify_every: int = 1

    @property
    def label(self) -> str:
        w, h = self.resolution
        return (
            f"{self.backend} {self.precision}, {self.threads} thread(s), {self.faces} face(s), "
            f"{w}x{h}, {self.detector}-range, classify every {self.classify_every}"
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["resolution"] = f"{self.resolution[0]}x{self.resolution[1]}"
        return d


def time_detector(
    frames: FrameSet,
    name: str,
    warmup: int,
    tile: bool = False,
    min_score: float = 0.5,
    engine: str | None = None,
) -> dict:
    """The registered detector ``name`` alone on every frame (after ``warmup`` frames), and the
    engine it ran on; ``engine`` (a BlazeFace name only) picks it instead of this CPU's."""
    from runtime.blazeface import BlazeFace

    ms = []
    with BlazeFace(name, min_score, engine) if engine else open_detector(name, min_score) as det:
        for i, frame in enumerate(_cycle(frames.frames, warmup)):
            t0 = time.perf_counter()
            det.detect(frame, tile=tile)
            if i >= warmup:
                ms.append(1000 * (time.perf_counter() - t0))
        ran_on = getattr(det, "engine", "")
    return {**latency_summary(ms), **({"engine": ran_on} if ran_on else {})}


# The video detector before issue N added a second detector for stills: the baseline the
# webcam default's detector time is held to (at most 1.3x, side by side on the same frames).
VIDEO_DETECTOR_BEFORE_N = "short"


def time_default_detectors(frames: FrameSet, warmup: int) -> list[dict]:
    """Detector time per frame as the runtime opens it by default, for video and for stills
    (tiled, as stills are searched), next to the video detector before issue N, on the same
    frames in one run, so the ratio compares like with like."""
    cfg = RuntimeConfig()
    cases = [
        ("video, before issue N", VIDEO_DETECTOR_BEFORE_N, False),
        ("video, default", cfg.detector, False),
        ("stills, default", still_detector_name(cfg.detector, cfg.still_detector), True),
    ]
    rows = [
        {
            "case": label,
            "detector": name,
            "tiles": tile,
            **time_detector(frames, name, warmup, tile, cfg.min_score),
        }
        for label, name, tile in cases
    ]
    before = rows[0]["mean_ms"]
    for r in rows:
        r["over_before"] = round(r["mean_ms"] / before, 3)
    return rows


def time_pipeline(frames: FrameSet, setting: Setting, warmup: int) -> dict:
    """Stage percentiles, FPS, faces found per frame, for one setting."""
    cfg = RuntimeConfig(
        detector=setting.detector,
        backend=setting.backend,
        precision=setting.precision,
        threads=setting.threads,
        show=False,
        classify_every=setting.classify_every,
    )
    pipe = Pipeline(cfg)
    try:
        total, faces = [], []
        for i, frame in enumerate(_cycle(frames.frames, warmup)):
            if i == warmup:
                pipe.times = StageTimes()
            canvas = frame.copy()  # drawing must not change the next lap's input
            t0 = time.perf_counter()
            result = pipe.process(canvas, i, i / 30.0)
            t1 = time.perf_counter()
            draw(canvas, result)
            t2 = time.perf_counter()
            if i >= warmup:
                pipe.times.add("draw", t2 - t1)
                total.append(1000 * (t2 - t0))
                faces.append(len(result.faces))
        stages = {
            k: {kk: v[kk] for kk in ("p50_ms", "p95_ms", "p99_ms", "mean_ms")}
            for k, v in pipe.times.summary().items()
        }
        return {
            "stages": stages,
            "frame": latency_summary(total),
            "fps": round(1000 / float(np.mean(total)), 2),
            "faces_per_frame": round(float(np.mean(faces)), 2),
        }
    finally:
        pipe.close()


def _cycle(frames: list[np.ndarray], warmup: int) -> Iterable[np.ndarray]:
    """Warm-up frames first (taken from the start), then every frame once."""
    for i in range(warmup):
        yield frames[i % len(frames)]
    yield from frames


def sweep(baseline: Setting, threads: list[int], quick: bool) -> list[Setting]:
    """One dimension at a time around the baseline (a full grid would take hours on a Pi)."""
    out = [baseline]

    def add(s: Setting) -> None:
        if s not in out:
            out.append(s)

    for t in threads:
        add(replace(baseline, threads=t))
    for backend, precision in EXPORTS[: 2 if quick else None]:
        add(replace(baseline, backend=backend, precision=precision))
    for faces in [4] if quick else [4, 8]:  # several faces are small: the full-range model
        add(replace(baseline, faces=faces, detector="full"))
    if not quick:
        add(replace(baseline, resolution=(1280, 720)))
    for every in [3] if quick else [2, 3, 5, 10]:  # classification stride: work saved
        add(replace(baseline, classify_every=every))
    return out


def run_speed(
    settings: list[Setting],
    frames_for: Callable[[Setting], FrameSet],
    warmup: int,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict]:
    rows = []
    detector_cache: dict[tuple, dict] = {}
    for s in settings:
        frames = frames_for(s)
        key = (frames.name, s.detector)
        if key not in detector_cache:
            detector_cache[key] = time_detector(frames, s.detector, warmup)
        det = detector_cache[key]
        result = time_pipeline(frames, s, warmup)
        rows.append(
            {
                "setting": s.to_dict(),
                "frames": frames.name,
                "n_frames": len(frames.frames),
                "detector_alone": det,
                **result,
                "pipeline_over_detector": round(result["frame"]["mean_ms"] / det["mean_ms"], 3),
            }
        )
        progress(s.label)
    return rows
