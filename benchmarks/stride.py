"""What the detection and classification strides save, and what they cost.

The reference is the same clip with the detector and both classifiers on every frame.
Each strided run is compared face by face with it: box overlap (IoU), and agreement of
each task's labels shown. Work is the mean time per frame of the whole
pipeline and of its two expensive stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from benchmarks.frames import FrameSet
from runtime.geometry import iou
from runtime.options import RuntimeConfig
from runtime.pipeline import Pipeline

STRIDES = ((1, 1), (1, 3), (1, 5), (2, 5), (5, 5))  # (detect_every, classify_every)


def run_clip(
    frames: FrameSet, detect_every: int, classify_every: int, backend: str = "onnx", precision: str = "int8"
) -> tuple[list, dict]:
    pipe = Pipeline(
        RuntimeConfig(
            show=False,
            detect_every=detect_every,
            backend=backend,
            precision=precision,
            classify_every=classify_every,
        )
    )
    out, total = [], []
    try:
        for i, frame in enumerate(frames.frames):
            t0 = time.perf_counter()
            out.append(pipe.process(frame, i, i / 30.0))
            total.append(1000 * (time.perf_counter() - t0))
        summary = pipe.times.summary()
    finally:
        pipe.close()
    work = {
        "frame_mean_ms": round(float(np.mean(total)), 3),
        "detect_mean_ms": summary["detect"]["mean_ms"],
        "classify_mean_ms": round(sum(summary[t]["mean_ms"] for t in pipe.classifiers if t in summary), 3),
    }
    return out, work


def compare(reference: list, strided: list) -> dict:
    """Faces missed, box IoU and, per task, how often the strided run shows the same label."""
    ious, agree, missing = [], {}, 0
    for ref, got in zip(reference, strided):
        for face in ref.faces:
            best = max(got.faces, key=lambda f: iou(f.box, face.box), default=None)
            if best is None or iou(best.box, face.box) < 0.3:
                missing += 1
                continue
            ious.append(iou(best.box, face.box))
            for task, pred in face.predictions.items():
                agree.setdefault(task, []).append(best.predictions[task].label == pred.label)
    n = sum(len(r.faces) for r in reference)
    return {
        "faces": n,
        "missed": missing,
        "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
        **{f"{task}_agreement": round(float(np.mean(v)), 4) if v else None for task, v in agree.items()},
    }


def stride_study(
    frames: FrameSet, strides=STRIDES, progress: Callable[[str], None] = lambda _: None
) -> list[dict]:
    reference, ref_work = run_clip(frames, 1, 1)
    rows = []
    for det, cls in strides:
        progress(f"detect every {det}, classify every {cls}")
        got, work = (reference, ref_work) if (det, cls) == (1, 1) else run_clip(frames, det, cls)
        rows.append(
            {
                "detect_every": det,
                "classify_every": cls,
                "clip": frames.name,
                "frames": len(frames.frames),
                **work,
                "work_saved": round(1 - work["frame_mean_ms"] / ref_work["frame_mean_ms"], 3),
                **compare(reference, got),
            }
        )
    return rows
