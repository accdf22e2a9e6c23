"""BlazeFace (MediaPipe Tasks FaceDetector, short- or full-range): the shipped detectors.

Where MediaPipe's build cannot run (an aarch64 core without ARMv8.1 atomics, such as the
Raspberry Pi 4's Cortex-A72), the same files run on LiteRT with MediaPipe's decoding
(runtime/blazeface_litert.py): same boxes, so every crop rule holds.

The BlazeFace files come from a pinned registry wheel at set-up (scripts/fetch_assets.py)
and are checked against their sha256 here too: nothing is downloaded at run time. The
detector is closed explicitly, since one garbage-collected at interpreter exit raises.
On still images much larger than the network's input, overlapping tiles are searched
as well (runtime.detection.detect_tiled), so the small faces of a group photo are not lost
to downscaling.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import cv2
import numpy as np

from .asset_files import asset
from .blazeface_litert import LiteRTBlazeFaceEngine
from .detection import Detection, DetectorError, detect_tiled, eye_roll
from .geometry import Box
from .quiet import NativeNoiseFilter

VARIANTS = {  # name -> (asset file, network input side)
    "short": ("blazeface_short_range.tflite", 128),
    "full": ("blazeface_full_range_sparse.tflite", 192),
}


def model_file(variant: str) -> Path:
    if variant not in VARIANTS:
        raise DetectorError(f"unknown BlazeFace variant {variant!r}; choose {' or '.join(VARIANTS)}")
    return asset(VARIANTS[variant][0])


def aligned_empty(shape: tuple[int, ...], align: int = 64) -> np.ndarray:
    """A uint8 buffer starting on a 64-byte boundary: MediaPipe's LiteRT runner otherwise
    copies every input it finds misaligned (and says so on stderr)."""
    size = int(np.prod(shape))
    raw = np.empty(size + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start : start + size].reshape(shape)


def mediapipe_runs_here(cpuinfo: Path = Path("/proc/cpuinfo"), machine: str | None = None) -> bool:
    """False on an aarch64 core without LSE atomics, where MediaPipe's wheel (built for
    ARMv8.1) stops the process with SIGILL at start-up."""
    if (machine or platform.machine()) not in ("aarch64", "arm64") or not cpuinfo.is_file():
        return True
    features = [
        line for line in cpuinfo.read_text(errors="replace").splitlines() if line.startswith("Features")
    ]
    return not features or all("atomics" in line.split() for line in features)


ENGINES = ("mediapipe", "litert")


class MediaPipeEngine:
    """MediaPipe's FaceDetector: :meth:`faces` as (x, y, w, h, score, right eye, left eye) in
    pixels, the form both engines share."""

    def __init__(self, path: Path, variant: str, min_score: float) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        self._detector = None
        self._quiet = NativeNoiseFilter()
        try:
            with self._quiet.active():
                self._detector = vision.FaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as e:
            raise DetectorError(f"MediaPipe cannot start the {variant}-range detector: {e}") from e

    def faces(self, rgb: np.ndarray) -> list[tuple]:
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self._detector is None:
            raise DetectorError("the face detector is closed; make a new detector")
        with self._quiet.active():  # set-up lines, sparsity and alignment warnings, any call
            result = self._detector.detect(image)
        h, w = rgb.shape[:2]
        out = []
        for d in result.detections:
            b, kp = d.bounding_box, d.keypoints or []
            eyes = [(k.x * w, k.y * h) for k in kp[:2]] if len(kp) >= 2 else [(0.0, 0.0)] * 2
            out.append((b.origin_x, b.origin_y, b.width, b.height, float(d.categories[0].score), *eyes))
        return out

    def close(self) -> None:
        if self._detector is not None:
            with self._quiet.active():
                self._detector.close()
            self._detector = None
            self._quiet.close()


class BlazeFace:
    """BlazeFace, a :class:`runtime.detection.Detector`, on MediaPipe or (where MediaPipe cannot
    run, or asked with ``engine="litert"``) on LiteRT. MediaPipe takes no thread count: its
    Python tasks API sizes its own pool (``--threads`` sets the classifiers' engines only)."""

    def __init__(self, variant: str = "short", min_score: float = 0.5, engine: str | None = None) -> None:
        path = model_file(variant)
        self.name = self.variant = variant  # the name its crop rules are measured under
        self.input_side, self.min_score = VARIANTS[variant][1], min_score
        # A zoomed-in tile shows the network texture it never saw at that scale: measured on
        # the astronaut portrait, tile-only false faces scored 0.54-0.56, real small faces
        # in a group collage 0.83-0.95.
        self.tile_min_score = max(min_score, 0.75)
        self.engine = engine or ("mediapipe" if mediapipe_runs_here() else "litert")
        if self.engine not in ENGINES:
            raise DetectorError(f"unknown BlazeFace engine {self.engine!r}; choose {' or '.join(ENGINES)}")
        if self.engine == "mediapipe":
            self._engine: MediaPipeEngine | LiteRTBlazeFaceEngine = MediaPipeEngine(path, variant, min_score)
        else:
            self._engine = LiteRTBlazeFaceEngine(path, variant, min_score)
        self._rgb: np.ndarray | None = None

    def _run(self, rgb: np.ndarray, dx: int = 0, dy: int = 0, min_score: float = 0.0) -> list[Detection]:
        return [
            Detection(Box(x + dx, y + dy, w, h), score, eye_roll(right, left) if right != left else 0.0)
            for x, y, w, h, score, right, left in self._engine.faces(rgb)
            if w > 0 and h > 0 and score >= min_score
        ]

    def detect(self, frame_bgr: np.ndarray, tile: bool = False) -> list[Detection]:
        """Faces in a BGR frame; ``tile`` also searches overlapping crops (for stills)."""
        if self._rgb is None or self._rgb.shape != frame_bgr.shape:
            self._rgb = aligned_empty(frame_bgr.shape)
        cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB, dst=self._rgb)
        if not tile:
            return self._run(self._rgb)
        return detect_tiled(self._run, self._rgb, self.input_side, self.tile_min_score)

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> BlazeFace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


FaceDetector = BlazeFace  # the name the benchmarks and tools have always used
